//! The shared plumbing every command stands on: the policy file, running
//! processes, git, output and redaction, exit codes, the runbook's
//! environment switches. Nothing here imports a command (the tidy test
//! `layering` keeps it so).

pub mod curl;
pub mod env;
pub mod exit;
pub mod fs;
pub mod git;
pub mod output;
pub mod policy;
pub mod process;
pub mod redact;
pub mod signals;

use std::path::PathBuf;

/// What every command gets: where the repository is, its policy, the
/// format, and the CLI (for the steps and references that must name a
/// command this binary has).
pub struct Ctx {
    pub root: PathBuf,
    pub policy: policy::Loaded,
    pub format: output::Format,
    /// The whole command line definition; `main.rs` hands it in so that
    /// nothing imports from the entry point.
    pub cli: fn() -> clap::Command,
}

impl Ctx {
    /// Whether this binary has the subcommand `name` (a step that is not
    /// built yet does not exist in the CLI).
    pub fn has_command(&self, name: &str) -> bool {
        (self.cli)().find_subcommand(name).is_some()
    }
}
