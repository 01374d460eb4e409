//! branch-guard and the installed hooks, through real `git commit` and
//! `git push` to a bare origin. The hooks run this test's xtask binary
//! through `XTASK_BIN` (documented in the README), except in the test of the
//! hook's own choice between the built binary and `cargo xtask`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::{git_env, write_exec, Done, Repo, Run};

/// Runs git in `dir` with the hooks able to find the xtask, `extra` env on top.
fn git_in(repo: &Repo, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("git");
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in git_env(&repo.home) {
        cmd.env(k, v);
    }
    cmd.env_remove("SKIP_BRANCH_GUARD")
        .env_remove("GITHUB_ACTIONS")
        // The hook looks for ${CARGO_TARGET_DIR:-target}/debug/xtask: the
        // tests lay out `target/` themselves.
        .env_remove("CARGO_TARGET_DIR")
        .env("XTASK_BIN", env!("CARGO_BIN_EXE_xtask"));
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().expect("git runs")
}

fn git(repo: &Repo, args: &[&str], extra: &[(&str, &str)]) -> Output {
    git_in(repo, &repo.root, args, extra)
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout:\n{}--- stderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(out.status.success(), "git failed: {}", text(out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn refused(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "git succeeded, but it should have been refused: {}",
        text(out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(needle),
        "stderr lacks {needle:?}: {}",
        text(out)
    );
}

fn install(repo: &Repo) {
    repo.xtask(&["hooks"])
        .run()
        .code(0)
        .stderr_has("pre-commit: installed");
}

/// A repository with the hooks installed, on branch `task-117-fix-gate`.
fn task_repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    install(&repo);
    repo.git(&["switch", "--quiet", "-c", "task-117-fix-gate"]);
    repo
}

fn commit(repo: &Repo, message: &str, extra: &[(&str, &str)]) -> Output {
    git(repo, &["commit", "--allow-empty", "-m", message], extra)
}

/// Every file of a directory: bytes and mode, to compare byte for byte.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let bytes = if meta.is_file() {
            std::fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        files.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            (bytes, meta.permissions().mode()),
        );
    }
    files
}

/// Runs an xtask invocation with `input` on stdin.
fn with_stdin(mut run: Run, input: &str) -> Done {
    run.cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = run.cmd.spawn().expect("the xtask binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Done {
        args: run.args,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_installed_hook_blocks_a_commit_on_main_and_passes_one_on_a_task_branch() {
    let repo = Repo::new("hook-main");
    install(&repo);
    let before = repo.head();
    refused(
        &commit(&repo, "work on main", &[]),
        "main is the main branch",
    );
    refused(
        &commit(&repo, "work on main", &[]),
        "git switch -c task-NNN-short-name",
    );
    assert_eq!(repo.head(), before, "the refused commit was made");
    repo.git(&["switch", "--quiet", "-c", "task-117-fix-gate"]);
    let stderr = ok(&commit(&repo, "TASK-117: fix the gate", &[]));
    assert!(
        stderr.contains("branch guard passed: task-117-fix-gate (TASK-117)"),
        "{stderr}"
    );
    assert_ne!(repo.head(), before);
}

#[test]
fn commit_messages_must_not_name_another_task() {
    let repo = task_repo("hook-msg");
    let before = repo.head();
    refused(
        &commit(&repo, "TASK-117: fix\n\nalso fixes TASK-118", &[]),
        "names TASK-118, but this is the branch of TASK-117",
    );
    assert_eq!(repo.head(), before);
    ok(&commit(
        &repo,
        "Fix the gate (no id is fine by default)",
        &[],
    ));
    // git commit -v: the diff below the scissors line may name any task.
    repo.write("notes.txt", "TASK-999 is mentioned in the diff\n");
    repo.git(&["add", "notes.txt"]);
    let editor = "sh -c 'printf \"TASK-117: notes\\n\" | cat - \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"' editor";
    ok(&git(&repo, &["commit", "-v"], &[("GIT_EDITOR", editor)]));
    assert_eq!(repo.git(&["log", "-1", "--format=%s"]), "TASK-117: notes");
}

#[test]
fn follow_up_bookkeeping_may_name_another_task_but_work_may_not() {
    let repo = Repo::new("hook-bookkeeping");
    repo.write(
        "xtask.toml",
        "[task]\nledger = [\"tasks/BACKLOG.md\", \"tasks/CURRENT_SPRINT.md\"]\n",
    );
    repo.write("tasks/BACKLOG.md", "### TASK-271: the task\n");
    repo.write("tasks/CURRENT_SPRINT.md", "- `TASK-271` active\n");
    repo.commit_all("policy and ledgers");
    install(&repo);
    repo.git(&["switch", "--quiet", "-c", "task-271-the-task"]);
    // The runbook's "create a new follow-up task immediately": only the ledgers change.
    repo.write(
        "tasks/BACKLOG.md",
        "### TASK-271: the task\n### TASK-289: follow-up found while on 271\n",
    );
    repo.write(
        "tasks/CURRENT_SPRINT.md",
        "- `TASK-271` active\n- `TASK-289` queued\n",
    );
    ok(&git(&repo, &["add", "tasks"], &[]));
    let out = git(
        &repo,
        &["commit", "-m", "TASK-271: queue follow-up TASK-289"],
        &[],
    );
    assert!(
        ok(&out).contains("follow-up bookkeeping: it names other tasks and changes only tasks/BACKLOG.md, tasks/CURRENT_SPRINT.md"),
        "{}",
        text(&out)
    );
    // Work in the same commit: refused, naming the file that is not ledger.
    let head = repo.head();
    repo.write(
        "tasks/BACKLOG.md",
        "### TASK-271: the task\n### TASK-289: follow-up\n### TASK-290: another\n",
    );
    repo.write("app.py", "print('289 work')\n");
    ok(&git(&repo, &["add", "-A"], &[]));
    refused(
        &git(&repo, &["commit", "-m", "TASK-271: queue TASK-290"], &[]),
        "this one also changes app.py",
    );
    // `git commit -a` / `git commit PATHS` use their own index: judged too.
    refused(
        &git(
            &repo,
            &["commit", "-m", "TASK-290: the work", "--", "app.py"],
            &[],
        ),
        "names TASK-290, but this is the branch of TASK-271",
    );
    ok(&git(
        &repo,
        &[
            "commit",
            "-m",
            "TASK-271: queue TASK-290",
            "--",
            "tasks/BACKLOG.md",
        ],
        &[],
    ));
    assert_ne!(repo.head(), head);
    assert_eq!(
        repo.git(&["show", "--name-only", "--format=", "HEAD"]),
        "tasks/BACKLOG.md"
    );
}

#[test]
fn the_policy_can_require_the_branch_id_in_every_message() {
    let repo = task_repo("hook-require");
    repo.write(
        "xtask.toml",
        "[task]\nrequire-id-in-commit-message = true\n",
    );
    refused(
        &commit(&repo, "fix the gate", &[]),
        "does not name TASK-117",
    );
    refused(
        &commit(&repo, "fix the gate", &[]),
        "task.require-id-in-commit-message",
    );
    ok(&commit(&repo, "TASK-117: fix the gate", &[]));
}

#[test]
fn the_pre_push_hook_refuses_main_and_passes_task_branches_and_tags() {
    let repo = task_repo("hook-push");
    ok(&commit(&repo, "TASK-117: work", &[]));
    let origin_main = repo.git(&["rev-parse", "origin/main"]);
    refused(
        &git(&repo, &["push", "origin", "HEAD:main"], &[]),
        "pushes to main on origin",
    );
    let remote_main = repo.git_in(&repo.origin, &["rev-parse", "main"]);
    assert_eq!(remote_main, origin_main, "main on origin moved");
    refused(
        &git(&repo, &["push", "origin", "HEAD:feature"], &[]),
        "does not match the task branch pattern",
    );
    let stderr = ok(&git(
        &repo,
        &["push", "-u", "origin", "task-117-fix-gate"],
        &[],
    ));
    assert!(
        stderr.contains("branch guard passed: push of refs/heads/task-117-fix-gate"),
        "{stderr}"
    );
    // On main, after a commit made with the bypass: pushing main is refused,
    // pushing a tag is not (the release steps tag main and push the tag).
    repo.git(&["switch", "--quiet", "main"]);
    ok(&commit(&repo, "bootstrap", &[("SKIP_BRANCH_GUARD", "1")]));
    refused(
        &git(&repo, &["push", "origin", "main"], &[]),
        "the main branch changes only through a merged PR",
    );
    repo.git(&["tag", "v1.0.0"]);
    ok(&git(&repo, &["push", "origin", "v1.0.0"], &[]));
    // Deleting a merged task branch on the remote is allowed; deleting main is not.
    ok(&git(
        &repo,
        &["push", "origin", "--delete", "task-117-fix-gate"],
        &[],
    ));
    refused(
        &git(&repo, &["push", "origin", "--delete", "main"], &[]),
        "deletes main",
    );
}

#[test]
fn the_bypass_is_warned_and_recorded_and_other_values_are_usage_errors() {
    let repo = Repo::new("bypass");
    install(&repo);
    let stderr = ok(&commit(&repo, "bootstrap", &[("SKIP_BRANCH_GUARD", "1")]));
    assert!(
        stderr.contains("warning: bypass SKIP_BRANCH_GUARD=1"),
        "{stderr}"
    );
    let done = repo
        .xtask(&["branch-guard", "--format", "json"])
        .env("SKIP_BRANCH_GUARD", "1")
        .run();
    done.code(0).stderr_has("bypass SKIP_BRANCH_GUARD=1");
    let report = done.json();
    assert_eq!(report["status"], "bypassed", "{}", done.dump());
    assert_eq!(
        report["bypasses"][0]["variable"],
        "SKIP_BRANCH_GUARD",
        "{}",
        done.dump()
    );
    repo.xtask(&["branch-guard"])
        .env("SKIP_BRANCH_GUARD", "0")
        .run()
        .code(1)
        .stderr_has("main is the main branch");
    for bad in ["true", "yes", "2", " 1"] {
        repo.xtask(&["branch-guard"])
            .env("SKIP_BRANCH_GUARD", bad)
            .run()
            .code(2)
            .stderr_has("use SKIP_BRANCH_GUARD=1 or SKIP_BRANCH_GUARD=0");
        refused(
            &commit(&repo, "x", &[("SKIP_BRANCH_GUARD", bad)]),
            "is not a value it accepts",
        );
    }
}

#[test]
fn detached_heads_and_branches_outside_the_template_fail_with_the_pattern() {
    let repo = Repo::new("guard-branches");
    repo.git(&["switch", "--quiet", "-c", "feature/login"]);
    repo.xtask(&["branch-guard"])
        .run()
        .code(1)
        .stderr_has("branch feature/login does not match the task branch pattern")
        .stderr_has("expected pattern: task-NNN-short-name (e.g. task-110-workflow-guards)")
        .stderr_has("git branch -m task-NNN-short-name");
    repo.git(&["switch", "--quiet", "--detach"]);
    repo.xtask(&["branch-guard"])
        .run()
        .code(1)
        .stderr_has("HEAD is detached");
    repo.git(&["switch", "--quiet", "-c", "task-1170-four-digits"]);
    let done = repo.xtask(&["branch-guard", "--format", "json"]).run();
    done.code(0);
    assert_eq!(done.json()["task"], "TASK-1170", "{}", done.dump());
    // The policy's template is the one that counts.
    repo.write(
        "xtask.toml",
        "[task]\nbranch-template = \"codex/task-{NNN}-{slug}\"\n",
    );
    repo.xtask(&["branch-guard"])
        .run()
        .code(1)
        .stderr_has("codex/task-NNN-short-name");
    repo.git(&["switch", "--quiet", "-c", "codex/task-110-workflow-guards"]);
    repo.xtask(&["branch-guard"])
        .run()
        .code(0)
        .stderr_has("branch guard passed: codex/task-110-workflow-guards (TASK-110)");
}

#[test]
fn during_a_rebase_the_branch_being_rebased_is_judged() {
    let repo = task_repo("rebase");
    ok(&commit(&repo, "TASK-117: one", &[]));
    ok(&commit(&repo, "TASK-117: two", &[]));
    let stop_at_first = [("GIT_SEQUENCE_EDITOR", "sed -i -e '1s/^pick/edit/'")];
    ok(&git(&repo, &["rebase", "-i", "HEAD~2"], &stop_at_first));
    assert!(
        repo.git_output(&["symbolic-ref", "-q", "HEAD"])
            .status
            .code()
            == Some(1),
        "HEAD is not detached"
    );
    repo.xtask(&["branch-guard"])
        .run()
        .code(0)
        .stderr_has("branch guard passed: task-117-fix-gate (TASK-117) (rebase in progress)");
    ok(&git(
        &repo,
        &[
            "commit",
            "--amend",
            "--allow-empty",
            "-m",
            "TASK-117: one, reworded",
        ],
        &[],
    ));
    ok(&git(&repo, &["rebase", "--continue"], &[]));

    // Rebasing main is judged as main.
    repo.git(&["switch", "--quiet", "main"]);
    ok(&commit(&repo, "one", &[("SKIP_BRANCH_GUARD", "1")]));
    ok(&commit(&repo, "two", &[("SKIP_BRANCH_GUARD", "1")]));
    ok(&git(&repo, &["rebase", "-i", "HEAD~2"], &stop_at_first));
    refused(
        &git(
            &repo,
            &["commit", "--amend", "--allow-empty", "-m", "reworded"],
            &[],
        ),
        "main (being rebased) is the main branch",
    );
    let done = repo.xtask(&["branch-guard", "--format", "json"]).run();
    done.code(1);
    assert_eq!(done.json()["rebase"], true, "{}", done.dump());
    ok(&git(&repo, &["rebase", "--abort"], &[]));
}

#[test]
fn a_foreign_hook_is_kept_run_first_and_restored_byte_for_byte() {
    let repo = Repo::new("chain");
    let hooks = repo.root.join(".git/hooks");
    write_exec(
        &hooks.join("pre-commit"),
        "#!/bin/sh\n# the team's own hook\necho foreign-pre-commit >> foreign.log\nexit ${FOREIGN_EXIT:-0}\n",
    );
    write_exec(
        &hooks.join("pre-push"),
        "#!/bin/sh\necho \"foreign-pre-push $1\" >> foreign.log\ncat >> foreign.log\n",
    );
    std::fs::write(hooks.join("commit-msg"), "#!/bin/sh\nexit 1\n").unwrap(); // not executable: git ignores it
    let before = snapshot(&hooks);

    install(&repo);
    assert!(hooks.join("pre-commit.local").is_file() && hooks.join("pre-push.local").is_file());
    repo.xtask(&["hooks", "--check"]).run().code(0);
    let installed = snapshot(&hooks);
    repo.xtask(&["hooks"])
        .run()
        .code(0)
        .stderr_has("pre-commit: up to date");
    assert_eq!(
        snapshot(&hooks),
        installed,
        "installing twice changed the hooks"
    );

    repo.git(&["switch", "--quiet", "-c", "task-117-fix-gate"]);
    ok(&commit(&repo, "TASK-117: one", &[]));
    assert_eq!(repo.read("foreign.log"), "foreign-pre-commit\n");
    let head = repo.head();
    let out = commit(&repo, "TASK-117: two", &[("FOREIGN_EXIT", "3")]);
    assert!(
        !out.status.success(),
        "the foreign hook's failure did not stop the commit: {}",
        text(&out)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("branch guard passed"),
        "ours ran after a failure: {}",
        text(&out)
    );
    assert_eq!(repo.head(), head);
    ok(&git(
        &repo,
        &["push", "-u", "origin", "task-117-fix-gate"],
        &[],
    ));
    let log = repo.read("foreign.log");
    assert!(
        log.contains("foreign-pre-push origin\nrefs/heads/task-117-fix-gate "),
        "the foreign pre-push hook did not get the refs: {log}"
    );

    repo.xtask(&["hooks", "--uninstall"])
        .run()
        .code(0)
        .stderr_has("pre-commit: removed; the hook kept as .local is back");
    assert_eq!(
        snapshot(&hooks),
        before,
        "uninstall did not restore the hooks byte for byte"
    );
    repo.xtask(&["hooks", "--uninstall"])
        .run()
        .code(0)
        .stderr_has("pre-commit: not ours: left as it is");
    assert_eq!(snapshot(&hooks), before);
}

#[test]
fn install_changes_nothing_when_a_kept_hook_would_be_overwritten() {
    let repo = Repo::new("conflict");
    let hooks = repo.root.join(".git/hooks");
    write_exec(&hooks.join("pre-push"), "#!/bin/sh\nexit 0\n");
    write_exec(
        &hooks.join("pre-push.local"),
        "#!/bin/sh\nexit 0 # another\n",
    );
    let before = snapshot(&hooks);
    repo.xtask(&["hooks"])
        .run()
        .code(1)
        .stderr_has("pre-push hook: cannot keep")
        .stderr_has("pre-push.local.bak");
    assert_eq!(
        snapshot(&hooks),
        before,
        "a failed install changed the hooks"
    );
}

#[test]
fn check_names_each_missing_non_executable_or_out_of_date_hook() {
    let repo = Repo::new("check");
    let done = repo.xtask(&["hooks", "--check"]).run();
    done.code(1);
    for name in ["pre-commit", "commit-msg", "pre-push"] {
        done.stderr_has(&format!("{name} hook is missing"));
    }
    done.stderr_has("run cargo xtask hooks");
    let hooks = repo.root.join(".git/hooks");
    let pristine = snapshot(&hooks);
    install(&repo);
    std::fs::set_permissions(
        hooks.join("pre-commit"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let mut msg = std::fs::read_to_string(hooks.join("commit-msg")).unwrap();
    msg.push_str("# edited\n");
    std::fs::write(hooks.join("commit-msg"), msg).unwrap();
    std::fs::remove_file(hooks.join("pre-push")).unwrap();
    let done = repo.xtask(&["hooks", "--check", "--format", "json"]).run();
    done.code(1);
    let problems = done.json()["problems"].as_array().unwrap().clone();
    assert_eq!(problems.len(), 3, "{}", done.dump());
    let all = serde_json::to_string(&problems).unwrap();
    assert!(all.contains("pre-commit hook is not executable"), "{all}");
    assert!(all.contains("commit-msg hook is out of date"), "{all}");
    assert!(all.contains("pre-push hook is missing"), "{all}");
    repo.xtask(&["hooks"])
        .run()
        .code(0)
        .stderr_has("pre-commit: made executable")
        .stderr_has("commit-msg: updated");
    repo.xtask(&["hooks", "--check"]).run().code(0);
    repo.xtask(&["hooks", "--uninstall"])
        .run()
        .code(0)
        .stderr_has("pre-push: removed");
    assert_eq!(
        snapshot(&hooks),
        pristine,
        "uninstall left something behind"
    );
    repo.xtask(&["hooks", "--check", "--uninstall"])
        .run()
        .code(2);
}

#[test]
fn hooks_in_a_repository_without_the_xtask_alias_are_installed_with_a_warning() {
    let repo = Repo::new("hooks-no-xtask");
    let cargo_home = repo.tmp.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    let hooks = |args: &[&str]| {
        repo.xtask(args)
            .env_remove("XTASK_BIN")
            .env("CARGO_HOME", &cargo_home)
            .run()
    };
    let done = hooks(&["hooks"]);
    done.code(0)
        .stderr_has("pre-commit: installed")
        .stderr_has("warning: ")
        .stderr_has(
            "has no xtask crate (xtask/Cargo.toml), no `xtask` on PATH and no `xtask` alias in .cargo/config.toml",
        )
        .stderr_has("\"no such command: xtask\"")
        .stderr_has("the hooks are installed anyway")
        .stderr_has("[alias] xtask = \"run --quiet --package xtask --\"")
        .stderr_has("export XTASK_BIN=/");
    assert!(repo.path(".git/hooks/pre-commit").is_file());
    // --check runs the hooks' own resolution: a commit would fail, so it fails.
    let done = hooks(&["hooks", "--check", "--format", "json"]);
    let report = done.code(1).json();
    assert_eq!(report["status"], "failed");
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("the hooks cannot run the xtask, so every commit and push would fail")
            && report["problems"][0]
                .as_str()
                .unwrap()
                .contains("no such command: xtask"),
        "{}",
        done.dump()
    );
    // A crate without the alias: `cargo xtask` still fails when the binary is stale.
    repo.write("xtask/Cargo.toml", "[package]\nname = \"xtask\"\n");
    hooks(&["hooks", "--check"])
        .code(1)
        .stderr_has("has an xtask crate but no `xtask` alias in .cargo/config.toml");
    // With the alias, or with XTASK_BIN set, there is nothing to warn about.
    repo.write(
        ".cargo/config.toml",
        "[alias]\nxtask = \"run --quiet --package xtask --\"\n",
    );
    let done = hooks(&["hooks"]);
    done.code(0).stderr_has("pre-commit: up to date");
    assert!(!done.stderr.contains("warning"), "{}", done.dump());
    hooks(&["hooks", "--check"]).code(0);
    std::fs::remove_file(repo.path(".cargo/config.toml")).unwrap();
    let done = repo.xtask(&["hooks", "--check"]).run();
    assert!(!done.code(0).stderr.contains("warning"), "{}", done.dump());
    // XTASK_BIN naming nothing runnable: every commit would fail.
    repo.xtask(&["hooks", "--check"])
        .env("XTASK_BIN", "/nonexistent/xtask")
        .run()
        .code(1)
        .stderr_has("/nonexistent/xtask (XTASK_BIN) is not an executable");
}

#[test]
fn an_xtask_on_path_runs_the_hooks_and_satisfies_the_check() {
    // A repository that adopted the tool as a binary: no crate, no alias.
    let repo = Repo::new("hooks-on-path");
    let cargo_home = repo.tmp.path().join("cargo-home");
    std::fs::create_dir_all(&cargo_home).unwrap();
    let bin = repo.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), bin.join("xtask")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let done = repo
        .xtask(&["hooks"])
        .env_remove("XTASK_BIN")
        .env("CARGO_HOME", &cargo_home)
        .env("PATH", &path)
        .run();
    done.code(0);
    assert!(!done.stderr.contains("warning"), "{}", done.dump());
    repo.xtask(&["hooks", "--check"])
        .env_remove("XTASK_BIN")
        .env("CARGO_HOME", &cargo_home)
        .env("PATH", &path)
        .run()
        .code(0);
    repo.git(&["switch", "--quiet", "-c", "task-117-fix-gate"]);
    let env = [
        ("PATH", path.as_str()),
        ("XTASK_BIN", ""),
        ("CARGO_HOME", cargo_home.to_str().unwrap()),
    ];
    let stderr = ok(&commit(&repo, "TASK-117: through the xtask on PATH", &env));
    assert!(stderr.contains("branch guard passed"), "{stderr}");
    refused(
        &commit(&repo, "TASK-117: and TASK-118", &env),
        "names TASK-118",
    );
}

#[test]
fn hooks_go_where_core_hooks_path_points() {
    let repo = Repo::new("hookspath");
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    install(&repo);
    assert!(repo.path(".githooks/pre-commit").is_file());
    assert!(!repo.path(".git/hooks/pre-commit").exists());
    refused(&commit(&repo, "on main", &[]), "main is the main branch");
    repo.xtask(&["hooks", "--check"]).run().code(0);
    repo.git(&["config", "--unset", "core.hooksPath"]);
    repo.xtask(&["hooks", "--check"])
        .run()
        .code(1)
        .stderr_has("pre-commit hook is missing");
}

#[test]
fn hooks_installed_from_a_worktree_guard_it() {
    let repo = Repo::new("worktree");
    let wt = repo.tmp.path().join("wt");
    repo.git(&[
        "worktree",
        "add",
        "--quiet",
        "-b",
        "feature",
        wt.to_str().unwrap(),
    ]);
    repo.xtask(&["hooks"]).current_dir(&wt).run().code(0);
    assert!(
        repo.path(".git/hooks/pre-commit").is_file(),
        "git uses the common hooks directory"
    );
    let out = git_in(&repo, &wt, &["commit", "--allow-empty", "-m", "x"], &[]);
    refused(
        &out,
        "branch feature does not match the task branch pattern",
    );
    repo.git_in(&wt, &["switch", "--quiet", "-c", "task-120-in-a-worktree"]);
    let stderr = ok(&git_in(
        &repo,
        &wt,
        &["commit", "--allow-empty", "-m", "TASK-120: x"],
        &[],
    ));
    assert!(
        stderr.contains("task-120-in-a-worktree (TASK-120)"),
        "{stderr}"
    );
    refused(&commit(&repo, "on main", &[]), "main is the main branch");
    repo.xtask(&["hooks", "--check"])
        .current_dir(&wt)
        .run()
        .code(0);
}

/// Without XTASK_BIN the hook runs `target/debug/xtask` while it is newer
/// than every xtask source and Cargo.lock, and `cargo xtask` otherwise.
#[test]
fn the_hook_runs_the_built_binary_only_while_it_is_fresh() {
    let repo = Repo::new("fresh");
    install(&repo);
    repo.git(&["switch", "--quiet", "-c", "task-117-fix-gate"]);
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    for file in ["xtask/src/main.rs", "xtask/Cargo.toml", "Cargo.lock"] {
        repo.write(file, "// stand-in\n");
        set_mtime(&repo.path(file), t0);
    }
    let bin = repo.path("target/debug/xtask");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_xtask"), &bin).unwrap();
    set_mtime(&bin, t0 + Duration::from_secs(60));
    // A `cargo` that records its arguments and fails.
    let fake = repo.tmp.path().join("fakebin");
    let log = repo.tmp.path().join("cargo.log");
    write_exec(
        &fake.join("cargo"),
        &format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit 3\n", log.display()),
    );
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let env = [("PATH", path.as_str()), ("XTASK_BIN", "")];
    let stderr = ok(&commit(&repo, "TASK-117: fresh binary", &env));
    assert!(stderr.contains("branch guard passed"), "{stderr}");
    assert!(!log.exists(), "cargo ran although the binary was fresh");

    set_mtime(
        &repo.path("xtask/src/main.rs"),
        t0 + Duration::from_secs(120),
    );
    let out = commit(&repo, "TASK-117: stale binary", &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert!(calls.starts_with("xtask --root "), "{calls}");
    assert!(calls.trim_end().ends_with(" branch-guard"), "{calls}");
}

fn set_mtime(path: &PathBuf, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn hostile_inputs_are_refused_before_git_sees_them() {
    let repo = Repo::new("hostile");
    let zero = "0".repeat(40);
    let sha = repo.head();
    for input in [
        "garbage\n".to_string(),
        format!("refs/heads/x {sha} --upload-pack=evil {zero}\n"),
        format!("refs/heads/x {sha} refs/heads/x\n"),
        format!("refs/heads/x $(touch pwned) refs/heads/x {zero}\n"),
    ] {
        with_stdin(
            repo.xtask(&["branch-guard", "--pre-push", "--", "origin", "x"]),
            &input,
        )
        .code(2)
        .stderr_has("is not `<local ref> <local sha> <remote ref> <remote sha>`");
    }
    // The remote URL git passes may hold a credential: it is never printed.
    let line = format!("refs/heads/main {sha} refs/heads/main {zero}\n");
    with_stdin(
        repo.xtask(&[
            "branch-guard",
            "--pre-push",
            "--",
            "origin",
            "https://u:s3cr3t-token@example.invalid/r",
        ]),
        &line,
    )
    .code(1)
    .stderr_has("pushes to main on origin")
    .nowhere("s3cr3t-token");
    repo.xtask(&["branch-guard", "--commit-msg", "no/such/file"])
        .run()
        .code(2)
        .stderr_has("cannot read the commit message file");
    // A branch name that is a shell expansion is only ever compared.
    repo.git(&["switch", "--quiet", "-c", "task-117-$(touch${IFS}pwned)"]);
    repo.xtask(&["branch-guard"])
        .run()
        .code(1)
        .stderr_has("does not match the task branch pattern");
    repo.write("msg", "TASK-118 \u{1b}[31mred\n");
    repo.git(&["switch", "--quiet", "-c", "task-117-ok"]);
    repo.xtask(&["branch-guard", "--commit-msg", "msg"])
        .run()
        .code(1)
        .stderr_has("\\u{1b}[31mred");
    assert!(!repo.path("pwned").exists());
    assert!(!repo.tmp.path().join("pwned").exists());
}
