//! `[gates]`, `[prepare]` and `[migration]`: the gates' steps as argv arrays.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::parse_duration;

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
    /// Extra environment variables for alembic (not for secrets; the
    /// database URL always comes from the gate).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of `[prepare.<name>]` lists release-gate runs right before
    /// db-migration-gate (each list once per run).
    #[serde(default)]
    pub prepare: Vec<String>,
}

impl Default for Migration {
    fn default() -> Migration {
        Migration {
            default_database_url: None,
            alembic: default_alembic(),
            directory: default_migration_directory(),
            timeout: default_migration_timeout(),
            env: BTreeMap::new(),
            prepare: Vec::new(),
        }
    }
}

pub(super) fn default_alembic() -> Vec<String> {
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
