//! pr-scope, the CI Workflow Guard: inputs from flags, the environment and
//! the GitHub Actions event file, and every failure with exit 1.

use serde_json::json;

use crate::support::Repo;

fn event(repo: &Repo, name: &str, value: serde_json::Value) -> String {
    let path = repo.tmp.path().join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_task_branch_with_its_primary_task_passes_from_every_source() {
    let repo = Repo::new("scope-pass");
    repo.write(
        "body.md",
        "## Summary\r\nFixes the gate.\r\n\r\nPrimary-Task: TASK-125\r\n",
    );
    repo.xtask(&[
        "pr-scope",
        "--branch",
        "task-125-fix-gate",
        "--body-file",
        "body.md",
    ])
    .run()
    .code(0)
    .stderr_has("pr-scope passed: TASK-125 (Primary-Task)");
    repo.xtask(&["pr-scope"])
        .env("PR_BRANCH", "task-125-fix-gate")
        .env("PR_BODY", "Summary\\n\\nprimary-task:TASK-125\\n")
        .run()
        .code(0);
    let path = event(
        &repo,
        "event.json",
        json!({ "pull_request": { "head": { "ref": "task-125-fix-gate" }, "body": "Primary-Task: TASK-125" } }),
    );
    let done = repo
        .xtask(&["pr-scope", "--format", "json"])
        .env("GITHUB_EVENT_PATH", &path)
        .run();
    done.code(0);
    let report = done.json();
    assert_eq!(report["task"], "TASK-125", "{}", done.dump());
    assert_eq!(report["branch_source"], "event", "{}", done.dump());
    assert_eq!(report["body_source"], "event", "{}", done.dump());
}

#[test]
fn flags_win_over_the_environment_which_wins_over_the_event() {
    let repo = Repo::new("scope-order");
    let path = event(
        &repo,
        "event.json",
        json!({ "pull_request": { "head": { "ref": "task-300-event" }, "body": "Primary-Task: TASK-300" } }),
    );
    repo.write("body.md", "Primary-Task: TASK-100\n");
    let done = repo
        .xtask(&[
            "pr-scope",
            "--format",
            "json",
            "--branch",
            "task-100-flag",
            "--body-file",
            "body.md",
        ])
        .env("PR_BRANCH", "task-200-env")
        .env("PR_BODY", "Primary-Task: TASK-200")
        .env("GITHUB_EVENT_PATH", &path)
        .run();
    done.code(0);
    assert_eq!(done.json()["task"], "TASK-100", "{}", done.dump());
    let done = repo
        .xtask(&["pr-scope", "--format", "json"])
        .env("PR_BRANCH", "task-200-env")
        .env("PR_BODY", "Primary-Task: TASK-200")
        .env("GITHUB_EVENT_PATH", &path)
        .run();
    done.code(0);
    assert_eq!(done.json()["task"], "TASK-200", "{}", done.dump());
    // The branch from the environment, the body from the event: they disagree.
    repo.xtask(&["pr-scope"])
        .env("PR_BRANCH", "task-200-env")
        .env("GITHUB_EVENT_PATH", &path)
        .run()
        .code(1)
        .stderr_has("branch task: TASK-200")
        .stderr_has("Primary-Task: TASK-300");
}

#[test]
fn every_failure_exits_1_and_says_what_to_write() {
    let repo = Repo::new("scope-fail");
    let run = |branch: &str, body: &str| {
        repo.xtask(&["pr-scope"])
            .env("PR_BRANCH", branch)
            .env("PR_BODY", body)
            .run()
    };
    run("task-125-x", "Summary only")
        .code(1)
        .stderr_has("the PR body has no Primary-Task line")
        .stderr_has("Primary-Task: TASK-125");
    run("task-125-x", "- Primary-Task: TASK-125")
        .code(1)
        .stderr_has("line 1 is not in that form");
    run(
        "task-125-x",
        "Primary-Task: TASK-125\nPrimary-Task: TASK-126",
    )
    .code(1)
    .stderr_has("more than one Primary-Task: TASK-125, TASK-126");
    run("task-125-x", "Primary-Task: TASK-126")
        .code(1)
        .stderr_has("branch task: TASK-125")
        .stderr_has("Primary-Task: TASK-126");
    run("task-125-x", "Primary-Task: task-125")
        .code(1)
        .stderr_has("Primary-Task: task-125");
    run("feature/login", "Primary-Task: TASK-125")
        .code(1)
        .stderr_has(
            "branch \"feature/login\" does not match the task branch pattern task-NNN-short-name",
        );
    repo.xtask(&["pr-scope"])
        .run()
        .code(1)
        .stderr_has("no PR branch: pass --branch BRANCH, set PR_BRANCH");
    repo.xtask(&["pr-scope", "--branch", "task-125-x"])
        .run()
        .code(1)
        .stderr_has("no PR body was given");
    // A PR without a body: the event has "body": null.
    let path = event(
        &repo,
        "nobody.json",
        json!({ "pull_request": { "head": { "ref": "task-125-x" }, "body": null } }),
    );
    repo.xtask(&["pr-scope"])
        .env("GITHUB_EVENT_PATH", &path)
        .run()
        .code(1)
        .stderr_has("no Primary-Task line");
}

#[test]
fn unusable_inputs_are_usage_errors() {
    let repo = Repo::new("scope-usage");
    let push = event(&repo, "push.json", json!({ "ref": "refs/heads/main" }));
    repo.xtask(&["pr-scope"])
        .env("GITHUB_EVENT_PATH", &push)
        .run()
        .code(2)
        .stderr_has("not a pull_request event");
    repo.write("broken.json", "{ not json");
    let broken = repo.path("broken.json");
    repo.xtask(&["pr-scope"])
        .env("GITHUB_EVENT_PATH", &broken)
        .run()
        .code(2)
        .stderr_has("not JSON");
    repo.xtask(&[
        "pr-scope",
        "--branch",
        "task-125-x",
        "--body-file",
        "missing.md",
    ])
    .run()
    .code(2)
    .stderr_has("--body-file missing.md: cannot read it");
}

#[test]
fn hostile_pr_text_cannot_become_workflow_commands() {
    let repo = Repo::new("scope-hostile");
    let body = "::error::forged\nPrimary-Task: TASK-1\n- primary-task: x\n::add-mask::x\u{1b}[2J";
    let done = repo
        .xtask(&["pr-scope"])
        .env("PR_BRANCH", "task-125-x")
        .env("PR_BODY", body)
        .env("GITHUB_ACTIONS", "true")
        .run();
    done.code(1).stderr_has("line 3 is not in that form");
    for line in done.stderr.lines().chain(done.stdout.lines()) {
        assert!(
            !line.starts_with("::") || line.starts_with("::error::pr-scope failed"),
            "PR text became a workflow command: {line:?}{}",
            done.dump()
        );
    }
    assert!(!done.stderr.contains('\u{1b}'), "{}", done.dump());
}

#[test]
fn a_body_over_the_cap_is_refused_never_cut() {
    let repo = Repo::new("scope-cap");
    // A valid first Primary-Task, then padding past 16 MiB, then a second
    // one that a silent cut would hide.
    let mut body = String::from("Primary-Task: TASK-125\n");
    body.push_str(&"x".repeat(16 * 1024 * 1024));
    body.push_str("\nPrimary-Task: TASK-999\n");
    std::fs::write(repo.path("big.md"), &body).unwrap();
    let args = [
        "pr-scope",
        "--branch",
        "task-125-x",
        "--body-file",
        "big.md",
    ];
    repo.xtask(&args)
        .run()
        .code(2)
        .stderr_has("--body-file big.md: cannot read it")
        .stderr_has("too large (over the 16 MiB limit)")
        .nowhere("pr-scope passed");
    // Exactly at the cap is read whole: the second line is seen.
    let at_cap = format!(
        "Primary-Task: TASK-125\n{}\nPrimary-Task: TASK-999\n",
        "x".repeat(16 * 1024 * 1024 - 47)
    );
    assert_eq!(at_cap.len(), 16 * 1024 * 1024);
    std::fs::write(repo.path("big.md"), &at_cap).unwrap();
    repo.xtask(&args)
        .run()
        .code(1)
        .stderr_has("more than one Primary-Task: TASK-125, TASK-999");
    // From stdin too.
    let mut run = repo.xtask(&["pr-scope", "--branch", "task-125-x", "--body-file", "-"]);
    run.cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = run.cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // The xtask stops reading past the cap; a broken pipe then is expected.
        let _ = stdin.write_all(body.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--body-file - (stdin): the PR body is larger than 16 MiB"),
        "{stderr}"
    );
}

#[test]
fn the_policy_can_require_a_pr_title_from_every_source() {
    let repo = Repo::new("scope-title");
    repo.write("xtask.toml", "[task]\npr-title = \"^{ID}: \"\n");
    let ok = |run: crate::support::Run| {
        run.env("PR_BRANCH", "task-125-x")
            .env("PR_BODY", "Primary-Task: TASK-125")
    };
    ok(repo.xtask(&["pr-scope", "--title", "TASK-125: fix the gate"]))
        .run()
        .code(0);
    ok(repo.xtask(&["pr-scope"]))
        .env("PR_TITLE", "TASK-125: fix the gate")
        .run()
        .code(0);
    ok(repo.xtask(&["pr-scope"]))
        .env("PR_TITLE", "Fix the gate")
        .run()
        .code(1)
        .stderr_has(
            "the PR title \"Fix the gate\" does not match task.pr-title \"^{ID}: \" (for TASK-125)",
        );
    ok(repo.xtask(&["pr-scope"]))
        .run()
        .code(1)
        .stderr_has("no PR title, and the policy's task.pr-title");
    let path = event(
        &repo,
        "event.json",
        json!({ "pull_request": { "head": { "ref": "task-125-x" }, "body": "Primary-Task: TASK-125", "title": "TASK-126: wrong task" } }),
    );
    let done = repo
        .xtask(&["pr-scope", "--format", "json"])
        .env("GITHUB_EVENT_PATH", &path)
        .run();
    done.code(1);
    let json = done.json();
    assert_eq!(json["title_checked"], true, "{}", done.dump());
    assert!(
        json["problems"][0]
            .as_str()
            .unwrap()
            .contains("\"TASK-126: wrong task\" does not match"),
        "{}",
        done.dump()
    );
    // Without the rule, titles are not looked at.
    repo.write("xtask.toml", "");
    ok(repo.xtask(&["pr-scope"]))
        .env("PR_TITLE", "anything")
        .run()
        .code(0);
}
