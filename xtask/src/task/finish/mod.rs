//! `task-finish [TASK] [--merge]`: the runbook's last steps (merge only when
//! the required checks are green, delete the merged branch, sync main).
//!
//! With a GitHub repository it finds the task's PR through the REST API;
//! `--merge` waits for the required checks on the PR head and squash-merges
//! it through REST. When GitHub refuses that merge (405) because main's
//! protection still waits for something that may yet happen (reviews, a
//! required check not complete yet, a merge queue: see `auto_merge_applies`),
//! it enables squash auto-merge for exactly that head through GraphQL (the
//! only API for it) and polls the PR until GitHub has merged it. Once the
//! PR is merged it switches to main, pulls, verifies that the merge commit
//! is on main, and only then deletes the task branch, locally and on the
//! remote. Without GitHub, the branch tip must be reachable from
//! the remote main. Every step looks at the state first, so running it again
//! after a partial run continues where it stopped; a branch whose work is
//! not on main is never deleted. With no branch of the task left, a rerun
//! succeeds only on evidence that the task was finished (a commit on the
//! remote main naming it, or a merged PR of its branch whose merge commit is
//! on the remote main); otherwise nothing is found for that id: exit 1.
//!
//! Here: `mod.rs` validates the inputs and drives the run; `branches` and
//! `earlier` gather from git (and GitHub, for a rerun); `pr`, `checks` and
//! `auto_merge` merge on GitHub (their decisions pure and unit-tested);
//! `clean` syncs main and deletes the branch; `settings` reads durations.

use std::time::Duration;

use serde_json::{json, Value};
use xshell::Shell;

use crate::github::client as github;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{env, exit, git, Ctx};
use crate::task::id as task_id;
use crate::task::preflight;

mod auto_merge;
mod branches;
mod checks;
mod clean;
mod earlier;
mod pr;
mod settings;

const DEFAULT_POLL: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// The task id [default: the current task branch's, else env TASK].
    #[arg(value_name = "TASK")]
    pub task: Option<String>,
    /// Wait for the PR's required checks, then squash-merge it through GitHub's API (or enable auto-merge when main's protection still waits for reviews, checks or a merge queue) [env: MERGE=1, as `make task-finish MERGE=1` passes it].
    #[arg(long)]
    pub merge: bool,
    /// How often to look at the checks, e.g. 10s or 500ms [default: 10s; env TASK_FINISH_POLL_INTERVAL].
    #[arg(long, value_name = "DURATION")]
    pub poll_interval: Option<String>,
    /// How long to wait for the checks, and then for an auto-merge, e.g. 30m [default: 30m; env TASK_FINISH_CHECKS_TIMEOUT].
    #[arg(long, value_name = "DURATION")]
    pub checks_timeout: Option<String>,
}

/// What is known about the merged work: the squash/merge commit and the
/// PR head that was merged (GitHub), or nothing beyond the branch tips
/// (plain git, where the tips themselves must be on main).
struct Merged {
    merge_commit: Option<String>,
    head: Option<String>,
}

struct Finish<'a> {
    ctx: &'a Ctx,
    sh: Shell,
    main: String,
    remote: String,
    id: String,
    branch: Option<String>,
    log: Vec<String>,
}

impl Finish<'_> {
    fn say(&mut self, line: String) {
        if self.ctx.format == Format::Human {
            output::say(&format!("  {line}"));
        }
        self.log.push(line);
    }
}

/// What the command line and the repository say, validated before
/// anything is looked up or changed.
struct Inputs {
    wait: pr::Wait,
    main: String,
    remote: String,
    sh: Shell,
    id: String,
    branch: Option<String>,
    repo: Option<String>,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let Inputs {
        wait,
        main,
        remote,
        sh,
        id,
        branch,
        repo,
    } = inputs(ctx, flags)?;
    if ctx.format == Format::Human {
        output::say(&format!(
            "task-finish {id}{}:",
            branch
                .as_deref()
                .map(|b| format!(" ({b})"))
                .unwrap_or_default()
        ));
    }
    let mut f = Finish {
        ctx,
        sh,
        main,
        remote,
        id,
        branch,
        log: Vec::new(),
    };
    let (merged, pr_report) = merge(&mut f, repo.as_deref(), &wait)?;
    let main_head = clean::sync_and_clean(&mut f, repo.as_deref(), &merged)?;
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "task-finish",
            "status": "finished",
            "task": f.id,
            "branch": f.branch,
            "pr": pr_report,
            "merge_commit": merged.merge_commit,
            "main": main_head,
            "steps": f.log,
        })),
        Format::Human => {
            output::say(&format!(
                "{} {main_head}",
                output::green(&format!("Task {} finished; {} is at", f.id, f.main))
            ));
        }
    }
    Ok(())
}

/// What was merged: found earlier (no branch left), merged on GitHub, or
/// (without GitHub) already on the remote main; with the PR's report.
fn merge(f: &mut Finish, repo: Option<&str>, wait: &pr::Wait) -> anyhow::Result<(Merged, Value)> {
    match (repo, f.branch.clone()) {
        (_, None) => {
            let merge_commit = earlier::finished_earlier(f, repo)?;
            f.say(format!(
                "no branch of {} is left locally or on {}: nothing to merge or delete",
                f.id, f.remote
            ));
            let merged = Merged {
                merge_commit,
                head: None,
            };
            Ok((merged, Value::Null))
        }
        (Some(repo), Some(branch)) => {
            let token = github::token()?.ok_or_else(|| {
                exit::usage("task-finish needs a GitHub token: set GH_TOKEN (or GH_TOKEN_FILE / GITHUB_TOKEN), or run gh auth login")
            })?;
            let client = github::Client::new(repo.to_string(), token);
            pr::merge_on_github(f, &client, &branch, wait)
        }
        (None, Some(branch)) => Ok((branches::merged_in_git(f, &branch)?, Value::Null)),
    }
}

/// Validates everything before looking anything up: the switches, the
/// names, the task and its branch, the repository, a clean idle tree.
fn inputs(ctx: &Ctx, flags: &Flags) -> anyhow::Result<Inputs> {
    let merge = flags.merge || crate::plumbing::env::MERGE.read()?;
    let poll = settings::duration_setting(
        "--poll-interval",
        flags.poll_interval.clone(),
        "TASK_FINISH_POLL_INTERVAL",
        DEFAULT_POLL,
    )?;
    let timeout = settings::duration_setting(
        "--checks-timeout",
        flags.checks_timeout.clone(),
        "TASK_FINISH_CHECKS_TIMEOUT",
        DEFAULT_TIMEOUT,
    )?;
    let (main, remote) = preflight::validate_names(ctx)?;
    let sh = git::shell(&ctx.root)?;
    let policy = &ctx.policy.policy;
    let (id, branch) = task_and_branch(ctx, &sh, flags, &main, &remote)?;
    let repo = github::repository(&sh, policy.github.repository.as_deref(), &remote)?;
    if merge && repo.is_none() {
        return Err(exit::usage(
            "--merge needs a GitHub repository (GITHUB_REPOSITORY, [github] repository, or a github.com origin URL); without one, merge with your own tools, then run cargo xtask task-finish",
        ));
    }
    // Branches are switched below: the tree must be clean and idle.
    let dirty = git::dirty_paths(&sh)?;
    let busy = preflight::operations_in_progress(&sh)?;
    if !dirty.is_empty() || !busy.is_empty() {
        let mut evidence: Vec<String> = busy
            .iter()
            .map(|(w, f)| format!("{w} is in progress ({f})"))
            .collect();
        evidence.extend(dirty.iter().take(20).cloned());
        return Err(exit::failed(format!(
            "task-finish switches to {main}, so the working tree must be clean with nothing in progress:\n  {}\nfix: commit the work on its task branch, or git stash push --include-untracked",
            evidence.join("\n  ")
        )));
    }
    let wait = pr::Wait {
        merge,
        poll,
        timeout,
    };
    Ok(Inputs {
        wait,
        main,
        remote,
        sh,
        id,
        branch,
        repo,
    })
}

/// The task (given, or the current branch's) and its branch (`None` when
/// none is left); a given task that is not the current branch's is refused.
fn task_and_branch(
    ctx: &Ctx,
    sh: &Shell,
    flags: &Flags,
    main: &str,
    remote: &str,
) -> anyhow::Result<(String, Option<String>)> {
    let policy = &ctx.policy.policy;
    let given = match flags.task.clone().or_else(|| env::var("TASK")) {
        Some(raw) => Some(task_id::normalize_id(&policy.task, &raw)?),
        None => None,
    };
    let current = git::current_branch(sh)?;
    let on_task = current
        .as_deref()
        .and_then(|b| task_id::task_of_branch(&policy.task, b).map(|id| (b.to_string(), id)));
    match (on_task, given) {
        (Some((b, id)), Some(g)) if g != id => Err(exit::usage(format!(
            "the current branch {b} belongs to {id}, not {g}: run task-finish on {g}'s branch, or from {main} with TASK={g}"
        ))),
        (Some((b, id)), _) => Ok((id, Some(b))),
        (None, Some(id)) => {
            let branch = branches::find_branch(ctx, sh, remote, &id)?;
            Ok((id, branch))
        }
        (None, None) => Err(exit::usage(format!(
            "{} is not a task branch: run task-finish on the task's branch, or name the task: cargo xtask task-finish TASK-117",
            current.as_deref().unwrap_or("detached HEAD")
        ))),
    }
}
