//! The text rules on one file in scope: forbidden claims and references.

use std::collections::BTreeSet;

use super::literal::{fill_template, Finder};
use super::{Finding, Matcher, Reference, Rules, Target};
use crate::plumbing::policy::DocsTarget;

/// 1-based line of byte `offset`, counting from a known (offset, line).
pub(super) struct LineCounter<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        LineCounter {
            text,
            at: 0,
            line: 1,
        }
    }
    /// Offsets (char boundaries) must not decrease between calls.
    pub(super) fn line_of(&mut self, offset: usize) -> usize {
        self.line += count_newlines(&self.text[self.at..offset]);
        self.at = offset;
        self.line
    }
}

/// The lines that end in `text`: one `memchr` jump per line through
/// `str::find(char)`, which std compiles optimized even in the dev profile
/// that `cargo xtask` runs; a byte-by-byte count there was ten times slower
/// (docs/BENCHMARKS.md, docs-freshness).
fn count_newlines(text: &str) -> usize {
    let mut count = 0;
    let mut rest = text;
    while let Some(i) = rest.find('\n') {
        count += 1;
        rest = &rest[i + 1..];
    }
    count
}

/// The line (without its newline) around byte `offset`, and where it starts.
fn line_around(text: &str, offset: usize) -> (usize, &str) {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    (
        start,
        text[start..end]
            .strip_suffix('\r')
            .unwrap_or(&text[start..end]),
    )
}

/// Calls `f(line_start, line)` for each line that may match: every line
/// containing `literal`, or every line when there is none.
fn candidate_lines<'t>(
    text: &'t str,
    literal: Option<&Finder>,
    mut f: impl FnMut(usize, &'t str) -> bool,
) {
    match literal {
        Some(lit) => {
            let mut from = 0;
            while let Some(at) = lit.find_from(text, from) {
                let (start, line) = line_around(text, at);
                if !f(start, line) {
                    return;
                }
                // Go on from the next line.
                from = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
            }
        }
        None => {
            let mut start = 0;
            for raw in text.split_inclusive('\n') {
                let line = raw.strip_suffix('\n').unwrap_or(raw);
                let line = line.strip_suffix('\r').unwrap_or(line);
                if !f(start, line) {
                    return;
                }
                start += raw.len();
            }
        }
    }
}

/// The text rules (forbidden claims, references) on one file in scope.
/// `in_scope[i]`: whether the file is in scope `i`; `resolves` answers
/// whether a reference target exists.
pub fn check_text(
    rules: &Rules,
    path: &str,
    text: &str,
    in_scope: &[bool],
    resolves: &mut dyn FnMut(&Target) -> bool,
    out: &mut Vec<Finding>,
) {
    for f in rules.forbidden.iter().filter(|f| in_scope[f.scope]) {
        let hit = match &f.matcher {
            Matcher::Text(t) => t.find_from(text, 0).map(|at| (at, t.needle().to_string())),
            Matcher::Regex { re, literal } => {
                let mut hit = None;
                candidate_lines(text, literal.as_ref(), |start, line| match re.find(line) {
                    Some(m) => {
                        hit = Some((start + m.start(), m.as_str().to_string()));
                        false
                    }
                    None => true,
                });
                hit
            }
        };
        if let Some((at, shown)) = hit {
            let line = LineCounter::new(text).line_of(at);
            out.push(f.meta.finding(path, Some(line), format!("found {shown:?}")));
        }
    }
    for r in rules.references.iter().filter(|r| in_scope[r.scope]) {
        check_reference(r, path, text, resolves, out);
    }
}

/// The matches of `r` in `line`, in order. The regex runs from where a
/// match can start: the literal's first occurrence when it starts every
/// match (regex-lite scans every byte it is given), else the line's start.
/// The haystack stays the whole line, so `\b` and `^` see the same context.
fn matches_in_line<'t>(r: &Reference, line: &'t str) -> Vec<regex_lite::Captures<'t>> {
    match (&r.literal, r.literal_starts) {
        // Every match starts with the (non-empty) literal: each search
        // starts at its next occurrence, and none runs on past the last one
        // (a search that finds nothing reads the rest of the line).
        (Some(lit), true) => {
            let mut pos = lit.find_from(line, 0);
            std::iter::from_fn(move || {
                let at = pos?;
                let caps = r.re.captures_at(line, at)?;
                let end = caps.get(0).map_or(at, |m| m.end());
                pos = if end > at {
                    lit.find_from(line, end)
                } else {
                    None
                };
                Some(caps)
            })
            .collect()
        }
        _ => r.re.captures_iter(line).collect(),
    }
}

/// One reference rule on one file: each distinct target once, at its first line.
fn check_reference(
    r: &Reference,
    path: &str,
    text: &str,
    resolves: &mut dyn FnMut(&Target) -> bool,
    out: &mut Vec<Finding>,
) {
    {
        let mut counter = LineCounter::new(text);
        let mut seen: BTreeSet<Target> = BTreeSet::new();
        // The same reference again (most are: `ADR-007` throughout a file)
        // is skipped before its target is built.
        let mut seen_text: BTreeSet<&str> = BTreeSet::new();
        candidate_lines(text, r.literal.as_ref(), |start, line| {
            for caps in matches_in_line(r, line) {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                if !seen_text.insert(whole) {
                    continue;
                }
                let groups: Vec<&str> = (1..caps.len())
                    .map(|i| caps.get(i).map_or("", |m| m.as_str()))
                    .collect();
                let (target, invalid) = match r.target {
                    DocsTarget::XtaskCommand => (Target::XtaskCommand(groups[0].to_string()), None),
                    DocsTarget::File => {
                        let bad = groups.iter().find(|g| {
                            g.is_empty()
                                || **g == "."
                                || **g == ".."
                                || g.contains(['/', '\\', '*', '?', '[', ']', '{', '}'])
                        });
                        let (filled, _) =
                            fill_template(r.template.as_deref().unwrap_or(""), &groups);
                        (Target::File(filled), bad.map(|b| b.to_string()))
                    }
                };
                if seen.contains(&target) {
                    continue;
                }
                let at = start + caps.get(0).map_or(0, |m| m.start());
                let detail = match (&target, invalid) {
                    (_, Some(bad)) => Some(format!("{whole:?}: {bad:?} cannot be part of a path")),
                    (t, None) if resolves(t) => None,
                    (Target::File(glob), None) => {
                        Some(format!("{whole:?}: no file matches {glob}"))
                    }
                    (Target::XtaskCommand(name), None) => Some(format!(
                        "{whole:?}: this xtask has no command {name:?} (see `cargo xtask --help`)"
                    )),
                };
                if let Some(detail) = detail {
                    // Lines are counted only for findings (most references
                    // resolve), in order, so the text is walked once at most.
                    out.push(r.meta.finding(path, Some(counter.line_of(at)), detail));
                }
                seen.insert(target);
            }
            true
        });
    }
}
