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

use crate::exit;

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
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Github {
    /// `owner/name`; default: `GITHUB_REPOSITORY`, else a github.com `origin` URL.
    #[serde(default)]
    pub repository: Option<String>,
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
        Git { main_branch: default_main_branch(), remote: default_remote() }
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
}

impl Default for Task {
    fn default() -> Task {
        Task {
            id_prefix: default_id_prefix(),
            id_digits: default_id_digits(),
            require_id_in_commit_message: false,
            branch_template: default_branch_template(),
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
        self.timeout.as_deref().and_then(|t| parse_duration(t).ok()).unwrap_or(DEFAULT_STEP_TIMEOUT)
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Migration {
    /// The database the migration gate (and release-gate) uses when no URL
    /// is given in the environment. Not for secrets: it is in the repository.
    #[serde(default)]
    pub default_database_url: Option<String>,
}

/// `"90s"`, `"10m"`, `"2h"`: a finite, non-zero duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration like \"90s\", \"10m\" or \"2h\""))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{text:?} is not a duration like \"90s\", \"10m\" or \"2h\"")),
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
        self.policy.gates.get(name).ok_or_else(|| self.missing(&format!("gates.{name}")))
    }

    /// The usage error for a section the command needs and the defaults
    /// cannot supply.
    pub fn missing(&self, section: &str) -> anyhow::Error {
        let whence = if self.from_file {
            format!("{} has no [{section}] section", self.path.display())
        } else {
            format!("no policy file at {} (built-in defaults apply), and the defaults have no [{section}]", self.path.display())
        };
        exit::usage(format!("{whence}: add it (see docs/POLICY.md, \"{section}\")"))
    }
}

/// Loads the policy from `path`; a missing file means the built-in defaults.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded { policy: Policy::default(), path: path.to_path_buf(), from_file: false })
        }
        Err(e) => return Err(exit::usage(format!("{}: cannot read the policy file: {e}", path.display()))),
    };
    let policy = parse(&text, path)?;
    Ok(Loaded { policy, path: path.to_path_buf(), from_file: true })
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
            problems.iter().map(|p| format!("{}: {p}", path.display())).collect::<Vec<_>>().join("\n"),
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
            problems.push(format!("gates.{name}.steps: a gate needs at least one step"));
        }
        for p in &gate.prepare {
            if !policy.prepare.contains_key(p) {
                problems.push(format!("gates.{name}.prepare: no [prepare] list named {p:?}"));
            }
        }
    }
    let t = &policy.task.branch_template;
    if !t.contains("{NNN}") || !t.contains("{slug}") {
        problems.push(format!("task.branch-template {t:?} must contain {{NNN}} and {{slug}}"));
    }
    if policy.task.id_digits == 0 || policy.task.id_digits > 9 {
        problems.push("task.id-digits must be between 1 and 9".to_string());
    }
    if policy.git.main_branch.trim().is_empty() || policy.git.remote.trim().is_empty() {
        problems.push("git.main-branch and git.remote must not be empty".to_string());
    }
    problems
}

impl Policy {
    /// A policy with every key set, for the reference test: maps use the key
    /// `<name>`. Written as struct literals without `..Default::default()`, so
    /// that a new key does not compile until it is added here, and then the
    /// test fails until `docs/POLICY.md` documents it.
    pub fn reference() -> Policy {
        let step = Step {
            name: "<name>".into(),
            argv: vec!["cargo".into(), "test".into()],
            cwd: Some(".".into()),
            env: BTreeMap::new(),
            timeout: Some("30m".into()),
        };
        Policy {
            git: Git { main_branch: "main".into(), remote: "origin".into() },
            task: Task {
                id_prefix: "TASK-".into(),
                id_digits: 3,
                require_id_in_commit_message: true,
                branch_template: "task-{NNN}-{slug}".into(),
            },
            prepare: BTreeMap::from([("<name>".to_string(), vec![step.clone()])]),
            gates: BTreeMap::from([("<name>".to_string(), Gate { prepare: vec!["<name>".into()], steps: vec![step] })]),
            migration: Migration { default_database_url: Some("sqlite:///target/release-gate.db".into()) },
            github: Github { repository: Some("acme/service".into()) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_of(text: &str) -> String {
        parse(text, Path::new("xtask.toml")).unwrap_err().to_string()
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
