//! Everything the tool says: stderr for people, stdout for data.
//!
//! All text goes through [`crate::plumbing::redact::redact`] here, so no command has to
//! remember to. Colour only on a terminal and never with `NO_COLOR`. Under
//! GitHub Actions, findings also become workflow commands and summaries go to
//! `GITHUB_STEP_SUMMARY`.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use crate::plumbing::redact::redact;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
}

fn color_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
    })
}

fn paint(code: &str, text: &str) -> String {
    if color_enabled() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn green(text: &str) -> String {
    paint("32", text)
}
pub fn red(text: &str) -> String {
    paint("31", text)
}
pub fn yellow(text: &str) -> String {
    paint("33", text)
}
pub fn bold(text: &str) -> String {
    paint("1", text)
}

/// A line for people, on stderr, redacted and sanitized.
pub fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let text = crate::plumbing::env::localize(text);
    let _ = writeln!(err, "{}", sanitize(&redact(&text)));
}

/// A warning on stderr; under GitHub Actions also a `::warning` command.
pub fn warning(text: &str) {
    say(&format!("{} {text}", yellow("warning:")));
    annotate("warning", None, None, text);
}

/// An error on stderr; under GitHub Actions also an `::error` command.
pub fn error(text: &str) {
    say(&format!("{} {text}", red("error:")));
    annotate("error", None, None, text);
}

/// Prints one JSON document on stdout, redacted. Nothing else ever goes to
/// stdout in JSON mode.
pub fn json(value: &serde_json::Value) {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".to_string());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", redact(&text));
    let _ = out.flush();
}

/// Plain data on stdout (human mode), redacted and sanitized.
pub fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", sanitize(&redact(text)));
}

/// Text made safe for a terminal and for an Actions log, whatever its
/// origin (a remote service, a file, a child's output): control characters
/// and bidirectional overrides are escaped (`\x1b`, `\u{202e}`), only
/// colour codes pass and only when colour is on, and no line can start a
/// workflow command: a line whose first non-blank characters are `::` or
/// `##[` gets a `\` in front. The tool's own workflow commands go through
/// [`annotate`], never through here.
pub fn sanitize(text: &str) -> String {
    sanitize_with(text, color_enabled())
}

fn sanitize_with(text: &str, keep_colour: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        let body = line.trim_start();
        if body.starts_with("::") || body.starts_with("##[") {
            out.push_str(&line[..line.len() - body.len()]);
            out.push('\\');
            escape_controls(body, keep_colour, &mut out);
        } else {
            escape_controls(line, keep_colour, &mut out);
        }
    }
    out
}

/// Appends `text` with its control characters escaped (tabs stay); with
/// `keep_colour`, SGR sequences (`ESC [ digits ; … m`) pass.
fn escape_controls(text: &str, keep_colour: bool, out: &mut String) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b' && keep_colour {
            if let Some(len) = sgr_len(rest) {
                out.push_str(&rest[..len]);
                rest = &rest[len..];
                continue;
            }
        }
        let bidi = matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if (c.is_control() && c != '\t') || bidi {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
}

/// The length of the SGR sequence (`ESC [ 0-9;… m`) `text` starts with.
fn sgr_len(text: &str) -> Option<usize> {
    let body = text.strip_prefix("\x1b[")?;
    let params = body
        .find(|c: char| !(c.is_ascii_digit() || c == ';'))
        .unwrap_or(body.len());
    body[params..].starts_with('m').then_some(2 + params + 1)
}

pub fn in_github_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

/// A workflow command (`::error file=…,line=…::message`) on stderr, only
/// under GitHub Actions. The runner reads workflow commands from either stream.
pub fn annotate(level: &str, file: Option<&str>, line: Option<usize>, message: &str) {
    if !in_github_actions() {
        return;
    }
    let mut props = Vec::new();
    if let Some(file) = file {
        props.push(format!("file={}", escape_property(file)));
    }
    if let Some(line) = line {
        props.push(format!("line={line}"));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    let mut err = std::io::stderr().lock();
    let message = sanitize_with(&redact(message), false);
    let _ = writeln!(err, "::{level}{props}::{}", escape_data(&message));
}

/// Appends markdown to the file named by `GITHUB_STEP_SUMMARY`, if any.
pub fn step_summary(markdown: &str) {
    if !in_github_actions() {
        return;
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return;
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path);
    match file {
        Ok(mut f) => {
            let _ = f.write_all(sanitize_with(&redact(markdown), false).as_bytes());
        }
        Err(e) => say(&format!(
            "warning: cannot append to GITHUB_STEP_SUMMARY ({}): {e}",
            path.to_string_lossy()
        )),
    }
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `1.234s` or `12ms`.
pub fn duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(escape_property("a,b:c"), "a%2Cb%3Ac");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(std::time::Duration::from_millis(12)), "12ms");
        assert_eq!(duration(std::time::Duration::from_millis(1234)), "1.2s");
    }

    #[test]
    fn control_characters_are_escaped_and_tabs_stay() {
        let check = |input: &str, expected: &str| {
            assert_eq!(sanitize_with(input, false), expected, "input: {input:?}")
        };
        check(
            "title \x1b]0;pwned\x07 done",
            "title \\x1b]0;pwned\\x07 done",
        );
        check("a\tb\rc\x00d", "a\tb\\x0dc\\x00d");
        check("line\r\nnext", "line\nnext");
        check("evil\u{202e}txt.exe", "evil\\u{202e}txt.exe");
        check("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
        check("naïve — ok ✓", "naïve — ok ✓");
    }

    #[test]
    fn colour_codes_pass_only_when_colour_is_on() {
        assert_eq!(
            sanitize_with("\x1b[1;32mok\x1b[0m", true),
            "\x1b[1;32mok\x1b[0m"
        );
        // Anything else after ESC is still escaped.
        assert_eq!(
            sanitize_with("\x1b[2J\x1b]8;;x", true),
            "\\x1b[2J\\x1b]8;;x"
        );
    }

    #[test]
    fn no_line_starts_a_workflow_command() {
        let check = |input: &str, expected: &str| {
            assert_eq!(sanitize_with(input, false), expected, "input: {input:?}")
        };
        check("::error::pwned", "\\::error::pwned");
        check(
            "ok\n  ::add-mask::x\n::stop-commands::t",
            "ok\n  \\::add-mask::x\n\\::stop-commands::t",
        );
        check("##[error]legacy", "\\##[error]legacy");
        check("title: a ::error:: inside", "title: a ::error:: inside");
        // A carriage return cannot hide a command at the start of a line.
        check("x\r::error::y", "x\\x0d::error::y");
    }
}
