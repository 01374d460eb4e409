//! Whether the runbook's git hooks are installed, for task-preflight.
//!
//! Minimal on this branch: the `hooks` command (install, uninstall,
//! `--check`) is built on another branch, whose `hooks.rs` replaces this
//! file at merge. This `check` is honest but narrower: each required hook
//! exists in the directory git uses (`git rev-parse --git-path hooks`), is an
//! executable file, and carries the marker line the installer writes.

use std::os::unix::fs::PermissionsExt;

use anyhow::Context;
use xshell::cmd;

use crate::{git, Ctx};

/// The line every hook written by `cargo xtask hooks` contains.
pub const MARKER: &str = "# installed by cargo xtask hooks";
/// The hooks the runbook requires.
pub const REQUIRED: [&str; 3] = ["pre-commit", "pre-push", "commit-msg"];

/// The problems with the installed hooks, one line each; empty when all
/// required hooks are in place.
pub fn check(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let sh = git::shell(&ctx.root)?;
    let dir = cmd!(sh, "git rev-parse --git-path hooks")
        .quiet()
        .read()
        .context("cannot find git's hooks directory")?;
    let dir = ctx.root.join(dir);
    let mut problems = Vec::new();
    for name in REQUIRED {
        let path = dir.join(name);
        let shown = path.display();
        match std::fs::metadata(&path) {
            Err(_) => problems.push(format!("hook {name} is missing ({shown})")),
            Ok(meta) if !meta.is_file() => {
                problems.push(format!("hook {name} is not a file ({shown})"))
            }
            Ok(meta) if meta.permissions().mode() & 0o111 == 0 => {
                problems.push(format!("hook {name} is not executable ({shown})"))
            }
            Ok(_) => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.lines().any(|l| l.trim() == MARKER) {
                    problems.push(format!(
                        "hook {name} was not installed by cargo xtask hooks ({shown})"
                    ));
                }
            }
        }
    }
    Ok(problems)
}
