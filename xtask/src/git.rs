//! The git plumbing the commands share, through xshell (argv, no shell).
//!
//! Every function takes the repository root explicitly; nothing here
//! changes the process's directory or environment.

use std::path::{Path, PathBuf};

use anyhow::Context;
use xshell::{cmd, Cmd, Shell};

use crate::exit;

/// A shell rooted at `root`, with git's prompts turned off so that a
/// command never waits for a password nobody will type.
pub fn shell(root: &Path) -> anyhow::Result<Shell> {
    let sh = Shell::new().context("cannot create a shell")?;
    sh.change_dir(root);
    sh.set_var("GIT_TERMINAL_PROMPT", "0");
    Ok(sh)
}

/// The top level of the git repository containing `dir`.
pub fn toplevel(dir: &Path) -> anyhow::Result<PathBuf> {
    let sh = shell(dir)?;
    let out = cmd!(sh, "git rev-parse --show-toplevel")
        .quiet()
        .ignore_status()
        .output();
    match out {
        Ok(out) if out.status.success() => {
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        }
        Ok(_) => Err(exit::usage(format!(
            "{} is not inside a git repository: run from one, or pass --root DIR",
            dir.display()
        ))),
        Err(e) => Err(exit::usage(format!(
            "git is required but cannot be run: {e}"
        ))),
    }
}

pub fn head_sha(sh: &Shell) -> anyhow::Result<String> {
    let spec = "HEAD^{commit}";
    cmd!(sh, "git rev-parse --verify {spec}")
        .quiet()
        .read()
        .context("HEAD does not name a commit")
}

pub fn tree_sha(sh: &Shell, sha: &str) -> anyhow::Result<String> {
    let spec = format!("{sha}^{{tree}}");
    Ok(cmd!(sh, "git rev-parse --verify {spec}").quiet().read()?)
}

/// `git status --porcelain` lines: staged, unstaged and untracked changes.
pub fn dirty_paths(sh: &Shell) -> anyhow::Result<Vec<String>> {
    let out = cmd!(sh, "git status --porcelain --untracked-files=all")
        .quiet()
        .read()?;
    Ok(out.lines().map(str::to_string).collect())
}

/// The checked-out branch, or `None` on a detached HEAD.
pub fn current_branch(sh: &Shell) -> anyhow::Result<Option<String>> {
    let out = stdout_if_ok(cmd!(sh, "git symbolic-ref --quiet --short HEAD"))?;
    Ok(out.map(|s| s.trim().to_string()))
}

/// A revision the user typed, checked before it reaches git: no options,
/// no whitespace or control characters.
pub fn validate_rev(rev: &str) -> anyhow::Result<()> {
    let ok = !rev.is_empty()
        && !rev.starts_with('-')
        && rev.len() <= 256
        && rev
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/~^@{}-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "{rev:?} is not a revision: use a SHA, a tag or a branch name"
        )))
    }
}

/// The commit SHA `rev` names, or `None` when it names none.
pub fn resolve_commit(sh: &Shell, rev: &str) -> anyhow::Result<Option<String>> {
    validate_rev(rev)?;
    let spec = format!("{rev}^{{commit}}");
    let out = stdout_if_ok(cmd!(
        sh,
        "git rev-parse --verify --quiet --end-of-options {spec}"
    ))?;
    Ok(out.map(|s| s.trim().to_string()))
}

/// The object `name` (a ref name built or validated by the caller) names, or
/// `None` when it names none or git cannot be run.
pub fn rev(sh: &Shell, name: &str) -> Option<String> {
    stdout_if_ok(cmd!(
        sh,
        "git rev-parse --verify --quiet --end-of-options {name}"
    ))
    .ok()
    .flatten()
    .map(|s| s.trim().to_string())
}

/// The note on `sha` under `refs/notes/<notes_ref>`, if any.
pub fn note(sh: &Shell, notes_ref: &str, sha: &str) -> anyhow::Result<Option<String>> {
    stdout_if_ok(cmd!(sh, "git notes --ref={notes_ref} show {sha}"))
}

/// The standard output of `cmd` when it exits 0, `None` when it fails (how
/// git says a ref, note or file does not exist). Errs only when the command
/// cannot be run at all.
pub fn stdout_if_ok(cmd: Cmd<'_>) -> anyhow::Result<Option<String>> {
    let out = cmd.quiet().ignore_status().output()?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Appends one line to the note on `sha`; earlier lines are never rewritten.
/// Works without a configured identity (CI machines often have none).
pub fn append_note(sh: &Shell, notes_ref: &str, sha: &str, line: &str) -> anyhow::Result<()> {
    let mut text = note(sh, notes_ref, sha)?.unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line.trim_end());
    text.push('\n');
    // Earlier lines are written back unchanged; `--force` only replaces the
    // note object, and git's "Overwriting existing notes" is noise here.
    let mut c = cmd!(sh, "git notes --ref={notes_ref} add --force --file=- {sha}")
        .quiet()
        .ignore_status()
        .stdin(text);
    if !has_identity(sh)? {
        c = with_fallback_identity(c);
    }
    let out = c.output()?;
    if !out.status.success() {
        return Err(exit::failed(format!(
            "cannot write to refs/notes/{notes_ref} on {sha}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Whether git has a committer identity (`user.name`/`user.email` or the
/// `GIT_COMMITTER_*` variables).
pub fn has_identity(sh: &Shell) -> anyhow::Result<bool> {
    Ok(cmd!(sh, "git var GIT_COMMITTER_IDENT")
        .quiet()
        .ignore_status()
        .output()?
        .status
        .success())
}

/// `c` with a stand-in identity, for the notes this program writes on
/// machines that have none configured.
pub fn with_fallback_identity(c: Cmd<'_>) -> Cmd<'_> {
    c.env("GIT_AUTHOR_NAME", "xtask")
        .env("GIT_AUTHOR_EMAIL", "xtask@localhost")
        .env("GIT_COMMITTER_NAME", "xtask")
        .env("GIT_COMMITTER_EMAIL", "xtask@localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_revisions_are_refused() {
        for bad in ["--upload-pack=x", "a b", "x\ny", "", "a;b", "$(x)"] {
            assert!(validate_rev(bad).is_err(), "{bad:?}");
        }
        for good in [
            "HEAD",
            "v1.2.3",
            "abc123",
            "main~2",
            "HEAD^{commit}",
            "origin/main",
        ] {
            assert!(validate_rev(good).is_ok(), "{good:?}");
        }
    }
}
