//! Deciding whether to tag, pure: the gathered facts and the requested
//! version in, every refusal reason and the version out. Nothing here runs
//! git; every reason is collected before failing (cargo-release's
//! `verify_*` habit).

use semver::Version;

use super::gather::Facts;
use crate::gates::record;
use crate::release::notes::short;
use crate::release::version::{self, Bump, Tag};

/// What the caller asked for.
#[derive(Clone, Debug)]
pub enum Requested {
    Bump(Bump),
    Exact(String),
}

/// One reason not to tag; `usage` marks the ones that are the caller's input
/// or environment (exit 2 when every reason is one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub usage: bool,
}

impl Refusal {
    pub fn usage(message: String) -> Refusal {
        Refusal {
            message,
            usage: true,
        }
    }

    pub fn failed(message: String) -> Refusal {
        Refusal {
            message,
            usage: false,
        }
    }
}

/// What release-tag will do: nothing when `refusals` is not empty.
#[derive(Debug)]
pub struct Decision {
    pub refusals: Vec<Refusal>,
    pub version: Option<Version>,
    pub tag_name: Option<String>,
    /// The tag exists here on HEAD but not on the remote (an earlier run
    /// tagged and did not push): publish it, create nothing.
    pub resume: bool,
}

/// A release tag on HEAD here that the remote (reachable) does not have:
/// what a `release-tag --push` killed between tagging and pushing leaves.
pub fn unpushed_tag_on_head(facts: &Facts) -> Option<&Tag> {
    let remote = facts.remote_refs.as_ref().ok()?;
    facts
        .local_tags
        .iter()
        .filter(|t| t.sha == facts.head && !remote.tags.iter().any(|r| r.name == t.name))
        .max_by(|a, b| a.version.cmp(&b.version))
}

pub fn decide(facts: &Facts, requested: &Requested) -> Decision {
    let mut refusals: Vec<Refusal> = facts.sync_refusals.clone();
    if let Err(e) = &facts.remote_refs {
        refusals.push(Refusal::usage(format!(
            "cannot reach remote {:?}: {e}",
            facts.remote
        )));
    }
    refusals.extend(tree_and_branch(facts));
    refusals.extend(gate_record(facts));
    refusals.extend(reviewed_notes(facts));
    if let Some(pending) = unpushed_tag_on_head(facts) {
        return resume(facts, requested, pending, refusals);
    }
    let all_tags = all_tags(facts, None);
    let latest = version::latest(&all_tags).cloned();
    let version = match requested {
        Requested::Bump(b) => Some(version::bump(latest.as_ref().map(|t| &t.version), *b)),
        Requested::Exact(v) => match version::parse_user_version(v) {
            Ok(v) => Some(v),
            Err(e) => {
                refusals.push(Refusal::usage(format!("--version {e}")));
                None
            }
        },
    };
    let tag_name = version.as_ref().map(|v| format!("v{v}"));
    if let Some(v) = &version {
        refusals.extend(new_version(facts, latest.as_ref(), v));
    }
    if let Some(t) = all_tags.iter().find(|t| t.sha == facts.head) {
        refusals.push(Refusal::failed(format!(
            "HEAD ({}) is already released as {}: a commit gets one release tag",
            short(&facts.head),
            t.name
        )));
    }
    if !facts.has_identity {
        refusals.push(Refusal::usage("git has no identity for the annotated tag: `git config user.name \"Your Name\"` and `git config user.email you@example.com`".into()));
    }
    Decision {
        refusals,
        version,
        tag_name,
        resume: false,
    }
}

/// HEAD already carries `pending` here, unpushed: the same checks hold, the
/// request must be that tag (a bump, or its exact version), and it must
/// still go above every other release tag (someone may have released since).
fn resume(
    facts: &Facts,
    requested: &Requested,
    pending: &Tag,
    mut refusals: Vec<Refusal>,
) -> Decision {
    let remote = &facts.remote;
    let name = &pending.name;
    if let Requested::Exact(v) = requested {
        if version::parse_user_version(v).ok().as_ref() != Some(&pending.version) {
            refusals.push(Refusal::failed(format!(
                "HEAD ({}) is already tagged {name} here, but {remote} does not have it (a release-tag --push that did not finish): finish it with `cargo xtask release-tag --version {} --push`, or delete it (`git tag -d {name}`) and tag again",
                short(&facts.head),
                pending.version
            )));
        }
    }
    let others = all_tags(facts, Some(name));
    if let Some(l) = version::latest(&others).filter(|l| l.version >= pending.version) {
        refusals.push(Refusal::failed(format!(
            "{name} (tagged here, not on {remote}) is not greater than the release tag {} (on {}): delete it (`git tag -d {name}`) and tag the next version",
            l.name,
            short(&l.sha)
        )));
    }
    if let Some(t) = others.iter().find(|t| t.sha == facts.head) {
        refusals.push(Refusal::failed(format!(
            "HEAD ({}) is already released as {}: a commit gets one release tag; delete {name} here (`git tag -d {name}`)",
            short(&facts.head),
            t.name
        )));
    }
    Decision {
        refusals,
        version: Some(pending.version.clone()),
        tag_name: Some(name.clone()),
        resume: true,
    }
}

/// The release tags here and on the remote, each name once, but `except`.
fn all_tags(facts: &Facts, except: Option<&str>) -> Vec<Tag> {
    let mut all: Vec<Tag> = facts
        .local_tags
        .iter()
        .filter(|t| Some(t.name.as_str()) != except)
        .cloned()
        .collect();
    if let Ok(r) = &facts.remote_refs {
        for t in &r.tags {
            if !all.iter().any(|l| l.name == t.name) {
                all.push(t.clone());
            }
        }
    }
    all
}

/// A clean tree, on main, exactly the remote's main.
fn tree_and_branch(facts: &Facts) -> Vec<Refusal> {
    let mut out = Vec::new();
    let (main, remote, head) = (&facts.main, &facts.remote, &facts.head);
    if !facts.dirty.is_empty() {
        let shown: Vec<&str> = facts.dirty.iter().take(5).map(|s| s.as_str()).collect();
        out.push(Refusal::failed(format!(
            "the working tree is not clean ({} path(s): {}{}): commit or stash them (`git status --short`)",
            facts.dirty.len(),
            shown.join(", "),
            if facts.dirty.len() > 5 { ", …" } else { "" }
        )));
    }
    let switch = format!("release from {main} (`git switch {main} && git pull --ff-only`)");
    match &facts.branch {
        Some(b) if b == main => {}
        Some(b) => out.push(Refusal::failed(format!(
            "HEAD is on branch {b}, not {main}: {switch}"
        ))),
        None => out.push(Refusal::failed(format!("HEAD is detached: {switch}"))),
    }
    if let Ok(r) = &facts.remote_refs {
        match &r.main {
            None => out.push(Refusal::failed(format!("{remote} has no branch {main}"))),
            Some(theirs) if theirs != head => {
                let (ahead, behind) = &facts.ahead_behind;
                out.push(Refusal::failed(format!(
                    "HEAD ({}) is not {remote}/{main} ({}): {ahead} commit(s) ahead, {behind} behind. Release exactly what {main} holds: `git pull --ff-only` when behind; local commits reach {main} through a PR",
                    short(head),
                    short(theirs)
                )));
            }
            Some(_) => {}
        }
    }
    out
}

/// A passing release-gate record on HEAD, made in an isolated worktree
/// when the policy requires it.
fn gate_record(facts: &Facts) -> Vec<Refusal> {
    let head = short(&facts.head);
    match &facts.record {
        Ok(None) => vec![Refusal::failed(format!(
            "HEAD ({head}) has no release-gate record: run `cargo xtask release-gate` (make release-gate RELEASE_GATE_DATABASE_URL=…) on this clean commit"
        ))],
        Ok(Some(r)) if !r.passed() => vec![Refusal::failed(format!(
            "the latest release-gate record on HEAD ({head}) is {} (finished {}): fix the failure and rerun `cargo xtask release-gate`; `cargo xtask gate-status` shows the steps",
            r.status, r.finished_at
        ))],
        Ok(Some(r)) => match record::admit_isolation(r, facts.require_isolated) {
            Ok(()) => Vec::new(),
            Err(why) => vec![Refusal::failed(why)],
        },
        Err(e) => vec![Refusal::failed(e.clone())],
    }
}

/// Reviewed notes, when given: readable, not empty, and documenting every
/// recorded bypass (the runbook: MIGRATION_GATE_VALIDATE_AUTOGEN=false is
/// documented in the release notes).
fn reviewed_notes(facts: &Facts) -> Vec<Refusal> {
    let Some((path, text)) = &facts.notes_file else {
        return Vec::new();
    };
    let path = path.display();
    let text = match text {
        Err(e) => {
            return vec![Refusal::usage(format!(
                "--notes {path}: cannot read it: {e}"
            ))]
        }
        Ok(t) if t.trim().is_empty() => {
            return vec![Refusal::usage(format!("--notes {path}: the file is empty"))]
        }
        Ok(t) => t,
    };
    let bypasses = match &facts.record {
        Ok(Some(r)) => r.bypasses.clone(),
        _ => Vec::new(),
    };
    bypasses
        .iter()
        .filter(|b| !text.contains(&b.variable))
        .map(|b| Refusal::failed(format!(
            "--notes {path} does not document the bypass {}={} recorded in HEAD's gate record: add it (`cargo xtask release-notes` drafts the Bypasses section)",
            b.variable, b.value
        )))
        .collect()
}

/// The version goes above every release tag, and its tag is new.
fn new_version(facts: &Facts, latest: Option<&Tag>, v: &Version) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(l) = latest.filter(|l| *v <= l.version) {
        out.push(Refusal::failed(format!(
            "v{v} is not greater than the latest release tag {} (on {}): versions only go up; use --bump patch|minor|major, or --version above {}",
            l.name,
            short(&l.sha),
            l.version
        )));
    }
    let name = format!("v{v}");
    let local = facts.local_tags.iter().any(|t| t.name == name);
    let on_remote = facts
        .remote_refs
        .as_ref()
        .is_ok_and(|r| r.tags.iter().any(|t| t.name == name));
    let whence = match (local, on_remote) {
        (true, true) => Some(format!("here and on {}", facts.remote)),
        (true, false) => Some("here".to_string()),
        (false, true) => Some(format!("on {}", facts.remote)),
        (false, false) => None,
    };
    if let Some(whence) = whence {
        out.push(Refusal::failed(format!(
            "tag {name} already exists ({whence}): a release tag is never moved; pick the next version"
        )));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::record::GateRecord;
    use crate::release::tag::gather::RemoteRefs;

    const HEAD: &str = "1111111111111111111111111111111111111111";

    fn tag(name: &str, sha: &str) -> Tag {
        Tag {
            name: name.into(),
            version: version::parse_tag(name).unwrap(),
            sha: sha.into(),
        }
    }

    fn record(status: &str, bypass: bool) -> GateRecord {
        let bypasses = if bypass {
            serde_json::json!([{ "variable": "MIGRATION_GATE_VALIDATE_AUTOGEN", "value": "false", "effect": "skipped" }])
        } else {
            serde_json::json!([])
        };
        serde_json::from_value(serde_json::json!({
            "sha": HEAD, "tree": "t", "status": status, "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:01:00Z", "steps": [], "bypasses": bypasses,
            "database": null, "tool": "xtask",
        }))
        .unwrap()
    }

    /// Facts of a release that may go ahead: on the synced main, clean,
    /// gated, v1.0.0 on an earlier commit.
    fn good() -> Facts {
        Facts {
            head: HEAD.into(),
            remote: "origin".into(),
            main: "main".into(),
            remote_refs: Ok(RemoteRefs {
                main: Some(HEAD.into()),
                notes: Vec::new(),
                tags: vec![tag("v1.0.0", "a")],
            }),
            sync_log: Vec::new(),
            sync_refusals: Vec::new(),
            dirty: Vec::new(),
            branch: Some("main".into()),
            ahead_behind: ("0".into(), "0".into()),
            record: Ok(Some(record("passed", false))),
            require_isolated: false,
            notes_file: None,
            local_tags: vec![tag("v1.0.0", "a")],
            odd_tags: Vec::new(),
            has_identity: true,
        }
    }

    fn check(facts: &Facts, requested: Requested, expected: &[&str]) -> Decision {
        let d = decide(facts, &requested);
        let got: Vec<&str> = d.refusals.iter().map(|r| r.message.as_str()).collect();
        assert_eq!(got.len(), expected.len(), "{got:#?}");
        for (g, want) in got.iter().zip(expected) {
            assert!(g.contains(want), "{g:?} lacks {want:?}");
        }
        d
    }

    #[test]
    fn a_good_release_is_tagged_with_the_next_version() {
        let d = check(&good(), Requested::Bump(Bump::Minor), &[]);
        assert_eq!(d.tag_name.as_deref(), Some("v1.1.0"));
        let d = check(&good(), Requested::Exact("2.0.0".into()), &[]);
        assert_eq!(d.tag_name.as_deref(), Some("v2.0.0"));
    }

    #[test]
    fn every_refusal_is_collected_at_once() {
        let mut f = good();
        f.dirty = vec!["?? x".into()];
        f.branch = None;
        f.remote_refs = Ok(RemoteRefs {
            main: Some("b".repeat(40)),
            notes: Vec::new(),
            tags: vec![tag("v1.0.0", "a"), tag("v1.2.0", HEAD)],
        });
        f.ahead_behind = ("0".into(), "2".into());
        f.record = Ok(Some(record("failed", false)));
        f.has_identity = false;
        let d = check(
            &f,
            Requested::Exact("1.2.0".into()),
            &[
                "the working tree is not clean (1 path(s): ?? x)",
                "HEAD is detached",
                "0 commit(s) ahead, 2 behind",
                "is failed (finished 2026-01-01T00:01:00Z)",
                "v1.2.0 is not greater than the latest release tag v1.2.0",
                "tag v1.2.0 already exists (on origin)",
                "is already released as v1.2.0",
                "git has no identity",
            ],
        );
        assert!(d.refusals.iter().any(|r| r.usage) && !d.refusals.iter().all(|r| r.usage));
    }

    #[test]
    fn input_and_environment_refusals_are_usage() {
        let mut f = good();
        f.remote_refs = Err("fatal: no such remote".into());
        let d = check(
            &f,
            Requested::Exact("1.2".into()),
            &[
                "cannot reach remote \"origin\": fatal: no such remote",
                "--version \"1.2\" is not a semantic version",
            ],
        );
        assert!(d.refusals.iter().all(|r| r.usage));
        assert_eq!(d.tag_name, None);
    }

    #[test]
    fn reviewed_notes_must_document_every_bypass() {
        let mut f = good();
        f.record = Ok(Some(record("passed", true)));
        f.notes_file = Some(("n.md".into(), Ok("# Release\n".into())));
        check(
            &f,
            Requested::Bump(Bump::Patch),
            &["--notes n.md does not document the bypass MIGRATION_GATE_VALIDATE_AUTOGEN=false"],
        );
        f.notes_file = Some((
            "n.md".into(),
            Ok("MIGRATION_GATE_VALIDATE_AUTOGEN=false: why".into()),
        ));
        check(&f, Requested::Bump(Bump::Patch), &[]);
        f.notes_file = Some(("n.md".into(), Ok(" \n".into())));
        check(
            &f,
            Requested::Bump(Bump::Patch),
            &["--notes n.md: the file is empty"],
        );
        f.record = Ok(None);
        f.notes_file = Some(("n.md".into(), Err("No such file".into())));
        check(
            &f,
            Requested::Bump(Bump::Patch),
            &[
                "has no release-gate record",
                "--notes n.md: cannot read it: No such file",
            ],
        );
    }

    #[test]
    fn pre_releases_count_in_the_order_of_releases() {
        let mut f = good();
        f.local_tags.push(tag("v1.11.0-rc.1", "b"));
        check(
            &f,
            Requested::Exact("1.10.5".into()),
            &["v1.10.5 is not greater than the latest release tag v1.11.0-rc.1"],
        );
        let d = check(&f, Requested::Exact("1.11.0-rc.2".into()), &[]);
        assert_eq!(d.tag_name.as_deref(), Some("v1.11.0-rc.2"));
        let d = check(&f, Requested::Bump(Bump::Patch), &[]);
        assert_eq!(d.tag_name.as_deref(), Some("v1.11.0"));
    }

    #[test]
    fn an_unpushed_tag_on_head_is_finished_not_refused() {
        let mut f = good();
        f.local_tags.push(tag("v1.1.0", HEAD));
        for requested in [
            Requested::Bump(Bump::Minor),
            Requested::Exact("v1.1.0".into()),
        ] {
            let d = check(&f, requested, &[]);
            assert!(d.resume);
            assert_eq!(d.tag_name.as_deref(), Some("v1.1.0"));
        }
        check(
            &f,
            Requested::Exact("1.2.0".into()),
            &["is already tagged v1.1.0 here, but origin does not have it"],
        );
        // Someone released a higher version meanwhile: not pushed over it.
        if let Ok(r) = &mut f.remote_refs {
            r.tags.push(tag("v1.3.0", "c"));
        }
        check(
            &f,
            Requested::Bump(Bump::Minor),
            &["v1.1.0 (tagged here, not on origin) is not greater than the release tag v1.3.0"],
        );
        // The remote has it: HEAD is released, nothing to finish.
        let mut f = good();
        f.local_tags.push(tag("v1.1.0", HEAD));
        if let Ok(r) = &mut f.remote_refs {
            r.tags.push(tag("v1.1.0", HEAD));
        }
        let d = check(
            &f,
            Requested::Bump(Bump::Minor),
            &["is already released as v1.1.0"],
        );
        assert!(!d.resume);
    }

    #[test]
    fn the_policy_can_require_an_isolated_gate_record() {
        let mut f = good();
        f.require_isolated = true;
        check(
            &f,
            Requested::Bump(Bump::Patch),
            &["was not made in an isolated worktree, and [release] require-isolated-gate = true: rerun `cargo xtask release-gate --isolated`"],
        );
        let mut isolated = record("passed", false);
        isolated.isolated = true;
        f.record = Ok(Some(isolated));
        check(&f, Requested::Bump(Bump::Patch), &[]);
    }
}
