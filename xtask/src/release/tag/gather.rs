//! Gathering what release-tag decides on: where the remote is, the records
//! it has (brought in when the local ones are behind), the working tree,
//! the branch, the gate record, the reviewed notes, the release tags.

use std::path::PathBuf;

use xshell::Shell;

use super::decide::Refusal;
use super::NOTES_REFS;
use crate::gates::record::{self, GateRecord};
use crate::plumbing::{fs, git, Ctx};
use crate::release::notes::short;
use crate::release::version::{self, Tag};

/// The largest reviewed notes file read (a tag message, not a book).
const MAX_NOTES_BYTES: u64 = 1 << 20;

/// What `git ls-remote` says about the refs release-tag cares about.
#[derive(Clone, Debug, Default)]
pub struct RemoteRefs {
    pub main: Option<String>,
    pub notes: Vec<(String, String)>,
    pub tags: Vec<Tag>,
}

/// Everything release-tag decides on, gathered before any decision.
#[derive(Debug)]
pub struct Facts {
    pub head: String,
    pub remote: String,
    pub main: String,
    /// The remote's refs, or why it cannot be reached.
    pub remote_refs: Result<RemoteRefs, String>,
    /// Fetching and fast-forwarding the notes refs: what was done, and
    /// what could not be (refusals found while gathering).
    pub sync_log: Vec<String>,
    pub sync_refusals: Vec<Refusal>,
    pub dirty: Vec<String>,
    pub branch: Option<String>,
    /// `(ahead, behind)` of HEAD against the remote's main, when they differ.
    pub ahead_behind: (String, String),
    pub record: Result<Option<GateRecord>, String>,
    /// `[release] require-isolated-gate`: only a record made by
    /// `release-gate --isolated` counts.
    pub require_isolated: bool,
    /// The reviewed notes file, and its text or why it cannot be read.
    pub notes_file: Option<(PathBuf, Result<String, String>)>,
    /// Local release tags (lowest first) and the `v…` names that are not.
    pub local_tags: Vec<Tag>,
    pub odd_tags: Vec<String>,
    pub has_identity: bool,
}

pub fn gather(ctx: &Ctx, sh: &Shell, notes_file: Option<PathBuf>) -> anyhow::Result<Facts> {
    let remote = ctx.policy.policy.git.remote.clone();
    let main = ctx.policy.policy.git.main_branch.clone();
    let head = git::head_sha(sh)?;
    let mut sync_log = Vec::new();
    let mut sync_refusals = Vec::new();
    let remote_refs = remote_refs(sh, &remote, &main);
    if let Ok(r) = &remote_refs {
        sync(sh, &remote, &main, r, &mut sync_refusals, &mut sync_log)?;
    }
    let ahead_behind = match &remote_refs {
        Ok(RemoteRefs { main: Some(m), .. }) if *m != head => {
            let range = format!("HEAD...refs/remotes/{remote}/{main}");
            let counts =
                git::read(sh, &["rev-list", "--left-right", "--count", &range]).unwrap_or_default();
            let mut parts = counts.split_whitespace();
            let mut next = || parts.next().unwrap_or("?").to_string();
            (next(), next())
        }
        _ => ("0".into(), "0".into()),
    };
    let (local_tags, odd_tags) = version::local(sh)?;
    Ok(Facts {
        dirty: git::dirty_paths(sh)?,
        branch: git::current_branch(sh)?,
        record: record::latest_record(sh, &head).map_err(|e| format!("{e:#}")),
        require_isolated: ctx.policy.policy.release.require_isolated_gate,
        notes_file: notes_file.map(|path| {
            let text = fs::read_bounded(&path, MAX_NOTES_BYTES, "the reviewed notes")
                .map_err(|e| format!("{e:#}"));
            (path, text)
        }),
        has_identity: git::has_identity(sh)?,
        head,
        remote,
        main,
        remote_refs,
        sync_log,
        sync_refusals,
        ahead_behind,
        local_tags,
        odd_tags,
    })
}

fn remote_refs(sh: &Shell, remote: &str, main: &str) -> Result<RemoteRefs, String> {
    let head_ref = format!("refs/heads/{main}");
    let notes: Vec<String> = NOTES_REFS
        .iter()
        .map(|n| format!("refs/notes/{n}"))
        .collect();
    let mut args = vec![
        "ls-remote",
        "--end-of-options",
        remote,
        &head_ref,
        "refs/tags/v*",
    ];
    args.extend(notes.iter().map(String::as_str));
    let answer = git::answer(sh, &args).map_err(|e| format!("{e:#}"))?;
    if !answer.ok() {
        return Err(answer.words().to_string());
    }
    let text = answer.stdout;
    let mut refs = RemoteRefs::default();
    for line in text.lines() {
        let Some((sha, name)) = line.split_once('\t') else {
            continue;
        };
        if name == head_ref {
            refs.main = Some(sha.to_string());
        } else if notes.iter().any(|n| n == name) {
            refs.notes.push((name.to_string(), sha.to_string()));
        }
    }
    refs.tags = version::from_lines(&version::ls_remote_tags(&text)).0;
    Ok(refs)
}

/// Fetches main and the notes refs, and brings the local notes refs up to
/// the remote's when they are behind (records are only ever appended, so a
/// fast-forward loses nothing). Diverged notes are a refusal: pushing them
/// would fail after the tag exists.
fn sync(
    sh: &Shell,
    remote: &str,
    main: &str,
    refs: &RemoteRefs,
    refusals: &mut Vec<Refusal>,
    log: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut specs = Vec::new();
    if refs.main.is_some() {
        specs.push(format!("+refs/heads/{main}:refs/remotes/{remote}/{main}"));
    }
    for (name, _) in &refs.notes {
        let short_name = name.trim_start_matches("refs/notes/");
        specs.push(format!("+{name}:refs/notes/xtask-remote/{short_name}"));
    }
    if !specs.is_empty() {
        let mut args = vec!["fetch", "--quiet", "--no-tags", "--end-of-options", remote];
        args.extend(specs.iter().map(String::as_str));
        let fetched = git::answer(sh, &args)?;
        if !fetched.ok() {
            refusals.push(Refusal::usage(format!(
                "git fetch {remote} failed: {}",
                fetched.words()
            )));
            return Ok(());
        }
    }
    for (name, theirs) in &refs.notes {
        let short_name = name.trim_start_matches("refs/notes/");
        match git::rev(sh, name) {
            Some(o) if &o == theirs => {}
            Some(o) if git::test(sh, &["merge-base", "--is-ancestor", theirs, &o])? => {
                log.push(format!("{name}: local is ahead of {remote}'s"))
            }
            Some(o) if git::test(sh, &["merge-base", "--is-ancestor", &o, theirs])? => {
                match git::run(sh, &["update-ref", name, theirs, &o]) {
                    Ok(()) => log.push(format!(
                        "{name}: fast-forwarded to {remote}'s ({})",
                        short(theirs)
                    )),
                    Err(e) => refusals.push(Refusal::usage(format!(
                        "cannot fast-forward {name}: {e:#}"
                    ))),
                }
            }
            Some(_) => refusals.push(Refusal::failed(format!(
                "{name} has diverged from {remote}'s: merge the records first with `git notes --ref={short_name} merge -s union refs/notes/xtask-remote/{short_name}` (then check for repeated lines), and rerun"
            ))),
            None => match git::run(sh, &["update-ref", name, theirs]) {
                Ok(()) => log.push(format!("{name}: taken from {remote} ({})", short(theirs))),
                Err(e) => refusals.push(Refusal::usage(format!("cannot create {name}: {e:#}"))),
            },
        }
    }
    Ok(())
}
