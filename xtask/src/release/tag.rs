//! `release-tag`: the runbook's "Versioning and Tagging" on a proven SHA.
//! HEAD must be the synced main, clean, with a passing release-gate record;
//! the version must be semver and above every existing release tag. Every
//! refusal reason is collected before failing (cargo-release's `verify_*`
//! habit), and nothing is tagged or pushed unless all checks pass. The tag
//! is annotated, and its message is the release notes.

use serde_json::json;
use xshell::{cmd, Shell};

use crate::gates::record;
use crate::plumbing::env::Switch;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, Ctx};
use crate::release::notes::{self, short};
use crate::release::version::{self, Bump, Tag};

/// The notes refs that travel with a release tag.
pub const NOTES_REFS: [&str; 2] = [record::NOTES_REF, crate::release::ledger::NOTES_REF];

/// `PUSH=1` (the make shim's spelling of `--push`).
const PUSH: Switch = Switch {
    name: "PUSH",
    on: "1",
    off: "0",
};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("next").args(["bump", "version"])))]
pub struct Flags {
    /// Bump the latest release tag's version [env BUMP].
    #[arg(long, value_enum)]
    pub bump: Option<Bump>,
    /// The exact version, X.Y.Z [env VERSION].
    #[arg(long, value_name = "X.Y.Z")]
    pub version: Option<String>,
    /// Also push the tag and the notes refs (gate records, deployment ledger) [env PUSH=1].
    #[arg(long)]
    pub push: bool,
    /// Run every check, print the tag and its notes; create and push nothing (records are still fetched).
    #[arg(long)]
    pub dry_run: bool,
    /// Use this reviewed notes file as the tag message instead of the generated notes [env NOTES].
    #[arg(long, value_name = "FILE")]
    pub notes: Option<std::path::PathBuf>,
}

/// One reason not to tag; `usage` marks the ones that are the caller's input.
struct Refusal {
    message: String,
    usage: bool,
}

enum Requested {
    Bump(Bump),
    Exact(String),
}

fn requested(flags: &Flags) -> anyhow::Result<Requested> {
    if let Some(b) = flags.bump {
        return Ok(Requested::Bump(b));
    }
    if let Some(v) = &flags.version {
        return Ok(Requested::Exact(v.clone()));
    }
    match (crate::plumbing::env::var("BUMP"), crate::plumbing::env::var("VERSION")) {
        (Some(_), Some(_)) => Err(exit::usage("BUMP and VERSION are both set: give one")),
        (Some(b), None) => match b.as_str() {
            "patch" => Ok(Requested::Bump(Bump::Patch)),
            "minor" => Ok(Requested::Bump(Bump::Minor)),
            "major" => Ok(Requested::Bump(Bump::Major)),
            other => Err(exit::usage(format!("BUMP={other:?}: use BUMP=patch, BUMP=minor or BUMP=major"))),
        },
        (None, Some(v)) => Ok(Requested::Exact(v)),
        (None, None) => Err(exit::usage(
            "which version? pass --bump patch|minor|major or --version X.Y.Z (make release-tag BUMP=patch)",
        )),
    }
}

/// What `git ls-remote` says about the refs release-tag cares about.
#[derive(Default)]
struct RemoteRefs {
    main: Option<String>,
    notes: Vec<(String, String)>,
    tags: Vec<Tag>,
}

fn remote_refs(sh: &Shell, remote: &str, main: &str) -> Result<RemoteRefs, String> {
    let head_ref = format!("refs/heads/{main}");
    let notes: Vec<String> = NOTES_REFS
        .iter()
        .map(|n| format!("refs/notes/{n}"))
        .collect();
    let notes_args = notes.clone();
    let out = cmd!(
        sh,
        "git ls-remote --end-of-options {remote} {head_ref} refs/tags/v* {notes_args...}"
    )
    .quiet()
    .ignore_status()
    .output()
    .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
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

fn is_ancestor(sh: &Shell, a: &str, b: &str) -> bool {
    cmd!(sh, "git merge-base --is-ancestor {a} {b}")
        .quiet()
        .ignore_status()
        .output()
        .is_ok_and(|o| o.status.success())
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
) {
    let mut specs = vec![format!("+refs/heads/{main}:refs/remotes/{remote}/{main}")];
    for (name, _) in &refs.notes {
        let short_name = name.trim_start_matches("refs/notes/");
        specs.push(format!("+{name}:refs/notes/xtask-remote/{short_name}"));
    }
    if refs.main.is_none() {
        specs.remove(0);
    }
    if !specs.is_empty() {
        let out = cmd!(
            sh,
            "git fetch --quiet --no-tags --end-of-options {remote} {specs...}"
        )
        .quiet()
        .ignore_status()
        .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                refusals.push(Refusal {
                    message: format!(
                        "git fetch {remote} failed: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                    usage: true,
                });
                return;
            }
            Err(e) => {
                refusals.push(Refusal {
                    message: format!("git fetch {remote} cannot run: {e}"),
                    usage: true,
                });
                return;
            }
        }
    }
    for (name, theirs) in &refs.notes {
        let short_name = name.trim_start_matches("refs/notes/");
        let ours = git::rev(sh, name);
        match ours {
            Some(o) if &o == theirs => {}
            Some(o) if is_ancestor(sh, theirs, &o) => log.push(format!("{name}: local is ahead of {remote}'s")),
            Some(o) if is_ancestor(sh, &o, theirs) => {
                match cmd!(sh, "git update-ref {name} {theirs} {o}").quiet().run() {
                    Ok(()) => log.push(format!("{name}: fast-forwarded to {remote}'s ({})", short(theirs))),
                    Err(e) => refusals.push(Refusal { message: format!("cannot fast-forward {name}: {e}"), usage: true }),
                }
            }
            Some(_) => refusals.push(Refusal {
                message: format!(
                    "{name} has diverged from {remote}'s: merge the records first with `git notes --ref={short_name} merge -s union refs/notes/xtask-remote/{short_name}` (then check for repeated lines), and rerun"
                ),
                usage: false,
            }),
            None => match cmd!(sh, "git update-ref {name} {theirs}").quiet().run() {
                Ok(()) => log.push(format!("{name}: taken from {remote} ({})", short(theirs))),
                Err(e) => refusals.push(Refusal { message: format!("cannot create {name}: {e}"), usage: true }),
            },
        }
    }
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let requested = requested(flags)?;
    let push = flags.push || PUSH.read()?;
    let sh = git::shell(&ctx.root)?;
    let remote = ctx.policy.policy.git.remote.clone();
    let main = ctx.policy.policy.git.main_branch.clone();
    let head = git::head_sha(&sh)?;
    let mut refusals: Vec<Refusal> = Vec::new();
    let mut log: Vec<String> = Vec::new();

    // Where the remote is, then the records it has.
    let remote_state = match remote_refs(&sh, &remote, &main) {
        Ok(r) => Some(r),
        Err(e) => {
            refusals.push(Refusal {
                message: format!("cannot reach remote {remote:?}: {e}"),
                usage: true,
            });
            None
        }
    };
    if let Some(r) = &remote_state {
        sync(&sh, &remote, &main, r, &mut refusals, &mut log);
    }

    // A clean tree.
    let dirty = git::dirty_paths(&sh)?;
    if !dirty.is_empty() {
        let shown: Vec<&str> = dirty.iter().take(5).map(|s| s.as_str()).collect();
        refusals.push(Refusal {
            message: format!(
                "the working tree is not clean ({} path(s): {}{}): commit or stash them (`git status --short`)",
                dirty.len(),
                shown.join(", "),
                if dirty.len() > 5 { ", …" } else { "" }
            ),
            usage: false,
        });
    }

    // HEAD is the synced main.
    match git::current_branch(&sh)? {
        Some(b) if b == main => {}
        Some(b) => refusals.push(Refusal {
            message: format!("HEAD is on branch {b}, not {main}: release from {main} (`git switch {main} && git pull --ff-only`)"),
            usage: false,
        }),
        None => refusals.push(Refusal {
            message: format!("HEAD is detached: release from {main} (`git switch {main} && git pull --ff-only`)"),
            usage: false,
        }),
    }
    if let Some(r) = &remote_state {
        match &r.main {
            None => refusals.push(Refusal {
                message: format!("{remote} has no branch {main}"),
                usage: false,
            }),
            Some(theirs) if *theirs != head => {
                let tracking = format!("refs/remotes/{remote}/{main}");
                let range = format!("HEAD...{tracking}");
                let counts = cmd!(sh, "git rev-list --left-right --count {range}")
                    .quiet()
                    .ignore_status()
                    .read()
                    .unwrap_or_default();
                let mut parts = counts.split_whitespace();
                let (ahead, behind) = (parts.next().unwrap_or("?"), parts.next().unwrap_or("?"));
                refusals.push(Refusal {
                    message: format!(
                        "HEAD ({}) is not {remote}/{main} ({}): {ahead} commit(s) ahead, {behind} behind. Release exactly what {main} holds: `git pull --ff-only` when behind; local commits reach {main} through a PR",
                        short(&head),
                        short(theirs)
                    ),
                    usage: false,
                });
            }
            Some(_) => {}
        }
    }

    // A passing gate record on HEAD.
    let record = record::latest_record(&sh, &head);
    match &record {
        Ok(None) => refusals.push(Refusal {
            message: format!(
                "HEAD ({}) has no release-gate record: run `cargo xtask release-gate` (make release-gate RELEASE_GATE_DATABASE_URL=…) on this clean commit",
                short(&head)
            ),
            usage: false,
        }),
        Ok(Some(r)) if !r.passed() => refusals.push(Refusal {
            message: format!(
                "the latest release-gate record on HEAD ({}) is {} (finished {}): fix the failure and rerun `cargo xtask release-gate`; `cargo xtask gate-status` shows the steps",
                short(&head),
                r.status,
                r.finished_at
            ),
            usage: false,
        }),
        Ok(Some(_)) => {}
        Err(e) => refusals.push(Refusal { message: format!("{e:#}"), usage: false }),
    }

    // Reviewed notes, when given: readable, and documenting every recorded bypass
    // (the runbook: MIGRATION_GATE_VALIDATE_AUTOGEN=false is documented in the release notes).
    let notes_file = flags
        .notes
        .clone()
        .or_else(|| crate::plumbing::env::var("NOTES").map(Into::into));
    let reviewed = match &notes_file {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) if text.trim().is_empty() => {
                refusals.push(Refusal {
                    message: format!("--notes {}: the file is empty", path.display()),
                    usage: true,
                });
                None
            }
            Ok(text) => {
                let bypasses = record
                    .as_ref()
                    .ok()
                    .and_then(|r| r.as_ref())
                    .map(|r| r.bypasses.clone())
                    .unwrap_or_default();
                for b in bypasses.iter().filter(|b| !text.contains(&b.variable)) {
                    refusals.push(Refusal {
                        message: format!(
                            "--notes {} does not document the bypass {}={} recorded in HEAD's gate record: add it (`cargo xtask release-notes` drafts the Bypasses section)",
                            path.display(),
                            b.variable,
                            b.value
                        ),
                        usage: false,
                    });
                }
                Some(text)
            }
            Err(e) => {
                refusals.push(Refusal {
                    message: format!("--notes {}: cannot read it: {e}", path.display()),
                    usage: true,
                });
                None
            }
        },
    };

    // The version: semver, above every release tag here and on the remote; the tag is new.
    let (mut all_tags, odd) = version::local(&sh)?;
    for t in remote_state
        .as_ref()
        .map(|r| r.tags.clone())
        .unwrap_or_default()
    {
        if !all_tags.iter().any(|l| l.name == t.name) {
            all_tags.push(t);
        }
    }
    for name in &odd {
        output::warning(&format!(
            "tag {name} looks like a release tag but is not vMAJOR.MINOR.PATCH; it is ignored"
        ));
    }
    let latest = version::latest(&all_tags).cloned();
    let version = match &requested {
        Requested::Bump(b) => Some(version::bump(latest.as_ref().map(|t| &t.version), *b)),
        Requested::Exact(v) => match version::parse_user_version(v) {
            Ok(v) => Some(v),
            Err(e) => {
                refusals.push(Refusal {
                    message: format!("--version {e}"),
                    usage: true,
                });
                None
            }
        },
    };
    let tag_name = version.as_ref().map(|v| format!("v{v}"));
    if let (Some(v), Some(l)) = (&version, &latest) {
        if *v <= l.version {
            refusals.push(Refusal {
                message: format!(
                    "v{v} is not greater than the latest release tag {} (on {}): versions only go up; use --bump patch|minor|major, or --version above {}",
                    l.name,
                    short(&l.sha),
                    l.version
                ),
                usage: false,
            });
        }
    }
    if let Some(name) = &tag_name {
        let local = git::rev(&sh, &format!("refs/tags/{name}"));
        let on_remote = remote_state
            .as_ref()
            .and_then(|r| r.tags.iter().find(|t| &t.name == name).cloned());
        if local.is_some() || on_remote.is_some() {
            let whence = match (&local, &on_remote) {
                (Some(_), Some(_)) => format!("here and on {remote}"),
                (Some(_), None) => "here".to_string(),
                _ => format!("on {remote}"),
            };
            refusals.push(Refusal {
                message: format!("tag {name} already exists ({whence}): a release tag is never moved; pick the next version"),
                usage: false,
            });
        }
    }
    if let Some(t) = all_tags.iter().find(|t| t.sha == head) {
        refusals.push(Refusal {
            message: format!(
                "HEAD ({}) is already released as {}: a commit gets one release tag",
                short(&head),
                t.name
            ),
            usage: false,
        });
    }
    if !git::has_identity(&sh)? {
        refusals.push(Refusal {
            message: "git has no identity for the annotated tag: `git config user.name \"Your Name\"` and `git config user.email you@example.com`".into(),
            usage: true,
        });
    }

    if !refusals.is_empty() {
        let code = if refusals.iter().all(|r| r.usage) {
            exit::USAGE
        } else {
            exit::FAILED
        };
        let messages: Vec<&str> = refusals.iter().map(|r| r.message.as_str()).collect();
        match ctx.format {
            Format::Json => output::json(&json!({
                "command": "release-tag",
                "status": "refused",
                "exit_code": code,
                "sha": head,
                "tag": tag_name,
                "dry_run": flags.dry_run,
                "refusals": messages,
                "notes_sync": log,
            })),
            Format::Human => {
                for l in &log {
                    output::say(l);
                }
                output::error(&format!(
                    "release-tag refused{}: {} reason(s)",
                    tag_name
                        .as_ref()
                        .map(|t| format!(" ({t} on {})", short(&head)))
                        .unwrap_or_default(),
                    messages.len()
                ));
                for m in &messages {
                    output::say(&format!("  - {m}"));
                }
            }
        }
        return Err(exit::silent(code));
    }

    let (Some(version), Some(tag_name)) = (version, tag_name) else {
        return Err(exit::usage("no version to tag"));
    };
    let since = notes::default_since(&sh, &head)?;
    let facts = notes::gather(
        ctx,
        &sh,
        &head,
        since,
        &format!("Release {tag_name}"),
        Some(&tag_name),
    )?;
    let notes = reviewed.unwrap_or_else(|| notes::render(&facts));
    let push_refs: Vec<String> = std::iter::once(format!("refs/tags/{tag_name}"))
        .chain(
            NOTES_REFS
                .iter()
                .map(|n| format!("refs/notes/{n}"))
                .filter(|r| git::rev(&sh, r).is_some()),
        )
        .collect();
    let push_shown = format!("git push --atomic {remote} {}", push_refs.join(" "));

    if flags.dry_run {
        match ctx.format {
            Format::Json => output::json(&json!({
                "command": "release-tag", "status": "passed", "dry_run": true, "version": version.to_string(),
                "tag": tag_name, "sha": head, "notes_sync": log, "push": push.then_some(&push_refs), "markdown": notes,
            })),
            Format::Human => {
                for l in &log {
                    output::say(l);
                }
                output::say(&format!("dry run: every check passed; would run `git tag -a {tag_name} {head}` with these notes as the message:"));
                output::data(&notes);
                if push {
                    output::say(&format!("dry run: then `{push_shown}`"));
                }
            }
        }
        return Ok(());
    }

    cmd!(sh, "git tag -a --cleanup=verbatim -F - {tag_name} {head}")
        .stdin(notes.as_bytes())
        .quiet()
        .run()
        .map_err(|e| exit::failed(format!("git tag failed: {e}")))?;
    let mut pushed = false;
    let mut push_error = None;
    if push {
        let push_args = push_refs.clone();
        let out = cmd!(
            sh,
            "git push --quiet --atomic --end-of-options {remote} {push_args...}"
        )
        .quiet()
        .ignore_status()
        .output()?;
        if out.status.success() {
            pushed = true;
        } else {
            push_error = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
    }
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-tag", "status": if push_error.is_some() { "failed" } else { "passed" }, "dry_run": false,
            "version": version.to_string(), "tag": tag_name, "sha": head, "notes_sync": log,
            "pushed": pushed, "push_error": push_error, "markdown": notes,
        })),
        Format::Human => {
            for l in &log {
                output::say(l);
            }
            output::say(&output::green(&format!(
                "tagged {tag_name} on {} (annotated, the release notes as its message)",
                short(&head)
            )));
            notes::warn_gaps(&facts);
            if pushed {
                output::say(&format!("pushed {}", push_refs.join(", ")));
            } else if push_error.is_none() {
                output::say(&format!(
                    "publish it: {push_shown} (or rerun with --push next time)"
                ));
            }
        }
    }
    if let Some(e) = push_error {
        if ctx.format == Format::Human {
            output::error(&format!(
                "the tag {tag_name} exists locally but the push failed: {e}\nretry: {push_shown}"
            ));
        }
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}
