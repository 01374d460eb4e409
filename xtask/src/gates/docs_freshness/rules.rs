//! The rule engine, pure: a compiled `[docs]` policy plus gathered file
//! texts in, findings out. Nothing here reads a file or walks a tree; the
//! caller hands over texts ([`Fact`]) and answers "does this target exist"
//! through a resolver, so every rule has fast unit tests.

use std::collections::{BTreeMap, BTreeSet};

use regex_lite::Regex;
use time::Date;

use super::glob::Glob;
use crate::plumbing::policy::{Docs, DocsCheckKind, DocsLevel, DocsReport, DocsSource, DocsTarget};

/// The fixed rule ids of markers and of the engine itself.
pub const MARKER_FILE_MISSING: &str = "required_marker_file_missing";
pub const MARKER_MISSING: &str = "required_marker_missing";
pub const MARKER_FUTURE: &str = "required_marker_future_date";
pub const MARKER_STALE: &str = "required_marker_stale";
pub const MARKER_INVALID: &str = "required_marker_invalid_date";
pub const UNREADABLE: &str = "docs_freshness_unreadable_file";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub path: String,
    pub line: Option<usize>,
    pub rule_id: String,
    pub level: DocsLevel,
    pub message: String,
    /// Whether an override may turn it into a warning.
    pub overridable: bool,
}

/// What the caller knows about one file.
#[derive(Clone, Copy, Debug)]
pub enum Fact<'a> {
    Missing,
    /// It exists but is not readable UTF-8 text (reported on its own).
    Unreadable,
    Text(&'a str),
}

/// A rule's identity and how its findings are reported.
#[derive(Clone, Debug)]
pub struct Meta {
    pub id: String,
    pub message: String,
    pub level: DocsLevel,
    pub overridable: bool,
}

impl Meta {
    fn finding(&self, path: &str, line: Option<usize>, detail: String) -> Finding {
        Finding {
            path: path.to_string(),
            line,
            rule_id: self.id.clone(),
            level: self.level,
            message: format!("{}: {detail}", self.message),
            overridable: self.overridable,
        }
    }
}

pub struct Marker {
    pub path: String,
    pub label: String,
    re: Regex,
    pub level: DocsLevel,
    pub overridable: bool,
}

/// How a text rule finds its matches: a literal, or a regex matched line by
/// line and, when the regex requires a literal, only on lines containing it.
pub enum Matcher {
    Text(Finder),
    Regex { re: Regex, literal: Option<Finder> },
}

pub struct Forbidden {
    pub meta: Meta,
    pub matcher: Matcher,
    /// Index into [`Rules::scopes`].
    pub scope: usize,
}

/// What a reference must resolve to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A glob that must match at least one file.
    File(String),
    /// A subcommand of this xtask.
    XtaskCommand(String),
}

pub struct Reference {
    pub meta: Meta,
    re: Regex,
    literal: Option<Finder>,
    target: DocsTarget,
    template: Option<String>,
    pub scope: usize,
}

pub struct Required {
    pub meta: Meta,
    pub paths: Vec<String>,
    pub texts: Vec<String>,
    lines: Vec<Regex>,
    pub report: DocsReport,
}

pub struct Coupling {
    pub meta: Meta,
    pub if_file: String,
    pub if_contains: String,
    pub then_file: String,
    pub then_contains: String,
}

pub struct Ledger {
    pub require_files: Vec<String>,
    id_re: Regex,
    pub sets: BTreeMap<String, Vec<DocsSource>>,
    pub checks: Vec<LedgerCheck>,
}

pub struct LedgerCheck {
    pub meta: Meta,
    pub path: String,
    pub kind: DocsCheckKind,
    pub left: Vec<String>,
    pub right: Vec<String>,
}

/// A compiled `[docs]` section.
pub struct Rules {
    /// Distinct scopes (lists of globs) used by text rules.
    pub scopes: Vec<Vec<Glob>>,
    pub markers: Vec<Marker>,
    pub forbidden: Vec<Forbidden>,
    pub references: Vec<Reference>,
    pub required: Vec<Required>,
    pub couplings: Vec<Coupling>,
    pub ledgers: Vec<Ledger>,
}

/// Checks a relative path given in the policy: no escaping the root.
pub fn safe_path(path: &str) -> Result<(), String> {
    if path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(format!(
            "{path:?} must be a relative path inside the repository, with `/` separators"
        ));
    }
    Ok(())
}

fn reserved(id: &str) -> bool {
    id.starts_with("docs_freshness_") || id.starts_with("required_marker_")
}

/// Compiles and validates `[docs]`; every problem, each naming its key.
pub fn compile(docs: &Docs) -> Result<Rules, Vec<String>> {
    let mut problems = Vec::new();
    let mut scopes: Vec<(Vec<String>, Vec<Glob>)> = Vec::new();
    let mut scope_index =
        |key: &str, own: &Option<Vec<String>>, problems: &mut Vec<String>| -> usize {
            let list = own.clone().unwrap_or_else(|| docs.scope.clone());
            if list.is_empty() {
                problems.push(format!("{key}: no scope: set its `scope` or `docs.scope`"));
            }
            if let Some(i) = scopes.iter().position(|(l, _)| *l == list) {
                return i;
            }
            let mut globs = Vec::new();
            for g in &list {
                match Glob::new(g) {
                    Ok(glob) => globs.push(glob),
                    Err(e) => problems.push(format!("{key}.scope: {e}")),
                }
            }
            scopes.push((list, globs));
            scopes.len() - 1
        };
    let meta = |key: &str,
                id: &str,
                message: &str,
                level,
                overridable,
                problems: &mut Vec<String>| {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            problems.push(format!(
                "{key}.id {id:?}: use letters, digits, `_`, `-`, `.`"
            ));
        } else if reserved(id) {
            problems.push(format!("{key}.id {id:?}: ids starting with docs_freshness_ or required_marker_ are the engine's own"));
        }
        if message.trim().is_empty() {
            problems.push(format!("{key}.message is empty"));
        } else if message.trim().contains('\n') {
            problems.push(format!(
                "{key}.message must be one line (findings are one line each)"
            ));
        }
        Meta {
            id: id.to_string(),
            message: message.trim().to_string(),
            level,
            overridable,
        }
    };
    let path_ok = |key: &str, p: &str, problems: &mut Vec<String>| {
        if let Err(e) = safe_path(p) {
            problems.push(format!("{key}: {e}"));
        }
    };
    let regex = |key: &str, pattern: &str, problems: &mut Vec<String>| match Regex::new(pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            problems.push(format!(
                "{key} {pattern:?} is not a valid regex: {}",
                e.to_string().replace('\n', " ")
            ));
            None
        }
    };
    let never = Regex::new("$^").expect("a valid regex");

    if let Err(e) = safe_path(&docs.overrides_file) {
        problems.push(format!("docs.overrides-file: {e}"));
    }
    for (i, g) in docs.scope.iter().enumerate() {
        if let Err(e) = Glob::new(g) {
            problems.push(format!("docs.scope[{i}]: {e}"));
        }
    }

    let mut markers = Vec::new();
    for (i, m) in docs.markers.iter().enumerate() {
        let key = format!("docs.markers[{i}]");
        path_ok(&format!("{key}.path"), &m.path, &mut problems);
        if m.label.trim().is_empty() || m.label.contains('\n') {
            problems.push(format!(
                "{key}.label must be one line of text, like \"Last Verified\""
            ));
        }
        let pattern = format!(
            r"\*\*{}\*\*:\s*(\d{{4}}-\d{{2}}-\d{{2}})",
            regex_lite::escape(&m.label)
        );
        let re = regex(&format!("{key}.label"), &pattern, &mut problems)
            .unwrap_or_else(|| never.clone());
        markers.push(Marker {
            path: m.path.clone(),
            label: m.label.clone(),
            re,
            level: m.level,
            overridable: m.overridable,
        });
    }

    let mut forbidden = Vec::new();
    for (i, f) in docs.forbidden.iter().enumerate() {
        let key = format!("docs.forbidden[{i}]");
        let meta = meta(
            &key,
            &f.id,
            &f.message,
            f.level,
            f.overridable,
            &mut problems,
        );
        let matcher = match (&f.text, &f.regex) {
            (Some(t), None) if !t.is_empty() => Matcher::Text(Finder::new(t)),
            (None, Some(r)) => {
                let re = regex(&format!("{key}.regex"), r, &mut problems)
                    .unwrap_or_else(|| never.clone());
                Matcher::Regex {
                    re,
                    literal: required_literal(r).map(|l| Finder::new(&l)),
                }
            }
            _ => {
                problems.push(format!(
                    "{key} ({}): give exactly one of `text` (non-empty) or `regex`",
                    f.id
                ));
                Matcher::Text(Finder::new("-"))
            }
        };
        let scope = scope_index(&key, &f.scope, &mut problems);
        forbidden.push(Forbidden {
            meta,
            matcher,
            scope,
        });
    }

    let mut references = Vec::new();
    for (i, r) in docs.references.iter().enumerate() {
        let key = format!("docs.references[{i}]");
        let meta = meta(
            &key,
            &r.id,
            &r.message,
            r.level,
            r.overridable,
            &mut problems,
        );
        let re = regex(&format!("{key}.pattern"), &r.pattern, &mut problems);
        let groups = re.as_ref().map_or(0, |re| re.captures_len() - 1);
        if re.is_some() && groups == 0 {
            problems.push(format!(
                "{key}.pattern {:?} needs a capture group: the part that must resolve",
                r.pattern
            ));
        }
        match (r.target, &r.template) {
            (DocsTarget::File, Some(t)) => {
                let (filled, used) = fill_template(t, &vec!["x".to_string(); 10]);
                if let Some(n) = used.iter().find(|n| **n == 0 || **n > groups) {
                    problems.push(format!("{key}.template {t:?} uses {{{n}}}, but the pattern has {groups} capture group(s)"));
                } else if let Err(e) = Glob::new(&filled) {
                    problems.push(format!("{key}.template: {e}"));
                }
            }
            (DocsTarget::File, None) => problems.push(format!(
                "{key}: target \"file\" needs a `template`, like \"docs/adr/{{1}}-*.md\""
            )),
            (DocsTarget::XtaskCommand, Some(_)) => problems.push(format!(
                "{key}: target \"xtask-command\" takes no `template` (capture 1 is the command)"
            )),
            (DocsTarget::XtaskCommand, None) => {}
        }
        let scope = scope_index(&key, &r.scope, &mut problems);
        references.push(Reference {
            meta,
            literal: required_literal(&r.pattern).map(|l| Finder::new(&l)),
            re: re.unwrap_or_else(|| never.clone()),
            target: r.target,
            template: r.template.clone(),
            scope,
        });
    }

    let mut required = Vec::new();
    let existence: BTreeSet<&str> = docs
        .required
        .iter()
        .filter(|r| r.texts.is_empty() && r.lines.is_empty())
        .flat_map(|r| r.paths.iter().map(String::as_str))
        .collect();
    for (i, r) in docs.required.iter().enumerate() {
        let key = format!("docs.required[{i}]");
        let meta = meta(
            &key,
            &r.id,
            &r.message,
            r.level,
            r.overridable,
            &mut problems,
        );
        if r.paths.is_empty() {
            problems.push(format!("{key}.paths is empty"));
        }
        for p in &r.paths {
            path_ok(&format!("{key}.paths"), p, &mut problems);
            let content_rule = !r.texts.is_empty() || !r.lines.is_empty();
            if content_rule && !existence.contains(p.as_str()) {
                problems.push(format!(
                    "{key} ({}): {p:?} has content rules but no existence rule; add a [[docs.required]] with paths = [{p:?}] and no texts/lines, so a missing file is a finding",
                    r.id
                ));
            }
        }
        if r.texts.iter().any(|t| t.is_empty()) {
            problems.push(format!("{key}.texts has an empty text"));
        }
        let lines = r
            .lines
            .iter()
            .filter_map(|l| regex(&format!("{key}.lines"), l, &mut problems))
            .collect();
        required.push(Required {
            meta,
            paths: r.paths.clone(),
            texts: r.texts.clone(),
            lines,
            report: r.report,
        });
    }

    let mut couplings = Vec::new();
    for (i, c) in docs.couplings.iter().enumerate() {
        let key = format!("docs.couplings[{i}]");
        let meta = meta(
            &key,
            &c.id,
            &c.message,
            c.level,
            c.overridable,
            &mut problems,
        );
        path_ok(&format!("{key}.if-file"), &c.if_file, &mut problems);
        path_ok(&format!("{key}.then-file"), &c.then_file, &mut problems);
        if c.if_contains.is_empty() || c.then_contains.is_empty() {
            problems.push(format!(
                "{key}: if-contains and then-contains must not be empty"
            ));
        }
        couplings.push(Coupling {
            meta,
            if_file: c.if_file.clone(),
            if_contains: c.if_contains.clone(),
            then_file: c.then_file.clone(),
            then_contains: c.then_contains.clone(),
        });
    }

    let mut ledgers = Vec::new();
    for (i, l) in docs.ledgers.iter().enumerate() {
        let key = format!("docs.ledgers[{i}]");
        for p in &l.require_files {
            path_ok(&format!("{key}.require-files"), p, &mut problems);
        }
        let id_re = regex(&format!("{key}.id-pattern"), &l.id_pattern, &mut problems)
            .unwrap_or_else(|| never.clone());
        for (name, sources) in &l.sets {
            if sources.is_empty() {
                problems.push(format!("{key}.sets.{name} has no sources"));
            }
            for s in sources {
                path_ok(&format!("{key}.sets.{name}.file"), &s.file, &mut problems);
            }
        }
        if l.checks.is_empty() {
            problems.push(format!("{key}.checks is empty"));
        }
        let mut checks = Vec::new();
        for (j, c) in l.checks.iter().enumerate() {
            let ckey = format!("{key}.checks[{j}]");
            let meta = meta(
                &ckey,
                &c.id,
                &c.message,
                c.level,
                c.overridable,
                &mut problems,
            );
            path_ok(&format!("{ckey}.path"), &c.path, &mut problems);
            for side in [&c.left, &c.right] {
                if side.is_empty() {
                    problems.push(format!(
                        "{ckey}: left and right must each name at least one set"
                    ));
                }
                for name in side.iter().filter(|n| !l.sets.contains_key(*n)) {
                    problems.push(format!("{ckey}: no set named {name:?} in {key}.sets"));
                }
            }
            checks.push(LedgerCheck {
                meta,
                path: c.path.clone(),
                kind: c.kind,
                left: c.left.clone(),
                right: c.right.clone(),
            });
        }
        ledgers.push(Ledger {
            require_files: l.require_files.clone(),
            id_re,
            sets: l.sets.clone(),
            checks,
        });
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Rules {
        scopes: scopes.into_iter().map(|(_, g)| g).collect(),
        markers,
        forbidden,
        references,
        required,
        couplings,
        ledgers,
    })
}

impl Rules {
    /// The files rules name directly (read once, before the scope walk).
    pub fn named_files(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        out.extend(self.markers.iter().map(|m| m.path.clone()));
        out.extend(self.required.iter().flat_map(|r| r.paths.iter().cloned()));
        for c in &self.couplings {
            out.insert(c.if_file.clone());
            out.insert(c.then_file.clone());
        }
        for l in &self.ledgers {
            out.extend(l.require_files.iter().cloned());
            out.extend(l.sets.values().flatten().map(|s| s.file.clone()));
        }
        out
    }

    /// Whether any text rule applies to files in scope.
    pub fn has_text_rules(&self) -> bool {
        !self.forbidden.is_empty() || !self.references.is_empty()
    }

    /// Which scopes contain `path`.
    pub fn scopes_of(&self, path: &str) -> Vec<bool> {
        self.scopes
            .iter()
            .map(|globs| globs.iter().any(|g| g.matches(path)))
            .collect()
    }
}

/// `{1}`, `{2}` … replaced by the captures (1-based); the numbers used.
fn fill_template(template: &str, caps: &[String]) -> (String, Vec<usize>) {
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
                        .map_or("", String::as_str),
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
                i += 1;
            }
            '[' => {
                end_run(&mut run, &mut best);
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
                i += 1;
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

/// 1-based line of byte `offset`, counting from a known (offset, line).
struct LineCounter<'a> {
    text: &'a [u8],
    at: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }
    /// Offsets must not decrease between calls.
    fn line_of(&mut self, offset: usize) -> usize {
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

/// The unreadable-file finding (never overridable: fix the file or the scope).
pub fn unreadable(path: &str, reason: &str) -> Finding {
    Finding {
        path: path.to_string(),
        line: None,
        rule_id: UNREADABLE.to_string(),
        level: DocsLevel::Error,
        message: format!("the file cannot be checked: {reason}"),
        overridable: false,
    }
}

/// The rules on named files: markers, required files and content, couplings, ledgers.
pub fn check_named<'a>(
    rules: &Rules,
    fact: &dyn Fn(&str) -> Fact<'a>,
    today: Date,
    max_age_days: u32,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in &rules.markers {
        out.extend(check_marker(m, fact(&m.path), today, max_age_days));
    }
    for r in &rules.required {
        for path in &r.paths {
            match fact(path) {
                Fact::Missing if r.texts.is_empty() && r.lines.is_empty() => {
                    out.push(r.meta.finding(path, None, format!("{path} does not exist")))
                }
                Fact::Text(text) => check_required_content(r, path, text, &mut out),
                _ => {}
            }
        }
    }
    for c in &rules.couplings {
        if let (Fact::Text(a), Fact::Text(b)) = (fact(&c.if_file), fact(&c.then_file)) {
            if a.contains(&c.if_contains) && !b.contains(&c.then_contains) {
                let detail = format!(
                    "{} contains {:?}, but {} does not mention {:?}",
                    c.if_file, c.if_contains, c.then_file, c.then_contains
                );
                out.push(c.meta.finding(&c.then_file, None, detail));
            }
        }
    }
    for l in &rules.ledgers {
        check_ledger(l, fact, &mut out);
    }
    out
}

fn check_marker(m: &Marker, fact: Fact, today: Date, max_age_days: u32) -> Option<Finding> {
    let finding = |id: &str, line: Option<usize>, message: String| Finding {
        path: m.path.clone(),
        line,
        rule_id: id.to_string(),
        level: m.level,
        message,
        overridable: m.overridable,
    };
    let shape = format!("**{}**: YYYY-MM-DD", m.label);
    let text = match fact {
        Fact::Missing => {
            return Some(finding(
                MARKER_FILE_MISSING,
                None,
                format!("{} does not exist; it must carry `{shape}`", m.path),
            ))
        }
        Fact::Unreadable => return None,
        Fact::Text(text) => text,
    };
    let Some(caps) = m.re.captures(text) else {
        return Some(finding(
            MARKER_MISSING,
            None,
            format!("no `{shape}` marker; add one with the date you verified the file"),
        ));
    };
    let whole = caps.get(0).expect("group 0");
    let line = Some(LineCounter::new(text).line_of(whole.start()));
    let raw = &caps[1];
    let Some(date) = parse_date(raw) else {
        return Some(finding(
            MARKER_INVALID,
            line,
            format!("`**{}**: {raw}` is not a real date (YYYY-MM-DD)", m.label),
        ));
    };
    if date > today {
        return Some(finding(
            MARKER_FUTURE,
            line,
            format!("**{}** {raw} is after today ({today})", m.label),
        ));
    }
    let age = (today - date).whole_days();
    if age > i64::from(max_age_days) {
        return Some(finding(
            MARKER_STALE,
            line,
            format!(
                "**{}** {raw} is {age} days old (max {max_age_days}); verify the file against the code and update the date",
                m.label
            ),
        ));
    }
    None
}

fn check_required_content(r: &Required, path: &str, text: &str, out: &mut Vec<Finding>) {
    let mut missing: Vec<String> = r
        .texts
        .iter()
        .filter(|t| !text.contains(t.as_str()))
        .map(|t| format!("{t:?}"))
        .collect();
    for re in &r.lines {
        if !text.lines().any(|line| re.is_match(line)) {
            missing.push(format!("a line matching /{}/", re.as_str()));
        }
    }
    if missing.is_empty() {
        return;
    }
    match r.report {
        DocsReport::Each => {
            for item in missing {
                out.push(r.meta.finding(path, None, format!("missing {item}")));
            }
        }
        DocsReport::All => out.push(r.meta.finding(
            path,
            None,
            format!("missing {}", missing.join(", ")),
        )),
    }
}

/// `YYYY-MM-DD` that is a real calendar date.
pub fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let month = time::Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(text[..4].parse().ok()?, month, text[8..].parse().ok()?).ok()
}

/// The text of the section `## <heading>`: the lines after that heading up
/// to the next line starting with `## ` (`###` lines stay inside).
pub fn section<'t>(text: &'t str, heading: &str) -> Option<&'t str> {
    let mut offset = 0;
    let mut start = None;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        match start {
            None => {
                if line
                    .strip_prefix("## ")
                    .is_some_and(|h| h.trim() == heading)
                {
                    start = Some(offset + raw.len());
                }
            }
            Some(s) => {
                if line.starts_with("## ") {
                    return Some(&text[s..offset]);
                }
            }
        }
        offset += raw.len();
    }
    start.map(|s| &text[s..])
}

fn is_bullet(line: &str) -> bool {
    let t = line.trim_start();
    let mut chars = t.chars();
    matches!(chars.next(), Some('-' | '*' | '+')) && matches!(chars.next(), Some(' ' | '\t') | None)
}

fn collect_ids(l: &Ledger, source: &DocsSource, text: &str, into: &mut BTreeSet<String>) {
    let body = match &source.section {
        Some(h) => match section(text, h) {
            Some(s) => s,
            None => return,
        },
        None => text,
    };
    for line in body.lines() {
        if source.bullets && !is_bullet(line) {
            continue;
        }
        if source
            .lines_containing
            .as_deref()
            .is_some_and(|m| !line.contains(m))
        {
            continue;
        }
        into.extend(l.id_re.find_iter(line).map(|m| m.as_str().to_string()));
    }
}

fn check_ledger<'a>(l: &Ledger, fact: &dyn Fn(&str) -> Fact<'a>, out: &mut Vec<Finding>) {
    if l.require_files
        .iter()
        .any(|p| matches!(fact(p), Fact::Missing))
    {
        return;
    }
    let mut sets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, sources) in &l.sets {
        let set = sets.entry(name).or_default();
        for s in sources {
            match fact(&s.file) {
                Fact::Text(text) => collect_ids(l, s, text, set),
                Fact::Missing => {}
                // The unreadable-file finding already fails the run; a
                // partial set would only add misleading findings.
                Fact::Unreadable => return,
            }
        }
    }
    let union = |names: &[String]| -> BTreeSet<String> {
        names
            .iter()
            .flat_map(|n| sets.get(n.as_str()).into_iter().flatten().cloned())
            .collect()
    };
    for LedgerCheck {
        meta,
        path,
        kind,
        left,
        right,
    } in &l.checks
    {
        let (a, b) = (union(left), union(right));
        let offending: Vec<String> = match kind {
            DocsCheckKind::Disjoint => a.intersection(&b).cloned().collect(),
            DocsCheckKind::Subset => a.difference(&b).cloned().collect(),
        };
        if !offending.is_empty() {
            let relation = match kind {
                DocsCheckKind::Disjoint => {
                    format!("in both {} and {}", left.join("+"), right.join("+"))
                }
                DocsCheckKind::Subset => {
                    format!("in {} but not in {}", left.join("+"), right.join("+"))
                }
            };
            out.push(meta.finding(path, None, format!("{} ({relation})", offending.join(", "))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::policy::Policy;

    fn rules(toml_docs: &str) -> Rules {
        let policy: Policy = toml::from_str(toml_docs).unwrap();
        compile(policy.docs.as_ref().unwrap()).unwrap_or_else(|p| panic!("{p:?}"))
    }

    fn problems(toml_docs: &str) -> String {
        let policy: Policy = toml::from_str(toml_docs).unwrap();
        match compile(policy.docs.as_ref().unwrap()) {
            Ok(_) => panic!("expected policy problems"),
            Err(p) => p.join("\n"),
        }
    }

    fn date(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    /// (rule_id, path, line) of each finding, sorted.
    fn ids(mut findings: Vec<Finding>) -> Vec<(String, String, Option<usize>)> {
        findings.sort();
        findings
            .into_iter()
            .map(|f| (f.rule_id, f.path, f.line))
            .collect()
    }

    fn named(
        rules: &Rules,
        files: &[(&str, &str)],
        today: &str,
    ) -> Vec<(String, String, Option<usize>)> {
        let map: BTreeMap<&str, &str> = files.iter().copied().collect();
        let fact = |p: &str| match map.get(p) {
            Some(&"\u{0}UNREADABLE") => Fact::Unreadable,
            Some(t) => Fact::Text(t),
            None => Fact::Missing,
        };
        ids(check_named(rules, &fact, date(today), 45))
    }

    fn text(
        rules: &Rules,
        path: &str,
        body: &str,
        existing: &[&str],
    ) -> Vec<(String, String, Option<usize>)> {
        let mut out = Vec::new();
        let in_scope = rules.scopes_of(path);
        let mut resolves = |t: &Target| match t {
            Target::File(g) => {
                let g = Glob::new(g).unwrap();
                existing.iter().any(|e| g.matches(e))
            }
            Target::XtaskCommand(c) => existing.contains(&c.as_str()),
        };
        check_text(rules, path, body, &in_scope, &mut resolves, &mut out);
        ids(out)
    }

    fn one(id: &str, path: &str, line: Option<usize>) -> Vec<(String, String, Option<usize>)> {
        vec![(id.to_string(), path.to_string(), line)]
    }

    const MARKER: &str = "[docs]\nmarkers = [{ path = \"D.md\", label = \"Last Verified\" }]\n";

    #[test]
    fn marker_age_boundary_is_45_days_inclusive() {
        let r = rules(MARKER);
        let doc = "# D\n\n**Last Verified**: 2026-01-01\n";
        assert_eq!(
            named(&r, &[("D.md", doc)], "2026-02-15"),
            vec![],
            "45 days old passes"
        );
        assert_eq!(
            named(&r, &[("D.md", doc)], "2026-02-16"),
            one(MARKER_STALE, "D.md", Some(3)),
            "46 days old fails"
        );
    }

    #[test]
    fn marker_missing_future_invalid_and_file_missing() {
        let r = rules(MARKER);
        assert_eq!(
            named(&r, &[], "2026-02-01"),
            one(MARKER_FILE_MISSING, "D.md", None)
        );
        assert_eq!(
            named(&r, &[("D.md", "Last Verified: 2026-01-01")], "2026-02-01"),
            one(MARKER_MISSING, "D.md", None)
        );
        assert_eq!(
            named(
                &r,
                &[("D.md", "**Last Verified**: 2026-02-02")],
                "2026-02-01"
            ),
            one(MARKER_FUTURE, "D.md", Some(1))
        );
        assert_eq!(
            named(
                &r,
                &[("D.md", "\n**Last Verified**:  2026-02-30")],
                "2026-03-01"
            ),
            one(MARKER_INVALID, "D.md", Some(2))
        );
        assert_eq!(
            named(&r, &[("D.md", "\u{0}UNREADABLE")], "2026-03-01"),
            vec![],
            "the unreadable finding covers it"
        );
    }

    #[test]
    fn marker_uses_the_first_match_only() {
        let r = rules(MARKER);
        let doc = "**Last Verified**: 2026-02-01\n**Last Verified**: 2020-01-01\n";
        assert_eq!(named(&r, &[("D.md", doc)], "2026-02-02"), vec![]);
    }

    #[test]
    fn forbidden_text_and_regex_report_the_first_line_once_per_file() {
        let r = rules(
            r#"[docs]
scope = ["docs/**/*.md"]
forbidden = [
  { id = "claim", message = "stale", text = "no auth checks." },
  { id = "claim_re", message = "stale", regex = "\\bfoo\\s+bar\\b" },
]
"#,
        );
        let body = "a\nb no auth checks. c\nno auth checks.\nx foo  bar\n";
        assert_eq!(
            text(&r, "docs/a.md", body, &[]),
            vec![
                ("claim".to_string(), "docs/a.md".to_string(), Some(2)),
                ("claim_re".to_string(), "docs/a.md".to_string(), Some(4))
            ]
        );
        assert_eq!(text(&r, "other/a.md", body, &[]), vec![], "out of scope");
        assert_eq!(text(&r, "docs/b.md", "foobar bar", &[]), vec![]);
    }

    #[test]
    fn references_resolve_through_a_template_once_per_file_and_id() {
        let r = rules(
            r#"[docs]
scope = ["docs/**/*.md"]
references = [{ id = "adr", message = "missing ADR", pattern = "\\bADR-(\\d{3})\\b", template = "docs/adr/{1}-*.md" }]
"#,
        );
        let body = "see ADR-001 and ADR-002\nagain ADR-002, ADR-0003, xADR-004\nADR-005\n";
        let existing = ["docs/adr/001-rust.md"];
        assert_eq!(
            text(&r, "docs/x.md", body, &existing),
            vec![
                ("adr".to_string(), "docs/x.md".to_string(), Some(1)),
                ("adr".to_string(), "docs/x.md".to_string(), Some(3))
            ]
        );
    }

    #[test]
    fn xtask_command_references() {
        let r = rules(
            r#"[docs]
scope = ["README.md"]
references = [{ id = "cmd", message = "unknown command", pattern = "\\bcargo xtask ([a-z][a-z0-9-]*)", target = "xtask-command" }]
"#,
        );
        let body = "cargo xtask check\n`cargo xtask nope --x` and cargo xtask <name>\n";
        assert_eq!(
            text(&r, "README.md", body, &["check"]),
            one("cmd", "README.md", Some(2))
        );
    }

    #[test]
    fn required_content_each_and_all() {
        let r = rules(
            r#"[docs]
[[docs.required]]
id = "doc_missing"
message = "m"
paths = ["A.md"]
[[docs.required]]
id = "each"
message = "m"
paths = ["A.md"]
lines = ["^###\\s+reports\\s*$", "^###\\s+usage\\s*$"]
[[docs.required]]
id = "all"
message = "m"
report = "all"
paths = ["A.md"]
texts = ["X", "Y"]
"#,
        );
        assert_eq!(
            named(&r, &[], "2026-01-01"),
            one("doc_missing", "A.md", None)
        );
        assert_eq!(
            named(&r, &[("A.md", "### reports  \nX Y")], "2026-01-01"),
            one("each", "A.md", None)
        );
        let got = named(&r, &[("A.md", "#### reports")], "2026-01-01");
        assert_eq!(got.iter().filter(|f| f.0 == "each").count(), 2);
        assert_eq!(got.iter().filter(|f| f.0 == "all").count(), 1);
    }

    #[test]
    fn coupling_needs_both_files() {
        let r = rules(
            r#"[docs]
couplings = [{ id = "c", message = "m", if-file = "a.py", if-contains = "Auth", then-file = "API.md", then-contains = "X-Key" }]
"#,
        );
        assert_eq!(
            named(&r, &[("a.py", "Auth"), ("API.md", "nothing")], "2026-01-01"),
            one("c", "API.md", None)
        );
        assert_eq!(
            named(&r, &[("a.py", "Auth"), ("API.md", "X-Key")], "2026-01-01"),
            vec![]
        );
        assert_eq!(named(&r, &[("a.py", "Auth")], "2026-01-01"), vec![]);
        assert_eq!(
            named(&r, &[("a.py", "none"), ("API.md", "")], "2026-01-01"),
            vec![]
        );
    }

    #[test]
    fn sections_end_at_the_next_level_two_heading() {
        let text = "# T\n## Active Tasks\n- TASK-001\n### sub\n- TASK-002\n## Done\n- TASK-003\n";
        assert_eq!(
            section(text, "Active Tasks"),
            Some("- TASK-001\n### sub\n- TASK-002\n")
        );
        assert_eq!(section(text, "Done"), Some("- TASK-003\n"));
        assert_eq!(section(text, "Nope"), None);
    }

    #[test]
    fn ledger_disjoint_and_subset() {
        let r = rules(
            r#"[docs]
[[docs.ledgers]]
require-files = ["S.md", "P.md"]
id-pattern = "\\bTASK-\\d{3}\\b"
sets.active = [{ file = "S.md", section = "Active" }]
sets.human = [{ file = "S.md", section = "Active", lines-containing = "[HUMAN]" }]
sets.progress = [{ file = "P.md", section = "In Progress" }]
sets.done = [{ file = "S.md", section = "Done" }, { file = "C.md", bullets = true }]
checks = [
  { id = "dual", message = "m", path = "P.md", kind = "disjoint", left = ["active", "progress"], right = ["done"] },
  { id = "sub", message = "m", path = "P.md", kind = "subset", left = ["active"], right = ["progress"] },
  { id = "human", message = "m", path = "P.md", kind = "subset", left = ["human"], right = ["progress"] },
]
"#,
        );
        let s = "## Active\n- TASK-001 [HUMAN]\n- TASK-002 TASK-0003\n## Done\n- TASK-009\n";
        let p = "## In Progress\n- TASK-002\n";
        let c = "- TASK-002\nTASK-001 not a bullet\n";
        let got = named(&r, &[("S.md", s), ("P.md", p), ("C.md", c)], "2026-01-01");
        let got: Vec<&str> = got.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(got, vec!["dual", "human", "sub"]);
        let mut f = Vec::new();
        let map: BTreeMap<&str, &str> = [("S.md", s), ("P.md", p), ("C.md", c)]
            .into_iter()
            .collect();
        check_ledger(
            &r.ledgers[0],
            &|x| map.get(x).map_or(Fact::Missing, |t| Fact::Text(t)),
            &mut f,
        );
        assert!(
            f.iter()
                .any(|f| f.rule_id == "dual" && f.message.contains("TASK-002")),
            "{f:?}"
        );
        assert!(
            f.iter().any(|f| f.rule_id == "sub"
                && f.message.contains("TASK-001")
                && !f.message.contains("TASK-002")),
            "{f:?}"
        );
        assert_eq!(
            named(&r, &[("S.md", s)], "2026-01-01"),
            vec![],
            "P.md missing: not evaluated"
        );
    }

    #[test]
    fn required_literals_are_conservative() {
        let check = |p: &str, expected: Option<&str>| {
            assert_eq!(required_literal(p).as_deref(), expected, "{p}")
        };
        check(r"\bADR-(\d{3})\b", Some("ADR-"));
        check(r"\bcargo xtask ([a-z][a-z0-9-]*)", Some("cargo xtask "));
        check(r"a|b", None);
        check(r"(?i)abc", None);
        check(r"colou?r", Some("colo"));
        check(r"ab*c", Some("a"));
        check(r"x\.y[abc]", Some("x.y"));
        check(r"\d+", None);
        for p in [r"\bADR-(\d{3})\b", r"colou?r", r"x\.y[abc]+z", r"fo{2}bar"] {
            let re = Regex::new(p).unwrap();
            if let Some(lit) = required_literal(p) {
                for hay in ["ADR-123", "color", "colour", "x.yaaz", "foobar"] {
                    if re.is_match(hay) {
                        assert!(hay.contains(&lit), "{p}: {hay} matches without {lit}");
                    }
                }
            }
        }
    }

    #[test]
    fn invalid_policies_name_every_problem() {
        let err = problems(
            r#"[docs]
overrides-file = "../x.json"
markers = [{ path = "/etc/passwd", label = "L" }]
forbidden = [{ id = "a b", message = "", text = "x", regex = "y" }, { id = "ok", message = "two\nlines", text = "x" }]
references = [
  { id = "r", message = "m", pattern = "(", template = "x", scope = ["a"] },
  { id = "r2", message = "m", pattern = "ADR-(\\d+)", template = "docs/{2}.md", scope = ["a"] },
]
required = [{ id = "c", message = "m", paths = ["A.md"], texts = ["x"] }]
ledgers = [{ id-pattern = "x", sets = {}, checks = [{ id = "l", message = "m", path = "P.md", kind = "subset", left = ["nope"], right = [] }] }]
"#,
        );
        for want in [
            "docs.overrides-file",
            "docs.markers[0].path",
            "docs.forbidden[0].id",
            "docs.forbidden[0].message",
            "docs.forbidden[1].message must be one line",
            "exactly one of",
            "docs.forbidden[0]: no scope",
            "docs.references[0].pattern",
            "uses {2}",
            "no existence rule",
            "no set named \"nope\"",
            "left and right",
        ] {
            assert!(err.contains(want), "missing {want:?} in:\n{err}");
        }
    }

    #[test]
    fn finder_agrees_with_str_find() {
        let texts = [
            "",
            "ADR-",
            "xxADR-ADR-1",
            "DDDADR",
            "é ADR-001 é",
            "a\nAll API endpoints.\n",
            "ééé",
        ];
        for needle in ["ADR-", "D", "All API", "é A", "éé", "_KEY"] {
            let f = Finder::new(needle);
            for t in texts {
                let mut from = 0;
                loop {
                    let want = t[from..].find(needle).map(|i| from + i);
                    assert_eq!(
                        f.find_from(t, from),
                        want,
                        "{needle:?} in {t:?} from {from}"
                    );
                    match want {
                        Some(w) => from = w + needle.chars().next().unwrap().len_utf8(),
                        None => break,
                    }
                }
            }
        }
    }

    #[test]
    fn dates_must_exist() {
        assert!(parse_date("2026-02-28").is_some());
        assert!(parse_date("2028-02-29").is_some());
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-00-10",
            "26-01-01",
            "2026-1-01",
            "２026-01-01",
            "2026-01-01x",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }
}
