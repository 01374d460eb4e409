//! Acting on a decision and saying so: the refusal report, the dry run, the
//! annotated tag and the atomic push of the tag with the notes refs.

use serde_json::json;
use xshell::Shell;

use super::decide::Decision;
use super::gather::Facts;
use super::NOTES_REFS;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, Ctx};
use crate::release::notes::{self, short};

/// Reports every refusal reason at once; the exit code is 2 when every
/// reason is the caller's input or environment, else 1.
pub fn refused(ctx: &Ctx, facts: &Facts, decision: &Decision, dry_run: bool) -> anyhow::Error {
    let refusals = &decision.refusals;
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
            "sha": facts.head,
            "tag": decision.tag_name,
            "dry_run": dry_run,
            "refusals": messages,
            "resumed": decision.resume,
            "notes_sync": facts.sync_log,
        })),
        Format::Human => {
            for l in &facts.sync_log {
                output::say(l);
            }
            output::error(&format!(
                "release-tag refused{}: {} reason(s)",
                decision
                    .tag_name
                    .as_ref()
                    .map(|t| format!(" ({t} on {})", short(&facts.head)))
                    .unwrap_or_default(),
                messages.len()
            ));
            for m in &messages {
                output::say(&format!("  - {m}"));
            }
            if let (true, Some(t)) = (decision.resume, &decision.tag_name) {
                output::say(&format!(
                    "HEAD is already tagged {t} here, not on {}: once the above is fixed, rerun with --push to publish it",
                    facts.remote
                ));
            }
        }
    }
    exit::silent(code)
}

/// The refs a push publishes: the tag, and the notes refs that exist here.
pub fn push_refs(sh: &Shell, tag_name: &str) -> Vec<String> {
    std::iter::once(format!("refs/tags/{tag_name}"))
        .chain(
            NOTES_REFS
                .iter()
                .map(|n| format!("refs/notes/{n}"))
                .filter(|r| git::rev(sh, r).is_some()),
        )
        .collect()
}

/// What a tag with these notes would be; nothing is created.
pub fn dry_run(ctx: &Ctx, facts: &Facts, tag: &Tagging, push: bool) {
    let push_shown = tag.push_command(&facts.remote);
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-tag", "status": "passed", "dry_run": true, "version": tag.version,
            "tag": tag.name, "sha": facts.head, "notes_sync": facts.sync_log,
            "push": push.then_some(&tag.push_refs), "markdown": tag.message,
        })),
        Format::Human => {
            for l in &facts.sync_log {
                output::say(l);
            }
            output::say(&format!(
                "dry run: every check passed; would run `git tag -a {} {}` with these notes as the message:",
                tag.name, facts.head
            ));
            output::data(&tag.message);
            if push {
                output::say(&format!("dry run: then `{push_shown}`"));
            }
        }
    }
}

/// The tag to create: its name, version, message and the refs a push sends.
pub struct Tagging {
    pub name: String,
    pub version: String,
    pub message: String,
    pub push_refs: Vec<String>,
}

impl Tagging {
    pub fn push_command(&self, remote: &str) -> String {
        format!("git push --atomic {remote} {}", self.push_refs.join(" "))
    }
}

/// Pushes the tag and the notes refs in one atomic push: `Err` holds git's words.
pub fn push(sh: &Shell, remote: &str, refs: &[String]) -> anyhow::Result<Result<(), String>> {
    let mut args = vec!["push", "--quiet", "--atomic", "--end-of-options", remote];
    args.extend(refs.iter().map(String::as_str));
    let answer = git::answer(sh, &args)?;
    Ok(if answer.ok() {
        Ok(())
    } else {
        Err(answer.words().to_string())
    })
}

/// Creates the annotated tag, pushes when asked, and reports.
pub fn tag_and_push(
    ctx: &Ctx,
    sh: &Shell,
    facts: &Facts,
    tag: &Tagging,
    gaps: &notes::Facts,
    push: bool,
) -> anyhow::Result<()> {
    git::answer_with(
        sh,
        &[
            "tag",
            "-a",
            "--cleanup=verbatim",
            "-F",
            "-",
            &tag.name,
            &facts.head,
        ],
        Some(&tag.message),
    )?
    .checked()?;
    let pushed = if push {
        Some(self::push(sh, &facts.remote, &tag.push_refs)?)
    } else {
        None
    };
    let push_error = pushed.as_ref().and_then(|p| p.as_ref().err());
    report(
        ctx,
        facts,
        tag,
        gaps,
        pushed.as_ref().is_some_and(Result::is_ok),
        push_error,
    );
    if let Some(e) = push_error {
        if ctx.format == Format::Human {
            output::error(&format!(
                "the tag {} exists locally but the push failed: {e}\nretry: {}",
                tag.name,
                tag.push_command(&facts.remote)
            ));
        }
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}

fn report(
    ctx: &Ctx,
    facts: &Facts,
    tag: &Tagging,
    gaps: &notes::Facts,
    pushed: bool,
    push_error: Option<&String>,
) {
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-tag", "status": if push_error.is_some() { "failed" } else { "passed" },
            "dry_run": false, "version": tag.version, "tag": tag.name, "sha": facts.head,
            "notes_sync": facts.sync_log, "pushed": pushed, "push_error": push_error,
            "markdown": tag.message,
        })),
        Format::Human => {
            for l in &facts.sync_log {
                output::say(l);
            }
            output::say(&output::green(&format!(
                "tagged {} on {} (annotated, the release notes as its message)",
                tag.name,
                short(&facts.head)
            )));
            notes::warn_gaps(gaps);
            if pushed {
                output::say(&format!("pushed {}", tag.push_refs.join(", ")));
            } else if push_error.is_none() {
                output::say(&format!(
                    "publish it: {} (or rerun with --push next time)",
                    tag.push_command(&facts.remote)
                ));
            }
        }
    }
}

/// Finishes a release whose tag an earlier run created here and did not
/// push: pushes the tag and the notes refs when asked, else says the exact
/// command. Creates nothing.
pub fn resume(
    ctx: &Ctx,
    sh: &Shell,
    facts: &Facts,
    tag_name: &str,
    refs: &[String],
    push: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let remote = &facts.remote;
    let command = format!("git push --atomic {remote} {}", refs.join(" "));
    let pushed = if push && !dry_run {
        Some(self::push(sh, remote, refs)?)
    } else {
        None
    };
    let push_error = pushed.as_ref().and_then(|p| p.as_ref().err());
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-tag", "status": if push_error.is_some() { "failed" } else { "passed" },
            "resumed": true, "dry_run": dry_run, "tag": tag_name, "sha": facts.head,
            "notes_sync": facts.sync_log, "pushed": pushed.as_ref().is_some_and(Result::is_ok),
            "push_error": push_error, "push_command": command,
        })),
        Format::Human => {
            for l in &facts.sync_log {
                output::say(l);
            }
            output::say(&format!(
                "HEAD ({}) is already tagged {tag_name} here, but {remote} does not have it: an earlier release-tag did not push",
                short(&facts.head)
            ));
            match (&pushed, dry_run && push) {
                (Some(Ok(())), _) => output::say(&output::green(&format!(
                    "pushed {} (the release {tag_name} is finished)",
                    refs.join(", ")
                ))),
                (Some(Err(e)), _) => {
                    output::error(&format!("the push failed: {e}\nretry: {command}"))
                }
                (None, true) => output::say(&format!("dry run: would run `{command}`")),
                (None, false) => {
                    output::say(&format!("publish it: {command} (or rerun with --push)"))
                }
            }
        }
    }
    if push_error.is_some() {
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}
