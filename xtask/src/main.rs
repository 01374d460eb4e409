//! `cargo xtask`: the release runbook (`docs/RELEASING.md`) as commands.
//!
//! This file only parses the command line, finds the repository and its
//! policy, and dispatches to the module of each command. Exit codes: 0
//! passed, 1 a gate or check failed, 2 usage/policy/environment error,
//! 130 interrupted.

mod docs_freshness;
mod env;
mod exit;
mod gate;
mod git;
mod github;
mod output;
mod policy;
mod process;
mod redact;
mod release_gate;
#[cfg(test)]
mod tidy;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::output::Format;

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    version,
    about = "The release runbook as commands: gates, task workflow, branch protection, releases.",
    after_help = "Exit codes: 0 passed, 1 a gate or check failed, 2 usage/policy/environment error, 130 interrupted.\nPolicy reference: docs/POLICY.md"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts.
#[derive(clap::Args, Debug)]
struct Global {
    /// The repository to act on [default: the git top level of the current directory].
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The policy file [default: <root>/xtask.toml; built-in defaults when absent].
    #[arg(long, global = true, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Human output on stderr, or one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the release gate: check, test, docs-freshness, db-migration-gate [, audit-eval]; stop at the first failure.
    #[command(after_help = "Example:\n  RELEASE_GATE_DATABASE_URL_FILE=/run/secrets/db_url cargo xtask release-gate\n  make release-gate RELEASE_GATE_DATABASE_URL=postgresql://app@db/app RELEASE_GATE_INCLUDE_EVAL=true")]
    ReleaseGate(release_gate::Flags),
    /// Run the policy's quality gate (format, lint, typecheck).
    #[command(after_help = "Example:\n  cargo xtask check\n  cargo xtask check --step clippy")]
    Check(gate::Flags),
    /// Run the policy's test gate.
    #[command(after_help = "Example:\n  cargo xtask test --dry-run")]
    Test(gate::Flags),
    /// Run the policy's evaluation-audit gate (prompt/model changes).
    #[command(after_help = "Example:\n  cargo xtask audit-eval")]
    AuditEval(gate::Flags),
    /// Show the release-gate record of a commit (exit 1 when none or failed).
    #[command(after_help = "Example:\n  cargo xtask gate-status v1.4.0")]
    GateStatus(release_gate::StatusFlags),
    /// Check the docs: freshness markers, stale claims, references, ledgers; overrides expire.
    #[command(
        after_help = "Example:\n  cargo xtask docs-freshness\n  cargo xtask docs-freshness --today 2026-02-19 --max-age-days 30 --format json"
    )]
    DocsFreshness(docs_freshness::Flags),
}

/// What every command gets: where the repository is, its policy, the format.
pub struct Ctx {
    pub root: PathBuf,
    pub policy: policy::Loaded,
    pub format: Format,
}

/// The CLI definition, for checks that list the commands (release-gate's
/// available steps, the Makefile and README tidy tests).
pub fn cli_command() -> clap::Command {
    Cli::command()
}

fn main() {
    let cli = Cli::parse();
    let format = cli.global.format;
    let code = match run(cli) {
        Ok(()) => exit::OK,
        Err(err) => {
            let code = exit::code_of(&err);
            let message = format!("{err:#}");
            if !message.is_empty() {
                match format {
                    Format::Json => output::json(&serde_json::json!({
                        "status": "error", "exit_code": code, "error": message,
                    })),
                    Format::Human => output::error(&message),
                }
            }
            code
        }
    };
    let code = if process::interrupted().is_some() { exit::INTERRUPTED } else { code };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = match cli.global.root {
        Some(root) => {
            if !root.is_dir() {
                return Err(exit::usage(format!("--root {}: no such directory", root.display())));
            }
            std::path::absolute(&root)?
        }
        None => git::toplevel(&std::env::current_dir()?)?,
    };
    let policy_path = match cli.global.policy {
        Some(p) => std::path::absolute(&p)?,
        None => root.join("xtask.toml"),
    };
    let ctx = Ctx { root, policy: policy::load(&policy_path)?, format: cli.global.format };
    match &cli.command {
        Command::ReleaseGate(flags) => release_gate::run(&ctx, flags),
        Command::Check(flags) => gate::run_named(&ctx, "check", flags),
        Command::Test(flags) => gate::run_named(&ctx, "test", flags),
        Command::AuditEval(flags) => gate::run_named(&ctx, "audit-eval", flags),
        Command::GateStatus(flags) => release_gate::status(&ctx, flags),
        Command::DocsFreshness(flags) => docs_freshness::run(&ctx, flags),
    }
}
