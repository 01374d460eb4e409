//! `[deploy]` and `[release]`: environments, verification, the release notes'
//! inputs and the staging/prod parity rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{env_key_ok, environment_name_ok, repo_path_ok, Step};

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
    /// release-tag and deploy accept only a gate record made by
    /// `release-gate --isolated` (in a clean worktree of the commit).
    #[serde(default)]
    pub require_isolated_gate: bool,
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
            require_isolated_gate: false,
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

pub(super) fn validate_release(r: &Release, problems: &mut Vec<String>) {
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
