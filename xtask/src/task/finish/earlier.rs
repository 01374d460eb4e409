//! A rerun with no branch of the task left: the evidence that the task was
//! finished before (a commit on the remote main naming it, else a merged PR
//! of one of its branches whose merge commit is on the remote main).

use serde_json::Value;

use super::branches::fetch_main;
use super::pr::is_sha;
use super::Finish;
use crate::github::client as github;
use crate::plumbing::policy::Task;
use crate::plumbing::{exit, git};
use crate::task::id as task_id;
use crate::task::preflight::{is_ancestor, short};

/// With no branch of the task left, the evidence that it was finished before
/// (a rerun): a commit on the remote main naming the task, else (with GitHub)
/// a merged PR of one of the task's branches whose merge commit is on the
/// remote main (returned). Nothing found is an error: the id is wrong, or the
/// task never started; nothing has been changed.
pub(super) fn finished_earlier(
    f: &mut Finish,
    repo: Option<&str>,
) -> anyhow::Result<Option<String>> {
    fetch_main(f)?;
    let upstream = format!("refs/remotes/{}/{}", f.remote, f.main);
    let id = f.id.clone();
    if let Some(commit) = commit_naming(f, &upstream)? {
        f.say(format!(
            "{id} was finished earlier: {commit} on {}/{} names it",
            f.remote, f.main
        ));
        return Ok(None);
    }
    let t = &f.ctx.policy.policy.task;
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
        let pulls = merged_task_prs(f, &client)?;
        let sh = &f.sh;
        match judge_merged_prs(t, &id, &pulls, |sha| is_ancestor(sh, sha, &upstream)) {
            Ok((number, head, sha)) => {
                f.say(format!(
                    "{id} was finished earlier: PR #{number} ({head}) was merged as {}",
                    short(&sha)
                ));
                return Ok(Some(sha));
            }
            Err(elsewhere) if elsewhere.is_empty() => {
                looked.push(format!("no merged PR of a {pattern} branch in {repo}"))
            }
            Err(elsewhere) => looked.extend(elsewhere.into_iter().map(|(number, head, sha)| {
                format!(
                    "PR #{number} ({head}) was merged as {sha}, which is not on {}/{}",
                    f.remote, f.main
                )
            })),
        }
    }
    Err(exit::failed(format!(
        "nothing found for {id}: {}; nothing was changed\nfix: check the task id, or start the task: cargo xtask task-start {id} <short-name>",
        looked.join("; ")
    )))
}

/// A commit on `upstream` whose message names the task: `"<short> <subject>"`.
fn commit_naming(f: &Finish, upstream: &str) -> anyhow::Result<Option<String>> {
    let t = &f.ctx.policy.policy.task;
    let grep = format!("--grep={}", f.id);
    let log = git::read(
        &f.sh,
        &[
            "log",
            "--regexp-ignore-case",
            "--fixed-strings",
            &grep,
            "--format=%H%x1f%s%x1f%B%x1e",
            upstream,
        ],
    )?;
    Ok(log.split('\x1e').find_map(|entry| {
        let mut parts = entry.trim_start().splitn(3, '\x1f');
        let (sha, subject, body) = (parts.next()?, parts.next()?, parts.next()?);
        task_id::ids_in_text(t, body)
            .contains(&f.id)
            .then(|| format!("{} {subject}", short(sha)))
    }))
}

/// The closed PRs into main that may be the task's. GitHub filters them
/// by head branch (`head=owner:branch`) for each branch of the task this
/// clone remembers (its reflog, stale remote-tracking refs); only when it
/// remembers none, or none of them has a merged PR, are the closed PRs into
/// main listed, the most recently updated first, at most 10 pages.
fn merged_task_prs(f: &Finish, client: &github::Client) -> anyhow::Result<Vec<Value>> {
    let repo = &client.repo;
    let owner = repo.split('/').next().unwrap_or_default();
    let narrow = "name fewer branches";
    let mut pulls = Vec::new();
    for branch in remembered_branches(f)? {
        pulls.extend(client.get_list(
            &format!(
                "/repos/{repo}/pulls?state=closed&base={}&head={owner}:{branch}",
                f.main
            ),
            None,
            10,
            narrow,
        )?);
    }
    if pulls.iter().any(|p| !p["merged_at"].is_null()) {
        return Ok(pulls);
    }
    let t = &f.ctx.policy.policy.task;
    let pattern = t
        .branch_template
        .replace("{NNN}", task_id::number(t, &f.id))
        .replace("{slug}", "*");
    client.get_list(
        &format!(
            "/repos/{repo}/pulls?state=closed&base={}&sort=updated&direction=desc",
            f.main
        ),
        None,
        10,
        &format!(
            "no merged PR of a {pattern} branch among the 1000 most recently updated closed PRs into {}; nothing was changed. Check the task id ({}); if it is right, run task-finish in the clone where the task was worked on: its reflog names the branch, and GitHub is then asked for that branch's PRs only",
            f.main, f.id
        ),
    )
}

/// The task's branch names this clone remembers: from the reflog of HEAD
/// (`checkout: moving from A to B`) and remote-tracking refs not yet
/// pruned; valid branch names only, at most 10.
fn remembered_branches(f: &Finish) -> anyhow::Result<Vec<String>> {
    let t = &f.ctx.policy.policy.task;
    let reflog = git::read_if_ok(&f.sh, &["reflog", "--format=%gs", "HEAD"])?.unwrap_or_default();
    let prefix = format!("refs/remotes/{}/", f.remote);
    let tracking = git::read_if_ok(&f.sh, &["for-each-ref", "--format=%(refname)", &prefix])?
        .unwrap_or_default();
    let moves = reflog.lines().filter_map(|l| {
        let rest = l.strip_prefix("checkout: moving from ")?;
        let (from, to) = rest.split_once(" to ")?;
        Some([from.to_string(), to.to_string()])
    });
    let mut names: Vec<String> = moves
        .flatten()
        .chain(
            tracking
                .lines()
                .filter_map(|r| r.strip_prefix(prefix.as_str()).map(str::to_string)),
        )
        .filter(|b| task_id::task_of_branch(t, b).as_deref() == Some(f.id.as_str()))
        .filter(|b| {
            b.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        })
        .collect();
    names.sort();
    names.dedup();
    names.truncate(10);
    Ok(names)
}

/// Among closed PRs, the task's merged one whose merge commit is on main
/// (`on_main`): `Ok((number, head branch, merge commit))`; else `Err` with
/// the task's merged PRs whose merge commit is not there (pure).
#[allow(clippy::type_complexity)]
fn judge_merged_prs(
    t: &Task,
    id: &str,
    pulls: &[Value],
    on_main: impl Fn(&str) -> bool,
) -> Result<(u64, String, String), Vec<(u64, String, String)>> {
    let mut elsewhere = Vec::new();
    for pr in pulls {
        let head = pr.pointer("/head/ref").and_then(Value::as_str);
        if head.and_then(|b| task_id::task_of_branch(t, b)).as_deref() != Some(id)
            || pr["merged_at"].is_null()
        {
            continue;
        }
        let number = pr["number"].as_u64().unwrap_or(0);
        let head = head.unwrap_or_default().to_string();
        match pr["merge_commit_sha"].as_str() {
            Some(sha) if is_sha(sha) && on_main(sha) => return Ok((number, head, sha.to_string())),
            sha => elsewhere.push((
                number,
                head,
                github::sanitize(sha.unwrap_or("an unknown commit")),
            )),
        }
    }
    Err(elsewhere)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_merged_pr_of_the_task_with_its_commit_on_main_is_evidence() {
        let t = Task::default();
        let id = task_id::normalize_id(&t, "TASK-107").unwrap();
        let branch = t
            .branch_template
            .replace("{NNN}", task_id::number(&t, &id))
            .replace("{slug}", "x");
        let other = t
            .branch_template
            .replace("{NNN}", "108")
            .replace("{slug}", "x");
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        let pulls = [
            json!({ "number": 1, "head": { "ref": other }, "merged_at": "t", "merge_commit_sha": a }),
            json!({ "number": 2, "head": { "ref": branch }, "merged_at": null, "merge_commit_sha": a }),
            json!({ "number": 3, "head": { "ref": branch }, "merged_at": "t", "merge_commit_sha": b }),
        ];
        let on_main = |sha: &str| sha == a;
        assert_eq!(
            judge_merged_prs(&t, &id, &pulls, on_main),
            Err(vec![(3, branch.clone(), b.clone())])
        );
        let mut pulls = pulls.to_vec();
        pulls.push(json!({ "number": 4, "head": { "ref": branch }, "merged_at": "t", "merge_commit_sha": a }));
        assert_eq!(
            judge_merged_prs(&t, &id, &pulls, on_main),
            Ok((4, branch, a))
        );
    }
}
