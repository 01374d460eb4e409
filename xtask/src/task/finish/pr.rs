//! The task's PR on GitHub: which PR is the branch's (decided from the
//! listing, pure), and its merge once the required checks are green (a
//! direct squash merge, else auto-merge when GitHub's refusal is one that
//! waiting fixes).

use std::time::Duration;

use serde_json::{json, Value};

use super::auto_merge::{auto_merge_applies, enable_auto_merge, wait_for_auto_merge};
use super::checks::wait_for_checks;
use super::{branches, Finish, Merged};
use crate::github::client as github;
use crate::plumbing::exit;

/// How the merge is to be waited for.
pub(super) struct Wait {
    pub merge: bool,
    pub poll: Duration,
    pub timeout: Duration,
}

/// Finds the branch's PR, merges it when asked, and returns what was merged.
pub(super) fn merge_on_github(
    f: &mut Finish,
    client: &github::Client,
    branch: &str,
    wait: &Wait,
) -> anyhow::Result<(Merged, Value)> {
    let repo = client.repo.clone();
    let owner = repo.split('/').next().unwrap_or_default();
    let pulls = client.get_all(&format!(
        "/repos/{repo}/pulls?state=all&head={owner}:{branch}&per_page=100"
    ))?;
    let number = pick_pr(&pulls, branch, &f.id, &repo, &f.main, &f.remote)?;
    let mut pr = get_pull(client, number)?;
    let mut via_auto_merge = false;
    let url = github::sanitize(pr["html_url"].as_str().unwrap_or_default());
    f.say(format!(
        "PR #{number} {url} ({})",
        if pr["merged"] == true {
            "merged"
        } else {
            pr["state"].as_str().unwrap_or("?")
        }
    ));
    if pr["merged"] != true {
        via_auto_merge = merge_open_pr(f, client, &pr, number, &url, branch, wait)?;
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
        .filter(|h| is_sha(h))
        .map(str::to_string);
    if !is_sha(&merge_commit) {
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

/// A full commit SHA (40 hex digits), as GitHub names commits.
pub(super) fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// The branch's PR among GitHub's listing of PRs with that head: the one
/// open PR, else the latest merged one; none, only closed ones, or several
/// open ones are errors that say what to do.
fn pick_pr(
    pulls: &[Value],
    branch: &str,
    id: &str,
    repo: &str,
    main: &str,
    remote: &str,
) -> anyhow::Result<u64> {
    let pulls: Vec<&Value> = pulls
        .iter()
        .filter(|p| p.pointer("/head/ref").and_then(Value::as_str) == Some(branch))
        .collect();
    let open: Vec<&&Value> = pulls.iter().filter(|p| p["state"] == "open").collect();
    let merged_pr = pulls
        .iter()
        .filter(|p| !p["merged_at"].is_null())
        .max_by_key(|p| p["number"].as_u64());
    let numbers = |list: &mut dyn Iterator<Item = &Value>| -> String {
        list.map(|p| format!("#{}", p["number"]))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (open.as_slice(), merged_pr) {
        ([one], _) => Ok(one["number"].as_u64().unwrap_or(0)),
        ([], Some(m)) => Ok(m["number"].as_u64().unwrap_or(0)),
        ([], None) if !pulls.is_empty() => Err(exit::failed(format!(
            "the PR(s) of {branch} ({}) were closed without merging: reopen one, or open a new PR for {branch} with `Primary-Task: {id}` in its body",
            numbers(&mut pulls.iter().copied())
        ))),
        ([], None) => Err(exit::failed(format!(
            "{branch} has no PR in {repo}: push it and open one PR against {main} with this line in its body:\n  Primary-Task: {id}\nfix: git push -u {remote} {branch}, then open the PR (gh pr create --base {main} --head {branch} --body 'Primary-Task: {id}')"
        ))),
        (several, _) => Err(exit::failed(format!(
            "{branch} has {} open PRs ({}): one task = one PR; close the extra ones and rerun",
            several.len(),
            numbers(&mut several.iter().map(|p| **p))
        ))),
    }
}

/// Merges the open PR once its required checks are green; `Ok(true)` when
/// GitHub's auto-merge did it. Refuses a closed PR, a draft, or a local
/// branch that disagrees with the PR head, before any write.
fn merge_open_pr(
    f: &mut Finish,
    client: &github::Client,
    pr: &Value,
    number: u64,
    url: &str,
    branch: &str,
    wait: &Wait,
) -> anyhow::Result<bool> {
    if pr["state"] != "open" {
        return Err(exit::failed(format!(
            "PR #{number} {url} is {} and not merged",
            pr["state"]
        )));
    }
    if !wait.merge {
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
    anyhow::ensure!(is_sha(&head), "PR #{number}: no head SHA");
    if let (Some(local), _) = branches::tips(f, branch)? {
        if local != head {
            return Err(exit::failed(format!(
                "local {branch} is at {local}, but PR #{number}'s head is {head}: push (git push) or pull (git pull --ff-only) so that they agree, then rerun; nothing was merged"
            )));
        }
    }
    wait_for_checks(f, client, &head, wait.poll, wait.timeout)?;
    let body = json!({ "merge_method": "squash", "sha": head });
    let path = format!("/repos/{}/pulls/{number}/merge", client.repo);
    let resp = client.request("PUT", &path, Some(&body))?;
    match resp.status {
        200 => {
            f.say(format!(
                "squash-merged PR #{number} ({})",
                github::sanitize(resp.body["sha"].as_str().unwrap_or("?"))
            ));
            Ok(false)
        }
        405 => after_refusal(f, client, number, &head, url, &resp.message(), wait),
        409 => Err(exit::failed(format!(
            "PR #{number}'s head moved while checks ran ({}): rerun cargo xtask task-finish --merge",
            resp.message()
        ))),
        _ => Err(github::http_error(&resp, "PUT", &path)),
    }
}

/// GitHub refused the direct merge (405): merged meanwhile, or auto-merge
/// when the refusal is one it waits out, else an error that says why not.
/// `Ok(true)` when auto-merge merged it.
fn after_refusal(
    f: &mut Finish,
    client: &github::Client,
    number: u64,
    head: &str,
    url: &str,
    refused: &str,
    wait: &Wait,
) -> anyhow::Result<bool> {
    // GitHub's current view of the PR: its mergeable state, its node id for
    // GraphQL, whether auto-merge is already on.
    let now = get_pull(client, number)?;
    if now["merged"] == true {
        f.say(format!(
            "GitHub refused the direct merge ({refused}), but PR #{number} is merged now"
        ));
        return Ok(false);
    }
    if now.pointer("/head/sha").and_then(Value::as_str) != Some(head) {
        return Err(exit::failed(format!(
            "GitHub refused to merge PR #{number} ({refused}) and its head moved from {head}: pull (git pull --ff-only) and rerun cargo xtask task-finish --merge; nothing was changed"
        )));
    }
    match auto_merge_applies(refused, now["mergeable_state"].as_str()) {
        Some(why) => {
            f.say(format!("GitHub refused the direct merge: {refused}"));
            enable_auto_merge(f, client, &now, number, head, why)?;
            wait_for_auto_merge(f, client, number, url, refused, wait.poll, wait.timeout)?;
            Ok(true)
        }
        None => Err(exit::failed(format!(
            "GitHub refused to merge PR #{number}: {refused}\nThis refusal is not one that auto-merge waits out, so it was not enabled (task-finish enables auto-merge through GitHub's GraphQL API only when main's protection still waits for reviews, required checks or a merge queue). If you want GitHub to merge it later anyway: `gh pr merge {number} --auto --squash` or the web UI, then run cargo xtask task-finish once the PR is merged. Nothing was changed locally."
        ))),
    }
}

pub(super) fn get_pull(client: &github::Client, number: u64) -> anyhow::Result<Value> {
    let path = format!("/repos/{}/pulls/{number}", client.repo);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    Ok(resp.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pr(number: u64, head: &str, state: &str, merged: bool) -> Value {
        json!({
            "number": number, "state": state, "head": { "ref": head },
            "merged_at": if merged { json!("2026-01-01T00:00:00Z") } else { Value::Null },
        })
    }

    fn pick(pulls: &[Value]) -> Result<u64, String> {
        pick_pr(pulls, "task-7-x", "TASK-7", "o/r", "main", "origin").map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn the_one_open_pr_else_the_latest_merged_one_is_the_task_pr() {
        assert_eq!(pick(&[pr(3, "task-7-x", "open", false)]), Ok(3));
        assert_eq!(
            pick(&[
                pr(3, "task-7-x", "closed", true),
                pr(5, "task-7-x", "closed", true)
            ]),
            Ok(5)
        );
        assert_eq!(
            pick(&[
                pr(3, "task-7-x", "closed", true),
                pr(6, "task-7-x", "open", false)
            ]),
            Ok(6)
        );
        // Another branch's PR (a prefix match on GitHub's side) is ignored.
        let err = pick(&[pr(9, "task-7-xy", "open", false)]).unwrap_err();
        assert!(err.contains("task-7-x has no PR in o/r"), "{err}");
        let err = pick(&[pr(2, "task-7-x", "closed", false)]).unwrap_err();
        assert!(err.contains("(#2) were closed without merging"), "{err}");
        let err = pick(&[
            pr(2, "task-7-x", "open", false),
            pr(4, "task-7-x", "open", false),
        ])
        .unwrap_err();
        assert!(err.contains("has 2 open PRs (#2, #4)"), "{err}");
    }
}
