//! Once merged: switch to main, pull, verify that the merge is there, then
//! delete the task branch locally and on the remote, each only when its
//! work is on main.

use super::{Finish, Merged};
use crate::github::client as github;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git};
use crate::task::merged::{is_merged, Verdict};
use crate::task::preflight::short;

/// Once merged: switch to main, pull, verify, then delete the branch
/// locally and on the remote, each only when its work is on main. Returns
/// main's last commit (`git log --oneline -n 1`).
pub(super) fn sync_and_clean(
    f: &mut Finish,
    repo: Option<&str>,
    merged: &Merged,
) -> anyhow::Result<String> {
    sync_main(f, merged)?;
    let kept = delete_branches(f, repo, merged)?;
    let main = &f.main;
    let last = git::read(&f.sh, &["log", "--oneline", "-n", "1"])?;
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

/// Switches to main, fast-forwards it from the remote, and verifies that
/// the merge commit (when known) is on it.
fn sync_main(f: &mut Finish, merged: &Merged) -> anyhow::Result<()> {
    let (main, remote) = (f.main.clone(), f.remote.clone());
    if git::current_branch(&f.sh)?.as_deref() != Some(main.as_str()) {
        let a = git::answer(&f.sh, &["switch", "--quiet", &main])?;
        if !a.ok() {
            return Err(exit::failed(format!(
                "git switch {main} failed: {}",
                a.words()
            )));
        }
        f.say(format!("switched to {main}"));
    }
    let a = git::answer(
        &f.sh,
        &[
            "pull",
            "--quiet",
            "--ff-only",
            "--no-rebase",
            &remote,
            &main,
        ],
    )?;
    if !a.ok() {
        return Err(exit::failed(format!(
            "git pull --ff-only {remote} {main} failed (the task branch is kept): {}\nfix: local {main} must not have commits of its own; move them to a task branch, reset {main} (git reset --keep {remote}/{main}), and rerun cargo xtask task-finish",
            a.words()
        )));
    }
    let main_ref = format!("refs/heads/{main}");
    if let Some(commit) = &merged.merge_commit {
        if !contains(&f.sh, &main_ref, commit)? {
            return Err(exit::failed(format!(
                "the merge commit {commit} is not on local {main} after git pull --ff-only; the task branch is kept: check {remote}/{main} (git log {remote}/{main}) and rerun cargo xtask task-finish"
            )));
        }
        f.say(format!("merge commit {} is on {main}", short(commit)));
    }
    Ok(())
}

/// Whether `target` contains the commit `sha`: false when git does not have
/// the commit; git failing to answer is an error, not a no.
fn contains(sh: &xshell::Shell, target: &str, sha: &str) -> anyhow::Result<bool> {
    if git::rev(sh, &format!("{sha}^{{commit}}")).is_none() {
        return Ok(false);
    }
    git::test(sh, &["merge-base", "--is-ancestor", sha, target])
}

/// Deletes the task branch locally and on the remote where its tip is the
/// merged head or on main; returns what was kept and why.
fn delete_branches(
    f: &mut Finish,
    repo: Option<&str>,
    merged: &Merged,
) -> anyhow::Result<Vec<String>> {
    let mut kept = Vec::new();
    let Some(branch) = f.branch.clone() else {
        return Ok(kept);
    };
    let (main, remote) = (f.main.clone(), f.remote.clone());
    let main_ref = format!("refs/heads/{main}");
    let (local, remote_tip) = super::branches::tips(f, &branch)?;
    let safe = |tip: &Option<String>| {
        tip.as_deref()
            .is_some_and(|t| merged.head.as_deref() == Some(t) || on_main(&f.sh, t, &main_ref))
    };
    let (local_safe, remote_safe) = (safe(&local), safe(&remote_tip));
    if let Some(tip) = local {
        if local_safe {
            git::run(&f.sh, &["branch", "--quiet", "-D", &branch])?;
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
    Ok(kept)
}

/// Deletes the remote branch: through the API with GitHub, else with git.
fn delete_remote_branch(f: &Finish, repo: Option<&str>, branch: &str) -> anyhow::Result<()> {
    if let Some(repo) = repo {
        let token = github::token()?
            .ok_or_else(|| exit::usage("no GitHub token to delete the remote branch"))?;
        let client = github::Client::new(repo.to_string(), token);
        let path = format!("/repos/{repo}/git/refs/heads/{branch}");
        let resp = client.request("DELETE", &path, None)?;
        if !branch_deleted(resp.status, &resp.message()) {
            return Err(github::http_error(&resp, "DELETE", &path));
        }
        // The remote-tracking ref would otherwise linger until a prune; its
        // absence is not an error.
        let tracking = format!("refs/remotes/{}/{branch}", f.remote);
        git::answer(&f.sh, &["update-ref", "-d", &tracking])?;
        return Ok(());
    }
    // Runs from main after the work was verified on main. The push hooks
    // guard pushes of work; this deletes only a branch whose work is on
    // main, so they are not run (a user's own `.local` pre-push hook could
    // otherwise refuse the clean-up that the verification already allows).
    let full = format!("refs/heads/{branch}");
    let a = git::answer(
        &f.sh,
        &[
            "push",
            "--quiet",
            "--no-verify",
            &f.remote,
            "--delete",
            &full,
        ],
    )?;
    if !a.ok() {
        return Err(exit::failed(format!(
            "git push {} --delete {branch} failed: {}",
            f.remote,
            a.words()
        )));
    }
    Ok(())
}

/// GitHub's answer to the branch delete means the branch is gone: 204, or
/// 422 with GitHub's own "Reference does not exist" (already deleted, e.g.
/// by "delete head branches on merge"). Any other 422 is a refusal.
fn branch_deleted(status: u16, message: &str) -> bool {
    status == 204 || (status == 422 && message == "Reference does not exist")
}

/// Whether the work at `tip` is on `main_ref`, as the runbook merges it
/// (the tip itself, equivalent commits, or one squash commit); when git
/// cannot tell, it is not (the branch is kept).
fn on_main(sh: &xshell::Shell, tip: &str, main_ref: &str) -> bool {
    matches!(is_merged(sh, tip, main_ref), Ok(Verdict::Merged(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_204_or_reference_does_not_exist_means_deleted() {
        assert!(branch_deleted(204, ""));
        assert!(branch_deleted(422, "Reference does not exist"));
        assert!(!branch_deleted(422, "Reference update failed"));
        assert!(!branch_deleted(422, "Validation Failed"));
        assert!(!branch_deleted(200, ""));
        assert!(!branch_deleted(404, "Not Found"));
    }
}
