//! release-gate end to end: all four steps for real (the migration gate on
//! the example service, on SQLite and on PostgreSQL), the gate record on a
//! clean tree and not on a dirty one, gate-status, the switches, and a canary
//! password that must appear nowhere.

use super::{Backend, Fixture, State};

/// The example service's head revision.
const HEAD: &str = "0003";
use crate::support::Done;

/// check and test gates that print what they can see of the database URL,
/// docs rules that pass, and the fixture's migration section.
fn policy(extra: &str) -> String {
    format!(
        r#"
[gates.check]
steps = [{{ name = "echo-url", argv = ["sh", "-c", "echo check sees $RELEASE_GATE_DATABASE_URL; echo raw password: $CANARY"] }}]

[gates.test]
steps = [{{ name = "unit", argv = ["sh", "-c", "echo tests ran > tests.out"] }}]

[docs]
scope = ["README.md"]

[migration]
directory = "service"
timeout = "2m"
{extra}"#
    )
}

/// A fixture at head, with the policy above, everything committed.
fn gated(label: &str, backend: Backend, extra: &str) -> Fixture {
    let f = Fixture::new(label, backend, State::At(HEAD));
    f.repo.write("xtask.toml", &policy(extra));
    f.repo.write(".gitignore", "tests.out\n__pycache__/\n");
    f.repo.commit_all("service and policy");
    f
}

fn release_gate(f: &Fixture, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["release-gate"];
    all.extend_from_slice(args);
    f.repo
        .xtask(&all)
        .env("RELEASE_GATE_DATABASE_URL", &f.url)
        .env("PATH", super::path_with_uv_binary())
        .env("TMPDIR", f.repo.tmp.path())
        .env("UV_PROJECT_ENVIRONMENT", super::venv())
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("CANARY", f.secret.as_deref().unwrap_or("no-password"))
}

fn note(f: &Fixture) -> Option<String> {
    let out = f
        .repo
        .git_output(&["notes", "--ref=release-gate", "show", "HEAD"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[track_caller]
fn step_statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["steps"]
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
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn release_gate_runs_all_four_steps_and_records_the_result_on_a_clean_tree() {
    let f = gated("rg-sqlite", Backend::Sqlite, "");
    let done = release_gate(&f, &["--format", "json"]).run();
    done.code(0)
        .stderr_has("==> db-migration-gate: cargo xtask db-migration-gate");
    let report = done.json();
    assert_eq!(
        step_statuses(&report),
        [
            ("check/echo-url".to_string(), "passed".to_string()),
            ("test/unit".into(), "passed".into()),
            ("docs-freshness/docs-freshness".into(), "passed".into()),
            (
                "db-migration-gate/db-migration-gate".into(),
                "passed".into()
            ),
            ("audit-eval/audit-eval".into(), "skipped".into()),
        ],
        "{}",
        done.dump()
    );
    assert!(report["steps"][4]["reason"]
        .as_str()
        .unwrap()
        .contains("RELEASE_GATE_INCLUDE_EVAL"));
    assert_eq!(report["record"]["written"], true, "{}", done.dump());

    let head = f.repo.head();
    let record: serde_json::Value =
        serde_json::from_str(note(&f).expect("a gate record on HEAD").trim()).unwrap();
    assert_eq!(record["sha"], head.as_str());
    assert_eq!(
        record["tree"],
        f.repo.git(&["rev-parse", "HEAD^{tree}"]).as_str()
    );
    assert_eq!(record["status"], "passed");
    assert_eq!(record["steps"].as_array().unwrap().len(), 5);
    assert_eq!(record["bypasses"], serde_json::json!([]));
    assert!(record["tool"].as_str().unwrap().starts_with("xtask "));
    assert!(record["started_at"].as_str().unwrap() <= record["finished_at"].as_str().unwrap());

    f.repo
        .xtask(&["gate-status"])
        .run()
        .code(0)
        .stderr_has(&format!("release-gate passed for {head}"));
    let status = f
        .repo
        .xtask(&["gate-status", "HEAD", "--format", "json"])
        .run();
    assert_eq!(status.code(0).json()["record"]["status"], "passed");
}

#[test]
fn a_dirty_tree_runs_the_gate_but_writes_no_record() {
    let f = gated("rg-dirty", Backend::Sqlite, "");
    f.repo.write("scratch.txt", "uncommitted\n");
    let done = release_gate(&f, &[]).run();
    done.code(0)
        .stderr_has("no gate record written: the working tree had uncommitted changes");
    assert_eq!(note(&f), None, "{}", done.dump());
    f.repo
        .xtask(&["gate-status"])
        .run()
        .code(1)
        .stderr_has("no release-gate record for");
}

/// A policy named with --policy outside the commit (here: a copy of the
/// committed one, in the temporary directory) gates as usual but proves
/// nothing about the commit: no record. The committed file named
/// explicitly is the committed policy.
#[test]
fn a_policy_from_outside_the_commit_runs_the_gate_but_writes_no_record() {
    let f = gated("rg-foreign-policy", Backend::Sqlite, "");
    let elsewhere = f.repo.tmp.path().join("weak.toml");
    std::fs::write(&elsewhere, f.repo.read("xtask.toml")).unwrap();
    let done = release_gate(
        &f,
        &["--policy", elsewhere.to_str().unwrap(), "--format", "json"],
    )
    .run();
    let report = done
        .code(0)
        .stderr_has("no gate record written: the gate ran with the policy ")
        .json();
    assert_eq!(report["record"]["written"], false, "{}", done.dump());
    assert_eq!(note(&f), None, "{}", done.dump());
    let own = f.repo.path("xtask.toml");
    let done = release_gate(&f, &["--policy", own.to_str().unwrap(), "--format", "json"]).run();
    assert_eq!(
        done.code(0).json()["record"]["written"],
        true,
        "{}",
        done.dump()
    );
}

#[test]
fn a_failing_step_stops_the_gate_and_the_failure_is_recorded() {
    let f = Fixture::new("rg-behind", Backend::Sqlite, State::At("0002"));
    f.repo.write("xtask.toml", &policy(""));
    f.repo.write(".gitignore", "tests.out\n__pycache__/\n");
    f.repo.commit_all("service and policy");
    let done = release_gate(&f, &["--format", "json"]).run();
    done.code(1)
        .stderr_has("<== failed: db-migration-gate exited with code 1");
    let report = done.json();
    assert_eq!(report["failed_step"], "db-migration-gate");
    assert_eq!(report["rerun"], "cargo xtask db-migration-gate");
    let record: serde_json::Value = serde_json::from_str(note(&f).unwrap().trim()).unwrap();
    assert_eq!(record["status"], "failed");
    f.repo
        .xtask(&["gate-status"])
        .run()
        .code(1)
        .stderr_has("release-gate failed");
}

#[test]
fn the_canary_password_appears_nowhere_on_postgres() {
    let f = gated("rg-canary", Backend::Postgres, "");
    let canary = f.secret.clone().expect("PostgreSQL has a password");
    let done = release_gate(&f, &["--format", "json"]).run();
    done.code(0)
        .nowhere(&canary)
        .stderr_has("check sees postgresql://")
        .stderr_has(":***@127.0.0.1");
    done.stderr_has("raw password: ***");
    let report = done.json();
    assert!(!report.to_string().contains(&canary));
    let note = note(&f).expect("a gate record");
    assert!(
        !note.contains(&canary),
        "the git note holds the password: {note}"
    );
    assert!(note.contains(":***@"), "{note}");
    // The same through the _FILE variable, which wins over the plain one.
    let file = f.repo.tmp.path().join("db_url");
    std::fs::write(&file, format!("{}\n", f.url)).unwrap();
    let done = release_gate(&f, &[])
        .env(
            "RELEASE_GATE_DATABASE_URL",
            "postgresql://wrong:wrong@127.0.0.1:1/nowhere",
        )
        .env("RELEASE_GATE_DATABASE_URL_FILE", &file)
        .run();
    done.code(0).nowhere(&canary);
}

#[test]
fn the_autogen_bypass_is_warned_reported_and_recorded() {
    let f = gated("rg-bypass", Backend::Sqlite, "");
    let done = release_gate(&f, &["--format", "json"])
        .env("MIGRATION_GATE_VALIDATE_AUTOGEN", "false")
        .run();
    done.code(0)
        .stderr_has("warning: bypass MIGRATION_GATE_VALIDATE_AUTOGEN=false");
    let report = done.json();
    assert_eq!(
        report["bypasses"][0]["variable"],
        "MIGRATION_GATE_VALIDATE_AUTOGEN"
    );
    let record: serde_json::Value = serde_json::from_str(note(&f).unwrap().trim()).unwrap();
    assert_eq!(
        record["bypasses"][0]["variable"],
        "MIGRATION_GATE_VALIDATE_AUTOGEN"
    );
    assert_eq!(record["bypasses"][0]["value"], "false");
}

#[test]
fn switch_values_other_than_the_documented_ones_are_usage_errors_before_anything_runs() {
    let f = gated("rg-switches", Backend::Sqlite, "");
    for (var, value) in [
        ("RELEASE_GATE_INCLUDE_EVAL", "TRUE"),
        ("RELEASE_GATE_INCLUDE_EVAL", "yes"),
        ("RELEASE_GATE_INCLUDE_EVAL", "1"),
        ("MIGRATION_GATE_VALIDATE_AUTOGEN", "False"),
        ("MIGRATION_GATE_VALIDATE_AUTOGEN", "0"),
    ] {
        let done: Done = release_gate(&f, &[]).env(var, value).run();
        done.code(2)
            .stderr_has(&format!("{var}=\"{value}\" is not a value it accepts"));
        assert!(
            !f.repo.path("tests.out").exists(),
            "a step ran{}",
            done.dump()
        );
    }
}

#[test]
fn without_a_database_url_the_gate_exits_2_with_the_usage_line_and_runs_nothing() {
    let f = gated("rg-nourl", Backend::Sqlite, "");
    let done = release_gate(&f, &[])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run();
    done.code(2)
        .stderr_has("RELEASE_GATE_DATABASE_URL is required")
        .stderr_has("Usage: make release-gate RELEASE_GATE_DATABASE_URL=<target-db-url>");
    assert!(!f.repo.path("tests.out").exists());
    // The policy's default database stands in for it.
    f.repo.write(
        "xtask.toml",
        &policy(&format!("default-database-url = {:?}\n", f.url)),
    );
    f.repo.commit_all("default database");
    release_gate(&f, &[])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run()
        .code(0);
}

#[test]
fn audit_eval_runs_last_only_when_asked() {
    let eval = "\n[gates.audit-eval]\nsteps = [{ name = \"eval\", argv = [\"sh\", \"-c\", \"echo eval ran > tests.out\"] }]\n";
    let f = gated("rg-eval", Backend::Sqlite, "");
    let mut policy = policy("");
    policy.push_str(eval);
    f.repo.write("xtask.toml", &policy);
    f.repo.commit_all("eval gate");
    let skipped = release_gate(&f, &["--format", "json"]).run();
    let report = skipped.code(0).json();
    assert_eq!(report["steps"][4]["gate"], "audit-eval");
    assert_eq!(report["steps"][4]["status"], "skipped");
    assert_eq!(f.repo.read("tests.out"), "tests ran\n");
    let included = release_gate(&f, &["--format", "json"])
        .env("RELEASE_GATE_INCLUDE_EVAL", "true")
        .run();
    let report = included.code(0).json();
    assert_eq!(
        report["steps"][4]["status"],
        "passed",
        "{}",
        included.dump()
    );
    assert_eq!(
        f.repo.read("tests.out"),
        "eval ran\n",
        "audit-eval did not run last"
    );
    // The flag is the variable's equal: the plan runs audit-eval (a third
    // full gate run would only repeat the one above).
    let plan = release_gate(&f, &["--include-eval", "--dry-run", "--format", "json"]).run();
    let plan = plan.code(0).json();
    assert_eq!(plan["steps"][4]["gate"], "audit-eval");
    assert_eq!(plan["steps"][4]["status"], "planned", "{plan:#}");
}

#[test]
fn dry_run_prints_every_step_including_skipped_ones_and_runs_nothing() {
    let f = gated("rg-dry", Backend::Sqlite, "");
    let done = release_gate(&f, &["--dry-run", "--format", "json"]).run();
    let plan = done.code(0).json();
    let names: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["gate"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "check",
            "test",
            "docs-freshness",
            "db-migration-gate",
            "audit-eval"
        ]
    );
    assert_eq!(plan["steps"][4]["status"], "skipped");
    assert!(!f.repo.path("tests.out").exists());
    assert_eq!(note(&f), None);
}

/// A gate record that cannot be written is a failure: exit 1, the JSON says
/// why, and nothing claims `passed` (here git's notes ref is locked by a
/// stale `refs/notes/release-gate.lock`).
#[test]
fn a_record_that_cannot_be_written_fails_the_gate() {
    let f = gated("rg-locked", Backend::Sqlite, "");
    let lock = f.repo.path(".git/refs/notes/release-gate.lock");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    std::fs::write(&lock, "").unwrap();
    let done = release_gate(&f, &["--format", "json"]).run();
    done.code(1)
        .stderr_has("the gate record could not be written, so the gate does not pass");
    let report = done.json();
    assert_eq!(report["status"], "failed", "{}", done.dump());
    assert_eq!(report["failed_step"], "gate-record");
    assert_eq!(report["record"]["written"], false);
    let reason = report["record"]["reason"].as_str().unwrap();
    assert!(reason.contains("release-gate.lock"), "{reason}");
    assert!(
        !done.stderr.contains("release-gate passed"),
        "{}",
        done.dump()
    );
    assert_eq!(note(&f), None);
    // Every step itself passed: only the record failed.
    assert!(step_statuses(&report)[..4]
        .iter()
        .all(|(_, s)| s == "passed"));
    std::fs::remove_file(&lock).unwrap();
    release_gate(&f, &[]).run().code(0);
    assert!(note(&f).is_some());
}

/// Four release-gate processes at once on one commit: every record survives.
#[test]
fn concurrent_release_gates_on_one_commit_keep_every_record() {
    const N: usize = 4;
    let f = gated("rg-concurrent", Backend::Sqlite, "");
    let runs: Vec<Done> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..N)
            .map(|_| s.spawn(|| release_gate(&f, &["--format", "json"]).run()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for done in &runs {
        assert_eq!(done.code(0).json()["record"]["written"], true);
    }
    let note = note(&f).expect("gate records on HEAD");
    let records: Vec<serde_json::Value> = note
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), N, "records lost:\n{note}");
    assert!(records.iter().all(|r| r["status"] == "passed"), "{note}");
}

/// `--isolated` gates HEAD as committed, in a clean temporary worktree: a
/// gitignored local file that makes the gate pass in the working tree does
/// not exist there. The record says whether the run was isolated, the
/// build caches are the repository's, and the worktree is gone afterwards.
#[test]
fn an_isolated_gate_sees_only_the_commit_and_says_so() {
    let f = gated("rg-isolated", Backend::Sqlite, "");
    f.repo.write(
        "xtask.toml",
        &policy("").replace(
            "echo tests ran > tests.out",
            "echo target=$CARGO_TARGET_DIR; test -f local.flag && echo tests ran > tests.out",
        ),
    );
    f.repo
        .write(".gitignore", "tests.out\n__pycache__/\nlocal.flag\n");
    f.repo.commit_all("tests that need a local file");
    f.repo.write("local.flag", "only on this machine\n");

    let local = release_gate(&f, &["--format", "json"])
        .env_remove("CARGO_TARGET_DIR")
        .run();
    let report = local.code(0).json();
    assert_eq!(report["record"]["isolated"], false, "{}", local.dump());
    std::fs::remove_file(f.repo.path("tests.out")).unwrap();

    let isolated = release_gate(&f, &["--isolated", "--format", "json"])
        .env_remove("CARGO_TARGET_DIR")
        .run();
    isolated
        .code(1)
        .stderr_has("isolated: in a clean worktree of HEAD")
        .stderr_has(&format!("target={}", f.repo.path("target").display()));
    let report = isolated.json();
    assert_eq!(report["failed_step"], "test/unit", "{}", isolated.dump());
    assert_eq!(report["record"]["written"], true);
    assert_eq!(report["record"]["isolated"], true);
    let note = note(&f).unwrap();
    let last: serde_json::Value = serde_json::from_str(note.lines().last().unwrap()).unwrap();
    assert_eq!(last["status"], "failed", "{note}");
    assert_eq!(last["isolated"], true, "{note}");
    let worktrees = f.repo.git(&["worktree", "list", "--porcelain"]);
    assert_eq!(
        worktrees.matches("worktree ").count(),
        1,
        "the temporary worktree was left behind:\n{worktrees}"
    );
    assert!(
        !f.repo.path("tests.out").exists(),
        "the isolated gate wrote into the working tree"
    );
    // The same commit with the file committed passes isolated too.
    f.repo.write(".gitignore", "tests.out\n__pycache__/\n");
    f.repo.commit_all("the flag is part of the commit");
    release_gate(&f, &["--isolated"]).run().code(0);
    f.repo
        .xtask(&["gate-status"])
        .run()
        .code(0)
        .stderr_has(", isolated)");
}

/// Without a database URL, `--dry-run` still shows the whole plan and marks
/// the step that needs one; each `[prepare]` list comes right before the
/// first gate that needs it, once, in gate order.
#[test]
fn dry_run_without_a_url_shows_the_plan_with_each_preparation_where_it_is_first_needed() {
    let f = gated("rg-prepare-order", Backend::Sqlite, "");
    let policy = policy("prepare = [\"migrate\", \"dev\"]\n")
        .replace("[gates.check]\n", "[gates.check]\nprepare = [\"dev\"]\n")
        .replace(
            "[gates.test]\n",
            "[gates.test]\nprepare = [\"dev\", \"fixtures\"]\n",
        )
        + r#"
[prepare]
dev = [{ name = "sync-dev", argv = ["true"] }]
fixtures = [{ name = "load", argv = ["true"] }]
migrate = [{ name = "upgrade", argv = ["true"] }]
deps = [{ name = "sync-prod", argv = ["true"] }]

[gates.audit-eval]
prepare = ["deps"]
steps = [{ name = "eval", argv = ["true"] }]
"#;
    f.repo.write("xtask.toml", &policy);
    f.repo.commit_all("prepare lists");
    let done = release_gate(&f, &["--dry-run", "--include-eval", "--format", "json"])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run();
    let plan = done.code(0).json();
    let ids: Vec<String> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["gate"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            "prepare/dev/sync-dev",
            "check/echo-url",
            "prepare/fixtures/load",
            "test/unit",
            "docs-freshness/docs-freshness",
            "prepare/migrate/upgrade",
            "db-migration-gate/db-migration-gate",
            "prepare/deps/sync-prod",
            "audit-eval/eval",
        ],
        "{}",
        done.dump()
    );
    let needs = plan["steps"][6]["required_to_run"].as_str().unwrap();
    assert!(needs.contains("RELEASE_GATE_DATABASE_URL"), "{needs}");
    assert!(plan["steps"][1]["required_to_run"].is_null());
    let human = release_gate(&f, &["--dry-run"])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run();
    human
        .code(0)
        .stderr_has("[required to run: RELEASE_GATE_DATABASE_URL");
    assert!(!f.repo.path("tests.out").exists());
    // Without --dry-run the URL is still required.
    release_gate(&f, &[])
        .env_remove("RELEASE_GATE_DATABASE_URL")
        .run()
        .code(2)
        .stderr_has("RELEASE_GATE_DATABASE_URL is required");
}

/// `--today` reaches docs-freshness: a marker fresh on one date is stale on
/// another; a date that does not exist stops the gate before anything runs.
#[test]
fn today_reaches_docs_freshness() {
    let f = gated("rg-today", Backend::Sqlite, "");
    f.repo.write(
        "xtask.toml",
        &policy("").replace(
            "[docs]\nscope = [\"README.md\"]\n",
            "[docs]\nscope = [\"README.md\"]\nmarkers = [{ path = \"README.md\", label = \"Last Verified\" }]\n",
        ),
    );
    f.repo
        .write("README.md", "# Service\n\n**Last Verified**: 2026-02-01\n");
    f.repo.commit_all("a verified README");
    let stale = release_gate(&f, &["--today", "2027-01-01", "--format", "json"]).run();
    let report = stale.code(1).json();
    assert_eq!(report["failed_step"], "docs-freshness", "{}", stale.dump());
    stale.stderr_has("cargo xtask docs-freshness --today 2027-01-01");
    let plan = release_gate(
        &f,
        &["--today", "2026-02-19", "--dry-run", "--format", "json"],
    )
    .run();
    assert_eq!(
        plan.code(0).json()["steps"][2]["command"],
        "cargo xtask docs-freshness --today 2026-02-19"
    );
    std::fs::remove_file(f.repo.path("tests.out")).unwrap();
    release_gate(&f, &["--today", "2026-02-30"])
        .run()
        .code(2)
        .stderr_has("--today \"2026-02-30\" is not a real date");
    assert!(!f.repo.path("tests.out").exists());
}
