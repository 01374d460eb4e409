//! Text from GitHub made safe to print.

/// Text from GitHub (a message, a PR's title or URL) made safe to print on
/// a terminal or in an Actions log: control characters other than newline
/// are escaped (`\x1b`, `\u{9b}`), and a line that would start an Actions
/// workflow command (`::error::…`, leading spaces ignored) has its first
/// `:` escaped as `\x3a`, so GitHub never runs it.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let defuse = line[indent..].starts_with("::");
        for (j, c) in line.char_indices() {
            match c {
                ':' if defuse && j == indent => out.push_str("\\x3a"),
                c if (c as u32) < 0x80 && c.is_control() => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_github_is_sanitized() {
        assert_eq!(sanitize("plain title"), "plain title");
        assert_eq!(sanitize("red \x1b[31mX\x1b[0m"), "red \\x1b[31mX\\x1b[0m");
        assert_eq!(sanitize("a\rb\u{9b}c"), "a\\x0db\\u{9b}c");
        assert_eq!(sanitize("::error::boom"), "\\x3a:error::boom");
        assert_eq!(
            sanitize("first\n  ::set-output name=x::y\nok :: fine"),
            "first\n  \\x3a:set-output name=x::y\nok :: fine"
        );
        for hostile in ["::error::x", "a\n::warning::y", "\t::add-mask::z"] {
            let clean = sanitize(hostile);
            assert!(
                clean.lines().all(|l| !l.trim_start().starts_with("::")),
                "{clean}"
            );
        }
    }
}
