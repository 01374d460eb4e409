//! The cheap prefilter of text rules: the literal a regex match must
//! contain, a fast substring finder for it, and reference templates.

/// `{1}`, `{2}` … replaced by the captures (1-based); the numbers used.
pub(super) fn fill_template(template: &str, caps: &[&str]) -> (String, Vec<usize>) {
    let mut out = String::new();
    let mut used = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .map(|close| (close, after[..close].parse::<usize>()))
        {
            Some((close, Ok(n))) => {
                used.push(n);
                out.push_str(
                    n.checked_sub(1)
                        .and_then(|i| caps.get(i))
                        .copied()
                        .unwrap_or(""),
                );
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, used)
}

/// The literal every match of `pattern` must contain, when a conservative
/// reading of the pattern can tell (no alternation, no flags); used to skip
/// lines cheaply. `None` means "run the regex on every line".
pub fn required_literal(pattern: &str) -> Option<String> {
    if pattern.contains('|') || pattern.contains("(?") {
        return None;
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut best = String::new();
    let mut run = String::new();
    let mut i = 0;
    let end_run = |run: &mut String, best: &mut String| {
        if run.chars().count() > best.chars().count() {
            *best = run.clone();
        }
        run.clear();
    };
    while i < chars.len() {
        let c = chars[i];
        // A quantifier after an atom makes that atom optional or repeated:
        // drop the last literal character from the run.
        let quantified = |j: usize| matches!(chars.get(j), Some('*' | '?' | '+' | '{'));
        match c {
            '\\' => {
                let &e = chars.get(i + 1)?;
                i += 2;
                if e.is_ascii_alphanumeric() {
                    // \b \d \w \s \n … : not a literal character.
                    end_run(&mut run, &mut best);
                    continue;
                }
                if quantified(i) {
                    end_run(&mut run, &mut best);
                } else {
                    run.push(e);
                }
                continue;
            }
            '(' => {
                end_run(&mut run, &mut best);
                i = after_group(&chars, i);
            }
            '[' => {
                end_run(&mut run, &mut best);
                i = after_class(&chars, i);
            }
            '.' | '^' | '$' | '*' | '+' | '?' | ')' | ']' => {
                end_run(&mut run, &mut best);
                i += 1;
            }
            '{' => {
                end_run(&mut run, &mut best);
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            }
            _ => {
                i += 1;
                if quantified(i) {
                    end_run(&mut run, &mut best);
                } else {
                    run.push(c);
                }
            }
        }
    }
    end_run(&mut run, &mut best);
    (!best.is_empty()).then_some(best)
}

/// Whether every match of `pattern` starts with `literal` (its
/// [`required_literal`]): the pattern is that literal, written plainly,
/// after nothing but `^` and `\b`. Then a line's matches can be searched
/// from the literal's first occurrence instead of from the line's start.
pub fn literal_starts_every_match(pattern: &str, literal: &str) -> bool {
    let mut rest = pattern;
    while let Some(r) = rest.strip_prefix("\\b").or_else(|| rest.strip_prefix('^')) {
        rest = r;
    }
    !literal.is_empty()
        && rest.starts_with(literal)
        && !matches!(
            rest[literal.len()..].chars().next(),
            Some('*' | '?' | '+' | '{')
        )
}

/// The index just after the group opening at `chars[i]` (`(`), nested
/// groups and escapes included.
fn after_group(chars: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 1,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i + 1
}

/// The index just after the character class opening at `chars[i]` (`[`);
/// a `]` first in the class (after an optional `^`) is a member.
fn after_class(chars: &[char], mut i: usize) -> usize {
    i += 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() && chars[i] != ']' {
        if chars[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// A substring search that jumps between occurrences of the needle's
/// rarest ASCII byte with `memchr` (through `str::find(char)`), then
/// compares: much faster than a general substring search on prose, where
/// the needle (`ADR-`, a stale claim) is rare.
#[derive(Clone, Debug)]
pub struct Finder {
    needle: String,
    /// Index of the rarest ASCII byte in the needle, if it has one.
    rare: Option<usize>,
}

impl Finder {
    pub fn new(needle: &str) -> Finder {
        // Rough rarity of bytes in English prose and markdown (lower: rarer).
        let rank = |b: u8| match b {
            b'a'..=b'z' | b' ' => 100,
            b'\n' => 90,
            b'-' | b'|' | b'.' | b',' | b'#' | b'*' => 60,
            b'0'..=b'9' => 50,
            b'A' | b'I' | b'S' | b'T' => 40,
            b'A'..=b'Z' => 30,
            _ => 20,
        };
        let rare = needle
            .bytes()
            .enumerate()
            .filter(|(_, b)| b.is_ascii())
            .min_by_key(|(_, b)| rank(*b))
            .map(|(i, _)| i);
        Finder {
            needle: needle.to_string(),
            rare,
        }
    }

    pub fn needle(&self) -> &str {
        &self.needle
    }

    /// The first occurrence at or after byte `from` (a char boundary).
    pub fn find_from(&self, text: &str, from: usize) -> Option<usize> {
        let Some(rare) = self.rare else {
            return text[from..].find(self.needle.as_str()).map(|i| from + i);
        };
        let needle = self.needle.as_bytes();
        let bytes = text.as_bytes();
        let r = char::from(needle[rare]);
        // `pos` is always a char boundary: `from`, or just after an ASCII byte.
        let mut pos = from;
        while let Some(i) = text[pos..].find(r) {
            let hit = pos + i;
            pos = hit + 1;
            let Some(start) = hit.checked_sub(rare).filter(|s| *s >= from) else {
                continue;
            };
            if bytes.get(start..start + needle.len()) == Some(needle) {
                return Some(start);
            }
        }
        None
    }
}
