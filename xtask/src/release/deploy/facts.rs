//! The git facts deploy, verify-deploy and rollback decide on: the records
//! shared through the remote, and what a tag or revision names.

use xshell::Shell;

use super::{input::validate_tag, Target};
use crate::gates::record;
use crate::plumbing::{exit, git, output, Ctx};
use crate::release::ledger;

/// Fetches the gate records and the ledger from the remote, so the decisions
/// see what other operators recorded.
pub(super) fn sync_records(ctx: &Ctx, sh: &Shell) -> anyhow::Result<()> {
    let remote = &ctx.policy.policy.git.remote;
    if !ledger::has_remote(sh, remote) {
        output::warning(&format!(
            "no remote {remote:?}: the ledger and gate records are local only (add the remote to share them)"
        ));
        return Ok(());
    }
    ledger::fetch_notes(sh, remote, record::NOTES_REF)?;
    ledger::fetch_notes(sh, remote, ledger::NOTES_REF)?;
    Ok(())
}

pub(super) fn push_if(ctx: &Ctx, sh: &Shell, push: bool) -> anyhow::Result<bool> {
    if !push {
        return Ok(false);
    }
    let remote = &ctx.policy.policy.git.remote;
    ledger::push_notes(sh, remote, ledger::NOTES_REF)?;
    output::say(&format!(
        "pushed refs/notes/{} to {remote}",
        ledger::NOTES_REF
    ));
    Ok(true)
}

pub(super) fn resolve_tag(sh: &Shell, tag: &str) -> anyhow::Result<Target> {
    validate_tag(tag)?;
    let full = format!("refs/tags/{tag}");
    match git::resolve_commit(sh, &full)? {
        Some(sha) => Ok(Target { sha, tag: Some(tag.to_string()) }),
        None => Err(exit::usage(format!("there is no tag {tag} here: `git fetch --tags` or create it with `cargo xtask release-tag`"))),
    }
}

pub(super) fn resolve_rev(sh: &Shell, rev: &str) -> anyhow::Result<Target> {
    let Some(sha) = git::resolve_commit(sh, rev)? else {
        return Err(exit::usage(format!(
            "{rev} does not name a commit here (git fetch, then retry)"
        )));
    };
    let tag = release_tag_of(sh, &sha)?;
    Ok(Target { sha, tag })
}

/// The highest release tag on `sha`, if any: `vX.Y.Z` before any of its
/// pre-releases (`v1.11.0` over `v1.11.0-rc.2` on the same commit).
pub(super) fn release_tag_of(sh: &Shell, sha: &str) -> anyhow::Result<Option<String>> {
    let out = git::read(sh, &["tag", "--points-at", sha, "--list", "v*"])?;
    Ok(out
        .lines()
        .filter_map(|t| {
            crate::release::version::parse_tag(t.trim()).map(|v| (v, t.trim().to_string()))
        })
        .max()
        .map(|(_, t)| t))
}

/// Appends `entry` to the ledger and lists it in `written`; a failure
/// becomes the run's ledger error. After a failure nothing more is
/// appended, so no later entry claims what an earlier one could not record.
pub(super) fn record(
    sh: &Shell,
    entry: ledger::Entry,
    written: &mut Vec<ledger::Entry>,
    error: &mut Option<String>,
) {
    if error.is_some() {
        return;
    }
    match ledger::append(sh, &entry) {
        Ok(()) => written.push(entry),
        Err(e) => *error = Some(format!("{e:#}")),
    }
}

/// [`push_if`], its failure becoming the run's ledger error; nothing is
/// pushed after a local failure.
pub(super) fn push_recorded(ctx: &Ctx, sh: &Shell, push: bool, error: &mut Option<String>) -> bool {
    if !push || error.is_some() {
        return false;
    }
    match push_if(ctx, sh, push) {
        Ok(pushed) => pushed,
        Err(e) => {
            *error = Some(format!("{e:#}"));
            false
        }
    }
}

/// The message of a run whose ledger entry could not be written.
pub(super) fn unrecorded(what: &str, why: &str) -> String {
    format!("{what} could not be recorded in refs/notes/deployments, so it does not count: {why}")
}
