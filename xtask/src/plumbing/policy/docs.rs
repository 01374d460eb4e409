//! `[docs]`: the docs-freshness rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `[docs]` section: docs-freshness's rules. Every rule has an `id`
/// (the finding's rule id), a `level`, a `message` and whether an override
/// may suppress it; the rule engine is `docs_freshness/rules.rs`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Docs {
    /// Globs of the files forbidden claims and references search by default.
    #[serde(default)]
    pub scope: Vec<String>,
    /// A marker older than this many days is stale (`--max-age-days` wins).
    #[serde(default = "default_docs_max_age_days")]
    pub max_age_days: u32,
    /// The overrides file, relative to the root; absent file: no overrides.
    #[serde(default = "default_docs_overrides_file")]
    pub overrides_file: String,
    /// The furthest in the future an override's `expires_on` may be.
    #[serde(default)]
    pub max_override_days: Option<u32>,
    #[serde(default)]
    pub markers: Vec<DocsMarker>,
    #[serde(default)]
    pub forbidden: Vec<DocsForbidden>,
    #[serde(default)]
    pub required: Vec<DocsRequired>,
    #[serde(default)]
    pub references: Vec<DocsReference>,
    #[serde(default)]
    pub couplings: Vec<DocsCoupling>,
    #[serde(default)]
    pub ledgers: Vec<DocsLedger>,
}

fn default_docs_max_age_days() -> u32 {
    45
}
fn default_docs_overrides_file() -> String {
    "docs/DOCS_FRESHNESS_OVERRIDES.json".to_string()
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DocsLevel {
    #[default]
    Error,
    Warning,
}

/// `**<label>**: YYYY-MM-DD` in one file; the finding ids are fixed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsMarker {
    pub path: String,
    pub label: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
}

/// A text (or a regex, matched line by line) that no file in scope may contain.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsForbidden {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub regex: Option<String>,
    /// Globs; default: `docs.scope`.
    #[serde(default)]
    pub scope: Option<Vec<String>>,
}

/// Files that must exist (no `texts`/`lines`) or must contain texts and
/// line patterns (then a missing file is left to an existence rule).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsRequired {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
    pub paths: Vec<String>,
    #[serde(default)]
    pub texts: Vec<String>,
    /// Regexes that some line must match (`^###\s+reports\s*$`).
    #[serde(default)]
    pub lines: Vec<String>,
    /// `each`: one finding per missing item; `all`: one listing them all.
    #[serde(default)]
    pub report: DocsReport,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DocsReport {
    #[default]
    Each,
    All,
}

/// A pattern whose captures must resolve to a target: a file through a
/// glob template (`docs/adr/{1}-*.md`), or a command of this xtask.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsReference {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
    /// A regex with at least one capture group, matched line by line.
    pub pattern: String,
    #[serde(default)]
    pub target: DocsTarget,
    /// For `target = "file"`: a glob with `{1}`, `{2}` … for the captures.
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub scope: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DocsTarget {
    #[default]
    File,
    XtaskCommand,
}

/// When `if-file` exists and contains `if-contains`, `then-file` must
/// contain `then-contains`; not evaluated when either file is absent.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsCoupling {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
    pub if_file: String,
    pub if_contains: String,
    pub then_file: String,
    pub then_contains: String,
}

/// Named sets of ids collected from markdown sections, and checks between them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsLedger {
    /// The checks run only when all of these files exist.
    #[serde(default)]
    pub require_files: Vec<String>,
    /// The id regex (`\bTASK-\d{3}\b`).
    pub id_pattern: String,
    pub sets: BTreeMap<String, Vec<DocsSource>>,
    pub checks: Vec<DocsLedgerCheck>,
}

/// Where a set's ids come from; a missing file contributes nothing.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsSource {
    pub file: String,
    /// The text after the line `## <section>` up to the next `## ` line; default: the whole file.
    #[serde(default)]
    pub section: Option<String>,
    /// Only bullet lines (`-`, `*`, `+`).
    #[serde(default)]
    pub bullets: bool,
    /// Only lines containing this text.
    #[serde(default)]
    pub lines_containing: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DocsLedgerCheck {
    pub id: String,
    pub message: String,
    #[serde(default)]
    pub level: DocsLevel,
    #[serde(default)]
    pub overridable: bool,
    /// The file the finding is reported on.
    pub path: String,
    /// `disjoint` (no id in both) or `subset` (every id of `left` is in `right`).
    pub kind: DocsCheckKind,
    /// Set names; several mean their union.
    pub left: Vec<String>,
    pub right: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DocsCheckKind {
    Disjoint,
    Subset,
}
