//! The git plumbing the commands share, through xshell (argv, no shell).
//!
//! Every function takes the repository root explicitly; nothing here
//! changes the process's directory or environment.

use std::path::{Path, PathBuf};

use anyhow::Context;
use xshell::{cmd, Cmd, Shell};

use crate::plumbing::{exit, signals};

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
    match read_if_ok(&sh, &["rev-parse", "--show-toplevel"])? {
        Some(out) => Ok(PathBuf::from(out.trim())),
        None => Err(exit::usage(format!(
            "{} is not inside a git repository: run from one, or pass --root DIR",
            dir.display()
        ))),
    }
}

pub fn head_sha(sh: &Shell) -> anyhow::Result<String> {
    let a = answer(sh, &["rev-parse", "--verify", "HEAD^{commit}"])?;
    Ok(environmental(a)
        .context("HEAD does not name a commit")?
        .stdout
        .trim()
        .to_string())
}

pub fn tree_sha(sh: &Shell, sha: &str) -> anyhow::Result<String> {
    let a = answer(sh, &["rev-parse", "--verify", &format!("{sha}^{{tree}}")])?;
    Ok(environmental(a)?.stdout.trim().to_string())
}

/// `git status --porcelain` lines: staged, unstaged and untracked changes.
pub fn dirty_paths(sh: &Shell) -> anyhow::Result<Vec<String>> {
    // Not `read`: trimming would eat the first line's leading status column.
    let out = environmental(answer(
        sh,
        &["status", "--porcelain", "--untracked-files=all"],
    )?)?;
    Ok(out.stdout.lines().map(str::to_string).collect())
}

/// The checked-out branch, or `None` on a detached HEAD.
pub fn current_branch(sh: &Shell) -> anyhow::Result<Option<String>> {
    let out = read_if_ok(sh, &["symbolic-ref", "--quiet", "--short", "HEAD"])?;
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
    let notes = format!("--ref={notes_ref}");
    read_if_ok(sh, &["notes", &notes, "show", sha])
}

/// The standard output of `cmd` when it exits 0, `None` when it fails (how
/// git says a ref, note or file does not exist). Errs only when the command
/// cannot be run at all.
pub fn stdout_if_ok(cmd: Cmd<'_>) -> anyhow::Result<Option<String>> {
    let out = signals::shielded(|| cmd.quiet().ignore_status().output())?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// How long an append keeps retrying after losing races for the notes ref
/// (or finding it locked): long enough for many writers on a loaded
/// machine, short enough that a stale `REF.lock` fails the run promptly.
const APPEND_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Appends one line to the note on `sha` in `refs/notes/<notes_ref>`;
/// earlier lines are never rewritten, and concurrent appends never lose one
/// another's lines. Works without a configured identity (CI machines often
/// have none).
///
/// The append is a compare-and-swap: the new notes commit is built on a
/// scratch ref from the value `OLD` the ref had when we read it (git's own
/// notes code, so fan-out trees stay right), then `git update-ref REF NEW
/// OLD` moves the ref only if nobody moved it meanwhile. A lost race
/// retries from the new value, with backoff, a bounded number of times; a
/// ref that stays locked (a stale `REF.lock`) ends in an error that quotes
/// git, never in a silent loss.
pub fn append_note(sh: &Shell, notes_ref: &str, sha: &str, line: &str) -> anyhow::Result<()> {
    append_note_within(sh, notes_ref, sha, line, APPEND_PATIENCE)
}

/// [`append_note`], retrying for at most `patience`.
fn append_note_within(
    sh: &Shell,
    notes_ref: &str,
    sha: &str,
    line: &str,
    patience: std::time::Duration,
) -> anyhow::Result<()> {
    let full = format!("refs/notes/{notes_ref}");
    let identity = identity_env(sh)?;
    let started = std::time::Instant::now();
    let mut attempt = 0u32;
    let last = loop {
        let why = match try_append(sh, &full, sha, line, &identity)? {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        attempt += 1;
        if let Some((lock, age)) = stale_lock(&why) {
            return Err(exit::failed(format!(
                "cannot write to {full} on {sha}: {lock} has been there for {:.0}s, and git holds a ref lock for milliseconds: a git process that crashed left it behind. If no git command is running in this repository, remove it (rm {lock}) and rerun; git said: {why}",
                age.as_secs_f64()
            )));
        }
        if started.elapsed() >= patience {
            break why;
        }
        backoff(attempt);
    };
    Err(exit::failed(format!(
        "cannot write to {full} on {sha} ({attempt} attempts in {:.1}s): {last}",
        started.elapsed().as_secs_f64()
    )))
}

/// How old a ref lock is when no live git holds it any more: git takes a
/// ref lock for the milliseconds of one update, so a lock this old was left
/// by a git that crashed, and waiting out the patience would not help.
const STALE_LOCK: std::time::Duration = std::time::Duration::from_secs(2);

/// The lock file git's refusal `why` names ("Unable to create
/// '…/refs/notes/x.lock': File exists.") and its age, when it is stale.
fn stale_lock(why: &str) -> Option<(String, std::time::Duration)> {
    const SAID: &str = "Unable to create '";
    let start = why.find(SAID)? + SAID.len();
    let path = &why[start..start + why[start..].find('\'')?];
    // A loose ref's lock only: `packed-refs.lock` is also held by a
    // `git pack-refs` or `git gc`, which can take seconds on a large
    // repository; that one is waited out.
    if !path.ends_with(".lock") || path.ends_with("packed-refs.lock") {
        return None;
    }
    let age = std::fs::metadata(path)
        .ok()?
        .modified()
        .ok()?
        .elapsed()
        .ok()?;
    (age >= STALE_LOCK).then(|| (path.to_string(), age))
}

/// The stand-in identity for machines that have none configured.
fn identity_env(sh: &Shell) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    Ok(if has_identity(sh)? {
        Vec::new()
    } else {
        vec![
            ("GIT_AUTHOR_NAME", "xtask"),
            ("GIT_AUTHOR_EMAIL", "xtask@localhost"),
            ("GIT_COMMITTER_NAME", "xtask"),
            ("GIT_COMMITTER_EMAIL", "xtask@localhost"),
        ]
    })
}

/// One compare-and-swap attempt: `Ok(Ok(()))` appended, `Ok(Err(why))` lost
/// a race or found the ref locked (worth a retry), `Err` git cannot run.
fn try_append(
    sh: &Shell,
    full: &str,
    sha: &str,
    line: &str,
    identity: &[(&str, &str)],
) -> anyhow::Result<Result<(), String>> {
    // One attempt is one unit for a signal: the scratch ref it creates is
    // always deleted before the tool exits with 130.
    signals::shielded(|| attempt_append(sh, full, sha, line, identity))
}

fn attempt_append(
    sh: &Shell,
    full: &str,
    sha: &str,
    line: &str,
    identity: &[(&str, &str)],
) -> anyhow::Result<Result<(), String>> {
    let old =
        read_if_ok(sh, &["rev-parse", "--verify", "--quiet", full])?.map(|s| s.trim().to_string());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let scratch = format!("refs/notes/xtask-append/{}-{nanos}", std::process::id());
    if let Some(old) = &old {
        run(sh, &["update-ref", &scratch, old])?;
    }
    let result = build_and_swap(sh, full, &scratch, old.as_deref(), sha, line, identity);
    let _ = answer(sh, &["update-ref", "-d", &scratch]);
    result
}

fn build_and_swap(
    sh: &Shell,
    full: &str,
    scratch: &str,
    old: Option<&str>,
    sha: &str,
    line: &str,
    identity: &[(&str, &str)],
) -> anyhow::Result<Result<(), String>> {
    let notes = format!("--ref={scratch}");
    let mut text = read_if_ok(sh, &["notes", &notes, "show", sha])?.unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line.trim_end());
    text.push('\n');
    // `--force` replaces the note object on the scratch ref only; the earlier
    // lines are in `text` unchanged.
    answer_env(
        sh,
        &["notes", &notes, "add", "--force", "--file=-", sha],
        Some(&text),
        identity,
    )?
    .checked()?;
    let new = read(sh, &["rev-parse", "--verify", scratch])?;
    let zero = "0".repeat(new.len());
    let swap = answer(sh, &["update-ref", full, &new, old.unwrap_or(&zero)])?;
    Ok(if swap.ok() {
        Ok(())
    } else {
        Err(swap.words().to_string())
    })
}

/// Sleeps before retry `attempt` (1-based): a random wait below a ceiling
/// that doubles from 10 ms to 320 ms, so that racing writers spread out
/// (the randomness is the clock's nanoseconds and the pid; no crate).
fn backoff(attempt: u32) {
    let ceiling = 10u64 << attempt.min(5);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    let noise = nanos ^ u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    std::thread::sleep(std::time::Duration::from_millis(1 + noise % ceiling));
}

/// Whether git has a committer identity (`user.name`/`user.email` or the
/// `GIT_COMMITTER_*` variables). Asked once per repository directory in a
/// run: a deploy appends several ledger entries, and each used to start its
/// own `git var`.
pub fn has_identity(sh: &Shell) -> anyhow::Result<bool> {
    static KNOWN: std::sync::Mutex<Vec<(std::path::PathBuf, bool)>> =
        std::sync::Mutex::new(Vec::new());
    let dir = sh.current_dir();
    let known = |list: &[(std::path::PathBuf, bool)]| {
        list.iter().find(|(d, _)| *d == dir).map(|(_, yes)| *yes)
    };
    if let Some(yes) = known(&KNOWN.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(yes);
    }
    let yes = cmd!(sh, "git var GIT_COMMITTER_IDENT")
        .quiet()
        .ignore_status()
        .output()?
        .status
        .success();
    KNOWN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((dir.clone(), yes));
    Ok(yes)
}

/// What git answered: its exit status and its own words. For callers that
/// present git's message, or that read a refusal (a failed push, a merge
/// conflict) as a finding rather than an error.
#[derive(Debug)]
pub struct Answer {
    /// The command as run, for messages (`git push --quiet origin main`).
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// git's own words: its stderr, else its stdout, trimmed.
    pub fn words(&self) -> &str {
        let err = self.stderr.trim();
        if err.is_empty() {
            self.stdout.trim()
        } else {
            err
        }
    }

    /// The failure as an error (exit 1) that names the command and quotes git.
    pub fn failure(&self) -> anyhow::Error {
        exit::failed(format!("`{}` failed: {}", self.command, self.words()))
    }

    /// `Ok(self)` when git succeeded, else [`Answer::failure`].
    pub fn checked(self) -> anyhow::Result<Answer> {
        if self.ok() {
            Ok(self)
        } else {
            Err(self.failure())
        }
    }
}

/// Runs `git ARGS` quietly (nothing echoed, output captured) and reports
/// git's answer whatever its status; errs only when git cannot be run.
pub fn answer(sh: &Shell, args: &[&str]) -> anyhow::Result<Answer> {
    answer_with(sh, args, None)
}

/// [`answer`] with `input` on git's standard input.
pub fn answer_with(sh: &Shell, args: &[&str], input: Option<&str>) -> anyhow::Result<Answer> {
    answer_env(sh, args, input, &[])
}

/// [`answer_with`] with extra environment variables for git alone.
pub fn answer_env(
    sh: &Shell,
    args: &[&str],
    input: Option<&str>,
    env: &[(&str, &str)],
) -> anyhow::Result<Answer> {
    let mut c = cmd!(sh, "git {args...}").quiet().ignore_status();
    if let Some(input) = input {
        c = c.stdin(input);
    }
    for (k, v) in env {
        c = c.env(k, v);
    }
    let command = format!("git {}", args.join(" "));
    // A signal waits for this git command to finish (signals.rs): a ref,
    // tag or note is written whole or not at all.
    let out = signals::shielded(|| c.output()).map_err(|e| {
        exit::usage(format!(
            "git is required but `{command}` cannot be run: {e}"
        ))
    })?;
    Ok(Answer {
        command,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// `Ok(a)` when git succeeded; else a usage/environment error (exit 2)
/// naming the command and quoting git: for questions every repository must
/// answer (HEAD, its tree, its status), where a failure is never a finding.
fn environmental(a: Answer) -> anyhow::Result<Answer> {
    if a.ok() {
        Ok(a)
    } else {
        Err(exit::usage(format!(
            "`{}` failed: {}",
            a.command,
            a.words()
        )))
    }
}

/// Runs `git ARGS` and returns its standard output, trimmed; a failure
/// names the command and git's stderr.
pub fn read(sh: &Shell, args: &[&str]) -> anyhow::Result<String> {
    Ok(answer(sh, args)?.checked()?.stdout.trim().to_string())
}

/// Runs `git ARGS` for its effect; a failure names the command and git's stderr.
pub fn run(sh: &Shell, args: &[&str]) -> anyhow::Result<()> {
    answer(sh, args)?.checked().map(drop)
}

/// A question git answers with its exit status (`merge-base --is-ancestor`,
/// `show-ref --verify --quiet`): true on 0, false on 1. Any other status
/// is git failing to answer, an error naming the command and git's stderr.
pub fn test(sh: &Shell, args: &[&str]) -> anyhow::Result<bool> {
    let a = answer(sh, args)?;
    match a.code {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(a.failure()),
    }
}

/// The standard output of `git ARGS` when it exits 0, `None` when it fails
/// (how git says a ref, note or file does not exist). Errs only when git
/// cannot be run.
pub fn read_if_ok(sh: &Shell, args: &[&str]) -> anyhow::Result<Option<String>> {
    let a = answer(sh, args)?;
    Ok(a.ok().then_some(a.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory removed on drop (std only, no tempfile crate).
    mod tempdir {
        pub struct Dir(std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "xtask-git-unit-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
            pub fn path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn repo() -> (tempdir::Dir, Shell) {
        let dir = tempdir::Dir::new();
        let sh = shell(dir.path()).unwrap();
        sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
        sh.set_var("GIT_CONFIG_GLOBAL", "/dev/null");
        run(&sh, &["init", "--quiet"]).unwrap();
        (dir, sh)
    }

    #[test]
    fn a_failure_names_the_command_and_quotes_git() {
        let (_dir, sh) = repo();
        let err = read(&sh, &["rev-parse", "--verify", "no-such-ref"]).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("`git rev-parse --verify no-such-ref` failed"),
            "{message}"
        );
        assert!(
            message.contains("fatal: Needed a single revision"),
            "{message}"
        );
        assert_eq!(exit::code_of(&err), exit::FAILED);
    }

    #[test]
    fn questions_answer_true_false_or_fail() {
        let (_dir, sh) = repo();
        assert!(test(&sh, &["check-ref-format", "refs/heads/ok"]).unwrap());
        assert!(!test(&sh, &["check-ref-format", "refs/heads/a..b"]).unwrap());
        // Status 128 is git failing to answer, not "no".
        let err = test(&sh, &["merge-base", "--is-ancestor", "nope", "HEAD"]).unwrap_err();
        assert!(format!("{err:#}").contains("git merge-base --is-ancestor nope HEAD"));
        assert_eq!(
            read_if_ok(&sh, &["rev-parse", "--verify", "--quiet", "HEAD"]).unwrap(),
            None
        );
        let a = answer_with(&sh, &["hash-object", "--stdin"], Some("x\n")).unwrap();
        assert!(a.ok() && a.stdout.trim().len() == 40, "{a:?}");
    }

    fn commit(sh: &Shell) -> String {
        let env = [
            ("GIT_AUTHOR_NAME", "t"),
            ("GIT_AUTHOR_EMAIL", "t@t"),
            ("GIT_COMMITTER_NAME", "t"),
            ("GIT_COMMITTER_EMAIL", "t@t"),
        ];
        answer_env(
            sh,
            &["commit", "--quiet", "--allow-empty", "-m", "c"],
            None,
            &env,
        )
        .unwrap()
        .checked()
        .unwrap();
        read(sh, &["rev-parse", "HEAD"]).unwrap()
    }

    #[test]
    fn concurrent_appends_keep_every_line() {
        let (dir, sh) = repo();
        let sha = commit(&sh);
        let (writers, each) = (6, 5);
        std::thread::scope(|s| {
            for w in 0..writers {
                let (root, sha) = (dir.path().to_path_buf(), sha.clone());
                s.spawn(move || {
                    let sh = shell(&root).unwrap();
                    sh.set_var("GIT_CONFIG_NOSYSTEM", "1");
                    sh.set_var("GIT_CONFIG_GLOBAL", "/dev/null");
                    for i in 0..each {
                        append_note(&sh, "evidence", &sha, &format!("writer {w} line {i}"))
                            .unwrap();
                    }
                });
            }
        });
        let text = note(&sh, "evidence", &sha).unwrap().unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        let mut expected: Vec<String> = (0..writers)
            .flat_map(|w| (0..each).map(move |i| format!("writer {w} line {i}")))
            .collect();
        expected.sort();
        assert_eq!(lines, expected);
        // No scratch ref is left behind.
        let refs = read(&sh, &["for-each-ref", "refs/notes/"]).unwrap();
        assert!(!refs.contains("xtask-append"), "{refs}");
    }

    #[test]
    fn only_an_old_loose_ref_lock_is_stale() {
        let (dir, _sh) = repo();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        let said = |path: &std::path::Path| {
            format!("fatal: Unable to create '{}': File exists.", path.display())
        };
        let loose = dir.path().join("x.lock");
        let packed = dir.path().join("packed-refs.lock");
        for path in [&loose, &packed] {
            let file = std::fs::File::create(path).unwrap();
            file.set_modified(hour_ago).unwrap();
        }
        assert!(stale_lock(&said(&loose)).is_some());
        // `git gc` may hold it for seconds: waited out, never called stale.
        assert_eq!(stale_lock(&said(&packed)), None);
        // A fresh lock is a live git's: retried.
        let fresh = dir.path().join("y.lock");
        std::fs::write(&fresh, "").unwrap();
        assert_eq!(stale_lock(&said(&fresh)), None);
        assert_eq!(stale_lock("error: something else"), None);
    }

    #[test]
    fn a_stale_lock_is_an_error_that_quotes_git() {
        let (dir, sh) = repo();
        let sha = commit(&sh);
        append_note(&sh, "evidence", &sha, "first").unwrap();
        let lock = dir.path().join(".git/refs/notes/evidence.lock");
        std::fs::write(&lock, "").unwrap();
        let patience = std::time::Duration::from_millis(300);
        let err = append_note_within(&sh, "evidence", &sha, "second", patience).unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("cannot write to refs/notes/evidence"),
            "{message}"
        );
        assert!(message.contains(".lock"), "{message}");
        assert_eq!(exit::code_of(&err), exit::FAILED);
        // A lock an hour old was left by a crashed git: the append fails at
        // once, long before its patience, saying what to remove.
        let file = std::fs::File::options().write(true).open(&lock).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        file.set_modified(hour_ago).unwrap();
        let started = std::time::Instant::now();
        let patience = std::time::Duration::from_secs(60);
        let err = append_note_within(&sh, "evidence", &sha, "second", patience).unwrap_err();
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
        let message = format!("{err:#}");
        assert!(message.contains("has been there for 3600s"), "{message}");
        assert!(
            message.contains(&format!("rm {}", lock.display())),
            "{message}"
        );
        std::fs::remove_file(&lock).unwrap();
        assert_eq!(note(&sh, "evidence", &sha).unwrap().unwrap(), "first\n");
    }

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
