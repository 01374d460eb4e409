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

/// A line for people, on stderr, redacted.
pub fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", redact(text));
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

/// Plain data on stdout (human mode), redacted.
pub fn data(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", redact(text));
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
    let _ = writeln!(err, "::{level}{props}::{}", escape_data(&redact(message)));
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
            let _ = f.write_all(redact(markdown).as_bytes());
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
}
