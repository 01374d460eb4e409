//! A small glob matcher for repository-relative paths (`docs/**/*.md`,
//! `docs/adr/007-*.md`): `**` is any number of whole path components, `*`
//! any run of characters within one component, `?` one character. Nothing
//! else is special. Small enough that it does not earn a dependency.

/// A validated glob over `/`-separated relative paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    /// `**`: zero or more components.
    Any,
    /// One component, possibly with `*` and `?`.
    One(String),
}

impl Glob {
    /// Parses `pattern`; a pattern that could leave the repository or that
    /// uses syntax this matcher does not have is an error, never a guess.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty glob matches nothing".into());
        }
        if pattern.starts_with('/') || pattern.contains('\\') {
            return Err(format!(
                "glob {pattern:?} must be a relative path with `/` separators"
            ));
        }
        if pattern.contains(['[', ']', '{', '}']) {
            return Err(format!("glob {pattern:?}: only `**`, `*` and `?` are special; `[`, `]`, `{{`, `}}` are not supported"));
        }
        let mut parts = Vec::new();
        for comp in pattern.split('/') {
            match comp {
                "" => return Err(format!("glob {pattern:?} has an empty path component")),
                "." | ".." => {
                    return Err(format!(
                        "glob {pattern:?} must not contain `.` or `..` components"
                    ))
                }
                "**" => parts.push(Part::Any),
                c if c.contains("**") => {
                    return Err(format!(
                    "glob {pattern:?}: `**` must be a whole path component (like `docs/**/*.md`)"
                ))
                }
                c => parts.push(Part::One(c.to_string())),
            }
        }
        Ok(Glob {
            text: pattern.to_string(),
            parts,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the relative path `path` (components separated by `/`) matches.
    pub fn matches(&self, path: &str) -> bool {
        let mut comps = [""; 32];
        let mut n = 0;
        for comp in path.split('/') {
            if n == comps.len() {
                // Deeper than any tree this reads often: the general way.
                let all: Vec<&str> = path.split('/').collect();
                return match_parts(&self.parts, &all);
            }
            comps[n] = comp;
            n += 1;
        }
        match_parts(&self.parts, &comps[..n])
    }

    /// Whether the glob has no wildcard at all (it names one path).
    pub fn is_literal(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::One(c) if !c.contains(['*', '?'])))
    }

    /// Where a walk for this glob starts (the leading literal components;
    /// the whole path for a literal glob; `""` for the root) and how deep it
    /// must go below that start (`None`: no limit, because of `**`).
    pub fn walk_start(&self) -> (String, Option<usize>) {
        let literal = |p: &Part| matches!(p, Part::One(c) if !c.contains(['*', '?']));
        let n = self.parts.iter().take_while(|p| literal(p)).count();
        let start: Vec<String> = self.parts[..n]
            .iter()
            .map(|p| match p {
                Part::One(c) => c.clone(),
                Part::Any => unreachable!(),
            })
            .collect();
        let rest = &self.parts[n..];
        let depth = if rest.contains(&Part::Any) {
            None
        } else {
            Some(rest.len())
        };
        (start.join("/"), depth)
    }
}

fn match_parts(parts: &[Part], comps: &[&str]) -> bool {
    match parts.split_first() {
        None => comps.is_empty(),
        // `**/LAST` (as in `docs/**/*.md`): only the last component can match LAST.
        Some((Part::Any, [Part::One(last)])) => {
            comps.last().is_some_and(|c| match_component(last, c))
        }
        Some((Part::Any, rest)) => (0..=comps.len()).any(|skip| match_parts(rest, &comps[skip..])),
        Some((Part::One(pat), rest)) => match comps.split_first() {
            Some((comp, more)) => match_component(pat, comp) && match_parts(rest, more),
            None => false,
        },
    }
}

/// Wildcard match of one component: `*` any run, `?` one character. Paths
/// are matched for every file of a docs tree, in the dev profile too: a
/// component without wildcards is a string comparison, and ASCII (nearly
/// every path) is matched byte by byte without collecting characters.
fn match_component(pat: &str, text: &str) -> bool {
    if !pat.contains(['*', '?']) {
        return pat == text;
    }
    // `*.md` and `note-*`, the common shapes: one comparison.
    if let Some(suffix) = pat.strip_prefix('*').filter(|s| !s.contains(['*', '?'])) {
        return text.ends_with(suffix);
    }
    if let Some(prefix) = pat.strip_suffix('*').filter(|p| !p.contains(['*', '?'])) {
        return text.starts_with(prefix);
    }
    if pat.is_ascii() && text.is_ascii() {
        return wildcard(pat.as_bytes(), text.as_bytes(), b'*', b'?');
    }
    let pat: Vec<char> = pat.chars().collect();
    let text: Vec<char> = text.chars().collect();
    wildcard(&pat, &text, '*', '?')
}

fn wildcard<T: Copy + PartialEq>(pat: &[T], text: &[T], any: T, one: T) -> bool {
    // Iterative matcher with one backtrack point per `*` (linear enough for paths).
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pat.len() && (pat[p] == one || pat[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pat.len() && pat[p] == any {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|c| *c == any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, path: &str, expected: bool) {
        let glob = Glob::new(pattern).unwrap();
        assert_eq!(glob.matches(path), expected, "{pattern} vs {path}");
    }

    #[test]
    fn double_star_spans_zero_or_more_directories() {
        check("docs/**/*.md", "docs/a.md", true);
        check("docs/**/*.md", "docs/x/y/a.md", true);
        check("docs/**/*.md", "docs/a.txt", false);
        check("docs/**/*.md", "other/a.md", false);
        check("**/*.md", "README.md", true);
        check("**/*.md", "a/b/c.md", true);
        check("docs/**", "docs/a/b", true);
    }

    #[test]
    fn star_and_question_mark_stay_within_one_component() {
        check("docs/adr/007-*.md", "docs/adr/007-use-rust.md", true);
        check("docs/adr/007-*.md", "docs/adr/008-use-rust.md", false);
        check("docs/adr/007-*.md", "docs/adr/sub/007-x.md", false);
        check("docs/*.md", "docs/a/b.md", false);
        check("a?c", "abc", true);
        check("a?c", "ac", false);
        check("*", "anything", true);
        check("a*b*c", "aXbYbZc", true);
        check("a*b*c", "aXbYbZ", false);
        check("PROJECT_STATUS.md", "PROJECT_STATUS.md", true);
        check("PROJECT_STATUS.md", "docs/PROJECT_STATUS.md", false);
    }

    #[test]
    fn unsupported_or_escaping_globs_are_errors() {
        for bad in [
            "",
            "/etc/*",
            "../x",
            "docs/../x",
            "a//b",
            "docs/**.md",
            "a\\b",
            "[ab].md",
            "{a,b}",
        ] {
            assert!(Glob::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn walk_start_is_the_literal_prefix() {
        let start = |p: &str| Glob::new(p).unwrap().walk_start();
        assert_eq!(start("docs/**/*.md"), ("docs".to_string(), None));
        assert_eq!(start("docs/adr/*.md"), ("docs/adr".to_string(), Some(1)));
        assert_eq!(
            start("PROJECT_STATUS.md"),
            ("PROJECT_STATUS.md".to_string(), Some(0))
        );
        assert_eq!(start("*.md"), (String::new(), Some(1)));
        assert!(Glob::new("README.md").unwrap().is_literal());
        assert!(!Glob::new("docs/*.md").unwrap().is_literal());
    }
}
