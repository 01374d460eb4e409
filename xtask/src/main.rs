//! `cargo xtask`: the release runbook (`docs/RELEASING.md`) as commands.
//!
//! This file only parses the command line, finds the repository and its
//! policy, and dispatches to the module of each command. Exit codes: 0
//! passed, 1 a gate or check failed, 2 usage/policy/environment error,
//! 130 interrupted.

mod adopt;
mod gates;
mod github;
mod plumbing;
mod release;
mod task;
#[cfg(test)]
mod tidy;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::adopt::init;
use crate::gates::{docs_freshness, migration, release_gate, runner};
use crate::github::protect_main;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, policy, process, Ctx};
use crate::release::{deploy, env_parity, notes as release_notes, tag as release_tag};
use crate::task::{
    finish as task_finish, guard as branch_guard, hooks, pr_scope, preflight, start as task_start,
};

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
    #[command(
        after_help = "Example:\n  RELEASE_GATE_DATABASE_URL_FILE=/run/secrets/db_url cargo xtask release-gate\n  make release-gate RELEASE_GATE_DATABASE_URL=postgresql://app@db/app RELEASE_GATE_INCLUDE_EVAL=true"
    )]
    ReleaseGate(release_gate::Flags),
    /// Run the policy's quality gate (format, lint, typecheck).
    #[command(after_help = "Example:\n  cargo xtask check\n  cargo xtask check --step clippy")]
    Check(runner::Flags),
    /// Run the policy's test gate.
    #[command(after_help = "Example:\n  cargo xtask test --dry-run")]
    Test(runner::Flags),
    /// Check the docs: freshness markers, stale claims, references, ledgers; overrides expire.
    #[command(
        after_help = "Example:\n  cargo xtask docs-freshness\n  cargo xtask docs-freshness --today 2026-02-19 --max-age-days 30 --format json"
    )]
    DocsFreshness(docs_freshness::Flags),
    /// Prove the target database is at the single alembic head and the models match (alembic check).
    #[command(
        after_help = "Example:\n  MIGRATION_GATE_DATABASE_URL_FILE=/run/secrets/db_url cargo xtask db-migration-gate\n  make db-migration-gate MIGRATION_GATE_DATABASE_URL=postgresql://app@db/app MIGRATION_GATE_VALIDATE_AUTOGEN=false"
    )]
    DbMigrationGate,
    /// Run the policy's evaluation-audit gate (prompt/model changes).
    #[command(after_help = "Example:\n  cargo xtask audit-eval")]
    AuditEval(runner::Flags),
    /// Show the release-gate record of a commit (exit 1 when none or failed).
    #[command(after_help = "Example:\n  cargo xtask gate-status v1.4.0")]
    GateStatus(release_gate::StatusFlags),
    /// Check that a task can start: hooks installed, on a clean main synced with the remote, no open task PR.
    #[command(
        after_help = "Example:\n  cargo xtask task-preflight\n  ALLOW_OPEN_TASK_PRS=1 cargo xtask task-preflight --format json"
    )]
    TaskPreflight(preflight::Flags),
    /// Start a task: run the preflight, then create the task branch from main.
    #[command(
        after_help = "Example:\n  cargo xtask task-start TASK-117 short-name\n  cargo xtask task-start 117 'Fix the release gate' --dry-run\n  make task-start TASK=117 NAME=short-name"
    )]
    TaskStart(task_start::Flags),
    /// Finish a task: merge its PR once required checks are green (--merge), sync main, delete the merged branch.
    #[command(
        after_help = "Example:\n  cargo xtask task-finish --merge\n  cargo xtask task-finish TASK-117 --merge --checks-timeout 45m\n  make task-finish TASK=117"
    )]
    TaskFinish(task_finish::Flags),
    /// Install, verify (--check) or remove (--uninstall) the git hooks that run branch-guard.
    #[command(
        after_help = "Example:\n  cargo xtask hooks\n  cargo xtask hooks --check\n  cargo xtask hooks --uninstall"
    )]
    Hooks(hooks::Flags),
    /// Check that commits and pushes happen on a task branch (the installed git hooks run it).
    #[command(
        after_help = "Example:\n  cargo xtask branch-guard\n  SKIP_BRANCH_GUARD=1 git commit -m 'Bootstrap the repository'   # bypass: printed and recorded\n\nThe hooks run `branch-guard` (pre-commit), `branch-guard --commit-msg FILE` (commit-msg) and\n`branch-guard --pre-push -- REMOTE URL` with git's ref lines on stdin (pre-push)."
    )]
    BranchGuard(branch_guard::Flags),
    /// Check a PR: a task branch, and exactly one Primary-Task line naming its task (the CI Workflow Guard).
    #[command(
        after_help = "Example:\n  cargo xtask pr-scope --branch task-125-fix-gate --body-file pr-body.md\n  PR_BRANCH=task-125-fix-gate PR_BODY=\"$(cat pr-body.md)\" make pr-scope"
    )]
    PrScope(pr_scope::Flags),
    /// Plan, apply and verify GitHub's protection of main and the repository merge policy.
    #[command(
        after_help = "Example:\n  cargo xtask protect-main --dry-run\n  cargo xtask protect-main --check --format json\n  GH_TOKEN_FILE=~/.config/admin-token cargo xtask protect-main"
    )]
    ProtectMain(protect_main::Flags),
    /// Draft the release notes for the commits since the last release tag, grouped by task.
    #[command(
        after_help = "Example:\n  cargo xtask release-notes\n  cargo xtask release-notes --since v1.3.0 --output target/RELEASE_NOTES.md\n  make release-notes SINCE=v1.3.0 OUTPUT=target/RELEASE_NOTES.md"
    )]
    ReleaseNotes(release_notes::Flags),
    /// Tag HEAD of the synced main as the next release vX.Y.Z (gated SHA, notes as the tag message).
    #[command(
        after_help = "Example:\n  cargo xtask release-tag --bump minor --dry-run\n  cargo xtask release-tag --version 1.4.0 --push\n  make release-tag BUMP=patch NOTES=target/RELEASE_NOTES.md PUSH=1"
    )]
    ReleaseTag(release_tag::Flags),
    /// Compare two environments' env files by the runbook's staging/prod rules.
    #[command(
        after_help = "Example:\n  cargo xtask env-parity staging prod\n  cargo xtask env-parity staging prod --format json"
    )]
    EnvParity(env_parity::Flags),
    /// Deploy a gated SHA or release tag to an environment from a clean worktree, verify it, record both.
    #[command(
        after_help = "Example:\n  cargo xtask deploy staging --tag v1.4.0 --push\n  cargo xtask deploy prod --tag v1.4.0 --dry-run\n  make deploy DEPLOY_ENV=staging DEPLOY_TAG=v1.4.0"
    )]
    Deploy(deploy::DeployFlags),
    /// Verify what the ledger says runs in an environment: HTTP checks, identity, commands; record the result.
    #[command(
        after_help = "Example:\n  cargo xtask verify-deploy prod --push\n  make verify-deploy DEPLOY_ENV=staging"
    )]
    VerifyDeploy(deploy::VerifyFlags),
    /// Roll an environment back to its last verified release tag (or --to TAG), re-verify, record it.
    #[command(
        after_help = "Example:\n  cargo xtask rollback prod --reason \"error rate spike\" --push\n  cargo xtask rollback staging --to v1.3.2 --dry-run\n  make rollback DEPLOY_ENV=prod ROLLBACK_REASON=\"health failing\""
    )]
    Rollback(deploy::RollbackFlags),
    /// Draft a starter xtask.toml from the repository's Makefile, alembic.ini, CI workflows, docs and task ledgers.
    #[command(
        after_help = "Example:\n  cargo xtask init --dry-run\n  cargo xtask init\n  cargo xtask init --output target/xtask.draft.toml\n\nEvery guess is marked with a `# guessed from` comment; an existing file is never overwritten (exit 1).\nSee docs/ADOPTING.md."
    )]
    Init(init::Flags),
}

/// The CLI definition, for checks that list the commands (release-gate's
/// available steps, the Makefile and README tidy tests).
pub fn cli_command() -> clap::Command {
    Cli::command()
}

fn main() {
    // SIGINT, SIGTERM and SIGHUP all end the tool with 130, never half-way
    // through a git command or a record (plumbing/signals.rs).
    plumbing::signals::install();
    // Usage lines name the command the user ran: an installed binary by its
    // name, `cargo xtask` otherwise.
    let mut command = Cli::command();
    if let plumbing::env::Invocation::Binary(name) = plumbing::env::invocation() {
        command = command.bin_name(name);
    }
    let parsed = command
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => parse_error(err),
    };
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
    let code = if process::interrupted().is_some() {
        exit::INTERRUPTED
    } else {
        code
    };
    std::process::exit(code);
}

/// A command line clap refuses: help and version print as usual; an error
/// goes to stderr as clap words it and, when the arguments ask for
/// `--format json`, also becomes the one JSON document on stdout.
fn parse_error(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        err.exit();
    }
    let code = err.exit_code();
    let _ = err.print();
    if wants_json(std::env::args_os().skip(1)) {
        let rendered = err.render().to_string();
        let message = rendered
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_string();
        output::json(&serde_json::json!({
            "status": "error", "exit_code": code, "error": message,
        }));
    }
    std::process::exit(code);
}

/// Whether raw arguments (that clap could not parse) say `--format json`.
fn wants_json(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let args: Vec<_> = args.collect();
    args.iter().enumerate().any(|(i, a)| {
        a == "--format=json" || (a == "--format" && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let root = match cli.global.root {
        Some(root) => {
            if !root.is_dir() {
                return Err(exit::usage(format!(
                    "--root {}: no such directory",
                    root.display()
                )));
            }
            std::path::absolute(&root)?
        }
        None => git::toplevel(&std::env::current_dir()?)?,
    };
    // init reads no policy: there is none yet, or it is the file it refuses to overwrite.
    if let Command::Init(flags) = &cli.command {
        return init::run(
            &root,
            cli.global.policy.as_deref(),
            cli.global.format,
            flags,
        );
    }
    let policy_path = match cli.global.policy {
        Some(p) => {
            // Built-in defaults stand in only for the default file: a policy
            // named on the command line that is not there is a typo, never
            // a reason to gate with weaker defaults.
            // Only absence is checked here: what the file is (a FIFO, a
            // directory, too large) the policy loader says.
            if std::fs::metadata(&p).is_err() {
                return Err(exit::usage(format!(
                    "--policy {}: no such file (omit --policy to use {})",
                    p.display(),
                    root.join("xtask.toml").display()
                )));
            }
            std::path::absolute(&p)?
        }
        None => root.join("xtask.toml"),
    };
    let policy = policy::load_in(&root, &policy_path)?;
    let ctx = Ctx {
        root,
        policy,
        format: cli.global.format,
        cli: cli_command,
    };
    match &cli.command {
        Command::ReleaseGate(flags) => release_gate::run(&ctx, flags),
        Command::Check(flags) => runner::run_named(&ctx, "check", flags),
        Command::Test(flags) => runner::run_named(&ctx, "test", flags),
        Command::DocsFreshness(flags) => docs_freshness::run(&ctx, flags),
        Command::DbMigrationGate => migration::run(&ctx),
        Command::AuditEval(flags) => runner::run_named(&ctx, "audit-eval", flags),
        Command::GateStatus(flags) => release_gate::status(&ctx, flags),
        Command::TaskPreflight(flags) => preflight::run(&ctx, flags),
        Command::TaskStart(flags) => task_start::run(&ctx, flags),
        Command::TaskFinish(flags) => task_finish::run(&ctx, flags),
        Command::Hooks(flags) => hooks::run(&ctx, flags),
        Command::BranchGuard(flags) => branch_guard::run(&ctx, flags),
        Command::PrScope(flags) => pr_scope::run(&ctx, flags),
        Command::ProtectMain(flags) => protect_main::run(&ctx, flags),
        Command::ReleaseNotes(flags) => release_notes::run(&ctx, flags),
        Command::ReleaseTag(flags) => release_tag::run(&ctx, flags),
        Command::EnvParity(flags) => env_parity::run(&ctx, flags),
        Command::Deploy(flags) => deploy::deploy(&ctx, flags),
        Command::VerifyDeploy(flags) => deploy::verify_deploy(&ctx, flags),
        Command::Rollback(flags) => deploy::rollback(&ctx, flags),
        Command::Init(flags) => init::run(&ctx.root, Some(&ctx.policy.path), ctx.format, flags),
    }
}
