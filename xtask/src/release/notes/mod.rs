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
    /// Start after this tag [default: the latest vX.Y.Z tag below HEAD; env SINCE].
    #[arg(long, value_name = "TAG")]
    pub since: Option<String>,
    /// Write the notes to FILE instead of stdout [env OUTPUT].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the notes and where they would go; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let since_arg = flags
        .since
        .clone()
        .or_else(|| crate::plumbing::env::var("SINCE"));
    let output_arg = flags
        .output
        .clone()
        .or_else(|| crate::plumbing::env::var("OUTPUT").map(PathBuf::from));
    if let Some(path) = &output_arg {
        check_output(path)?;
    }
    let sh = git::shell(&ctx.root)?;
    let head = git::head_sha(&sh)?;
    let since = match &since_arg {
        Some(name) => Some(gather::resolve_since(&sh, name)?),
        None => default_since(&sh, &head)?,
    };
    let title = format!(
        "Release notes draft: {}..{}",
        since.as_ref().map_or("(first commit)", |t| t.name.as_str()),
        short(&head)
    );
    let facts = gather(ctx, &sh, &head, since, &title, None)?;
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
    if let Some(k) = &facts.last_known_good {
        if k.basis != "verified" {
            output::warning(&format!(
                "no tag has a passing verification in {} in the deployment ledger: the rollback target {} is merely the previous tag",
                facts.production_environment, k.tag
            ));
        }
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
