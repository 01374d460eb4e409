//! The gate runner (`check`, `test`, `audit-eval`) and release-gate, against
//! real processes and real git repositories.

use std::time::{Duration, Instant};

use crate::support::Repo;

/// A policy whose check gate has three steps, the second failing.
const FAILING_CHECK: &str = r#"
[gates.check]
steps = [
  { name = "first", argv = ["sh", "-c", "echo first-ran > first.out"] },
  { name = "second", argv = ["sh", "-c", "echo second-says-hello; exit 3"] },
  { name = "third", argv = ["sh", "-c", "echo third-ran > third.out"] },
]
"#;

#[test]
fn steps_run_in_order_and_stop_at_the_first_failure() {
    let repo = Repo::new("order");
    repo.write("xtask.toml", FAILING_CHECK);
    let done = repo.xtask(&["check"]).run();
    done.code(1)
        .stderr_has("==> check/first: sh -c 'echo first-ran > first.out'")
        .stderr_has("second-says-hello")
        .stderr_has("check/second exited with code 3")
        .stderr_has("check failed at check/second.")
        .stderr_has("Rerun that step alone: cargo xtask check --step second");
    assert!(repo.path("first.out").exists(), "{}", done.dump());
    assert!(
        !repo.path("third.out").exists(),
        "the step after the failure ran{}",
        done.dump()
    );
    let summary = done
        .stderr
        .split("Summary: check")
        .nth(1)
        .expect("a summary");
    assert!(
        summary.contains("passed") && summary.contains("check/first"),
        "{}",
        done.dump()
    );
    assert!(
        summary.contains("not run") && summary.contains("check/third"),
        "{}",
        done.dump()
    );
}

#[test]
fn one_step_runs_alone_with_step() {
    let repo = Repo::new("only");
    repo.write("xtask.toml", FAILING_CHECK);
    repo.xtask(&["check", "--step", "third"]).run().code(0);
    assert!(repo.path("third.out").exists());
    assert!(!repo.path("first.out").exists());
    repo.xtask(&["check", "--step", "nope"])
        .run()
        .code(2)
        .stderr_has("no step named \"nope\"")
        .stderr_has("first, second, third");
}

#[test]
fn preparation_runs_first_and_its_failure_stops_the_gate() {
    let repo = Repo::new("prepare");
    repo.write(
        "xtask.toml",
        r#"
[prepare]
deps = [{ name = "sync", argv = ["sh", "-c", "echo prepared > prepared.out"] }]
broken = [{ name = "sync", argv = ["sh", "-c", "exit 4"] }]

[gates.test]
prepare = ["deps"]
steps = [{ name = "unit", argv = ["sh", "-c", "test -f prepared.out"] }]

[gates.audit-eval]
prepare = ["broken"]
steps = [{ name = "eval", argv = ["sh", "-c", "touch eval.out"] }]
"#,
    );
    repo.xtask(&["test"])
        .run()
        .code(0)
        .stderr_has("==> prepare/deps/sync");
    repo.xtask(&["audit-eval"])
        .run()
        .code(1)
        .stderr_has("prepare/broken/sync exited with code 4");
    assert!(!repo.path("eval.out").exists());
}

#[test]
fn a_missing_tool_fails_the_gate_and_says_so() {
    let repo = Repo::new("missing");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"lint\", argv = [\"no-such-linter-xyz\", \"src/\"] }]\n",
    );
    repo.xtask(&["check"]).run().code(1).stderr_has(
        "check/lint could not start: `no-such-linter-xyz` is not installed (not found on PATH)",
    );
}

#[test]
fn a_step_killed_by_a_signal_fails_the_gate_and_says_so() {
    let repo = Repo::new("signal");
    repo.write("xtask.toml", "[gates.check]\nsteps = [{ name = \"crash\", argv = [\"sh\", \"-c\", \"kill -SEGV $$\"] }]\n");
    repo.xtask(&["check"])
        .run()
        .code(1)
        .stderr_has("check/crash killed by signal 11 (SIGSEGV)");
}

#[test]
fn a_step_that_outlives_its_timeout_is_stopped_and_fails() {
    let repo = Repo::new("timeout");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"slow\", argv = [\"sh\", \"-c\", \"sleep 30\"], timeout = \"1s\" }]\n",
    );
    let start = Instant::now();
    let done = repo.xtask(&["check", "--format", "json"]).run();
    done.code(1)
        .stderr_has("check/slow timed out after 1.0s and was stopped");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "the timeout did not stop the step{}",
        done.dump()
    );
    let report = done.json();
    assert_eq!(report["steps"][0]["failure"], "timeout", "{}", done.dump());
}

#[test]
fn dry_run_prints_every_step_and_runs_nothing() {
    let repo = Repo::new("dry");
    repo.write("xtask.toml", FAILING_CHECK);
    let done = repo.xtask(&["check", "--dry-run"]).run();
    done.code(0)
        .stderr_has("dry run")
        .stderr_has("check/first")
        .stderr_has("check/second")
        .stderr_has("check/third");
    assert!(
        !repo.path("first.out").exists() && !repo.path("third.out").exists(),
        "{}",
        done.dump()
    );
    let json = repo
        .xtask(&["check", "--dry-run", "--format", "json"])
        .run();
    let plan = json.code(0).json();
    assert_eq!(plan["status"], "planned");
    assert_eq!(plan["steps"].as_array().unwrap().len(), 3);
    assert_eq!(
        plan["steps"][1]["command"],
        "sh -c 'echo second-says-hello; exit 3'"
    );
}

#[test]
fn json_report_lists_every_step_with_status_code_and_duration() {
    let repo = Repo::new("json");
    repo.write("xtask.toml", FAILING_CHECK);
    let done = repo.xtask(&["check", "--format", "json"]).run();
    done.code(1);
    let r = done.json();
    assert_eq!(r["command"], "check");
    assert_eq!(r["status"], "failed");
    assert_eq!(r["failed_step"], "check/second");
    assert_eq!(r["rerun"], "cargo xtask check --step second");
    assert_eq!(r["bypasses"], serde_json::json!([]));
    let steps = r["steps"].as_array().unwrap();
    let statuses: Vec<_> = steps
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["passed", "failed", "not_run"]);
    assert_eq!(steps[0]["exit_code"], 0);
    assert_eq!(steps[1]["exit_code"], 3);
    assert_eq!(steps[1]["failure"], "exit");
    assert!(steps[0]["duration_ms"].is_u64());
    assert!(steps[2]["exit_code"].is_null());
    // Only the JSON document is on stdout (json() parsed all of it); the
    // child's output went to stderr.
    done.stderr_has("second-says-hello\n");
}

#[test]
fn github_actions_get_annotations_and_a_step_summary() {
    let repo = Repo::new("gha");
    repo.write("xtask.toml", FAILING_CHECK);
    let summary = repo.tmp.path().join("summary.md");
    let done = repo
        .xtask(&["check"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .run();
    done.code(1)
        .stderr_has("::error::check step check/second exited with code 3");
    let md = std::fs::read_to_string(&summary).expect("the step summary was written");
    assert!(md.contains("| step | status | duration | detail |"), "{md}");
    assert!(md.contains("| check/second | failed |"), "{md}");
    assert!(md.contains("| check/third | not run |"), "{md}");
    // Outside GitHub Actions: neither.
    let plain = repo
        .xtask(&["check"])
        .env("GITHUB_STEP_SUMMARY", repo.tmp.path().join("other.md"))
        .run();
    assert!(!plain.stderr.contains("::error"), "{}", plain.dump());
    assert!(!repo.tmp.path().join("other.md").exists());
}

/// Child output is redacted as it streams: a URL password never reaches the
/// terminal. (The canary test in migration/release_gate.rs covers a password
/// registered from the environment, printed on its own.)
#[test]
fn streamed_child_output_is_redacted() {
    let repo = Repo::new("redact-stream");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"leak\", argv = [\"sh\", \"-c\", \"echo url=$SOME_URL\"] }]\n",
    );
    let done = repo
        .xtask(&["check"])
        .env(
            "SOME_URL",
            "postgresql://app:Canary-pw-5f1e9@db.internal:5432/app",
        )
        .run();
    done.code(0)
        .stderr_has("url=postgresql://app:***@db.internal:5432/app")
        .nowhere("Canary-pw-5f1e9");
}

#[test]
fn ctrl_c_stops_the_step_and_its_process_group_and_exits_130() {
    let repo = Repo::new("sigint");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"hang\", argv = [\"sh\", \"-c\", \"sleep 120 & echo $! > grandchild.pid; echo $$ > child.pid; wait\"] }]\n",
    );
    let mut run = repo.xtask(&["check"]);
    let mut child = run
        .cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both pid files written out (a whole line each): the shell has started
    // its background child and is waiting.
    let deadline = Instant::now() + Duration::from_secs(20);
    let written = |f: &str| {
        std::fs::read_to_string(repo.path(f))
            .ok()
            .filter(|pid| pid.ends_with('\n'))
    };
    let pids: Vec<String> = loop {
        if let (Some(child), Some(grandchild)) = (written("child.pid"), written("grandchild.pid")) {
            break vec![child.trim().to_string(), grandchild.trim().to_string()];
        }
        assert!(Instant::now() < deadline, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "xtask did not stop after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for pid in pids {
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "process {pid} outlived the interrupted gate");
    }
}

#[test]
fn a_gate_command_without_its_policy_section_exits_2_naming_it() {
    let repo = Repo::new("nosection");
    repo.xtask(&["check"])
        .run()
        .code(2)
        .stderr_has("[gates.check]")
        .stderr_has("no policy file");
    repo.write("xtask.toml", "[git]\nmain-branch = \"main\"\n");
    repo.xtask(&["audit-eval"])
        .run()
        .code(2)
        .stderr_has("has no [gates.audit-eval] section");
}

#[test]
fn a_malformed_policy_is_reported_with_line_and_column() {
    let repo = Repo::new("malformed");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [\n  { name = \"x\", argv = [\"true\"], tiemout = \"1s\" },\n]\n",
    );
    let done = repo.xtask(&["check"]).run();
    done.code(2)
        .stderr_has("xtask.toml:3:")
        .stderr_has("tiemout");
    let json = repo.xtask(&["check", "--format", "json"]).run();
    let doc = json.code(2).json();
    assert_eq!(doc["exit_code"], 2);
    assert!(
        doc["error"].as_str().unwrap().contains("tiemout"),
        "{}",
        json.dump()
    );
}

#[test]
fn root_and_policy_flags_choose_the_repository_and_file() {
    let repo = Repo::new("flags");
    repo.write(
        "policies/alt.toml",
        "[gates.test]\nsteps = [{ name = \"t\", argv = [\"sh\", \"-c\", \"touch alt.out\"] }]\n",
    );
    let elsewhere = crate::support::TempDir::new("elsewhere");
    let root = repo.root.to_string_lossy().into_owned();
    let policy = repo
        .path("policies/alt.toml")
        .to_string_lossy()
        .into_owned();
    repo.xtask(&["test", "--root", &root, "--policy", &policy])
        .current_dir(elsewhere.path())
        .run()
        .code(0);
    assert!(repo.path("alt.out").exists());
    repo.xtask(&["test"])
        .current_dir(elsewhere.path())
        .run()
        .code(2)
        .stderr_has("not inside a git repository");
    repo.xtask(&["test", "--root", "/definitely/not/here"])
        .run()
        .code(2)
        .stderr_has("no such directory");
    repo.xtask(&["test", "--format", "yaml"]).run().code(2);
}

#[test]
fn a_refused_command_line_in_json_mode_still_prints_one_json_document() {
    let repo = Repo::new("badflag");
    for args in [
        &["--format", "json", "check", "--bogus"][..],
        &["check", "--format=json", "--bogus"][..],
        &["--format", "json"][..],
    ] {
        let done = repo.xtask(args).run();
        let doc = done.code(2).stderr_has("error:").json();
        assert_eq!(doc["status"], "error", "{}", done.dump());
        assert_eq!(doc["exit_code"], 2, "{}", done.dump());
    }
    let done = repo.xtask(&["--format", "json", "check", "--bogus"]).run();
    assert_eq!(
        done.json()["error"],
        "unexpected argument '--bogus' found",
        "{}",
        done.dump()
    );
    // Human mode keeps stdout empty; help is still help.
    let done = repo.xtask(&["check", "--bogus"]).run();
    assert!(done.code(2).stdout.is_empty(), "{}", done.dump());
    repo.xtask(&["--format", "json", "check", "--help"])
        .run()
        .code(0)
        .stdout_has("Example:");
}

#[test]
fn a_policy_file_named_on_the_command_line_must_exist() {
    let repo = Repo::new("nopolicy");
    repo.write(
        "xtask.toml",
        "[gates.check]\nsteps = [{ name = \"t\", argv = [\"true\"] }]\n",
    );
    let done = repo
        .xtask(&["check", "--policy", "xtask.tmol", "--format", "json"])
        .run();
    let doc = done.code(2).json();
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("--policy xtask.tmol: no such file"),
        "{}",
        done.dump()
    );
    repo.xtask(&["check", "--policy", "xtask.toml"])
        .run()
        .code(0);
}

/// `examples/horadus/xtask.toml` is Horadus's whole release policy: the
/// release-gate plan it makes is its Makefile's (deps-dev before check and
/// test, `deps` only after them, right before db-migration-gate, audit-eval
/// last), and every gate command is the Makefile's.
#[test]
fn horadus_policy_makes_the_makefiles_release_gate_plan() {
    let policy = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/horadus/xtask.toml")
        .canonicalize()
        .unwrap();
    let repo = Repo::new("horadus-plan");
    let done = repo
        .xtask(&[
            "release-gate",
            "--dry-run",
            "--include-eval",
            "--format",
            "json",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run();
    let plan = done.code(0).json();
    let steps: Vec<(String, String)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                format!(
                    "{}/{}",
                    s["gate"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                ),
                s["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let ids: Vec<&str> = steps.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "prepare/deps-dev/uv-sync-dev",
            "check/format",
            "check/lint",
            "check/typecheck",
            "test/pytest",
            "docs-freshness/docs-freshness",
            "prepare/deps/uv-sync",
            "db-migration-gate/db-migration-gate",
            "audit-eval/validate-taxonomy",
            "audit-eval/audit",
        ],
        "{}",
        done.dump()
    );
    let command = |id: &str| steps.iter().find(|(i, _)| i == id).unwrap().1.clone();
    assert_eq!(
        command("prepare/deps-dev/uv-sync-dev"),
        "uv sync --extra dev"
    );
    assert_eq!(command("prepare/deps/uv-sync"), "uv sync");
    assert_eq!(
        command("check/format"),
        "uv run --no-sync ruff format src/ tests/ --check"
    );
    assert_eq!(command("check/typecheck"), "uv run --no-sync mypy src/");
    assert_eq!(command("test/pytest"), "uv run --no-sync pytest tests/ -v");
    assert!(command("audit-eval/audit")
        .contains("horadus eval audit --gold-set ai/eval/gold_set.jsonl"));
    assert!(plan["steps"][7]["required_to_run"]
        .as_str()
        .unwrap()
        .contains("RELEASE_GATE_DATABASE_URL"));
    // Its task and GitHub settings are the repository's own.
    let text = std::fs::read_to_string(&policy).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        value["task"]["branch-template"].as_str(),
        Some("codex/task-{NNN}-{slug}")
    );
    assert_eq!(
        value["github"]["repository"].as_str(),
        Some("s5unanow/horadus")
    );
}
