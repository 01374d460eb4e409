//! The text rules on one file in scope: forbidden claims and references.

use std::collections::BTreeSet;

use super::literal::{fill_template, Finder};
use super::{Finding, Matcher, Reference, Rules, Target};
use crate::plumbing::policy::DocsTarget;

/// 1-based line of byte `offset`, counting from a known (offset, line).
pub(super) struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }
    /// Offsets must not decrease between calls.
    pub(super) fn line_of(&mut self, offset: usize) -> usize {
        self.line += self.text[self.at..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.at = offset;
        self.line
    }
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
        candidate_lines(text, r.literal.as_ref(), |start, line| {
            for caps in r.re.captures_iter(line) {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                let groups: Vec<String> = (1..caps.len())
                    .map(|i| {
                        caps.get(i)
                            .map_or(String::new(), |m| m.as_str().to_string())
                    })
                    .collect();
                let (target, invalid) = match r.target {
                    DocsTarget::XtaskCommand => (Target::XtaskCommand(groups[0].clone()), None),
                    DocsTarget::File => {
                        let bad = groups.iter().find(|g| {
                            g.is_empty()
                                || *g == "."
                                || *g == ".."
                                || g.contains(['/', '\\', '*', '?', '[', ']', '{', '}'])
                        });
                        let (filled, _) =
                            fill_template(r.template.as_deref().unwrap_or(""), &groups);
                        (Target::File(filled), bad.cloned())
                    }
                };
                if !seen.insert(target.clone()) {
                    continue;
                }
                let line_no = counter.line_of(start + caps.get(0).map_or(0, |m| m.start()));
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
                    out.push(r.meta.finding(path, Some(line_no), detail));
                }
            }
            true
        });
    }
}
