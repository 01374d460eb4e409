//! A squash-merged PR's branch: GitHub's squash commit names its PR in the
//! subject (`Add the thing (#123)`) and nothing else, so the task of such a
//! commit comes from the PR's head branch, which only GitHub still knows.
//! Asked only when the notes found no task in the commit itself, and only
//! when there is a GitHub repository and a token; the notes are a draft, so
//! a GitHub that cannot be asked leaves those commits without a task and
//! says so rather than failing the draft.

use serde_json::Value;
use xshell::Shell;

use super::facts::Commit;
use crate::github::client as github;
use crate::plumbing::{output, Ctx};
use crate::task::id as task_id;

/// PRs read at most in one run: a range with more squash commits without a
/// task than this is older history, not a release.
const MAX_LOOKUPS: usize = 200;

/// The PR number a squash commit's subject ends with: `… (#123)`.
pub fn pr_number(subject: &str) -> Option<u64> {
    let inner = subject.trim_end().strip_suffix(')')?;
    let (_, number) = inner.rsplit_once("(#")?;
    (!number.is_empty() && number.len() <= 10 && number.bytes().all(|b| b.is_ascii_digit()))
        .then(|| number.parse().ok())
        .flatten()
}

/// The task of PR answer `pr` for commit `sha`: its head branch's task,
/// when the PR was merged as exactly this commit (a subject's `(#N)` may
/// also just mention another PR).
pub fn task_of_pr(
    task_policy: &crate::plumbing::policy::Task,
    pr: &Value,
    sha: &str,
) -> Option<String> {
    let merged_as = pr.get("merge_commit_sha").and_then(Value::as_str)?;
    pr.get("merged_at").and_then(Value::as_str)?;
    if merged_as != sha {
        return None;
    }
    let branch = pr.pointer("/head/ref").and_then(Value::as_str)?;
    task_id::task_of_branch(task_policy, branch)
}

/// Fills in the tasks of commits that name none but end with `(#N)`, from
/// their PRs on GitHub; warns (and leaves them) when GitHub cannot be asked.
pub fn fill_tasks(ctx: &Ctx, sh: &Shell, commits: &mut [Commit]) -> anyhow::Result<()> {
    let wanted: Vec<(usize, u64)> = commits
        .iter()
        .enumerate()
        .filter(|(_, c)| c.tasks.is_empty())
        .filter_map(|(i, c)| Some((i, pr_number(&c.subject)?)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let policy = &ctx.policy.policy;
    let Some(repo) =
        github::repository(sh, policy.github.repository.as_deref(), &policy.git.remote)?
    else {
        return Ok(());
    };
    let unknown = |why: &str| {
        output::warning(&format!(
            "{} commit(s) name a pull request (#N) but no task, and {why}: their task is unknown in these notes",
            wanted.len()
        ));
    };
    let token = match github::token() {
        Ok(Some(token)) => token,
        Ok(None) => {
            unknown("there is no GitHub token to read their branches (GH_TOKEN)");
            return Ok(());
        }
        Err(e) => {
            unknown(&format!("the GitHub token cannot be read ({e:#})"));
            return Ok(());
        }
    };
    if wanted.len() > MAX_LOOKUPS {
        unknown(&format!("they are more than {MAX_LOOKUPS}, the most this tool asks GitHub about in one run; name a shorter range (--since)"));
        return Ok(());
    }
    let client = github::Client::new(repo.clone(), token);
    for (i, number) in wanted.iter().copied() {
        let path = format!("/repos/{repo}/pulls/{number}");
        let pr = match client.request("GET", &path, None) {
            Ok(resp) if resp.status == 200 => resp.body,
            Ok(resp) if resp.status == 404 => continue,
            Ok(resp) => {
                unknown(&format!(
                    "GitHub answered GET {path} with {} ({})",
                    resp.status,
                    resp.message()
                ));
                return Ok(());
            }
            Err(e) => {
                unknown(&format!("GitHub could not be asked ({e:#})"));
                return Ok(());
            }
        };
        let commit = &mut commits[i];
        if let Some(task) = task_of_pr(&policy.task, &pr, &commit.sha) {
            commit.tasks.push(task);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pr_number_is_a_squash_subjects_last_parenthesis() {
        assert_eq!(pr_number("Add the thing (#123)"), Some(123));
        assert_eq!(pr_number("Add (#1) and more (#45) "), Some(45));
        for none in [
            "Add the thing",
            "Fix #12",
            "Add (#)",
            "Add (#12a)",
            "Add (#12) later",
            "(#99999999999)",
        ] {
            assert_eq!(pr_number(none), None, "{none}");
        }
    }

    #[test]
    fn a_pr_gives_its_branch_task_only_when_merged_as_this_commit() {
        let policy = crate::plumbing::policy::Task::default();
        let pr = |merged: Option<&str>, sha: &str, branch: &str| serde_json::json!({ "merged_at": merged, "merge_commit_sha": sha, "head": { "ref": branch } });
        let sha = "a".repeat(40);
        let merged = Some("2026-12-01T00:00:00Z");
        assert_eq!(
            task_of_pr(&policy, &pr(merged, &sha, "task-117-thing"), &sha).as_deref(),
            Some("TASK-117")
        );
        assert_eq!(
            task_of_pr(
                &policy,
                &pr(merged, &"b".repeat(40), "task-117-thing"),
                &sha
            ),
            None
        );
        assert_eq!(
            task_of_pr(&policy, &pr(None, &sha, "task-117-thing"), &sha),
            None
        );
        assert_eq!(
            task_of_pr(&policy, &pr(merged, &sha, "feature/thing"), &sha),
            None
        );
    }
}
