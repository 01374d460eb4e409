//! `branch-guard`: commits and pushes happen on task branches only (the
//! runbook's "one task = one branch = one PR"). The installed hooks
//! (`hooks.rs`) run it: pre-commit judges the checked-out branch (during a
//! rebase, the branch being rebased), commit-msg also judges the message,
//! pre-push judges the refs being pushed.
//!
//! The judgements are pure functions of gathered facts; the I/O (one git
//! call on the usual path, which is what keeps commit latency low) is in
//! [`head_state`].

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;
use xshell::Shell;

use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{Git, Task};
use crate::plumbing::{exit, git, Ctx};
use crate::task::id as task_id;

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Pre-push mode (the pre-push hook): read git's ref lines (`<local ref> <local sha> <remote ref> <remote sha>`)
    /// from stdin; refuse a push to the main branch or to a branch outside the task template. Tags and notes pass.
    #[arg(long, conflicts_with = "commit_msg")]
    pub pre_push: bool,
    /// Commit-msg mode (the commit-msg hook): also check the message in FILE: it must not name another task's id
    /// (and must name the branch's id when the policy sets `task.require-id-in-commit-message`).
    #[arg(long, value_name = "FILE")]
    pub commit_msg: Option<PathBuf>,
    /// With --pre-push: the remote's name, as git passes it to the hook.
    #[arg(value_name = "REMOTE", requires = "pre_push")]
    pub remote: Option<String>,
    /// With --pre-push: the remote's URL, as git passes it to the hook. Never printed (it may hold a credential).
    #[arg(value_name = "URL", requires = "pre_push")]
    // Accepted so that git's hook arguments parse; deliberately never read.
    #[allow(dead_code)]
    pub url: Option<String>,
}

/// What HEAD is, as far as the guard cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Head {
    /// On a branch (`refs/heads/<name>`, given without the prefix).
    Branch(String),
    /// Detached, and no rebase in progress.
    Detached,
    /// A rebase is in progress; the branch being rebased, `None` when a
    /// detached HEAD is being rebased.
    Rebasing(Option<String>),
}

/// The report of one run, as printed with `--format json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub command: &'static str,
    pub status: &'static str,
    pub mode: &'static str,
    pub branch: Option<String>,
    pub task: Option<String>,
    pub rebase: bool,
    pub pushes: Vec<Push>,
    pub problems: Vec<String>,
    pub bypasses: Vec<Bypass>,
}

/// One ref git is about to push (a line of the pre-push hook's stdin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Push {
    pub local_ref: String,
    pub local_sha: String,
    pub remote_ref: String,
    pub remote_sha: String,
}

impl Push {
    fn is_delete(&self) -> bool {
        self.local_sha.chars().all(|c| c == '0')
    }
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let mut report = Report {
        command: "branch-guard",
        status: "passed",
        mode: mode_of(flags),
        branch: None,
        task: None,
        rebase: false,
        pushes: Vec::new(),
        problems: Vec::new(),
        bypasses: Vec::new(),
    };
    // The bypass is read first: a bad value is a usage error before anything else.
    if env::SKIP_BRANCH_GUARD.read()? {
        let bypass = Bypass::new(
            env::SKIP_BRANCH_GUARD,
            "branch-guard did not check the branch, the pushed refs or the commit message",
        );
        bypass.warn();
        report.status = "bypassed";
        report.bypasses.push(bypass);
        return finish(ctx, &report);
    }
    // Everything the user passed is read and validated before git is asked anything.
    let inputs = read_inputs(flags)?;
    match inputs.pushes {
        Some(pushes) => guard_pushes(ctx, &mut report, pushes, flags.remote.as_deref()),
        None => guard_branch(ctx, &mut report, inputs.message.as_deref())?,
    }
    finish(ctx, &report)
}

fn mode_of(flags: &Flags) -> &'static str {
    if flags.pre_push {
        "pre-push"
    } else if flags.commit_msg.is_some() {
        "commit-msg"
    } else {
        "branch"
    }
}

/// What the hook handed over: the commit message, or the refs being pushed.
struct Inputs {
    message: Option<String>,
    pushes: Option<Vec<Push>>,
}

/// Reads and validates the message file, the pushed refs and the remote name.
fn read_inputs(flags: &Flags) -> anyhow::Result<Inputs> {
    let message = match &flags.commit_msg {
        Some(path) => Some(read_message(path)?),
        None => None,
    };
    let pushes = if flags.pre_push {
        Some(read_pushes()?)
    } else {
        None
    };
    if let Some(remote) = &flags.remote {
        if remote.is_empty() || remote.chars().any(char::is_control) {
            return Err(exit::usage(format!("{remote:?} is not a remote name")));
        }
    }
    Ok(Inputs { message, pushes })
}

/// Pre-push mode: judges the refs being pushed (no git call).
fn guard_pushes(ctx: &Ctx, report: &mut Report, pushes: Vec<Push>, remote: Option<&str>) {
    let policy = &ctx.policy.policy;
    report.problems = judge_pushes(&policy.task, &policy.git, &pushes, remote);
    report.pushes = pushes;
    if report.problems.is_empty() {
        let names: Vec<&str> = report
            .pushes
            .iter()
            .map(|p| p.remote_ref.as_str())
            .collect();
        let what = if names.is_empty() {
            "nothing to push".to_string()
        } else {
            names.join(", ")
        };
        say_passed(ctx, &format!("branch guard passed: push of {what}"));
    }
}

/// Branch (and commit-msg) mode: judges HEAD's branch, then the message.
fn guard_branch(ctx: &Ctx, report: &mut Report, message: Option<&str>) -> anyhow::Result<()> {
    let policy = &ctx.policy.policy;
    let sh = git::shell(&ctx.root)?;
    let head = head_state(&sh, &ctx.root)?;
    report.rebase = matches!(head, Head::Rebasing(_));
    report.branch = match &head {
        Head::Branch(b) | Head::Rebasing(Some(b)) => Some(b.clone()),
        _ => None,
    };
    let id = match judge_branch(&policy.task, &policy.git.main_branch, &head) {
        Ok(id) => id,
        Err(problem) => {
            report.problems.push(problem);
            return Ok(());
        }
    };
    let mut bookkeeping = None;
    if let Some(text) = message {
        let ledgers = policy
            .task
            .ledger
            .as_ref()
            .map(|l| l.files())
            .unwrap_or_default();
        // The staged paths are asked for only when they can matter: the
        // message names another task and the policy has ledger files.
        let staged = if !ledgers.is_empty() && names_another_task(&policy.task, &id, text) {
            Some(staged_paths(&sh)?)
        } else {
            None
        };
        let commit = Commit {
            ledgers: &ledgers,
            staged: staged.as_deref(),
        };
        report.problems = judge_message(
            &policy.task,
            &id,
            text,
            policy.task.require_id_in_commit_message,
            &commit,
        );
        if commit.is_bookkeeping() {
            bookkeeping = Some(ledgers.join(", "));
        }
    }
    if report.problems.is_empty() {
        let branch = report.branch.clone().unwrap_or_default();
        let during = if report.rebase {
            " (rebase in progress)"
        } else {
            ""
        };
        let what = match (&bookkeeping, message) {
            (Some(files), _) => format!(
                ", commit message ok (follow-up bookkeeping: it names other tasks and changes only {files})"
            ),
            (None, Some(_)) => ", commit message ok".to_string(),
            (None, None) => String::new(),
        };
        say_passed(
            ctx,
            &format!("branch guard passed: {branch} ({id}){during}{what}"),
        );
    }
    report.task = Some(id);
    Ok(())
}

fn say_passed(ctx: &Ctx, text: &str) {
    if ctx.format == Format::Human {
        output::say(&output::green(text));
    }
}

/// Prints the report (JSON, or the problems for people) and sets the exit code.
fn finish(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    let mut report_status = report.status;
    if !report.problems.is_empty() {
        report_status = "failed";
    }
    match ctx.format {
        Format::Json => {
            let mut value = serde_json::to_value(report)?;
            value["status"] = json!(report_status);
            value["exit_code"] = json!(if report.problems.is_empty() {
                exit::OK
            } else {
                exit::FAILED
            });
            output::json(&value);
        }
        Format::Human => {
            for problem in &report.problems {
                output::error(problem);
            }
        }
    }
    if report.problems.is_empty() {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}

/// Reads HEAD: one `git symbolic-ref` on a branch; when detached, the
/// rebase state files (`rebase-merge/head-name`, `rebase-apply/head-name`
/// under `git rev-parse --git-path`, so worktrees work too).
pub fn head_state(sh: &Shell, root: &Path) -> anyhow::Result<Head> {
    if let Some(full) = git::read_if_ok(sh, &["symbolic-ref", "--quiet", "HEAD"])? {
        return Ok(match full.trim().strip_prefix("refs/heads/") {
            Some(b) => Head::Branch(b.to_string()),
            None => Head::Detached,
        });
    }
    let dirs = git::read(
        sh,
        &[
            "rev-parse",
            "--git-path",
            "rebase-merge",
            "--git-path",
            "rebase-apply",
        ],
    )?;
    for dir in dirs.lines() {
        let dir = root.join(dir);
        if let Ok(text) = std::fs::read_to_string(dir.join("head-name")) {
            return Ok(Head::Rebasing(
                text.trim().strip_prefix("refs/heads/").map(str::to_string),
            ));
        }
        if dir.join("onto").is_file() {
            // A rebase without head-name: the state of a detached rebase.
            return Ok(Head::Rebasing(None));
        }
    }
    Ok(Head::Detached)
}

/// The common tail of a failure: the pattern, an example and the bypass.
fn expected(task: &Task) -> String {
    format!(
        "\n  expected pattern: {} (e.g. {})\n  bypass (printed and recorded): SKIP_BRANCH_GUARD=1",
        task_id::branch_pattern(task),
        task_id::branch_example(task)
    )
}

/// The task id of the branch HEAD stands for, or what is wrong with it.
pub fn judge_branch(task: &Task, main: &str, head: &Head) -> Result<String, String> {
    let pattern = task_id::branch_pattern(task);
    let (branch, during) = match head {
        Head::Branch(b) => (b.as_str(), ""),
        Head::Rebasing(Some(b)) => (b.as_str(), " (being rebased)"),
        Head::Detached => {
            return Err(format!(
                "branch guard failed: HEAD is detached; task commits belong on a task branch.\n  fix: git switch -c {pattern} (keeps the commits you made here){}",
                expected(task)
            ))
        }
        Head::Rebasing(None) => {
            return Err(format!(
                "branch guard failed: a detached HEAD is being rebased; task commits belong on a task branch.\n  fix: git rebase --abort, then git switch <your task branch>{}",
                expected(task)
            ))
        }
    };
    if branch == main {
        return Err(format!(
            "branch guard failed: {branch}{during} is the main branch; it changes only through a merged PR.\n  current branch: {branch}\n  fix: git switch -c {pattern} (your staged and unstaged changes come along), then commit again{}",
            expected(task)
        ));
    }
    match task_id::task_of_branch(task, branch) {
        Some(id) => Ok(id),
        None => Err(format!(
            "branch guard failed: branch {branch}{during} does not match the task branch pattern.\n  current branch: {branch}\n  fix: git branch -m {pattern} (renames this branch){}",
            expected(task)
        )),
    }
}

/// Parses the pre-push hook's stdin; blank lines are ignored.
pub fn parse_pushes(text: &str) -> Result<Vec<Push>, String> {
    let mut pushes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let sha_ok =
            |s: &str| (s.len() == 40 || s.len() == 64) && s.chars().all(|c| c.is_ascii_hexdigit());
        let valid = fields.len() == 4
            && sha_ok(fields[1])
            && sha_ok(fields[3])
            && fields[2].starts_with("refs/")
            && !fields
                .iter()
                .any(|f| f.is_empty() || f.chars().any(char::is_control));
        if !valid {
            return Err(format!(
                "line {} of the pre-push input is not `<local ref> <local sha> <remote ref> <remote sha>`: {:?}",
                i + 1,
                line.chars().take(200).collect::<String>()
            ));
        }
        pushes.push(Push {
            local_ref: fields[0].to_string(),
            local_sha: fields[1].to_string(),
            remote_ref: fields[2].to_string(),
            remote_sha: fields[3].to_string(),
        });
    }
    Ok(pushes)
}

/// Every pushed ref that is refused: anything to the main branch, and a
/// branch (not a deletion) outside the task template. Tags, notes and other
/// refs pass: the release steps push tags and notes from main.
pub fn judge_pushes(task: &Task, git: &Git, pushes: &[Push], remote: Option<&str>) -> Vec<String> {
    let remote = remote.unwrap_or(&git.remote);
    let main_ref = format!("refs/heads/{}", git.main_branch);
    let mut problems = Vec::new();
    for push in pushes {
        let Some(branch) = push.remote_ref.strip_prefix("refs/heads/") else {
            continue;
        };
        if push.remote_ref == main_ref {
            let what = if push.is_delete() {
                "deletes"
            } else {
                "pushes to"
            };
            problems.push(format!(
                "branch guard failed: this push {what} {main} on {remote} ({local} -> {remote_ref}); the main branch changes only through a merged PR.\n  fix: push your task branch instead (git push -u {remote} HEAD:{pattern}) and open a PR\n  bypass (printed and recorded): SKIP_BRANCH_GUARD=1",
                main = git.main_branch,
                local = push.local_ref,
                remote_ref = push.remote_ref,
                pattern = task_id::branch_pattern(task),
            ));
        } else if !push.is_delete() && task_id::task_of_branch(task, branch).is_none() {
            problems.push(format!(
                "branch guard failed: this push creates or updates {branch} on {remote}, which does not match the task branch pattern.\n  pushed: {local} -> {remote_ref}\n  fix: git branch -m {pattern}, then push that branch{tail}",
                local = push.local_ref,
                remote_ref = push.remote_ref,
                pattern = task_id::branch_pattern(task),
                tail = expected(task),
            ));
        }
    }
    problems
}

/// The message as git will store it: comment lines dropped and everything
/// from the scissors line of `git commit -v` on cut off (the diff below it
/// may name any task).
pub fn message_text(raw: &str) -> String {
    let mut kept = Vec::new();
    for line in raw.lines() {
        if line.starts_with("# ") && line.contains(">8") && line.contains("-----") {
            break;
        }
        if !line.starts_with('#') {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// What the commit changes, as far as the message rule cares.
#[derive(Clone, Copy, Debug, Default)]
pub struct Commit<'a> {
    /// The policy's task ledger files.
    pub ledgers: &'a [&'a str],
    /// The staged paths, when they were asked for.
    pub staged: Option<&'a [String]>,
}

impl Commit<'_> {
    /// Follow-up bookkeeping: the commit changes something, and only task
    /// ledger files.
    pub fn is_bookkeeping(&self) -> bool {
        self.staged.is_some_and(|paths| {
            !paths.is_empty() && paths.iter().all(|p| self.ledgers.contains(&p.as_str()))
        })
    }

    /// The staged paths that are not ledger files (at most 5).
    fn work(&self) -> Vec<&str> {
        self.staged
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .filter(|p| !self.ledgers.contains(p))
            .take(5)
            .collect()
    }
}

/// How to start task `number` later, as the user runs the xtask.
fn start_command(number: &str) -> String {
    env::invocation().command(
        &format!("task-start {number} short-name"),
        Some(&format!("task-start TASK={number} NAME=short-name")),
    )
}

/// Whether the message names a task other than `id`.
fn names_another_task(task: &Task, id: &str, raw: &str) -> bool {
    task_id::ids_in_text(task, &message_text(raw))
        .iter()
        .any(|i| i != id)
}

/// The paths the commit being made changes (the index against HEAD; the
/// hook's GIT_INDEX_FILE, for `git commit -a` or `git commit PATHS`).
fn staged_paths(sh: &Shell) -> anyhow::Result<Vec<String>> {
    let out = git::read(
        sh,
        &["diff", "--cached", "--name-only", "--no-renames", "-z"],
    )?;
    Ok(out
        .split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect())
}

/// What is wrong with a commit message on the branch of task `id`. Naming
/// another task is follow-up bookkeeping, and allowed, when the commit
/// changes only the task ledger files.
pub fn judge_message(
    task: &Task,
    id: &str,
    raw: &str,
    require_id: bool,
    commit: &Commit,
) -> Vec<String> {
    let text = message_text(raw);
    let ids = task_id::ids_in_text(task, &text);
    let mut problems = Vec::new();
    let others: Vec<&String> = ids.iter().filter(|i| i.as_str() != id).collect();
    if !others.is_empty() && !commit.is_bookkeeping() {
        let names = others
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let evidence: Vec<String> = text
            .lines()
            .filter(|l| {
                task_id::ids_in_text(task, l)
                    .iter()
                    .any(|i| others.contains(&i))
            })
            .take(5)
            .map(|l| format!("\n  message: {:?}", l.chars().take(200).collect::<String>()))
            .collect();
        let bookkeeping = if commit.ledgers.is_empty() {
            String::new()
        } else {
            let work = commit.work();
            let also = if work.is_empty() {
                String::new()
            } else {
                format!("; this one also changes {}", work.join(", "))
            };
            format!(
                "\n  note: follow-up bookkeeping may name other tasks when the commit changes only the task ledger ({}){also}",
                commit.ledgers.join(", ")
            )
        };
        problems.push(format!(
            "commit message names {names}, but this is the branch of {id}: never mix two tasks in one commit.{}{bookkeeping}\n  fix: leave {names} out of the message (git keeps it in .git/COMMIT_EDITMSG: git commit -e -F .git/COMMIT_EDITMSG), and do that task's work on its own branch later ({later})\n  bypass (printed and recorded): SKIP_BRANCH_GUARD=1",
            evidence.concat(),
            later = start_command(task_id::number(task, others[0])),
        ));
    }
    if require_id && !ids.iter().any(|i| i == id) {
        problems.push(format!(
            "commit message does not name {id}, the branch's task (the policy sets task.require-id-in-commit-message).\n  fix: start the message with \"{id}: \" (git commit -e -F .git/COMMIT_EDITMSG)\n  bypass (printed and recorded): SKIP_BRANCH_GUARD=1"
        ));
    }
    problems
}

/// The largest commit message branch-guard reads.
pub const MAX_MESSAGE: u64 = 4 * 1024 * 1024;

/// The commit message file: a regular file (a FIFO would block the hook
/// forever) of at most [`MAX_MESSAGE`]; any encoding (shown lossily).
fn read_message(path: &Path) -> anyhow::Result<String> {
    let refuse = |what: String| {
        exit::usage(format!(
            "--commit-msg {}: cannot read the commit message file: {what}",
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
    if !meta.is_file() {
        return Err(refuse("it is not a regular file".to_string()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_MESSAGE + 1).read_to_end(&mut bytes))
        .map_err(|e| refuse(e.to_string()))?;
    if bytes.len() as u64 > MAX_MESSAGE {
        return Err(refuse("it is larger than 4 MiB".to_string()));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_pushes() -> anyhow::Result<Vec<Push>> {
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(exit::usage(
            "--pre-push reads the refs being pushed from stdin, as git's pre-push hook passes them: run it from the hook (cargo xtask hooks installs it)",
        ));
    }
    const MAX: u64 = 16 * 1024 * 1024;
    let mut text = String::new();
    stdin
        .by_ref()
        .take(MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| exit::usage(format!("--pre-push: cannot read the refs from stdin: {e}")))?;
    // Never judged cut short: a ref to main past the cut would go unseen.
    if text.len() as u64 > MAX {
        return Err(exit::usage(
            "--pre-push: the refs on stdin are larger than 16 MiB: refused, nothing was judged",
        ));
    }
    parse_pushes(&text).map_err(exit::usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task::default()
    }

    fn check_branch(head: Head, expected: Result<&str, &str>) {
        let got = judge_branch(&task(), "main", &head);
        match (got, expected) {
            (Ok(id), Ok(want)) => assert_eq!(id, want),
            (Err(msg), Err(needle)) => {
                assert!(msg.contains(needle), "{msg}");
                assert!(msg.contains("task-NNN-short-name"), "{msg}");
                assert!(msg.contains("SKIP_BRANCH_GUARD=1"), "{msg}");
            }
            (got, want) => panic!("{head:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn branches_are_judged_against_the_template() {
        check_branch(Head::Branch("task-117-fix-gate".into()), Ok("TASK-117"));
        check_branch(
            Head::Rebasing(Some("task-117-fix-gate".into())),
            Ok("TASK-117"),
        );
        check_branch(Head::Branch("main".into()), Err("main is the main branch"));
        check_branch(
            Head::Rebasing(Some("main".into())),
            Err("main (being rebased) is the main branch"),
        );
        check_branch(
            Head::Branch("feature/x".into()),
            Err("does not match the task branch pattern"),
        );
        check_branch(Head::Branch("task-17-x".into()), Err("does not match"));
        check_branch(Head::Detached, Err("HEAD is detached"));
        check_branch(
            Head::Rebasing(None),
            Err("a detached HEAD is being rebased"),
        );
    }

    const A: &str = "1111111111111111111111111111111111111111";
    const Z: &str = "0000000000000000000000000000000000000000";

    fn push(local: &str, sha: &str, remote: &str) -> Push {
        Push {
            local_ref: local.into(),
            local_sha: sha.into(),
            remote_ref: remote.into(),
            remote_sha: Z.into(),
        }
    }

    #[test]
    fn pushes_to_main_and_to_non_task_branches_are_refused() {
        let t = task();
        let g = Git::default();
        let ok = |p: Push| {
            assert!(
                judge_pushes(&t, &g, std::slice::from_ref(&p), None).is_empty(),
                "{p:?}"
            )
        };
        ok(push("refs/heads/task-117-x", A, "refs/heads/task-117-x"));
        ok(push("refs/tags/v1.2.3", A, "refs/tags/v1.2.3"));
        ok(push(
            "refs/notes/release-gate",
            A,
            "refs/notes/release-gate",
        ));
        ok(push("(delete)", Z, "refs/heads/task-117-x"));
        ok(push("(delete)", Z, "refs/heads/old-feature"));
        let bad = |p: Push, needle: &str| {
            let problems = judge_pushes(&t, &g, &[p], Some("upstream"));
            assert_eq!(problems.len(), 1);
            assert!(problems[0].contains(needle), "{}", problems[0]);
        };
        bad(
            push("refs/heads/main", A, "refs/heads/main"),
            "pushes to main on upstream",
        );
        bad(
            push("refs/heads/task-117-x", A, "refs/heads/main"),
            "refs/heads/task-117-x -> refs/heads/main",
        );
        bad(push("(delete)", Z, "refs/heads/main"), "deletes main");
        bad(
            push("refs/heads/feature", A, "refs/heads/feature"),
            "does not match the task branch pattern",
        );
        let two = [
            push("refs/heads/main", A, "refs/heads/main"),
            push("refs/heads/x", A, "refs/heads/x"),
        ];
        assert_eq!(
            judge_pushes(&t, &g, &two, None).len(),
            2,
            "every refused ref is reported"
        );
    }

    #[test]
    fn pre_push_input_is_parsed_strictly() {
        let line = format!("refs/heads/task-117-x {A} refs/heads/task-117-x {Z}\n\n");
        assert_eq!(parse_pushes(&line).unwrap().len(), 1);
        assert!(parse_pushes("").unwrap().is_empty());
        for bad in [
            "garbage".to_string(),
            format!("refs/heads/x {A} refs/heads/x"),
            format!("refs/heads/x nothex refs/heads/x {Z}"),
            format!("refs/heads/x {A} --upload-pack=x {Z}"),
            format!("refs/heads/x {A}  refs/heads/x {Z}"),
        ] {
            assert!(parse_pushes(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn messages_must_not_mix_tasks() {
        let t = task();
        let check = |msg: &str, require: bool, problems: usize| {
            let got = judge_message(&t, "TASK-117", msg, require, &Commit::default());
            assert_eq!(got.len(), problems, "{msg:?}: {got:?}");
        };
        check("TASK-117: fix the gate", false, 0);
        check("fix the gate", false, 0);
        check("fix the gate", true, 1);
        check("TASK-117: fix the gate", true, 0);
        check("task-117: lower case counts", true, 0);
        check("TASK-117: fix\n\nalso TASK-118", false, 1);
        check("TASK-118: wrong task", true, 2);
        check("TASK-117: fix\n# TASK-999 in a comment\n", false, 0);
        check("TASK-117: fix\n# ------------------------ >8 ------------------------\n+TASK-999 in the diff\n", false, 0);
        check("XTASK-118 and TASK-11 are not ids", false, 0);
        let msg = &judge_message(
            &t,
            "TASK-117",
            "TASK-117 and TASK-118",
            false,
            &Commit::default(),
        )[0];
        assert!(
            msg.contains("names TASK-118") && msg.contains("never mix two tasks"),
            "{msg}"
        );
        assert!(msg.contains("message: \"TASK-117 and TASK-118\""), "{msg}");
    }

    #[test]
    fn follow_up_bookkeeping_may_name_other_tasks() {
        let t = task();
        let ledgers = ["tasks/BACKLOG.md", "tasks/CURRENT_SPRINT.md"];
        let judge = |staged: &[&str], msg: &str| {
            let staged: Vec<String> = staged.iter().map(|s| s.to_string()).collect();
            let commit = Commit {
                ledgers: &ledgers,
                staged: Some(&staged),
            };
            judge_message(&t, "TASK-271", msg, true, &commit)
        };
        let msg = "TASK-271: queue follow-up TASK-289";
        assert!(judge(&["tasks/BACKLOG.md"], msg).is_empty());
        assert!(judge(&["tasks/BACKLOG.md", "tasks/CURRENT_SPRINT.md"], msg).is_empty());
        let p = judge(&["tasks/BACKLOG.md", "src/app.py"], msg);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].contains("this one also changes src/app.py"),
            "{}",
            p[0]
        );
        assert_eq!(
            judge(&[], msg).len(),
            1,
            "an empty commit is not bookkeeping"
        );
        // The branch's own id is still required when the policy says so.
        assert_eq!(judge(&["tasks/BACKLOG.md"], "queue TASK-289").len(), 1);
        // No ledger in the policy: no bookkeeping exception, no note.
        let none = judge_message(&t, "TASK-271", msg, false, &Commit::default());
        assert!(
            none.len() == 1 && !none[0].contains("bookkeeping"),
            "{none:?}"
        );
    }
}
