//! `hooks`: installs, verifies (`--check`) and removes (`--uninstall`) the
//! git hooks that run `branch-guard`: pre-commit, commit-msg and pre-push.
//!
//! Hooks go where git looks for them (`git rev-parse --git-path hooks`, which
//! honours `core.hooksPath` and linked worktrees). A hook that is not ours is
//! never lost: it is renamed `<hook>.local`, our hook runs it first (its
//! failure stops the commit), and `--uninstall` renames it back, byte for byte.
//! Installing validates every hook first and changes nothing on a conflict.
//!
//! Install and uninstall hold an exclusive lock on the hooks directory, never
//! overwrite a file they did not write, and undo every change when a step
//! fails (`txn.rs`): two runs at once, or a failure half-way, leave the
//! user's own hooks byte for byte as they were.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::plumbing::output::{self, Format};
use crate::plumbing::{env, exit, git, Ctx};

mod runner;
mod txn;

use runner::RUNNER;

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Only verify: exit 1 naming each hook that is missing, not executable or out of date.
    #[arg(long, conflicts_with = "uninstall")]
    pub check: bool,
    /// Remove our hooks and put back the hooks that were there before.
    #[arg(long)]
    pub uninstall: bool,
}

/// The hooks we install, and the branch-guard invocation of each.
pub const HOOKS: [&str; 3] = ["pre-commit", "commit-msg", "pre-push"];

/// The line that marks a hook as ours (any version of it).
const MARKER: &str = "# xtask-managed hook";

/// The text of hook `name`, exactly as installed (a hook whose text differs
/// is out of date).
pub fn script(name: &str) -> String {
    let body = match name {
        "pre-commit" => concat!(
            "if [ -x \"$0.local\" ]; then \"$0.local\" \"$@\" || exit; fi\n",
            "cd \"$(git rev-parse --show-toplevel)\" || exit 2\n",
            "run_xtask --root \"$PWD\" branch-guard\n",
        ),
        "commit-msg" => concat!(
            "if [ -x \"$0.local\" ]; then \"$0.local\" \"$@\" || exit; fi\n",
            "msg=$1\n",
            "case $msg in /*) ;; *) msg=$PWD/$msg ;; esac\n",
            "cd \"$(git rev-parse --show-toplevel)\" || exit 2\n",
            "run_xtask --root \"$PWD\" branch-guard --commit-msg \"$msg\"\n",
        ),
        "pre-push" => concat!(
            "# git passes the refs being pushed on stdin: both hooks get them.\n",
            "if [ -x \"$0.local\" ]; then\n",
            "  refs=$(cat)\n",
            "  if [ -n \"$refs\" ]; then refs=\"$refs\n\"; fi\n",
            "  printf '%s' \"$refs\" | \"$0.local\" \"$@\" || exit\n",
            "  cd \"$(git rev-parse --show-toplevel)\" || exit 2\n",
            "  printf '%s' \"$refs\" | run_xtask --root \"$PWD\" branch-guard --pre-push -- \"$@\"\n",
            "else\n",
            "  cd \"$(git rev-parse --show-toplevel)\" || exit 2\n",
            "  run_xtask --root \"$PWD\" branch-guard --pre-push -- \"$@\"\n",
            "fi\n",
        ),
        other => unreachable!("no hook named {other}"),
    };
    format!(
        "#!/bin/sh\n{MARKER} ({name}), written by `cargo xtask hooks`: do not edit. `cargo xtask hooks --check`\n\
         # verifies it, `cargo xtask hooks --uninstall` removes it. The {name} hook that was here before\n\
         # is kept as {name}.local and runs first. XTASK_BIN=<path> runs that xtask binary instead.\n\
         {RUNNER}{body}"
    )
}

/// What is at a hook's path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Missing,
    /// Ours, exactly as this version writes it.
    Current {
        executable: bool,
    },
    /// Ours, from another version or edited.
    Stale {
        executable: bool,
    },
    /// Another tool's (or the user's) hook.
    Foreign,
    /// A directory or other non-file: nothing we can run or keep.
    Unusable,
}

#[derive(Debug)]
struct Slot {
    name: &'static str,
    path: PathBuf,
    local: PathBuf,
    state: State,
    local_exists: bool,
}

/// The directory git runs hooks from, for the repository at `root`.
pub fn hooks_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let sh = git::shell(root)?;
    let out = git::answer(&sh, &["rev-parse", "--git-path", "hooks"])?;
    if !out.ok() {
        return Err(exit::usage(format!(
            "{} is not a git repository (git rev-parse --git-path hooks failed: {})",
            root.display(),
            out.stderr.trim()
        )));
    }
    let dir = PathBuf::from(out.stdout.trim());
    Ok(if dir.is_absolute() {
        dir
    } else {
        root.join(dir)
    })
}

fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn state_of(path: &Path, name: &str) -> State {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return State::Missing;
    };
    if meta.file_type().is_symlink() {
        return State::Foreign;
    }
    if !meta.is_file() {
        return State::Unusable;
    }
    let executable = meta.permissions().mode() & 0o111 != 0;
    match std::fs::read(path) {
        Ok(bytes) if bytes == script(name).as_bytes() => State::Current { executable },
        Ok(bytes)
            if String::from_utf8_lossy(&bytes)
                .lines()
                .any(|l| l.starts_with(MARKER)) =>
        {
            State::Stale { executable }
        }
        _ => State::Foreign,
    }
}

fn slots(dir: &Path) -> Vec<Slot> {
    HOOKS
        .iter()
        .map(|&name| {
            let path = dir.join(name);
            let local = dir.join(format!("{name}.local"));
            Slot {
                name,
                state: state_of(&path, name),
                local_exists: exists(&local),
                path,
                local,
            }
        })
        .collect()
}

/// The problems with the installed hooks, one line each naming the hook;
/// empty when all of them are installed, executable and current.
/// A commit would fail when the hooks cannot find an xtask to run: the
/// resolution the hooks use is run too ([`runner::resolve`]).
pub fn check(ctx: &Ctx) -> anyhow::Result<Vec<String>> {
    let dir = hooks_dir(&ctx.root)?;
    let mut problems: Vec<String> = slots(&dir).iter().filter_map(problem).collect();
    if let Err(why) = runner::resolve(&ctx.root) {
        problems.push(format!(
            "the hooks cannot run the xtask, so every commit and push would fail: {why}"
        ));
    }
    Ok(problems)
}

/// `cargo xtask hooks`, `make hooks` or `xtask hooks`, as the user runs it.
pub fn install_command() -> String {
    env::invocation().command("hooks", Some("hooks"))
}

fn problem(slot: &Slot) -> Option<String> {
    let (name, path) = (slot.name, slot.path.display());
    match slot.state {
        State::Current { executable: true } => None,
        State::Missing => Some(format!("{name} hook is missing ({path}): run {}", install_command())),
        State::Current { executable: false } => {
            Some(format!("{name} hook is not executable ({path}): run {}", install_command()))
        }
        State::Stale { executable } => Some(format!(
            "{name} hook is out of date{} ({path}): run {}",
            if executable { "" } else { " and not executable" },
            install_command()
        )),
        State::Foreign => Some(format!(
            "{name} hook is not installed: {path} is another hook: run {} (it keeps that one as {name}.local and runs it first)",
            install_command()
        )),
        State::Unusable => Some(format!(
            "{name} hook is missing: {path} is not a file: remove it, then run {}",
            install_command()
        )),
    }
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let dir = hooks_dir(&ctx.root)?;
    if flags.check {
        let slots = slots(&dir);
        let problems = check(ctx)?;
        let states: Vec<_> = slots
            .iter()
            .map(|s| (s.name, state_name(&s.state)))
            .collect();
        report(ctx, "check", &dir, &states, &problems, &[]);
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(exit::silent(exit::FAILED))
        };
    }
    if flags.uninstall {
        if !dir.is_dir() {
            return uninstall(ctx, &dir, &slots(&dir));
        }
        // The hooks are read again under the lock: what another run changed counts.
        let _lock = txn::lock(&dir)?;
        return uninstall(ctx, &dir, &slots(&dir));
    }
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| exit::usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    let _lock = txn::lock(&dir)?;
    install(ctx, &dir, &slots(&dir))
}

fn state_name(state: &State) -> &'static str {
    match state {
        State::Missing => "missing",
        State::Current { executable: true } => "installed",
        State::Current { executable: false } => "not-executable",
        State::Stale { .. } => "out-of-date",
        State::Foreign => "foreign",
        State::Unusable => "not-a-file",
    }
}

fn report(
    ctx: &Ctx,
    action: &str,
    dir: &Path,
    done: &[(&str, &str)],
    problems: &[String],
    warnings: &[String],
) {
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "hooks",
            "action": action,
            "status": if problems.is_empty() { "passed" } else { "failed" },
            "hooks_dir": dir.display().to_string(),
            "hooks": done.iter().map(|(n, s)| json!({ "name": n, "result": s })).collect::<Vec<_>>(),
            "problems": problems,
            "warnings": warnings,
        })),
        Format::Human => {
            for problem in problems {
                output::error(problem);
            }
            for warning in warnings {
                output::warning(warning);
            }
            if problems.is_empty() {
                for (name, what) in done {
                    output::say(&format!("{name}: {what}"));
                }
                if action == "check" {
                    output::say(&output::green(&format!(
                        "hooks are installed and current in {}",
                        dir.display()
                    )));
                }
            }
        }
    }
}

enum Action {
    Nothing,
    Chmod,
    Write,
    KeepThenWrite,
}

fn install(ctx: &Ctx, dir: &Path, slots: &[Slot]) -> anyhow::Result<()> {
    // Validate every hook before touching any.
    let mut problems = Vec::new();
    let mut plan = Vec::new();
    for slot in slots {
        let action = match slot.state {
            State::Current { executable: true } => Action::Nothing,
            State::Current { executable: false } => Action::Chmod,
            State::Missing | State::Stale { .. } => Action::Write,
            State::Foreign if slot.local_exists => {
                problems.push(format!(
                    "{name} hook: cannot keep {path} as {local}, which exists too: move one of them away (e.g. mv {local} {local}.bak), then run {again} again",
                    again = install_command(),
                    name = slot.name,
                    path = slot.path.display(),
                    local = slot.local.display()
                ));
                Action::Nothing
            }
            State::Foreign => Action::KeepThenWrite,
            State::Unusable => {
                problems.push(problem(slot).unwrap_or_default());
                Action::Nothing
            }
        };
        plan.push(action);
    }
    if !problems.is_empty() {
        report(ctx, "install", dir, &[], &problems, &[]);
        return Err(exit::silent(exit::FAILED));
    }
    let mut journal = txn::Journal::default();
    let done = apply(&mut journal, slots, &plan).map_err(|e| undone(journal, e))?;
    report(
        ctx,
        "install",
        dir,
        &done,
        &[],
        &runner::warnings(&ctx.root),
    );
    if ctx.format == Format::Human {
        output::say(&output::green(&format!(
            "hooks installed in {} (verify: {})",
            dir.display(),
            env::invocation().command("hooks --check", None)
        )));
    }
    Ok(())
}

/// Carries out the plan, each step recorded in `journal`.
fn apply(
    journal: &mut txn::Journal,
    slots: &[Slot],
    plan: &[Action],
) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let mut done = Vec::new();
    for (slot, action) in slots.iter().zip(plan) {
        let what = match action {
            Action::Nothing => "up to date",
            Action::Chmod => {
                journal.make_executable(&slot.path)?;
                "made executable"
            }
            Action::Write => {
                journal.write(&slot.path, &script(slot.name))?;
                if matches!(slot.state, State::Stale { .. }) {
                    "updated"
                } else {
                    "installed"
                }
            }
            Action::KeepThenWrite => {
                journal.keep(&slot.path, &slot.local)?;
                journal.write(&slot.path, &script(slot.name))?;
                "installed; the hook that was there is kept as .local and runs first"
            }
        };
        done.push((slot.name, what));
    }
    Ok(done)
}

/// A failed step's error, after every earlier step is undone.
fn undone(journal: txn::Journal, e: anyhow::Error) -> anyhow::Error {
    let left = journal.rollback();
    if left.is_empty() {
        exit::usage(format!(
            "{e:#}; every change was undone: the hooks are as they were"
        ))
    } else {
        exit::usage(format!(
            "{e:#}; undoing the changes failed too:\n  {}",
            left.join("\n  ")
        ))
    }
}

fn uninstall(ctx: &Ctx, dir: &Path, slots: &[Slot]) -> anyhow::Result<()> {
    let mut journal = txn::Journal::default();
    let done = remove_ours(&mut journal, slots).map_err(|e| undone(journal, e))?;
    report(ctx, "uninstall", dir, &done, &[], &[]);
    Ok(())
}

/// Removes our hooks and puts the kept ones back, each step in `journal`.
fn remove_ours(
    journal: &mut txn::Journal,
    slots: &[Slot],
) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let mut done = Vec::new();
    for slot in slots {
        let ours = matches!(slot.state, State::Current { .. } | State::Stale { .. });
        let what = match (ours, &slot.state, slot.local_exists) {
            (true, _, local) => {
                journal.remove(&slot.path)?;
                if local {
                    journal.put_back(&slot.local, &slot.path)?;
                    "removed; the hook kept as .local is back"
                } else {
                    "removed"
                }
            }
            (false, State::Missing, true) => {
                journal.put_back(&slot.local, &slot.path)?;
                "the hook kept as .local is back"
            }
            (false, State::Missing, false) => "not installed",
            (false, _, _) => "not ours: left as it is",
        };
        done.push((slot.name, what));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_is_marked_runs_the_local_hook_first_and_calls_branch_guard() {
        for name in HOOKS {
            let text = script(name);
            assert!(text.starts_with("#!/bin/sh\n"), "{text}");
            assert!(text.lines().nth(1).unwrap().starts_with(MARKER), "{text}");
            let local = text.find("$0.local").expect("runs the kept hook");
            let guard = text.rfind("branch-guard").unwrap();
            assert!(local < guard, "the kept hook runs first:\n{text}");
            assert!(text.contains("-type f -newer \"$bin\""), "{text}");
            assert!(text.contains("set -- cargo xtask \"$@\""), "{text}");
            assert!(text.contains("command -v xtask"), "{text}");
        }
        assert!(script("commit-msg").contains("branch-guard --commit-msg \"$msg\""));
        assert!(script("pre-push").contains("branch-guard --pre-push -- \"$@\""));
    }
}
