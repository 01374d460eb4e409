//! `cargo xtask init`: a starter `xtask.toml` drafted from what the
//! repository already has (Makefile targets, alembic.ini, CI workflows,
//! docs with freshness markers, task ledgers), every guess marked with a
//! `# guessed from …` comment. It never overwrites a file: the target is
//! created exclusively, and an existing one is a failure naming it.
//!
//! Gather (`gather.rs`, the only I/O), decide (`decide.rs` and the
//! Makefile reader `makefile.rs`, pure), render (`render.rs`, pure). The
//! text is parsed by the real policy loader before anything is printed or
//! written, so init never hands out a policy the other commands refuse.

mod decide;
mod gates;
mod gather;
mod ledger;
mod makefile;
mod render;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::plumbing::output::{self, Format};
use crate::plumbing::{env, exit, policy};

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Write the policy to FILE instead of <root>/xtask.toml (never overwritten either; the global --policy FILE says the same).
    #[arg(long, value_name = "FILE", conflicts_with = "stdout")]
    pub output: Option<PathBuf>,
    /// Print the policy on stdout and write nothing.
    #[arg(long)]
    pub stdout: bool,
    /// Print the policy and where it would go, check that the file does not exist, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Drafts the policy for the repository at `root` (no policy is read:
/// there is none yet, or it is the file init refuses to overwrite). The
/// file is `--output`, else the global `--policy`, else `<root>/xtask.toml`.
pub fn run(
    root: &Path,
    policy: Option<&Path>,
    format: Format,
    flags: &Flags,
) -> anyhow::Result<()> {
    let target = match (flags.output.as_deref(), policy) {
        (Some(_), Some(_)) => {
            return Err(exit::usage(
                "init: give the file once, with --output FILE or with --policy FILE",
            ))
        }
        (Some(p), None) | (None, Some(p)) => std::path::absolute(p)?,
        (None, None) => root.join("xtask.toml"),
    };
    if !flags.stdout {
        refuse_existing(&target)?;
    }
    let (facts, skipped) = gather::facts(root)?;
    let draft = decide::draft(&facts);
    let text = render::policy(&draft);
    // The loader's own verdict: a draft it refuses is a bug of init.
    policy::parse(&text, &target).map_err(|e| {
        anyhow::anyhow!("init drafted a policy the loader refuses (a bug, please report it): {e:#}")
    })?;
    let guesses = text.matches("# guessed from ").count();
    for s in &skipped {
        output::warning(&format!("not read: {s}"));
    }
    let written = if flags.stdout || flags.dry_run {
        None
    } else {
        write_new(&target, &text)?;
        Some(target.display().to_string())
    };
    match format {
        Format::Json => output::json(&json!({
            "status": "ok",
            "written": written,
            "target": target.display().to_string(),
            "dry_run": flags.dry_run,
            "guesses": guesses,
            "not_guessed": draft.notes,
            "skipped": skipped,
            "policy": text,
        })),
        Format::Human => {
            if written.is_none() {
                output::data(text.trim_end());
            }
            let whence = match (&written, flags.dry_run) {
                (Some(path), _) => format!("wrote {path}"),
                (None, true) => format!(
                    "would write {} (dry run: nothing written)",
                    target.display()
                ),
                (None, false) => "printed the policy (nothing written)".to_string(),
            };
            let run = env::invocation();
            output::say(&format!(
                "init: {whence}: {guesses} guesses, each under a `# guessed from` line, {} notes (at the top). Review it, then run `{}` and `{}`.",
                draft.notes.len(),
                run.command("check --dry-run", None),
                run.command("test --dry-run", None),
            ));
        }
    }
    Ok(())
}

/// Exit 1 naming the file when it exists: init never overwrites.
fn refuse_existing(target: &Path) -> anyhow::Result<()> {
    if target.symlink_metadata().is_ok() {
        return Err(exit::failed(format!(
            "{} already exists: init never overwrites a file. Compare with `{}`, or write elsewhere with `--output FILE`",
            target.display(),
            env::invocation().command("init --stdout", None)
        )));
    }
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(exit::usage(format!(
            "--output {}: the directory {} does not exist",
            target.display(),
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// Creates `target` exclusively (a file that appeared meanwhile is not
/// overwritten either) and writes the policy.
fn write_new(target: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(exit::failed(format!(
                "{} appeared while init ran: init never overwrites a file",
                target.display()
            )))
        }
        Err(e) => {
            return Err(exit::usage(format!(
                "{}: cannot be created: {e}",
                target.display()
            )))
        }
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| {
            // The file is ours (created above): leave no half policy behind.
            let _ = std::fs::remove_file(target);
            exit::usage(format!("{}: cannot be written: {e}", target.display()))
        })
}
