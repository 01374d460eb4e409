//! `task-start TASK NAME`: one task = one branch, created from a clean,
//! synced main after the preflight. The id and the name are validated into
//! a branch name before git sees anything; every check runs before the one
//! state change (`git switch -c`), so a failure changes nothing.

use serde_json::json;
use xshell::Shell;

use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Ledger;
use crate::plumbing::{env, exit, fs, git, Ctx};
use crate::task::id::{self as task_id, InLedger};
use crate::task::preflight::{self, Check};

const USAGE: &str =
    "Usage: cargo xtask task-start TASK NAME   (or: make task-start TASK=117 NAME=short-name)";

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// The task id: TASK-117, task-117 or 117 [default: env TASK].
    #[arg(value_name = "TASK")]
    pub task: Option<String>,
    /// The short name; several words are joined [default: env NAME].
    #[arg(value_name = "NAME")]
    pub name: Vec<String>,
    /// Report every check and the branch it would create; create nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    // Everything from the user is validated before git runs.
    let switches = preflight::read_switches()?;
    let (id, branch) = task_and_branch(ctx, flags)?;
    let (main, remote) = preflight::validate_names(ctx)?;
    let sh = git::shell(&ctx.root)?;
    check_branch_name(ctx, &sh, &id, &branch)?;

    let mut checks = Vec::new();
    if let Some(ledger) = &ctx.policy.policy.task.ledger {
        checks.push(check_ledger(ctx, ledger, &id));
    }
    let pre = preflight::gather(ctx, &sh, switches)?;
    checks.extend(pre.checks.iter().cloned());
    checks.push(check_local_branch(&sh, &branch)?);
    checks.push(check_remote_branch(&sh, &remote, &branch)?);
    for b in &pre.bypasses {
        b.warn();
    }
    let failed = checks.iter().any(Check::failed);
    let status = if failed {
        "failed"
    } else if flags.dry_run {
        "dry-run"
    } else {
        "created"
    };
    if !failed && !flags.dry_run {
        create_branch(&sh, &branch, &main)?;
    }
    let outcome = Outcome {
        status,
        id: &id,
        branch: &branch,
        main: &main,
        remote: &remote,
    };
    render(ctx, flags, &outcome, &checks, &pre);
    if failed {
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}

/// The task id and the branch name from the arguments (or TASK / NAME),
/// validated; nothing has run yet.
fn task_and_branch(ctx: &Ctx, flags: &Flags) -> anyhow::Result<(String, String)> {
    let raw_task = flags.task.clone().or_else(|| env::var("TASK"));
    let raw_name = if flags.name.is_empty() {
        env::var("NAME")
    } else {
        Some(flags.name.join(" "))
    };
    let missing = match (&raw_task, &raw_name) {
        (None, None) => "a task id and a short name",
        (None, Some(_)) => "a task id (TASK)",
        _ => "a short name (NAME)",
    };
    let (Some(raw_task), Some(raw_name)) = (raw_task, raw_name) else {
        return Err(exit::usage(format!("task-start needs {missing}\n{USAGE}")));
    };
    let policy = &ctx.policy.policy;
    let id = task_id::normalize_id(&policy.task, &raw_task)?;
    let slug = task_id::slugify(&raw_name)?;
    let branch = task_id::branch_name(&policy.task, &id, &slug);
    Ok((id, branch))
}

/// The branch name reads back as the task's and git accepts it as a ref.
fn check_branch_name(ctx: &Ctx, sh: &Shell, id: &str, branch: &str) -> anyhow::Result<()> {
    let full = format!("refs/heads/{branch}");
    let valid_ref = git::test(sh, &["check-ref-format", &full])?;
    if task_id::task_of_branch(&ctx.policy.policy.task, branch).as_deref() != Some(id) || !valid_ref
    {
        return Err(exit::usage(format!(
            "{branch:?} is not a valid task branch name: check task.branch-template in {}",
            ctx.policy.path.display()
        )));
    }
    Ok(())
}

/// The one change: a new branch from the local main (equal to the remote
/// main unless the preflight was bypassed).
fn create_branch(sh: &Shell, branch: &str, main: &str) -> anyhow::Result<()> {
    let a = git::answer(sh, &["switch", "--quiet", "-c", branch, main])?;
    if !a.ok() {
        return Err(exit::failed(format!(
            "git switch -c {branch} {main} failed: {}",
            a.stderr.trim()
        )));
    }
    Ok(())
}

/// What task-start did, for the report.
struct Outcome<'a> {
    status: &'static str,
    id: &'a str,
    branch: &'a str,
    main: &'a str,
    remote: &'a str,
}

fn render(ctx: &Ctx, flags: &Flags, o: &Outcome, checks: &[Check], pre: &preflight::Preflight) {
    let Outcome {
        status,
        id,
        branch,
        main,
        remote,
    } = *o;
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "task-start",
            "status": status,
            "task": id,
            "branch": branch,
            "dry_run": flags.dry_run,
            "checks": checks,
            "bypasses": pre.bypasses,
            "open_work_method": pre.open_work_method,
        })),
        Format::Human => {
            preflight::print_checks(checks);
            match status {
                "failed" => output::say(&format!(
                    "{} {} check(s) failed; nothing was created.",
                    output::red(&format!("task-start {id} failed:")),
                    checks.iter().filter(|c| c.failed()).count()
                )),
                "dry-run" => output::say(&format!(
                    "Dry run: would create task branch {branch} from {main}."
                )),
                _ => {
                    output::say(&format!(
                        "{} {branch} (from {main})",
                        output::green("Created task branch:")
                    ));
                    output::say(&next_steps(id, branch, remote));
                }
            }
        }
    }
}

fn next_steps(id: &str, branch: &str, remote: &str) -> String {
    format!(
        "Next steps (one task = one branch = one PR):\n  1. Commit only {id} work on this branch.\n  2. git push -u {remote} {branch}\n  3. Open ONE pull request for it, with this line in its body:\n       Primary-Task: {id}\n  4. When its required checks are green: {}",
        env::invocation().command("task-finish --merge", Some("task-finish MERGE=1"))
    )
}

/// The largest ledger file task-start reads.
const MAX_LEDGER: u64 = 8 * 1024 * 1024;

fn check_ledger(ctx: &Ctx, ledger: &Ledger, id: &str) -> Check {
    let name = "ledger";
    let names = ledger.files();
    let mut files = Vec::new();
    for file in &names {
        match fs::read_bounded(&ctx.root.join(file), MAX_LEDGER, "task.ledger") {
            Ok(text) => files.push((file.to_string(), text)),
            Err(e) => {
                return Check::fail(
                    name,
                    format!("the task ledger {file} cannot be read: {e:#}"),
                    Vec::new(),
                    format!(
                        "create {file} with the task in it, or change task.ledger in {}",
                        ctx.policy.path.display()
                    ),
                )
            }
        }
    }
    let listed = names.join(", ");
    let which = if names.len() == 1 {
        format!("the task ledger {listed}")
    } else {
        format!("the task ledgers {listed}")
    };
    let add = format!(
        "create/confirm the task first: add {id} to {} as a task line (e.g. \"### {id}: title\") and merge that to main",
        names[0]
    );
    match task_id::judge_ledgers(&ctx.policy.policy.task, id, &files) {
        Err(e) => Check::fail(
            name,
            e,
            Vec::new(),
            "fix task.ledger-task-line / task.ledger-done",
        ),
        Ok(InLedger::Open(line)) => {
            Check::pass(name, format!("{id} is in {which} ({})", line.shown()))
        }
        Ok(InLedger::Done(line)) => Check::fail(
            name,
            format!("{id} is done in {which}"),
            vec![line.shown()],
            format!(
                "a done task is not started again: queue the new work as a new task in {}",
                names[0]
            ),
        ),
        Ok(InLedger::Missing { mentions }) if mentions.is_empty() => Check::fail(
            name,
            format!("{id} does not appear in {which}"),
            vec![format!("{listed}: no {id}")],
            add,
        ),
        Ok(InLedger::Missing { mentions }) => Check::fail(
            name,
            format!("{id} has no task line in {which}: it is only mentioned"),
            mentions
                .iter()
                .take(5)
                .map(|l| format!("{} (not a task line)", l.shown()))
                .collect(),
            add,
        ),
    }
}

fn check_local_branch(sh: &Shell, branch: &str) -> anyhow::Result<Check> {
    let full = format!("refs/heads/{branch}");
    let exists = git::test(sh, &["show-ref", "--verify", "--quiet", &full])?;
    Ok(if exists {
        Check::fail(
            "branch-free",
            format!("branch {branch} already exists locally"),
            vec![format!("{full} exists")],
            format!("continue that task (git switch {branch}), or choose another NAME"),
        )
    } else {
        Check::pass("branch-free", format!("no local branch {branch}"))
    })
}

fn check_remote_branch(sh: &Shell, remote: &str, branch: &str) -> anyhow::Result<Check> {
    let full = format!("refs/heads/{branch}");
    let out = git::answer(sh, &["ls-remote", "--exit-code", "--heads", remote, &full])?;
    Ok(match out.code {
        Some(0) => Check::fail(
            "remote-branch-free",
            format!("branch {branch} already exists on {remote}"),
            preflight::lines_of(out.stdout.as_bytes()),
            format!("continue that task (git switch {branch}), or choose another NAME"),
        ),
        Some(2) => Check::pass(
            "remote-branch-free",
            format!("no branch {branch} on {remote}"),
        ),
        _ => Check::fail(
            "remote-branch-free",
            format!("cannot tell whether {branch} exists on {remote}"),
            preflight::lines_of(out.stderr.as_bytes()),
            format!("check the remote: git ls-remote --heads {remote}"),
        ),
    })
}
