//! GitHub's filter-pattern syntax for `branches` and `branches-ignore`:
//! `*` (any characters but `/`), `**` (any characters), `?` (zero or one of
//! the preceding character), `+` (one or more of the preceding character),
//! `[…]` (one character listed or in a range of letters or digits), `\`
//! (the next character literally), and `!` at the start (negation, in
//! `branches` only). Patterns apply in order; the last one that matches
//! decides.

use regex_lite::Regex;

/// One pattern compiled to an anchored regular expression.
fn compile(pattern: &str) -> Result<Regex, String> {
    let bad = |why: &str| Err(format!("pattern {pattern:?}: {why}"));
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // Whether `?` or `+` has a preceding character to apply to.
    let mut quantifiable = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                re.push_str(".*");
                i += 1;
                quantifiable = false;
            }
            '*' => {
                re.push_str("[^/]*");
                quantifiable = false;
            }
            '?' | '+' => {
                if !quantifiable {
                    return bad(&format!("`{c}` has no preceding character"));
                }
                re.push(c);
                quantifiable = false;
            }
            '[' => {
                let Some(len) = chars[i + 1..].iter().position(|&c| c == ']') else {
                    return bad("`[` is not closed");
                };
                let set = &chars[i + 1..i + 1 + len];
                if set.is_empty() {
                    return bad("`[]` lists no character");
                }
                re.push('[');
                let mut j = 0;
                while j < set.len() {
                    let (a, rest) = (set[j], &set[j + 1..]);
                    if !a.is_ascii_alphanumeric() {
                        return bad("`[…]` may hold only letters, digits and ranges of them");
                    }
                    re.push(a);
                    if let ['-', b, ..] = rest {
                        let same_kind = (a.is_ascii_digit() && b.is_ascii_digit())
                            || (a.is_ascii_lowercase() && b.is_ascii_lowercase())
                            || (a.is_ascii_uppercase() && b.is_ascii_uppercase());
                        if !same_kind || a > *b {
                            return bad("a `[…]` range must run upwards within digits, lower-case or upper-case letters");
                        }
                        re.push('-');
                        re.push(*b);
                        j += 2;
                    }
                    j += 1;
                }
                re.push(']');
                i += len + 1;
                quantifiable = true;
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return bad("`\\` at the end escapes nothing");
                };
                re.push_str(&regex_lite::escape(&next.to_string()));
                i += 1;
                quantifiable = true;
            }
            _ => {
                re.push_str(&regex_lite::escape(&c.to_string()));
                quantifiable = true;
            }
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("pattern {pattern:?}: {e}"))
}

/// Whether `name` matches one pattern (no `!`).
pub fn matches(pattern: &str, name: &str) -> Result<bool, String> {
    Ok(compile(pattern)?.is_match(name))
}

/// `branches:` — the last matching pattern decides; `!pattern` excludes.
/// A list of negations only matches nothing (GitHub needs one positive).
pub fn included(patterns: &[String], branch: &str) -> Result<bool, String> {
    let mut included = false;
    for p in patterns {
        let (negated, p) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        if matches(p, branch)? {
            included = !negated;
        }
    }
    Ok(included)
}

/// `branches-ignore:` — any match ignores; `!` is not allowed there.
pub fn ignored(patterns: &[String], branch: &str) -> Result<bool, String> {
    let mut ignored = false;
    for p in patterns {
        if p.starts_with('!') {
            return Err(format!(
                "pattern {p:?}: `!` is not allowed in branches-ignore (GitHub rejects it)"
            ));
        }
        ignored |= matches(p, branch)?;
    }
    Ok(ignored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_follow_githubs_filter_syntax() {
        for (p, t, want) in [
            ("main", "main", true),
            ("mai", "main", false),
            ("*", "main", true),
            ("*", "a/b", false),
            ("**", "a/b", true),
            ("rel/*", "rel/1", true),
            ("rel/*", "rel/1/2", false),
            ("rel/**", "rel/1/2", true),
            ("m*n", "main", true),
            ("ma?in", "main", true),
            ("ma?in", "min", true),
            ("ma?in", "maain", false),
            ("ma+in", "main", true),
            ("ma+in", "maaain", true),
            ("ma+in", "min", false),
            ("[0-9]+.[0-9]+.x", "7.4.x", true),
            ("[0-9]+.[0-9]+.x", "10.12.x", true),
            ("[0-9]+.[0-9]+.x", "7a4.x", false),
            ("[0-9]+.[0-9]+.x", "main", false),
            ("v[12].[0-9]", "v2.5", true),
            ("v[12].[0-9]", "v3.5", false),
            ("[a-zA-Z]ain", "Main", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "axb", false),
            ("a.b", "axb", false),
            ("(x)|y", "(x)|y", true),
        ] {
            assert_eq!(matches(p, t), Ok(want), "{p} {t}");
        }
    }

    #[test]
    fn malformed_patterns_are_errors_not_guesses() {
        for (p, why) in [
            ("?main", "no preceding"),
            ("+", "no preceding"),
            ("[0-9", "not closed"),
            ("[]", "no character"),
            ("[!a]", "only letters"),
            ("[9-0]", "range"),
            ("[a-Z]", "range"),
            ("main\\", "escapes nothing"),
        ] {
            let err = matches(p, "main").unwrap_err();
            assert!(err.contains(why), "{p}: {err}");
        }
    }

    #[test]
    fn lists_apply_in_order_with_negation() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(included(&list(&["**", "!main"]), "main"), Ok(false));
        assert_eq!(included(&list(&["!main", "ma*"]), "main"), Ok(true));
        assert_eq!(included(&list(&["!main"]), "main"), Ok(false));
        assert_eq!(included(&list(&["develop"]), "main"), Ok(false));
        assert_eq!(ignored(&list(&["dev", "ma?in"]), "main"), Ok(true));
        assert_eq!(ignored(&list(&["dev"]), "main"), Ok(false));
        assert!(ignored(&list(&["!main"]), "main").is_err());
    }
}
