//! The policy file (`xtask.toml`): everything that differs between
//! repositories. Unknown keys are rejected, errors carry `file:line:column`,
//! and every key is documented in `docs/POLICY.md` (a test checks that
//! [`Policy::reference`] and that page agree).
//!
//! Nothing here runs a process: loading a policy only reads one file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plumbing::exit;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// The main branch and the remote.
    #[serde(default)]
    pub git: Git,
    /// Task ids and task branch names.
    #[serde(default)]
    pub task: Task,
    /// Named lists of preparation steps (the runbook's `deps` / `deps-dev`).
    #[serde(default)]
    pub prepare: BTreeMap<String, Vec<Step>>,
    /// Named gates: `check`, `test`, `audit-eval`.
    #[serde(default)]
    pub gates: BTreeMap<String, Gate>,
    /// The migration gate.
    #[serde(default)]
    pub migration: Migration,
    /// The GitHub repository.
    #[serde(default)]
    pub github: Github,
    /// Release notes, release tags and staging/prod parity.
    #[serde(default)]
    pub release: Release,
    /// docs-freshness rules; absent: the command exits 2 naming the section.
    #[serde(default)]
    pub docs: Option<Docs>,
    /// Deployment environments: deploy steps and post-deploy verification.
    #[serde(default)]
    pub deploy: Deploy,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Deploy {
    /// The environments, by name (`staging`, `prod`).
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
}

/// One deployment environment.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Environment {
    /// Production: only release tags, only SHAs verified in `requires-verified-in`.
    #[serde(default)]
    pub production: bool,
    /// The environment that must have a passing verification of the same SHA first.
    #[serde(default)]
    pub requires_verified_in: Option<String>,
    /// The deploy commands, run in a clean worktree of the revision.
    pub steps: Vec<Step>,
    /// The rollback commands; default: `steps`.
    #[serde(default)]
    pub rollback_steps: Option<Vec<Step>>,
    /// The post-deploy verification.
    pub verify: Verify,
}

/// Post-deploy verification: HTTP checks and commands, retried until they
/// pass or the deadline is reached.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Verify {
    /// Hard deadline for the whole verification; default `"60s"`.
    #[serde(default)]
    pub deadline: Option<String>,
    /// Further attempts after the first; default 5.
    #[serde(default)]
    pub retries: Option<u32>,
    /// Wait before the first retry, doubled after each; default `"2s"`.
    #[serde(default)]
    pub backoff: Option<String>,
    #[serde(default)]
    pub checks: Vec<HttpCheck>,
    /// Commands that must succeed (run in the repository root).
    #[serde(default)]
    pub commands: Vec<Step>,
}

/// One HTTP check of the verification, made with `curl`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpCheck {
    pub name: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Expected HTTP status; default 200.
    #[serde(default)]
    pub status: Option<u16>,
    /// Texts the body must contain.
    #[serde(default)]
    pub contains: Vec<String>,
    /// Prometheus metric names the body must expose.
    #[serde(default)]
    pub metrics: Vec<String>,
    /// JSON field (dotted path) that must equal the deployed SHA or tag.
    #[serde(default)]
    pub version_field: Option<String>,
    /// Response header that must equal the deployed SHA or tag.
    #[serde(default)]
    pub version_header: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Release {
    /// Where new migrations appear (release notes, rollback risk).
    #[serde(default = "default_migrations_dir")]
    pub migrations_dir: String,
    /// Env example files whose variables the release notes diff.
    #[serde(default = "default_env_examples")]
    pub env_examples: Vec<String>,
    /// The environment whose passing verification makes a tag "known good".
    #[serde(default = "default_production_environment")]
    pub production_environment: String,
    /// The environment env-parity compares with production by default.
    #[serde(default = "default_staging_environment")]
    pub staging_environment: String,
    /// The env file of each environment, for env-parity.
    #[serde(default)]
    pub env_files: BTreeMap<String, String>,
    /// env-parity's rules.
    #[serde(default)]
    pub parity: Parity,
}

impl Default for Release {
    fn default() -> Release {
        Release {
            migrations_dir: default_migrations_dir(),
            env_examples: default_env_examples(),
            production_environment: default_production_environment(),
            staging_environment: default_staging_environment(),
            env_files: BTreeMap::new(),
            parity: Parity::default(),
        }
    }
}

fn default_migrations_dir() -> String {
    "alembic/versions".to_string()
}
fn default_env_examples() -> Vec<String> {
    vec![".env.example".to_string()]
}
fn default_production_environment() -> String {
    "prod".to_string()
}
fn default_staging_environment() -> String {
    "staging".to_string()
}

/// The runbook's staging/prod rules as key lists (defaults: the runbook's shape).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Parity {
    /// Rules whose keys must have the same value in both environments.
    #[serde(default = "default_must_match")]
    pub must_match: BTreeMap<String, Vec<String>>,
    /// Rules whose keys, taken together, must not be the same in both.
    #[serde(default = "default_must_differ")]
    pub must_differ: BTreeMap<String, Vec<String>>,
    /// Secrets: provided as `<NAME>_FILE`, never as `<NAME>`, in deployed environments.
    #[serde(default = "default_secrets")]
    pub secrets: Vec<String>,
}

impl Default for Parity {
    fn default() -> Parity {
        Parity {
            must_match: default_must_match(),
            must_differ: default_must_differ(),
            secrets: default_secrets(),
        }
    }
}

fn keys(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
fn default_must_match() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(
        "auth-posture".to_string(),
        keys(&[
            "API_AUTH_ENABLED",
            "API_KEY",
            "API_ADMIN_KEY",
            "API_RATE_LIMIT_PER_MINUTE",
        ]),
    )])
}
fn default_must_differ() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        (
            "database".to_string(),
            keys(&["DATABASE_HOST", "DATABASE_NAME"]),
        ),
        ("redis".to_string(), keys(&["REDIS_URL"])),
        ("data".to_string(), keys(&["DATA_DIR"])),
        (
            "endpoints".to_string(),
            keys(&["PUBLIC_HOSTNAME", "TLS_ENDPOINT"]),
        ),
        (
            "compose-project".to_string(),
            keys(&["COMPOSE_PROJECT_NAME"]),
        ),
    ])
}
fn default_secrets() -> Vec<String> {
    keys(&["DATABASE_URL", "API_KEY", "API_ADMIN_KEY"])
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Github {
    /// `owner/name`; default: `GITHUB_REPOSITORY`, else a github.com `origin` URL.
    #[serde(default)]
    pub repository: Option<String>,
    /// Status checks (job names) that must pass before merging to main;
    /// protect-main needs at least one.
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Approving reviews a pull request needs (0 to 6).
    #[serde(default)]
    pub required_approving_review_count: u32,
    /// Every review conversation must be resolved before merging.
    #[serde(default = "default_true")]
    pub required_conversation_resolution: bool,
    /// A new push dismisses earlier approvals.
    #[serde(default)]
    pub dismiss_stale_reviews: bool,
    /// Code owners must approve changes to what they own.
    #[serde(default)]
    pub require_code_owner_reviews: bool,
    /// The last push must be approved by someone other than its author.
    #[serde(default)]
    pub require_last_push_approval: bool,
}

impl Default for Github {
    fn default() -> Github {
        Github {
            repository: None,
            required_checks: Vec::new(),
            required_approving_review_count: 0,
            required_conversation_resolution: true,
            dismiss_stale_reviews: false,
            require_code_owner_reviews: false,
            require_last_push_approval: false,
        }
    }
}

fn default_true() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Git {
    #[serde(default = "default_main_branch")]
    pub main_branch: String,
    #[serde(default = "default_remote")]
    pub remote: String,
}

impl Default for Git {
    fn default() -> Git {
        Git {
            main_branch: default_main_branch(),
            remote: default_remote(),
        }
    }
}

fn default_main_branch() -> String {
    "main".to_string()
}
fn default_remote() -> String {
    "origin".to_string()
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Task {
    /// Task ids are `<id-prefix><digits>`.
    #[serde(default = "default_id_prefix")]
    pub id_prefix: String,
    /// The fewest digits a task id has.
    #[serde(default = "default_id_digits")]
    pub id_digits: usize,
    /// The commit-msg hook also requires the branch's task id in every
    /// commit message (it always refuses another task's id).
    #[serde(default)]
    pub require_id_in_commit_message: bool,
    /// Task branch names; `{NNN}` is the task number, `{slug}` the short name.
    #[serde(default = "default_branch_template")]
    pub branch_template: String,
    /// The task ledger file (relative to the root) in which a task id must
    /// appear before `task-start` creates its branch; none: no such check.
    #[serde(default)]
    pub ledger: Option<String>,
}

impl Default for Task {
    fn default() -> Task {
        Task {
            id_prefix: default_id_prefix(),
            id_digits: default_id_digits(),
            require_id_in_commit_message: false,
            branch_template: default_branch_template(),
            ledger: None,
        }
    }
}

fn default_id_prefix() -> String {
    "TASK-".to_string()
}
fn default_id_digits() -> usize {
    3
}
fn default_branch_template() -> String {
    "task-{NNN}-{slug}".to_string()
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Gate {
    /// Names of `[prepare.<name>]` lists to run first.
    #[serde(default)]
    pub prepare: Vec<String>,
    pub steps: Vec<Step>,
}

/// One command of a gate: an argv array, never a shell string.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    pub name: String,
    pub argv: Vec<String>,
    /// Working directory, relative to the repository root.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Extra environment variables for this step.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `30s`, `10m`, `1h`; default 30 minutes.
    #[serde(default)]
    pub timeout: Option<String>,
}

pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Step {
    pub fn timeout(&self) -> Duration {
        self.timeout
            .as_deref()
            .and_then(|t| parse_duration(t).ok())
            .unwrap_or(DEFAULT_STEP_TIMEOUT)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Migration {
    /// The database the migration gate (and release-gate) uses when no URL
    /// is given in the environment. Not for secrets: it is in the repository.
    #[serde(default)]
    pub default_database_url: Option<String>,
    /// The command that runs alembic, as an argv array.
    #[serde(default = "default_alembic")]
    pub alembic: Vec<String>,
    /// Where alembic runs (the directory of `alembic.ini`), relative to the root.
    #[serde(default = "default_migration_directory")]
    pub directory: String,
    /// Each alembic command is stopped and fails after this long.
    #[serde(default = "default_migration_timeout")]
    pub timeout: String,
}

impl Default for Migration {
    fn default() -> Migration {
        Migration {
            default_database_url: None,
            alembic: default_alembic(),
            directory: default_migration_directory(),
            timeout: default_migration_timeout(),
        }
    }
}

fn default_alembic() -> Vec<String> {
    ["uv", "run", "--no-sync", "alembic"]
        .map(String::from)
        .to_vec()
}
fn default_migration_directory() -> String {
    ".".to_string()
}
fn default_migration_timeout() -> String {
    "5m".to_string()
}

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

/// `"90s"`, `"10m"`, `"2h"`: a finite, non-zero duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like \"90s\", \"10m\" or \"2h\""))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => {
            return Err(format!(
                "{text:?} is not a duration like \"90s\", \"10m\" or \"2h\""
            ))
        }
    };
    if secs == 0 || secs > 7 * 24 * 3600 {
        return Err(format!("{text:?} must be between 1s and 168h"));
    }
    Ok(Duration::from_secs(secs))
}

/// A loaded policy and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub policy: Policy,
    pub path: PathBuf,
    /// False when the file does not exist and the built-in defaults apply.
    pub from_file: bool,
}

impl Loaded {
    /// The gate named `name`, or a usage error naming the missing section.
    pub fn gate(&self, name: &str) -> anyhow::Result<&Gate> {
        self.policy
            .gates
            .get(name)
            .ok_or_else(|| self.missing(&format!("gates.{name}")))
    }

    /// The usage error for a section the command needs and the defaults
    /// cannot supply.
    pub fn missing(&self, section: &str) -> anyhow::Error {
        let whence = if self.from_file {
            format!("{} has no [{section}] section", self.path.display())
        } else {
            format!("no policy file at {} (built-in defaults apply), and the defaults have no [{section}]", self.path.display())
        };
        let documented = match section.split_once('.') {
            Some(("gates", _)) => "gates.<name>",
            _ => section,
        };
        exit::usage(format!(
            "{whence}: add it (see docs/POLICY.md, `{documented}`)"
        ))
    }
}

/// Loads the policy from `path`; a missing file means the built-in defaults.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                policy: Policy::default(),
                path: path.to_path_buf(),
                from_file: false,
            })
        }
        Err(e) => {
            return Err(exit::usage(format!(
                "{}: cannot read the policy file: {e}",
                path.display()
            )))
        }
    };
    let policy = parse(&text, path)?;
    Ok(Loaded {
        policy,
        path: path.to_path_buf(),
        from_file: true,
    })
}

/// Parses and validates policy text; errors read `file:line:column: what`.
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Policy> {
    let policy: Policy = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        let message = e.message().trim().replace('\n', " ");
        exit::usage(format!("{}:{line}:{col}: {message}", path.display()))
    })?;
    let problems = validate(&policy);
    if !problems.is_empty() {
        return Err(exit::usage(
            problems
                .iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    Ok(policy)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Checks what the types cannot: every problem, not just the first.
fn validate(policy: &Policy) -> Vec<String> {
    let mut problems = Vec::new();
    let mut check_steps = |what: &str, steps: &[Step]| {
        for (i, step) in steps.iter().enumerate() {
            let at = format!("{what}[{i}]");
            if step.name.trim().is_empty() {
                problems.push(format!("{at}: name is empty"));
            }
            if step.argv.is_empty() || step.argv[0].trim().is_empty() {
                problems.push(format!("{at} ({}): argv must name a program", step.name));
            }
            if let Some(t) = &step.timeout {
                if let Err(e) = parse_duration(t) {
                    problems.push(format!("{at} ({}): timeout {e}", step.name));
                }
            }
            if let Some(cwd) = step.cwd.as_deref().filter(|c| !repo_path_ok(c)) {
                problems.push(format!(
                    "{at} ({}): cwd {cwd:?} must be a relative path inside the repository",
                    step.name
                ));
            }
        }
    };
    for (name, steps) in &policy.prepare {
        check_steps(&format!("prepare.{name}"), steps);
    }
    for (name, gate) in &policy.gates {
        check_steps(&format!("gates.{name}.steps"), &gate.steps);
    }
    for (name, gate) in &policy.gates {
        if gate.steps.is_empty() {
            problems.push(format!(
                "gates.{name}.steps: a gate needs at least one step"
            ));
        }
        for p in &gate.prepare {
            if !policy.prepare.contains_key(p) {
                problems.push(format!(
                    "gates.{name}.prepare: no [prepare] list named {p:?}"
                ));
            }
        }
    }
    let m = &policy.migration;
    if m.alembic.is_empty() || m.alembic[0].trim().is_empty() {
        problems.push("migration.alembic must name a program, e.g. [\"uv\", \"run\", \"--no-sync\", \"alembic\"]".to_string());
    }
    if let Err(e) = parse_duration(&m.timeout) {
        problems.push(format!("migration.timeout {e}"));
    }
    if !repo_path_ok(&m.directory) {
        problems.push(format!(
            "migration.directory {:?} must be a relative path inside the repository",
            m.directory
        ));
    }
    let t = &policy.task.branch_template;
    if !t.contains("{NNN}") || !t.contains("{slug}") {
        problems.push(format!(
            "task.branch-template {t:?} must contain {{NNN}} and {{slug}}"
        ));
    }
    if policy.task.id_digits == 0 || policy.task.id_digits > 9 {
        problems.push("task.id-digits must be between 1 and 9".to_string());
    }
    if policy.git.main_branch.trim().is_empty() || policy.git.remote.trim().is_empty() {
        problems.push("git.main-branch and git.remote must not be empty".to_string());
    }
    validate_release(&policy.release, &mut problems);
    problems
}

/// An env variable name as env files and shells spell it.
fn env_key_ok(key: &str) -> bool {
    key.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// An environment name (`staging`, `prod`): it appears in records and messages.
pub fn environment_name_ok(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A path inside the repository: relative, no `..`, no leading `-`.
fn repo_path_ok(path: &str) -> bool {
    let p = Path::new(path);
    !path.trim().is_empty()
        && !path.starts_with('-')
        && p.is_relative()
        && p.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
}

fn validate_release(r: &Release, problems: &mut Vec<String>) {
    if !repo_path_ok(&r.migrations_dir) {
        problems.push(format!(
            "release.migrations-dir {:?} must be a relative path inside the repository",
            r.migrations_dir
        ));
    }
    for f in &r.env_examples {
        if !repo_path_ok(f) {
            problems.push(format!(
                "release.env-examples: {f:?} must be a relative path inside the repository"
            ));
        }
    }
    for name in r
        .env_files
        .keys()
        .chain([&r.production_environment, &r.staging_environment])
    {
        if !environment_name_ok(name) {
            problems.push(format!(
                "release: environment name {name:?} must be lower-case letters, digits and '-'"
            ));
        }
    }
    for (name, path) in &r.env_files {
        if path.trim().is_empty() || path.starts_with('-') {
            problems.push(format!(
                "release.env-files.{name}: {path:?} is not a file path"
            ));
        }
    }
    let rules = r
        .parity
        .must_match
        .iter()
        .map(|(n, k)| ("must-match", n, k));
    for (kind, name, list) in rules.chain(
        r.parity
            .must_differ
            .iter()
            .map(|(n, k)| ("must-differ", n, k)),
    ) {
        if list.is_empty() {
            problems.push(format!(
                "release.parity.{kind}.{name}: a rule needs at least one key"
            ));
        }
        for key in list.iter().filter(|k| !env_key_ok(k)) {
            problems.push(format!(
                "release.parity.{kind}.{name}: {key:?} is not an environment variable name"
            ));
        }
    }
    for key in r.parity.secrets.iter().filter(|k| !env_key_ok(k)) {
        problems.push(format!(
            "release.parity.secrets: {key:?} is not an environment variable name"
        ));
    }
    for (name, list) in &r.parity.must_differ {
        for key in list.iter().filter(|k| r.parity.secrets.contains(k)) {
            problems.push(format!(
                "release.parity.must-differ.{name}: {key} is a secret (release.parity.secrets), whose value env-parity never reads; list a non-secret locator instead (a host, a database name)"
            ));
        }
    }
}

impl Policy {
    /// A policy with every key set, for the reference test: maps use the key
    /// `<name>`. Written as struct literals without `..Default::default()`, so
    /// that a new key does not compile until it is added here, and then the
    /// test fails until `docs/POLICY.md` documents it.
    #[cfg(test)]
    pub fn reference() -> Policy {
        let step = Step {
            name: "<name>".into(),
            argv: vec!["cargo".into(), "test".into()],
            cwd: Some(".".into()),
            env: BTreeMap::new(),
            timeout: Some("30m".into()),
        };
        let deploy_step = Step {
            name: "<name>".into(),
            argv: vec!["docker".into(), "compose".into(), "up".into(), "-d".into()],
            cwd: Some(".".into()),
            env: BTreeMap::new(),
            timeout: Some("10m".into()),
        };
        Policy {
            git: Git {
                main_branch: "main".into(),
                remote: "origin".into(),
            },
            task: Task {
                id_prefix: "TASK-".into(),
                id_digits: 3,
                branch_template: "task-{NNN}-{slug}".into(),
                ledger: Some("tasks/BACKLOG.md".into()),
                require_id_in_commit_message: true,
            },
            prepare: BTreeMap::from([("<name>".to_string(), vec![step.clone()])]),
            gates: BTreeMap::from([(
                "<name>".to_string(),
                Gate {
                    prepare: vec!["<name>".into()],
                    steps: vec![step],
                },
            )]),
            migration: Migration {
                default_database_url: Some("sqlite:///target/release-gate.db".into()),
                alembic: default_alembic(),
                directory: "examples/service".into(),
                timeout: "5m".into(),
            },
            github: Github {
                repository: Some("acme/service".into()),
                required_checks: vec!["check".into(), "test".into()],
                required_approving_review_count: 1,
                required_conversation_resolution: true,
                dismiss_stale_reviews: false,
                require_code_owner_reviews: false,
                require_last_push_approval: false,
            },
            release: Release {
                migrations_dir: "alembic/versions".into(),
                env_examples: vec![".env.example".into()],
                production_environment: "prod".into(),
                staging_environment: "staging".into(),
                env_files: BTreeMap::from([(
                    "<name>".to_string(),
                    "deploy/staging.env".to_string(),
                )]),
                parity: Parity {
                    must_match: BTreeMap::from([(
                        "<name>".to_string(),
                        vec!["API_AUTH_ENABLED".to_string()],
                    )]),
                    must_differ: BTreeMap::from([(
                        "<name>".to_string(),
                        vec!["REDIS_URL".to_string()],
                    )]),
                    secrets: vec!["API_KEY".into()],
                },
            },
            docs: Some(Docs {
                scope: vec!["docs/**/*.md".into()],
                max_age_days: 45,
                overrides_file: "docs/DOCS_FRESHNESS_OVERRIDES.json".into(),
                max_override_days: Some(30),
                markers: vec![DocsMarker {
                    path: "docs/RELEASING.md".into(),
                    label: "Last Verified".into(),
                    level: DocsLevel::Error,
                    overridable: false,
                }],
                forbidden: vec![DocsForbidden {
                    id: "stale_claim".into(),
                    message: "a stale claim".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    text: Some("has no authentication".into()),
                    regex: Some(r"\bno auth\b".into()),
                    scope: Some(vec!["docs/**/*.md".into()]),
                }],
                required: vec![DocsRequired {
                    id: "data_model_table_coverage_missing".into(),
                    message: "a table is not documented".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    paths: vec!["docs/DATA_MODEL.md".into()],
                    texts: vec!["## Tables".into()],
                    lines: vec![r"^###\s+reports\s*$".into()],
                    report: DocsReport::Each,
                }],
                references: vec![DocsReference {
                    id: "adr_reference_target_missing".into(),
                    message: "no such ADR".into(),
                    level: DocsLevel::Error,
                    overridable: true,
                    pattern: r"\bADR-(\d{3})\b".into(),
                    target: DocsTarget::File,
                    template: Some("docs/adr/{1}-*.md".into()),
                    scope: Some(vec!["docs/**/*.md".into()]),
                }],
                couplings: vec![DocsCoupling {
                    id: "auth_header_doc_missing".into(),
                    message: "the API docs do not mention the auth header".into(),
                    level: DocsLevel::Error,
                    overridable: false,
                    if_file: "src/api/main.py".into(),
                    if_contains: "APIKeyAuthMiddleware".into(),
                    then_file: "docs/API.md".into(),
                    then_contains: "X-API-Key".into(),
                }],
                ledgers: vec![DocsLedger {
                    require_files: vec!["PROJECT_STATUS.md".into()],
                    id_pattern: r"\bTASK-\d{3}\b".into(),
                    sets: BTreeMap::from([(
                        "<name>".to_string(),
                        vec![DocsSource {
                            file: "tasks/CURRENT_SPRINT.md".into(),
                            section: Some("Active Tasks".into()),
                            bullets: true,
                            lines_containing: Some("[REQUIRES_HUMAN]".into()),
                        }],
                    )]),
                    checks: vec![DocsLedgerCheck {
                        id: "task_status_dual_listing".into(),
                        message: "tasks listed as both active and completed".into(),
                        level: DocsLevel::Error,
                        overridable: true,
                        path: "PROJECT_STATUS.md".into(),
                        kind: DocsCheckKind::Disjoint,
                        left: vec!["<name>".into()],
                        right: vec!["<name>".into()],
                    }],
                }],
            }),
            deploy: Deploy {
                environments: BTreeMap::from([(
                    "<name>".to_string(),
                    Environment {
                        production: true,
                        requires_verified_in: Some("staging".into()),
                        steps: vec![deploy_step.clone()],
                        rollback_steps: Some(vec![deploy_step.clone()]),
                        verify: Verify {
                            deadline: Some("60s".into()),
                            retries: Some(5),
                            backoff: Some("2s".into()),
                            checks: vec![HttpCheck {
                                name: "health".into(),
                                url: "http://localhost:8000/health".into(),
                                status: Some(200),
                                contains: vec!["ok".into()],
                                metrics: vec!["http_requests_total".into()],
                                version_field: Some("version".into()),
                                version_header: Some("X-Version".into()),
                            }],
                            commands: vec![deploy_step],
                        },
                    },
                )]),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> String {
        parse(text, Path::new("xtask.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn empty_policy_gives_the_defaults() {
        let p = parse("", Path::new("x")).unwrap();
        assert_eq!(p.git.main_branch, "main");
        assert_eq!(p.git.remote, "origin");
        assert_eq!(p.task.branch_template, "task-{NNN}-{slug}");
        assert_eq!(p.task.id_prefix, "TASK-");
        assert_eq!(p.task.id_digits, 3);
    }

    #[test]
    fn unknown_keys_are_rejected_with_line_and_column() {
        let err = err_of("[git]\nmain-branch = \"main\"\n  remtoe = \"x\"\n");
        assert!(err.starts_with("xtask.toml:3:3: "), "{err}");
        assert!(err.contains("remtoe"), "{err}");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = err_of("[gates.check]\nsteps = [\n  { name = \"x\", argv = [\"a\" }\n]\n");
        assert!(err.starts_with("xtask.toml:3:"), "{err}");
    }

    #[test]
    fn wrong_types_have_line_and_column() {
        let err = err_of("[task]\nid-digits = \"three\"\n");
        assert!(err.starts_with("xtask.toml:2:13: "), "{err}");
    }

    #[test]
    fn invalid_steps_are_all_reported() {
        let err = err_of(
            "[gates.check]\nprepare = [\"deps\"]\nsteps = [{ name = \"\", argv = [] }, { name = \"t\", argv = [\"x\"], timeout = \"0s\" }]\n",
        );
        assert!(err.contains("gates.check.steps[0]: name is empty"), "{err}");
        assert!(err.contains("argv must name a program"), "{err}");
        assert!(err.contains("timeout"), "{err}");
        assert!(err.contains("no [prepare] list named \"deps\""), "{err}");
    }

    #[test]
    fn step_directories_stay_inside_the_repository() {
        for cwd in ["../elsewhere", "/etc", "a/../../b", "-x"] {
            let err = err_of(&format!(
                "[prepare]\ndeps = [{{ name = \"s\", argv = [\"true\"], cwd = {cwd:?} }}]\n"
            ));
            assert!(
                err.contains(&format!("prepare.deps[0] (s): cwd {cwd:?} must be a relative path inside the repository")),
                "{err}"
            );
        }
        let ok = "[gates.check]\nsteps = [{ name = \"t\", argv = [\"true\"], cwd = \"examples/service\" }]\n";
        assert!(parse(ok, Path::new("x")).is_ok());
    }

    #[test]
    fn release_settings_are_validated_together() {
        let err = err_of(
            "[release]\nmigrations-dir = \"../x\"\nproduction-environment = \"Prod\"\n[release.parity]\nsecrets = [\"API_KEY\", \"bad-key\"]\n[release.parity.must-differ]\nkeys = [\"API_KEY\"]\nempty = []\n",
        );
        assert!(err.contains("release.migrations-dir \"../x\""), "{err}");
        assert!(err.contains("environment name \"Prod\""), "{err}");
        assert!(
            err.contains("\"bad-key\" is not an environment variable name"),
            "{err}"
        );
        assert!(
            err.contains("must-differ.keys: API_KEY is a secret"),
            "{err}"
        );
        assert!(
            err.contains("must-differ.empty: a rule needs at least one key"),
            "{err}"
        );
        let p = parse("", Path::new("x")).unwrap();
        assert_eq!(p.release.production_environment, "prod");
        assert_eq!(p.release.migrations_dir, "alembic/versions");
        assert!(p.release.parity.must_differ.contains_key("compose-project"));
    }

    #[test]
    fn durations_are_finite_and_explicit() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        for bad in ["", "10", "m", "0s", "10d", "-1s", "1000h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("", 5), (1, 1));
    }
}
