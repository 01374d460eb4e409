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

use crate::plumbing::{env, exit, fs};

mod docs;
mod gates;
mod github;
mod paths;
#[cfg(test)]
mod reference;
mod release;
mod task;

pub use docs::*;
pub use gates::*;
pub use github::*;
pub use release::*;
pub use task::*;

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Environment variables whose values are secret, beyond the documented
    /// ones (tokens, database URLs): their values (and the content of their
    /// `<NAME>_FILE`) are masked in every output, report and note.
    #[serde(default)]
    pub secret_env: Vec<String>,
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

/// The largest policy file read (README, "Limits").
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Loads the policy from `path`; a missing file means the built-in
/// defaults. Then registers the secrets of the environment for redaction
/// (the documented ones and the policy's `secret-env`), so that they are
/// masked from the first line any command prints.
/// The policy's own directory is the anchor of its paths here; `main`
/// uses [`load_in`] with the repository root.
#[cfg_attr(not(test), allow(dead_code))]
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let dir = path.parent().unwrap_or(Path::new("."));
    load_in(dir, path)
}

/// [`load`] for the repository at `root`: the policy's paths must resolve,
/// symlinks followed, inside `root` (exit 2 naming each key otherwise).
pub fn load_in(root: &Path, path: &Path) -> anyhow::Result<Loaded> {
    let loaded = read(path)?;
    let problems = paths::check(&loaded.policy, root);
    if !problems.is_empty() {
        return Err(exit::usage(
            problems
                .iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    env::register_known_secrets(&loaded.policy.secret_env)?;
    Ok(loaded)
}

fn read(path: &Path) -> anyhow::Result<Loaded> {
    if let Err(e) = std::fs::symlink_metadata(path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(Loaded {
                policy: Policy::default(),
                path: path.to_path_buf(),
                from_file: false,
            });
        }
    }
    // A FIFO, a device or a huge file is refused before it is read.
    let text = fs::read_bounded(path, MAX_POLICY_BYTES, "the policy file")?;
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

/// `[migration] prepare` names lists that exist; `[migration] env` names
/// variables, and never the URL the gate sets itself.
fn migration_lists(policy: &Policy) -> Vec<String> {
    let m = &policy.migration;
    let mut problems = Vec::new();
    for p in &m.prepare {
        if !policy.prepare.contains_key(p) {
            problems.push(format!("migration.prepare: no [prepare] list named {p:?}"));
        }
    }
    for key in m.env.keys() {
        if !env_key_ok(key) || key == "DATABASE_URL" || key == "DATABASE_URL_FILE" {
            problems.push(format!(
                "migration.env: {key:?} is not allowed: a variable name, and not DATABASE_URL[_FILE] (the gate sets the URL)"
            ));
        }
    }
    problems
}

/// Checks what the types cannot: every problem, not just the first.
fn validate(policy: &Policy) -> Vec<String> {
    let mut problems = Vec::new();
    for name in &policy.secret_env {
        if !env_key_ok(name) {
            problems.push(format!(
                "secret-env: {name:?} is not an environment variable name"
            ));
        }
    }
    validate_steps(policy, &mut problems);
    validate_migration(&policy.migration, &mut problems);
    problems.extend(migration_lists(policy));
    problems.extend(template_problems(&policy.task));
    if policy.task.id_digits == 0 || policy.task.id_digits > 9 {
        problems.push("task.id-digits must be between 1 and 9".to_string());
    }
    if policy.git.main_branch.trim().is_empty() || policy.git.remote.trim().is_empty() {
        problems.push("git.main-branch and git.remote must not be empty".to_string());
    }
    validate_release(&policy.release, &mut problems);
    problems
}

/// The steps of every `[prepare]` list and gate, and the gates' shape.
fn validate_steps(policy: &Policy, problems: &mut Vec<String>) {
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
}

/// The `[migration]` section.
fn validate_migration(m: &Migration, problems: &mut Vec<String>) {
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
    if let Some(url) = &m.default_database_url {
        if let Err(e) = env::require_url("migration.default-database-url", url) {
            problems.push(e.to_string());
        }
    }
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
    fn templates_that_make_bad_branch_names_fail_at_load_naming_the_key() {
        for (template, needle) in [
            ("--{NNN}-{slug}", "starts with '-'"),
            ("-{NNN}-{slug}", "starts with '-'"),
            ("task {NNN}-{slug}", "contains a space"),
            ("task..{NNN}-{slug}", "contains '..'"),
            ("task-{NNN}-{slug}.lock", "ending with '.lock'"),
            ("task-{NNN}/.{slug}", "starting with '.'"),
            ("/task-{NNN}-{slug}", "empty path component"),
            ("task//{NNN}-{slug}", "empty path component"),
            ("task~{NNN}-{slug}", "contains one of"),
            ("task@{{NNN}-{slug}", "contains '@{'"),
            ("task-{NNN}-{slug}.", "ends with '.'"),
            ("task-{NNN}-{slug}-{slug}", "once each"),
        ] {
            let err = err_of(&format!("[task]\nbranch-template = {template:?}\n"));
            assert!(
                err.starts_with("xtask.toml: task.branch-template"),
                "{template}: {err}"
            );
            assert!(err.contains(needle), "{template}: {err}");
        }
        for prefix in [
            r#""""#,
            r#""-T""#,
            r#""TASK 1""#,
            r#""T\u001b[31m""#,
            r#""1TASK""#,
        ] {
            let err = err_of(&format!("[task]\nid-prefix = {prefix}\n"));
            assert!(err.contains("task.id-prefix"), "{prefix:?}: {err}");
        }
        for ok in [
            "task-{NNN}-{slug}",
            "codex/task-{NNN}-{slug}",
            "{slug}-{NNN}",
            "u/me/t{NNN}_{slug}",
        ] {
            let text = format!("[task]\nbranch-template = {ok:?}\n");
            assert!(parse(&text, Path::new("x")).is_ok(), "{ok}");
        }
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
