//! `release-notes`: the runbook's release-notes draft, from the records and
//! the diff rather than from memory: changes grouped by task, operational
//! changes (migrations, env variables, policy), the bypasses recorded in the
//! release SHA's gate record, and the rollback target proven by the
//! deployment ledger.
//!
//! Three parts: [`gather`] collects the facts with git, [`facts`] holds them
//! and the pure decisions over them, [`render`] turns them into markdown.
//! release-tag uses all three for the tag message.

mod facts;
mod gather;
mod prs;
mod render;

use std::path::PathBuf;

use serde_json::json;

use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, Ctx};

pub use facts::Facts;
pub use gather::{default_since, gather};
pub use render::render;

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Start after this revision: a tag, branch or SHA [default: the latest vX.Y.Z tag below the end point; env SINCE].
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,
    /// End at this revision instead of HEAD: a tag, branch or SHA [env UNTIL].
    #[arg(long, value_name = "REV")]
    pub until: Option<String>,
    /// Write the notes to FILE instead of stdout [env OUTPUT].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the notes and where they would go; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let output_arg = flags
        .output
        .clone()
        .or_else(|| crate::plumbing::env::var("OUTPUT").map(PathBuf::from));
    if let Some(path) = &output_arg {
        check_output(path)?;
    }
    let sh = git::shell(&ctx.root)?;
    let mut facts = gather_range(ctx, &sh, flags)?;
    prs::fill_tasks(ctx, &sh, &mut facts.commits)?;
    let markdown = render(&facts);

    let written = match (&output_arg, flags.dry_run) {
        (Some(path), false) => {
            std::fs::write(path, &markdown)
                .map_err(|e| exit::usage(format!("cannot write {}: {e}", path.display())))?;
            true
        }
        _ => false,
    };
    output::step_summary(&markdown);
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-notes",
            "status": "passed",
            "dry_run": flags.dry_run,
            "output": output_arg.as_ref().map(|p| p.display().to_string()),
            "written": written,
            "markdown": markdown,
            "facts": facts,
        })),
        Format::Human => match (&output_arg, flags.dry_run) {
            (Some(path), false) => output::say(&format!(
                "release notes ({} commits) written to {}",
                facts.commits.len(),
                path.display()
            )),
            (Some(path), true) => {
                output::say(&format!(
                    "dry run: would write these release notes to {}:",
                    path.display()
                ));
                output::data(&markdown);
            }
            (None, _) => output::data(&markdown),
        },
    }
    if ctx.format == Format::Human {
        warn_gaps(&facts);
    }
    Ok(())
}

/// The facts of `--since..--until` (defaults: the latest release tag below
/// the end point, and HEAD); both revisions are validated and resolved
/// before anything else runs.
fn gather_range(ctx: &Ctx, sh: &xshell::Shell, flags: &Flags) -> anyhow::Result<Facts> {
    let env = crate::plumbing::env::var;
    let since_arg = flags.since.clone().or_else(|| env("SINCE"));
    let until_arg = flags.until.clone().or_else(|| env("UNTIL"));
    let until = match &until_arg {
        Some(name) => Some(gather::resolve_rev(sh, "--until", name)?),
        None => None,
    };
    let head = match &until {
        Some(u) => u.sha.clone(),
        None => git::head_sha(sh)?,
    };
    let since = match &since_arg {
        Some(name) => Some(gather::resolve_rev(sh, "--since", name)?),
        None => default_since(sh, &head)?,
    };
    if let Some(s) = &since {
        if !git::test(sh, &["merge-base", "--is-ancestor", &s.sha, &head])? {
            return Err(exit::usage(format!(
                "--since {}: it is not an ancestor of {}, so the range has no start on it; name an earlier revision",
                s.name,
                until.as_ref().map_or("HEAD", |u| u.name.as_str())
            )));
        }
    }
    let title = format!(
        "Release notes draft: {}..{}",
        since.as_ref().map_or("(first commit)", |t| t.name.as_str()),
        until.as_ref().map_or(short(&head), |u| u.name.as_str())
    );
    let mut facts = gather(ctx, sh, &head, since, &title, None)?;
    facts.until = until.map(|u| u.name);
    Ok(facts)
}

/// `--output` names a file in an existing directory.
fn check_output(path: &std::path::Path) -> anyhow::Result<()> {
    let parent = std::path::absolute(path)?.parent().map(|p| p.to_path_buf());
    if path.is_dir() {
        return Err(exit::usage(format!(
            "--output {}: is a directory; name a file, e.g. --output {}",
            path.display(),
            path.join("RELEASE_NOTES.md").display()
        )));
    }
    // Only a regular file (or a new one) is written: a FIFO would block
    // for ever and a device would swallow the notes.
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(exit::usage(format!(
                "--output {}: is not a regular file (a FIFO, a device or a socket); name a file",
                path.display()
            )));
        }
    }
    if let Some(dir) = parent.filter(|p| !p.is_dir()) {
        return Err(exit::usage(format!(
            "--output {}: the directory {} does not exist: create it (mkdir -p {}) or name a file in an existing directory",
            path.display(),
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Says what the reviewer must look at before the notes are final.
pub fn warn_gaps(facts: &Facts) {
    match &facts.gate {
        None => output::warning(&format!(
            "no release-gate record on {}: the Bypasses section cannot be confirmed; run `cargo xtask release-gate` first",
            short(&facts.head)
        )),
        Some(g) => {
            for b in &g.bypasses {
                output::warning(&format!("the gate record of {} used bypass {}={}: the notes document it", short(&facts.head), b.variable, b.value));
            }
        }
    }
    if let (None, Some(p)) = (&facts.last_known_good, &facts.previous_tag) {
        output::warning(&format!(
            "no release below {} has a passing verification in {} in the deployment ledger: no rollback target is proven; {} is merely the previous tag",
            short(&facts.head),
            facts.production_environment,
            p.name
        ));
    }
    if let Some(u) = &facts.production_unknown {
        output::warning(&format!(
            "{} is in an unknown state: its latest ledger entry is a {} of {} started at {} with no outcome",
            facts.production_environment,
            u.action,
            short(&u.sha),
            u.time
        ));
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
