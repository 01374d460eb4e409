//! The task's branches as git sees them: which branch is the task's, its
//! local and remote tips, the remote main fetched, and (without GitHub)
//! whether the tips are already on the remote main.

use xshell::Shell;

use super::{Finish, Merged};
use crate::plumbing::{exit, git, Ctx};
use crate::task::id as task_id;
use crate::task::merged::{self, Verdict};
use crate::task::preflight::short;

/// The task's branch when not on it: the one local or remote branch of that
/// task, `None` when none is left (a finished task), an error when several.
pub(super) fn find_branch(
    ctx: &Ctx,
    sh: &Shell,
    remote: &str,
    id: &str,
) -> anyhow::Result<Option<String>> {
    let t = &ctx.policy.policy.task;
    let local = git::read(
        sh,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    )?;
    let listing = git::answer(sh, &["ls-remote", "--heads", remote])?;
    if !listing.ok() {
        return Err(exit::failed(format!(
            "cannot list the branches of {remote}: {}",
            listing.words()
        )));
    }
    let remote_names = listing
        .stdout
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

/// Local and remote tips of `branch`.
pub(super) fn tips(f: &Finish, branch: &str) -> anyhow::Result<(Option<String>, Option<String>)> {
    let full = format!("refs/heads/{branch}");
    let local = git::rev(&f.sh, &full);
    let a = git::answer(
        &f.sh,
        &["ls-remote", "--exit-code", "--heads", &f.remote, &full],
    )?;
    let remote_tip = match a.code {
        Some(0) => a.stdout.split_whitespace().next().map(str::to_string),
        Some(2) => None,
        _ => {
            return Err(exit::failed(format!(
                "cannot tell whether {branch} exists on {}: {}",
                f.remote,
                a.words()
            )))
        }
    };
    Ok((local, remote_tip))
}

/// Without GitHub: the branch's work must already be on the remote main,
/// as the runbook merges it (a squash commit with the branch's change, a
/// rebase, or the tip itself: `task::merged`).
pub(super) fn merged_in_git(f: &mut Finish, branch: &str) -> anyhow::Result<Merged> {
    fetch_main(f)?;
    let upstream = format!("refs/remotes/{}/{}", f.remote, f.main);
    let (local, remote_tip) = tips(f, branch)?;
    let mut missing = Vec::new();
    let mut how = Vec::new();
    for (what, tip) in [("local", &local), (f.remote.as_str(), &remote_tip)] {
        let Some(tip) = tip else { continue };
        match merged::is_merged(&f.sh, tip, &upstream)? {
            Verdict::Merged(m) => how.push(merged_words(&m, &f.remote, &f.main)),
            Verdict::Open { .. } => missing.push(format!(
                "{what} {branch} at {} is not reachable from {r}/{m}, and its change is not on {r}/{m} as equivalent commits or as one squash commit",
                short(tip),
                r = f.remote,
                m = f.main
            )),
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
    how.dedup();
    f.say(format!("{branch} is merged: {}", how.join("; ")));
    Ok(Merged {
        merge_commit: None,
        head: None,
    })
}

/// How the branch's work reached main, in words.
fn merged_words(m: &merged::Merged, remote: &str, main: &str) -> String {
    match m {
        merged::Merged::Ancestor => format!("its tip is reachable from {remote}/{main}"),
        merged::Merged::PatchEquivalent => {
            format!("each of its commits has an equivalent on {remote}/{main}")
        }
        merged::Merged::Squash { commit } => {
            format!(
                "its change is on {remote}/{main} as squash commit {}",
                short(commit)
            )
        }
    }
}

pub(super) fn fetch_main(f: &Finish) -> anyhow::Result<()> {
    let refspec = format!(
        "+refs/heads/{m}:refs/remotes/{r}/{m}",
        m = f.main,
        r = f.remote
    );
    let a = git::answer(
        &f.sh,
        &["fetch", "--quiet", "--no-tags", &f.remote, &refspec],
    )?;
    if !a.ok() {
        return Err(exit::failed(format!(
            "git fetch {} {} failed: {}",
            f.remote,
            f.main,
            a.words()
        )));
    }
    Ok(())
}
