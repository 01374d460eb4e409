//! Hostile input to the task family (task-start, task-preflight,
//! branch-guard, hooks, pr-scope): ids, slugs, templates, switches, files
//! that are not files, oversize bodies. Each is refused with its exit code
//! and a one-line message, and changes nothing: refs, HEAD, the working
//! tree and the hooks are as they were.

use std::collections::BTreeMap;

use crate::support::{mkfifo, refused_unchanged, run_bounded, Done, Repo, Run};

/// Everything a task command could change.
#[derive(Debug, PartialEq, Eq)]
struct State {
    refs: String,
    head: String,
    status: String,
    hooks: BTreeMap<String, Vec<u8>>,
}

fn state(repo: &Repo) -> State {
    let hooks_dir = repo.root.join(".git/hooks");
    let mut hooks = BTreeMap::new();
    for entry in std::fs::read_dir(&hooks_dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap_or_default();
        hooks.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes,
        );
    }
    State {
        refs: repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        head: repo.git(&["symbolic-ref", "HEAD"]),
        status: repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        hooks,
    }
}

/// Runs `run`, asserts exit `code`, one line on stderr holding every
/// needle, and no change to the repository (see `state`).
#[track_caller]
fn refused(repo: &Repo, run: Run, code: i32, needles: &[&str]) -> Done {
    refused_unchanged(|| state(repo), run, code, needles)
}

/// A repository with the hooks installed and a user's own pre-commit hook kept.
fn repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    let hook = repo.root.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    repo.xtask(&["hooks"]).run().code(0);
    repo
}

#[test]
fn hostile_task_ids_and_names_are_refused_before_git_runs() {
    let repo = repo("hostile-ids");
    for id in [
        "--upload-pack=touch pwned",
        "1;2",
        "TASK-12\n3",
        "../../117",
        "TASK-1e3",
        "١٢٣",
        "TASK-",
        "1234567890",
        "TASK-117 ",
    ] {
        if id == "TASK-117 " {
            // Surrounding blanks are trimmed, the id is fine: the slug is not.
            refused(
                &repo,
                repo.xtask(&["task-start", id, "../x", "--dry-run"]),
                2,
                &["invalid short name"],
            );
            continue;
        }
        refused(
            &repo,
            repo.xtask(&["task-start", "--dry-run", "--", id, "name"]),
            2,
            &["invalid task id"],
        );
        refused(
            &repo,
            repo.xtask(&["task-start"])
                .env("TASK", id)
                .env("NAME", "name"),
            2,
            &["invalid task id"],
        );
    }
    for name in [
        "../x",
        ".hidden",
        "x.lock",
        "a..b",
        "\u{1b}\u{7}",
        ";",
        "trailing.",
        &"a".repeat(65),
    ] {
        refused(
            &repo,
            repo.xtask(&["task-start", "--", "117", name]),
            2,
            &["invalid short name"],
        );
    }
    assert!(!repo.root.join("pwned").exists());
}

#[test]
fn templates_that_make_bad_branch_names_fail_at_load_for_every_command() {
    let repo = repo("hostile-templates");
    for (key, value, needle) in [
        ("branch-template", "--{NNN}-{slug}", "starts with '-'"),
        ("branch-template", "task {NNN}-{slug}", "contains a space"),
        ("branch-template", "task-{NNN}-{slug}.lock", ".lock"),
        (
            "branch-template",
            "task-{NNN}",
            "must contain {NNN} and {slug}",
        ),
        ("id-prefix", "-T", "task.id-prefix"),
    ] {
        let policy = format!("[task]\n{key} = {value:?}\n");
        std::fs::write(repo.tmp.path().join("xtask.toml"), &policy).unwrap();
        let at = repo.tmp.path().join("xtask.toml");
        let at = at.to_str().unwrap();
        for args in [
            vec!["--policy", at, "task-start", "117", "x", "--dry-run"],
            vec!["--policy", at, "task-start", "117", "x"],
            vec!["--policy", at, "branch-guard"],
            vec!["--policy", at, "task-preflight"],
            vec!["--policy", at, "pr-scope", "--branch", "task-117-x"],
        ] {
            refused(
                &repo,
                repo.xtask(&args),
                2,
                &[&format!("task.{key}"), needle],
            );
        }
    }
}

#[test]
fn switches_accept_only_their_documented_values() {
    let repo = repo("hostile-switches");
    for (var, value, args) in [
        ("SKIP_BRANCH_GUARD", "yes", vec!["branch-guard"]),
        (
            "SKIP_BRANCH_GUARD",
            "true",
            vec!["branch-guard", "--commit-msg", "README.md"],
        ),
        ("SKIP_TASK_SEQUENCE_GUARD", "true", vec!["task-preflight"]),
        (
            "SKIP_TASK_SEQUENCE_GUARD",
            "01",
            vec!["task-start", "117", "x"],
        ),
        ("ALLOW_OPEN_TASK_PRS", "yes", vec!["task-start", "117", "x"]),
        ("ALLOW_OPEN_TASK_PRS", " 1", vec!["task-preflight"]),
    ] {
        refused(
            &repo,
            repo.xtask(&args).env(var, value),
            2,
            &[&format!("{var}={value:?} is not a value it accepts")],
        );
    }
}

#[test]
fn files_that_are_not_regular_files_are_refused_at_once() {
    let repo = repo("hostile-files");
    let fifo = repo.tmp.path().join("fifo");
    mkfifo(&fifo);
    let fifo = fifo.to_str().unwrap();
    let dir = repo.tmp.path().to_str().unwrap();
    for (path, what) in [
        (fifo, "a FIFO"),
        (dir, "a directory"),
        ("/dev/zero", "a device"),
    ] {
        refused(
            &repo,
            repo.xtask(&["pr-scope", "--branch", "task-117-x", "--body-file", path]),
            2,
            &["--body-file", what],
        );
        refused(
            &repo,
            repo.xtask(&["pr-scope"]).env("GITHUB_EVENT_PATH", path),
            2,
            &["GITHUB_EVENT_PATH", what],
        );
        repo.git(&["switch", "--quiet", "-c", "task-117-x"]);
        refused(
            &repo,
            repo.xtask(&["branch-guard", "--commit-msg", path]),
            2,
            &["--commit-msg", "not a regular file"],
        );
        repo.git(&["switch", "--quiet", "main"]);
        repo.git(&["branch", "--quiet", "-D", "task-117-x"]);
    }
}

#[test]
fn bodies_that_are_too_large_or_not_text_are_refused() {
    let repo = repo("hostile-bodies");
    let event = repo.tmp.path().join("event.json");
    let body = format!("Primary-Task: TASK-117\n{}", "x".repeat(16 * 1024 * 1024));
    let json =
        serde_json::json!({ "pull_request": { "head": { "ref": "task-117-x" }, "body": body } });
    std::fs::write(&event, json.to_string()).unwrap();
    refused(
        &repo,
        repo.xtask(&["pr-scope"]).env("GITHUB_EVENT_PATH", &event),
        2,
        &["the event file's pull_request.body: the PR body is larger than 16 MiB"],
    );
    let binary = repo.tmp.path().join("body.bin");
    std::fs::write(&binary, b"Primary-Task: TASK-117\n\xff\xfe\x00\n").unwrap();
    refused(
        &repo,
        repo.xtask(&[
            "pr-scope",
            "--branch",
            "task-117-x",
            "--body-file",
            binary.to_str().unwrap(),
        ]),
        2,
        &["not UTF-8"],
    );
    let big = repo.tmp.path().join("msg");
    std::fs::write(&big, "TASK-117: x\n".repeat(400_000)).unwrap();
    repo.git(&["switch", "--quiet", "-c", "task-117-x"]);
    refused(
        &repo,
        repo.xtask(&["branch-guard", "--commit-msg", big.to_str().unwrap()]),
        2,
        &["larger than 4 MiB"],
    );
}

#[test]
fn exact_id_digits_refuse_longer_ids_everywhere() {
    let repo = repo("hostile-digits");
    let policy = repo.tmp.path().join("xtask.toml");
    std::fs::write(&policy, "[task]\nid-digits = 3\nid-digits-exact = true\n").unwrap();
    let at = policy.to_str().unwrap();
    refused(
        &repo,
        repo.xtask(&["--policy", at, "task-start", "1170", "x", "--dry-run"]),
        2,
        &["invalid task id \"1170\"", "exactly 3 digits"],
    );
    // A branch with four digits is not a task branch under this policy.
    repo.git(&["switch", "--quiet", "-c", "task-1170-x"]);
    let done = run_bounded(repo.xtask(&["--policy", at, "branch-guard"]));
    done.code(1)
        .stderr_has("does not match the task branch pattern");
    repo.git(&["switch", "--quiet", "main"]);
    // Without the key, four digits are still an id (at least id-digits).
    repo.xtask(&["task-start", "1170", "x", "--dry-run"])
        .run()
        .code(1)
        .stderr_has("branch task-1170-x already exists locally");
}
