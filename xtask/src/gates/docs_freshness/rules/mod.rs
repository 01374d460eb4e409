//! The rule engine, pure: a compiled `[docs]` policy plus gathered file
//! texts in, findings out. Nothing here reads a file or walks a tree; the
//! caller hands over texts ([`Fact`]) and answers "does this target exist"
//! through a resolver, so every rule has fast unit tests.
//!
//! `compile` turns the policy into [`Rules`]; `text` runs the rules on files
//! in scope (forbidden claims, references); `named` the rules on files the
//! policy names (markers, required content, couplings, ledgers); `literal`
//! is the fast prefilter both use.

mod compile;
mod literal;
mod named;
#[cfg(test)]
mod tests;
mod text;

use std::collections::{BTreeMap, BTreeSet};

use regex_lite::Regex;

use super::glob::Glob;
use crate::plumbing::policy::{DocsCheckKind, DocsLevel, DocsReport, DocsSource, DocsTarget};

pub use self::compile::compile;
pub use self::literal::Finder;
pub use self::named::{check_named, parse_date};
pub use self::text::check_text;

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
    /// Every match starts with `literal`: a line is searched from the
    /// literal's first occurrence.
    literal_starts: bool,
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
