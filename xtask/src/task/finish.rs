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

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use xshell::{cmd, Shell};

use crate::github::client as github;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{env, exit, git, Ctx};
use crate::task::id as task_id;
use crate::task::preflight::{self, is_ancestor, short};

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

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    // Validate everything before looking anything up.
    let merge = flags.merge || crate::plumbing::env::MERGE.read()?;
    let poll = duration_setting(
        "--poll-interval",
        flags.poll_interval.clone(),
        "TASK_FINISH_POLL_INTERVAL",
        DEFAULT_POLL,
    )?;
    let timeout = duration_setting(
        "--checks-timeout",
        flags.checks_timeout.clone(),
        "TASK_FINISH_CHECKS_TIMEOUT",
        DEFAULT_TIMEOUT,
    )?;
    let (main, remote) = preflight::validate_names(ctx)?;
    let sh = git::shell(&ctx.root)?;
    let policy = &ctx.policy.policy;
    let given = match flags.task.clone().or_else(|| env::var("TASK")) {
        Some(raw) => Some(task_id::normalize_id(&policy.task, &raw)?),
        None => None,
    };
    let current = git::current_branch(&sh)?;
    let on_task = current
        .as_deref()
        .and_then(|b| task_id::task_of_branch(&policy.task, b).map(|id| (b.to_string(), id)));
    let (id, branch) = match (on_task, given) {
        (Some((b, id)), Some(g)) if g != id => {
            return Err(exit::usage(format!(
                "the current branch {b} belongs to {id}, not {g}: run task-finish on {g}'s branch, or from {main} with TASK={g}"
            )))
        }
        (Some((b, id)), _) => (id, Some(b)),
        (None, Some(id)) => {
            let branch = find_branch(ctx, &sh, &remote, &id)?;
            (id, branch)
        }
        (None, None) => {
            return Err(exit::usage(format!(
                "{} is not a task branch: run task-finish on the task's branch, or name the task: cargo xtask task-finish TASK-117",
                current.as_deref().unwrap_or("detached HEAD")
            )))
        }
    };
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
    let mut pr_report = Value::Null;
    let merged = match (&repo, f.branch.clone()) {
        (_, None) => {
            let merge_commit = finished_earlier(&mut f, repo.as_deref())?;
            f.say(format!(
                "no branch of {} is left locally or on {}: nothing to merge or delete",
                f.id, f.remote
            ));
            Merged {
                merge_commit,
                head: None,
            }
        }
        (Some(repo), Some(branch)) => {
            let token = github::token()?.ok_or_else(|| {
                exit::usage("task-finish needs a GitHub token: set GH_TOKEN (or GH_TOKEN_FILE / GITHUB_TOKEN), or run gh auth login")
            })?;
            let client = github::Client::new(repo.clone(), token);
            let (merged, pr) = merge_on_github(&mut f, &client, &branch, merge, poll, timeout)?;
            pr_report = pr;
            merged
        }
        (None, Some(branch)) => merged_in_git(&mut f, &branch)?,
    };
    let main_head = sync_and_clean(&mut f, repo.as_deref(), &merged)?;
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

/// A duration from the flag, else the environment, else the default:
/// `500ms`, `10s`, `5m`, `1h`.
fn duration_setting(
    flag: &str,
    value: Option<String>,
    var: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    let (from, value) = match value {
        Some(v) => (flag.to_string(), v),
        None => match env::var(var) {
            Some(v) => (var.to_string(), v),
            None => return Ok(default),
        },
    };
    parse_duration(&value).map_err(|e| exit::usage(format!("{from}: {e}")))
}

/// `500ms`, `10s`, `30m`, `2h`: between 1ms and 168h (the policy's durations
/// go down to 1s; polls here may be faster).
fn parse_duration(text: &str) -> Result<Duration, String> {
    const MAX: Duration = Duration::from_secs(168 * 3600);
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let not_a_duration =
        || format!("{text:?} is not a duration like \"500ms\", \"10s\" or \"30m\"");
    let n: u64 = number.parse().map_err(|_| not_a_duration())?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 3600 * 1000,
        _ => return Err(not_a_duration()),
    };
    let duration = Duration::from_millis(n.saturating_mul(millis_per));
    if duration.is_zero() || duration > MAX {
        return Err(format!("{text:?} must be between 1ms and 168h"));
    }
    Ok(duration)
}

/// The task's branch when not on it: the one local or remote branch of that
/// task, `None` when none is left (a finished task), an error when several.
fn find_branch(ctx: &Ctx, sh: &Shell, remote: &str, id: &str) -> anyhow::Result<Option<String>> {
    let t = &ctx.policy.policy.task;
    let local = cmd!(sh, "git for-each-ref --format=%(refname:short) refs/heads/")
        .quiet()
        .read()?;
    let listing = cmd!(sh, "git ls-remote --heads {remote}")
        .quiet()
        .ignore_status()
        .output()?;
    if !listing.status.success() {
        return Err(exit::failed(format!(
            "cannot list the branches of {remote}: {}",
            String::from_utf8_lossy(&listing.stderr).trim()
        )));
    }
    let remote_listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let remote_names = remote_listing
        .lines()
        .filter_map(|l| l.split_once('\t')?.1.strip_prefix("refs/heads/"));
    let mut found: Vec<String> = local
        .lines()
        .chain(remote_names)
        .filter(|b| task_id::task_of_branch(t, b).as_deref() == Some(id))
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    match found.len() {
        0 | 1 => Ok(found.pop()),
        _ => Err(exit::usage(format!(
            "{id} has several branches ({}): switch to the one to finish (git switch <branch>) and run task-finish there",
            found.join(", ")
        ))),
    }
}

/// With no branch of the task left, the evidence that it was finished before
/// (a rerun): a commit on the remote main naming the task, else (with GitHub)
/// a merged PR of one of the task's branches whose merge commit is on the
/// remote main (returned). Nothing found is an error: the id is wrong, or the
/// task never started; nothing has been changed.
fn finished_earlier(f: &mut Finish, repo: Option<&str>) -> anyhow::Result<Option<String>> {
    fetch_main(f)?;
    let t = &f.ctx.policy.policy.task;
    let upstream = format!("refs/remotes/{}/{}", f.remote, f.main);
    let (sh, id) = (&f.sh, f.id.clone());
    let grep = format!("--grep={id}");
    let log = cmd!(
        sh,
        "git log --regexp-ignore-case --fixed-strings {grep} --format=%H%x1f%s%x1f%B%x1e {upstream}"
    )
    .quiet()
    .read()?;
    let named = log.split('\x1e').find_map(|entry| {
        let mut parts = entry.trim_start().splitn(3, '\x1f');
        let (sha, subject, body) = (parts.next()?, parts.next()?, parts.next()?);
        task_id::ids_in_text(t, body)
            .contains(&id)
            .then(|| format!("{} {subject}", short(sha)))
    });
    if let Some(commit) = named {
        f.say(format!(
            "{id} was finished earlier: {commit} on {}/{} names it",
            f.remote, f.main
        ));
        return Ok(None);
    }
    let pattern = t
        .branch_template
        .replace("{NNN}", task_id::number(t, &id))
        .replace("{slug}", "*");
    let mut looked = vec![
        format!("no branch {pattern} locally or on {}", f.remote),
        format!("no commit on {}/{} naming {id}", f.remote, f.main),
    ];
    if let Some(repo) = repo {
        let token = github::token()?.ok_or_else(|| {
            exit::usage("task-finish needs a GitHub token: set GH_TOKEN (or GH_TOKEN_FILE / GITHUB_TOKEN), or run gh auth login")
        })?;
        let client = github::Client::new(repo.to_string(), token);
        let pulls = client.get_all(&format!(
            "/repos/{repo}/pulls?state=closed&base={}&per_page=100",
            f.main
        ))?;
        let mut merged_elsewhere = Vec::new();
        for pr in &pulls {
            let head = pr.pointer("/head/ref").and_then(Value::as_str);
            if head.and_then(|b| task_id::task_of_branch(t, b)).as_deref() != Some(id.as_str())
                || pr["merged_at"].is_null()
            {
                continue;
            }
            let number = pr["number"].as_u64().unwrap_or(0);
            match pr["merge_commit_sha"].as_str() {
                Some(sha)
                    if sha.len() == 40
                        && sha.chars().all(|c| c.is_ascii_hexdigit())
                        && is_ancestor(&f.sh, sha, &upstream) =>
                {
                    f.say(format!(
                        "{id} was finished earlier: PR #{number} ({}) was merged as {}",
                        head.unwrap_or_default(),
                        short(sha)
                    ));
                    return Ok(Some(sha.to_string()));
                }
                sha => merged_elsewhere.push(format!(
                    "PR #{number} ({}) was merged as {}, which is not on {}/{}",
                    head.unwrap_or_default(),
                    sha.unwrap_or("an unknown commit"),
                    f.remote,
                    f.main
                )),
            }
        }
        if merged_elsewhere.is_empty() {
            looked.push(format!("no merged PR of a {pattern} branch in {repo}"));
        } else {
            looked.extend(merged_elsewhere);
        }
    }
    Err(exit::failed(format!(
        "nothing found for {id}: {}; nothing was changed\nfix: check the task id, or start the task: cargo xtask task-start {id} <short-name>",
        looked.join("; ")
    )))
}

/// Local and remote tips of `branch`.
fn tips(f: &Finish, branch: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
    let sh = &f.sh;
    let local = git::rev(sh, &format!("refs/heads/{branch}"));
    let full = format!("refs/heads/{branch}");
    let remote = &f.remote;
    let out = cmd!(sh, "git ls-remote --exit-code --heads {remote} {full}")
        .quiet()
        .ignore_status()
        .output()?;
    let remote_tip = match out.status.code() {
        Some(0) => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .map(str::to_string),
        Some(2) => None,
        _ => {
            return Err(exit::failed(format!(
                "cannot tell whether {branch} exists on {remote}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    };
    Ok((local, remote_tip))
}

/// Without GitHub: the branch's tips must already be on the remote main.
fn merged_in_git(f: &mut Finish, branch: &str) -> anyhow::Result<Merged> {
    fetch_main(f)?;
    let upstream = format!("refs/remotes/{}/{}", f.remote, f.main);
    let (local, remote_tip) = tips(f, branch)?;
    let mut missing = Vec::new();
    for (what, tip) in [("local", &local), (f.remote.as_str(), &remote_tip)] {
        if let Some(tip) = tip {
            if !is_ancestor(&f.sh, tip, &upstream) {
                missing.push(format!(
                    "{what} {branch} at {} is not reachable from {}/{}",
                    short(tip),
                    f.remote,
                    f.main
                ));
            }
        }
    }
    if !missing.is_empty() {
        return Err(exit::failed(format!(
            "the work of {branch} is not on {r}/{m} (no GitHub repository: the branch tip must be reachable from {r}/{m}):\n  {}\nfix: merge it into {m} through its one PR, then rerun cargo xtask task-finish; nothing was changed",
            missing.join("\n  "),
            r = f.remote,
            m = f.main
        )));
    }
    f.say(format!(
        "{branch} is merged: its tip is reachable from {}/{}",
        f.remote, f.main
    ));
    Ok(Merged {
        merge_commit: None,
        head: None,
    })
}

fn fetch_main(f: &Finish) -> anyhow::Result<()> {
    let (sh, remote) = (&f.sh, &f.remote);
    let refspec = format!("+refs/heads/{m}:refs/remotes/{remote}/{m}", m = f.main);
    let out = cmd!(sh, "git fetch --quiet --no-tags {remote} {refspec}")
        .quiet()
        .ignore_status()
        .output()?;
    if !out.status.success() {
        return Err(exit::failed(format!(
            "git fetch {remote} {} failed: {}",
            f.main,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Finds the branch's PR, merges it when asked, and returns what was merged.
fn merge_on_github(
    f: &mut Finish,
    client: &github::Client,
    branch: &str,
    merge: bool,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<(Merged, Value)> {
    let repo = client.repo.clone();
    let owner = repo.split('/').next().unwrap_or_default();
    let pulls = client.get_all(&format!(
        "/repos/{repo}/pulls?state=all&head={owner}:{branch}&per_page=100"
    ))?;
    let pulls: Vec<&Value> = pulls
        .iter()
        .filter(|p| p.pointer("/head/ref").and_then(Value::as_str) == Some(branch))
        .collect();
    let open: Vec<&&Value> = pulls.iter().filter(|p| p["state"] == "open").collect();
    let merged_pr = pulls
        .iter()
        .filter(|p| !p["merged_at"].is_null())
        .max_by_key(|p| p["number"].as_u64());
    let number = match (open.as_slice(), merged_pr) {
        ([one], _) => one["number"].as_u64().unwrap_or(0),
        ([], Some(m)) => m["number"].as_u64().unwrap_or(0),
        ([], None) if !pulls.is_empty() => {
            let numbers: Vec<String> = pulls.iter().map(|p| format!("#{}", p["number"])).collect();
            return Err(exit::failed(format!(
                "the PR(s) of {branch} ({}) were closed without merging: reopen one, or open a new PR for {branch} with `Primary-Task: {}` in its body",
                numbers.join(", "),
                f.id
            )));
        }
        ([], None) => {
            return Err(exit::failed(format!(
                "{branch} has no PR in {repo}: push it and open one PR against {m} with this line in its body:\n  Primary-Task: {id}\nfix: git push -u {r} {branch}, then open the PR (gh pr create --base {m} --head {branch} --body 'Primary-Task: {id}')",
                m = f.main,
                r = f.remote,
                id = f.id
            )))
        }
        (several, _) => {
            let numbers: Vec<String> = several.iter().map(|p| format!("#{}", p["number"])).collect();
            return Err(exit::failed(format!(
                "{branch} has {} open PRs ({}): one task = one PR; close the extra ones and rerun",
                several.len(),
                numbers.join(", ")
            )));
        }
    };
    let mut pr = get_pull(client, number)?;
    let mut via_auto_merge = false;
    let url = pr["html_url"].as_str().unwrap_or_default().to_string();
    f.say(format!(
        "PR #{number} {url} ({})",
        if pr["merged"] == true {
            "merged"
        } else {
            pr["state"].as_str().unwrap_or("?")
        }
    ));

    if pr["merged"] != true {
        if pr["state"] != "open" {
            return Err(exit::failed(format!(
                "PR #{number} {url} is {} and not merged",
                pr["state"]
            )));
        }
        if !merge {
            let auto = if pr["auto_merge"].is_object() {
                " (auto-merge is enabled on GitHub: it merges once main's requirements are met)"
            } else {
                ""
            };
            return Err(exit::failed(format!(
                "PR #{number} {url} is open, not merged{auto}: merge it when its required checks are green with cargo xtask task-finish --merge (or merge it on GitHub, then rerun cargo xtask task-finish); nothing was changed"
            )));
        }
        if pr["draft"] == true {
            return Err(exit::failed(format!(
                "PR #{number} {url} is a draft; refusing to merge: mark it ready for review (gh pr ready {number}) and rerun"
            )));
        }
        let head = pr
            .pointer("/head/sha")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        anyhow::ensure!(
            head.len() == 40 && head.chars().all(|c| c.is_ascii_hexdigit()),
            "PR #{number}: no head SHA"
        );
        if let (Some(local), _) = tips(f, branch)? {
            if local != head {
                return Err(exit::failed(format!(
                    "local {branch} is at {local}, but PR #{number}'s head is {head}: push (git push) or pull (git pull --ff-only) so that they agree, then rerun; nothing was merged"
                )));
            }
        }
        wait_for_checks(f, client, &head, poll, timeout)?;
        let body = json!({ "merge_method": "squash", "sha": head });
        let path = format!("/repos/{repo}/pulls/{number}/merge");
        let resp = client.request("PUT", &path, Some(&body))?;
        match resp.status {
            200 => f.say(format!("squash-merged PR #{number} ({})", resp.body["sha"].as_str().unwrap_or("?"))),
            405 => {
                let refused = resp.message();
                // GitHub's current view of the PR: its mergeable state, its
                // node id for GraphQL, whether auto-merge is already on.
                let now = get_pull(client, number)?;
                if now["merged"] == true {
                    f.say(format!("GitHub refused the direct merge ({refused}), but PR #{number} is merged now"));
                } else {
                    if now.pointer("/head/sha").and_then(Value::as_str) != Some(head.as_str()) {
                        return Err(exit::failed(format!(
                            "GitHub refused to merge PR #{number} ({refused}) and its head moved from {head}: pull (git pull --ff-only) and rerun cargo xtask task-finish --merge; nothing was changed"
                        )));
                    }
                    match auto_merge_applies(&refused, now["mergeable_state"].as_str()) {
                        Some(why) => {
                            f.say(format!("GitHub refused the direct merge: {refused}"));
                            enable_auto_merge(f, client, &now, number, &head, why)?;
                            via_auto_merge = true;
                            wait_for_auto_merge(f, client, number, &url, &refused, poll, timeout)?;
                        }
                        None => return Err(exit::failed(format!(
                            "GitHub refused to merge PR #{number}: {refused}\nThis refusal is not one that auto-merge waits out, so it was not enabled (task-finish enables auto-merge through GitHub's GraphQL API only when main's protection still waits for reviews, required checks or a merge queue). If you want GitHub to merge it later anyway: `gh pr merge {number} --auto --squash` or the web UI, then run cargo xtask task-finish once the PR is merged. Nothing was changed locally."
                        ))),
                    }
                }
            }
            409 => {
                return Err(exit::failed(format!(
                    "PR #{number}'s head moved while checks ran ({}): rerun cargo xtask task-finish --merge",
                    resp.message()
                )))
            }
            _ => return Err(github::http_error(&resp, "PUT", &path)),
        }
        pr = get_pull(client, number)?;
        if pr["merged"] != true {
            return Err(exit::failed(format!(
                "PR #{number} is not merged after the merge request; rerun cargo xtask task-finish"
            )));
        }
    }
    let merge_commit = pr["merge_commit_sha"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let head = pr
        .pointer("/head/sha")
        .and_then(Value::as_str)
        .map(str::to_string);
    if merge_commit.len() != 40 || !merge_commit.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(exit::failed(format!(
            "PR #{number} is merged but GitHub names no merge commit; nothing was deleted"
        )));
    }
    let report =
        json!({ "number": number, "url": url, "head": head, "auto_merge": via_auto_merge });
    Ok((
        Merged {
            merge_commit: Some(merge_commit),
            head,
        },
        report,
    ))
}

/// Whether a 405 from the REST merge (after the required checks were seen
/// green) is one that auto-merge waits out: main's protection still waits
/// for something that may yet happen — an approving or code-owner review, a
/// required status check that is expected or in progress (e.g. one required
/// by a ruleset), a merge queue, or a generic "not mergeable" while GitHub
/// calls the PR `blocked`. Never when the message speaks of a failure,
/// conflicts, a merge method that is not allowed or a draft, nor when GitHub
/// calls the PR `dirty` (conflicts), `behind` (to be updated first: auto-merge
/// does not update it) or `draft`. Returns what it waits for.
fn auto_merge_applies(message: &str, mergeable_state: Option<&str>) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let never = [
        "fail",
        "conflict",
        "not allowed",
        "draft",
        "out of date",
        "up to date",
        "behind",
    ];
    if never.iter().any(|w| m.contains(w))
        || matches!(mergeable_state, Some("dirty" | "behind" | "draft"))
    {
        return None;
    }
    if m.contains("merge queue") {
        Some("the merge queue")
    } else if m.contains("review") {
        Some("the required reviews")
    } else if m.contains("required status check") {
        Some("required status checks that are not complete yet")
    } else if m.contains("base branch policy")
        || m.contains("auto-merge")
        || m.contains("auto merge")
    {
        Some("the base branch's requirements")
    } else if m.contains("not mergeable") && mergeable_state == Some("blocked") {
        Some("the base branch's requirements (GitHub calls the PR blocked)")
    } else {
        None
    }
}

const ENABLE_AUTO_MERGE: &str = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!) { enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) { pullRequest { number autoMergeRequest { enabledAt mergeMethod } } } }";

/// Enables squash auto-merge on the PR for exactly `head` (GitHub's GraphQL
/// `enablePullRequestAutoMerge`; REST has no such endpoint). Already enabled
/// with squash (a rerun): left as it is.
fn enable_auto_merge(
    f: &mut Finish,
    client: &github::Client,
    pr: &Value,
    number: u64,
    head: &str,
    waits_for: &str,
) -> anyhow::Result<()> {
    if pr
        .pointer("/auto_merge/merge_method")
        .and_then(Value::as_str)
        == Some("squash")
    {
        f.say(format!(
            "auto-merge (squash) is already enabled on PR #{number}; GitHub merges it once main's requirements are met (it waits for {waits_for})"
        ));
        return Ok(());
    }
    let node_id = pr["node_id"].as_str().unwrap_or_default();
    if node_id.is_empty() {
        return Err(exit::failed(format!(
            "GitHub names no node_id for PR #{number}, so auto-merge cannot be enabled; nothing was changed"
        )));
    }
    let variables = json!({
        "pullRequestId": node_id,
        "mergeMethod": "SQUASH",
        "expectedHeadOid": head,
    });
    match client.graphql(ENABLE_AUTO_MERGE, variables) {
        Ok(_) => {}
        Err(e) => {
            let Some(errors) = e.downcast_ref::<github::GraphqlErrors>() else {
                return Err(e);
            };
            return Err(exit::failed(format!(
                "GitHub did not enable auto-merge on PR #{number}: {errors}\nThe PR waits for {waits_for}, which a direct merge cannot skip. Nothing was changed locally; the PR stays open.\nfix: allow auto-merge in the repository's settings (gh repo edit --enable-auto-merge), then rerun cargo xtask task-finish --merge; or merge the PR on GitHub once its requirements are met and run cargo xtask task-finish"
            )));
        }
    }
    f.say(format!(
        "enabled auto-merge (squash) on PR #{number} for head {}: GitHub merges it once main's requirements are met (it waits for {waits_for})",
        short(head)
    ));
    Ok(())
}

/// Polls the PR until GitHub's auto-merge has merged it.
fn wait_for_auto_merge(
    f: &mut Finish,
    client: &github::Client,
    number: u64,
    url: &str,
    refused: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pr = get_pull(client, number)?;
        if pr["merged"] == true {
            f.say(format!("auto-merge merged PR #{number}"));
            return Ok(());
        }
        if pr["state"] != "open" {
            return Err(exit::failed(format!(
                "PR #{number} {url} was closed without merging while auto-merge was waiting; nothing was changed locally: reopen it (gh pr reopen {number}) and rerun cargo xtask task-finish --merge"
            )));
        }
        if !pr["auto_merge"].is_object() {
            return Err(exit::failed(format!(
                "auto-merge is no longer enabled on PR #{number} {url} (disabled by hand, or by a push of someone without write access); nothing was merged or changed locally: rerun cargo xtask task-finish --merge"
            )));
        }
        if started.elapsed() + poll > timeout {
            return Err(exit::failed(format!(
                "PR #{number} {url} was not merged within {}: auto-merge stays enabled on GitHub, which merges it once main's requirements are met (it refused the direct merge: {refused}). Nothing was changed locally.\nfix: once it is merged, run cargo xtask task-finish; or wait longer: cargo xtask task-finish --merge --checks-timeout 1h; to cancel the auto-merge: gh pr merge {number} --disable-auto",
                output::duration(timeout)
            )));
        }
        if f.ctx.format == Format::Human {
            output::say(&format!(
                "  waiting for GitHub's auto-merge of PR #{number} (mergeable state: {})",
                pr["mergeable_state"].as_str().unwrap_or("unknown")
            ));
        }
        std::thread::sleep(poll);
    }
}

fn get_pull(client: &github::Client, number: u64) -> anyhow::Result<Value> {
    let path = format!("/repos/{}/pulls/{number}", client.repo);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    Ok(resp.body)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Pass,
    Pending,
    Fail,
}

/// The state of one reported check run or commit status.
fn state_of_run(run: &Value) -> State {
    if run["status"] != "completed" {
        return State::Pending;
    }
    match run["conclusion"].as_str() {
        Some("success" | "neutral" | "skipped") => State::Pass,
        _ => State::Fail,
    }
}

fn state_of_status(status: &Value) -> State {
    match status["state"].as_str() {
        Some("success") => State::Pass,
        Some("pending") => State::Pending,
        _ => State::Fail,
    }
}

/// Judges the required checks against what was reported: each required name
/// is pending until reported, failed when any report of it failed.
fn judge_checks(required: &[String], reported: &[(String, State)]) -> (State, Vec<String>) {
    let mut worst = State::Pass;
    let mut lines = Vec::new();
    for name in required {
        let states: Vec<State> = reported
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .collect();
        let state = if states.contains(&State::Fail) {
            State::Fail
        } else if states.is_empty() || states.contains(&State::Pending) {
            State::Pending
        } else {
            State::Pass
        };
        let word = match (state, states.is_empty()) {
            (State::Pass, _) => "passed",
            (State::Fail, _) => "failed",
            (State::Pending, true) => "not reported yet",
            (State::Pending, false) => "pending",
        };
        lines.push(format!("{name}: {word}"));
        worst = match (worst, state) {
            (State::Fail, _) | (_, State::Fail) => State::Fail,
            (State::Pending, _) | (_, State::Pending) => State::Pending,
            _ => State::Pass,
        };
    }
    (worst, lines)
}

/// The status checks main's protection requires (readable with read access
/// through the branch endpoint).
fn required_checks(f: &Finish, client: &github::Client) -> anyhow::Result<Vec<String>> {
    let path = format!("/repos/{}/branches/{}", client.repo, f.main);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    let p = &resp.body;
    let mut names: Vec<String> = p
        .pointer("/protection/required_status_checks/contexts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(checks) = p
        .pointer("/protection/required_status_checks/checks")
        .and_then(Value::as_array)
    {
        for c in checks.iter().filter_map(|c| c["context"].as_str()) {
            if !names.iter().any(|n| n == c) {
                names.push(c.to_string());
            }
        }
    }
    Ok(names)
}

/// Check runs and commit statuses reported on `sha`.
fn reported_checks(client: &github::Client, sha: &str) -> anyhow::Result<Vec<(String, State)>> {
    let mut out = Vec::new();
    let mut next = Some(format!(
        "/repos/{}/commits/{sha}/check-runs?per_page=100",
        client.repo
    ));
    let mut pages = 0;
    while let Some(page) = next {
        pages += 1;
        anyhow::ensure!(pages <= 20, "check runs of {sha}: more than 20 pages");
        let resp = client.request("GET", &page, None)?;
        if resp.status != 200 {
            return Err(github::http_error(&resp, "GET", &page));
        }
        for run in resp.body["check_runs"].as_array().into_iter().flatten() {
            out.push((
                run["name"].as_str().unwrap_or_default().to_string(),
                state_of_run(run),
            ));
        }
        next = resp.next_page();
    }
    let path = format!("/repos/{}/commits/{sha}/status", client.repo);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    for s in resp.body["statuses"].as_array().into_iter().flatten() {
        out.push((
            s["context"].as_str().unwrap_or_default().to_string(),
            state_of_status(s),
        ));
    }
    Ok(out)
}

fn wait_for_checks(
    f: &mut Finish,
    client: &github::Client,
    sha: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let required = required_checks(f, client)?;
    if required.is_empty() {
        return Err(exit::failed(format!(
            "{} has no required status checks in its branch protection, so \"merge only when all required checks are green\" cannot be verified: protect it (cargo xtask protect-main), or merge on GitHub yourself and rerun cargo xtask task-finish; nothing was merged",
            f.main
        )));
    }
    let started = Instant::now();
    loop {
        let (state, lines) = judge_checks(&required, &reported_checks(client, sha)?);
        match state {
            State::Pass => {
                f.say(format!("required checks green on {}: {}", short(sha), required.join(", ")));
                return Ok(());
            }
            State::Fail => {
                return Err(exit::failed(format!(
                    "required checks on {} did not pass; nothing was merged:\n  {}\nfix: fix the failure, push, and rerun cargo xtask task-finish --merge",
                    short(sha),
                    lines.join("\n  ")
                )))
            }
            State::Pending if started.elapsed() + poll > timeout => {
                return Err(exit::failed(format!(
                    "required checks on {} did not pass within {}; nothing was merged:\n  {}\nfix: rerun cargo xtask task-finish --merge later (or --checks-timeout 1h)",
                    short(sha),
                    output::duration(timeout),
                    lines.join("\n  ")
                )))
            }
            State::Pending => {
                if f.ctx.format == Format::Human {
                    output::say(&format!("  waiting for required checks: {}", lines.join(", ")));
                }
                std::thread::sleep(poll);
            }
        }
    }
}

/// Once merged: switch to main, pull, verify, then delete the branch
/// locally and on the remote, each only when its work is on main.
fn sync_and_clean(f: &mut Finish, repo: Option<&str>, merged: &Merged) -> anyhow::Result<String> {
    let (main, remote) = (f.main.clone(), f.remote.clone());
    if git::current_branch(&f.sh)?.as_deref() != Some(main.as_str()) {
        let sh = &f.sh;
        let out = cmd!(sh, "git switch --quiet {main}")
            .quiet()
            .ignore_status()
            .output()?;
        if !out.status.success() {
            return Err(exit::failed(format!(
                "git switch {main} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        f.say(format!("switched to {main}"));
    }
    let sh = &f.sh;
    let out = cmd!(sh, "git pull --quiet --ff-only --no-rebase {remote} {main}")
        .quiet()
        .ignore_status()
        .output()?;
    if !out.status.success() {
        return Err(exit::failed(format!(
            "git pull --ff-only {remote} {main} failed (the task branch is kept): {}\nfix: local {main} must not have commits of its own; move them to a task branch, reset {main} (git reset --keep {remote}/{main}), and rerun cargo xtask task-finish",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let main_ref = format!("refs/heads/{main}");
    if let Some(commit) = &merged.merge_commit {
        if !is_ancestor(&f.sh, commit, &main_ref) {
            return Err(exit::failed(format!(
                "the merge commit {commit} is not on local {main} after git pull --ff-only; the task branch is kept: check {remote}/{main} (git log {remote}/{main}) and rerun cargo xtask task-finish"
            )));
        }
        f.say(format!("merge commit {} is on {main}", short(commit)));
    }
    let mut kept = Vec::new();
    if let Some(branch) = f.branch.clone() {
        let (local, remote_tip) = tips(f, &branch)?;
        let safe = |tip: &Option<String>| {
            tip.as_deref().is_some_and(|t| {
                merged.head.as_deref() == Some(t) || is_ancestor(&f.sh, t, &main_ref)
            })
        };
        let (local_safe, remote_safe) = (safe(&local), safe(&remote_tip));
        if let Some(tip) = local {
            if local_safe {
                let sh = &f.sh;
                cmd!(sh, "git branch --quiet -D {branch}").quiet().run()?;
                f.say(format!("deleted local {branch} (was {})", short(&tip)));
            } else {
                kept.push(format!(
                    "local {branch} at {tip} has work that is not on {main}{}: kept; move that work to a new task, or if it is truly unwanted: git branch -D {branch}",
                    merged.head.as_deref().map(|h| format!(" (the merged PR head was {})", short(h))).unwrap_or_default()
                ));
            }
        }
        if let Some(tip) = remote_tip {
            if remote_safe {
                delete_remote_branch(f, repo, &branch)?;
                f.say(format!("deleted {remote}/{branch} (was {})", short(&tip)));
            } else {
                kept.push(format!(
                    "{remote}/{branch} at {tip} has work that is not on {main}: kept"
                ));
            }
        }
    }
    let sh = &f.sh;
    let last = cmd!(sh, "git log --oneline -n 1").quiet().read()?;
    if !kept.is_empty() {
        return Err(exit::failed(format!(
            "{main} is synced ({last}), but branches were kept because their work is not on {main}:\n  {}",
            kept.join("\n  ")
        )));
    }
    if f.ctx.format == Format::Human {
        output::say(&format!("  git log --oneline -n 1: {last}"));
    }
    Ok(last)
}

/// Deletes the remote branch: through the API with GitHub, else with git.
fn delete_remote_branch(f: &Finish, repo: Option<&str>, branch: &str) -> anyhow::Result<()> {
    if let Some(repo) = repo {
        let token = github::token()?
            .ok_or_else(|| exit::usage("no GitHub token to delete the remote branch"))?;
        let client = github::Client::new(repo.to_string(), token);
        let path = format!("/repos/{repo}/git/refs/heads/{branch}");
        let resp = client.request("DELETE", &path, None)?;
        // 422 "Reference does not exist": already deleted (GitHub can delete
        // head branches on merge).
        if resp.status != 204 && resp.status != 422 {
            return Err(github::http_error(&resp, "DELETE", &path));
        }
        // The remote-tracking ref would otherwise linger until a prune.
        let (sh, tracking) = (&f.sh, format!("refs/remotes/{}/{branch}", f.remote));
        cmd!(sh, "git update-ref -d {tracking}")
            .quiet()
            .ignore_status()
            .run()?;
        return Ok(());
    }
    // Runs from main after the work was verified on main. The push hooks
    // guard pushes of work; this deletes only a branch whose work is on
    // main, so they are not run (a user's own `.local` pre-push hook could
    // otherwise refuse the clean-up that the verification already allows).
    let (sh, remote) = (&f.sh, &f.remote);
    let full = format!("refs/heads/{branch}");
    let out = cmd!(sh, "git push --quiet --no-verify {remote} --delete {full}")
        .quiet()
        .ignore_status()
        .output()?;
    if !out.status.success() {
        return Err(exit::failed(format!(
            "git push {remote} --delete {branch} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(required: &[&str], reported: &[(&str, State)], expected: State) {
        let required: Vec<String> = required.iter().map(|s| s.to_string()).collect();
        let reported: Vec<(String, State)> =
            reported.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        assert_eq!(
            judge_checks(&required, &reported).0,
            expected,
            "{required:?} {reported:?}"
        );
    }

    #[test]
    fn required_checks_are_judged_fail_closed() {
        use State::*;
        check(&["test"], &[("test", Pass)], Pass);
        check(&["test"], &[], Pending);
        check(&["test", "lint"], &[("test", Pass)], Pending);
        check(&["test"], &[("test", Pass), ("test", Fail)], Fail);
        check(
            &["test", "lint"],
            &[("test", Pending), ("lint", Fail)],
            Fail,
        );
        check(&["test"], &[("test", Pass), ("other", Fail)], Pass);
    }

    #[test]
    fn runs_and_statuses_map_to_states() {
        assert_eq!(
            state_of_run(&json!({"status": "in_progress", "conclusion": null})),
            State::Pending
        );
        assert_eq!(
            state_of_run(&json!({"status": "completed", "conclusion": "success"})),
            State::Pass
        );
        assert_eq!(
            state_of_run(&json!({"status": "completed", "conclusion": "skipped"})),
            State::Pass
        );
        for bad in [
            "failure",
            "cancelled",
            "timed_out",
            "action_required",
            "stale",
        ] {
            assert_eq!(
                state_of_run(&json!({"status": "completed", "conclusion": bad})),
                State::Fail,
                "{bad}"
            );
        }
        assert_eq!(
            state_of_status(&json!({"state": "pending"})),
            State::Pending
        );
        assert_eq!(state_of_status(&json!({"state": "error"})), State::Fail);
    }

    #[test]
    fn auto_merge_is_enabled_only_for_refusals_it_waits_out() {
        let check = |message: &str, state: Option<&str>, applies: bool| {
            assert_eq!(
                auto_merge_applies(message, state).is_some(),
                applies,
                "{message:?} {state:?}"
            );
        };
        let review = "At least 1 approving review is required by reviewers with write access.";
        check(review, Some("blocked"), true);
        check(review, None, true);
        check("Waiting on code owner review from @acme/core.", None, true);
        check("Required status check \"e2e\" is expected.", None, true);
        check("Required status check \"e2e\" is in progress.", None, true);
        check(
            "Repository rule violations found\n\nChanges must be made through the merge queue",
            None,
            true,
        );
        check("Base branch policy prohibits the merge", None, true);
        check("Pull Request is not mergeable", Some("blocked"), true);
        // Failures, conflicts, settings, and what waiting does not fix.
        check("Required status check \"e2e\" is failing.", None, false);
        check(
            "2 of 3 required status checks have failed.",
            Some("blocked"),
            false,
        );
        check("Pull Request is not mergeable", Some("dirty"), false);
        check("Pull Request is not mergeable", Some("unknown"), false);
        check("Pull Request is not mergeable", None, false);
        check("Pull Request has merge conflicts", None, false);
        check(
            "Squash merges are not allowed on this repository.",
            None,
            false,
        );
        check(
            "Head branch is out of date. Review and try the merge again.",
            None,
            false,
        );
        check(review, Some("behind"), false);
        check(review, Some("dirty"), false);
        check("Something else entirely", Some("blocked"), false);
    }

    #[test]
    fn durations_accept_milliseconds_for_fast_polls() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(
            parse_duration("168h").unwrap(),
            Duration::from_secs(168 * 3600)
        );
        for bad in ["0ms", "ms", "10", "-5ms", "1d", "5 s", "s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_range_errors_state_the_accepted_range() {
        for (bad, expected) in [
            ("0s", "\"0s\" must be between 1ms and 168h"),
            ("0ms", "\"0ms\" must be between 1ms and 168h"),
            ("0m", "\"0m\" must be between 1ms and 168h"),
            ("169h", "\"169h\" must be between 1ms and 168h"),
            ("604800001ms", "must be between 1ms and 168h"),
            ("99999999999999999999s", "is not a duration like \"500ms\""),
            (
                "soon",
                "\"soon\" is not a duration like \"500ms\", \"10s\" or \"30m\"",
            ),
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
        assert_eq!(
            parse_duration("604800000ms").unwrap(),
            Duration::from_secs(168 * 3600)
        );
    }
}
