//! `cargo xtask init`: a starter policy drafted from a repository that has
//! a Makefile, alembic.ini, a CI workflow, docs with markers and a task
//! ledger; the commands accept the file it writes; it never overwrites one.

use crate::support::Repo;

const MAKEFILE: &str = "\
UV ?= uv
UV_RUN := $(UV) run --no-sync
DB_URL ?= postgresql://app:s3cr3t-pw@localhost/app
.PHONY: deps-dev lint typecheck check test test-integration db-upgrade
deps-dev:
\t$(UV) sync --extra dev
lint: deps-dev
\t$(UV_RUN) ruff check src/
typecheck: deps-dev
\t$(UV_RUN) mypy src/
check: lint typecheck
\t@echo \"checks passed\"
test: deps-dev
\t$(UV_RUN) pytest tests/ -q
test-integration: deps-dev
\tDATABASE_URL=\"$(DB_URL)\" $(UV_RUN) pytest tests/integration
db-upgrade:
\tcd service && $(UV_RUN) alembic upgrade head
migrate-local:
\t$(UV_RUN) psql $(DB_URL)
";

const CI: &str = "\
name: CI
on:
  pull_request:
    branches: [main]
  push:
    branches: [main]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - run: make lint
  unit:
    name: Unit tests
    runs-on: ubuntu-latest
    steps:
      - run: make test
";

const NIGHTLY: &str = "\
on:
  schedule:
    - cron: '0 3 * * *'
jobs:
  soak:
    runs-on: ubuntu-latest
    steps:
      - run: make test-integration
";

/// A repository in the runbook's shape, not yet adopted.
fn existing_repo() -> Repo {
    let repo = Repo::new("init");
    repo.write("Makefile", MAKEFILE);
    repo.write(
        "service/alembic.ini",
        "[alembic]\nscript_location = alembic\n",
    );
    repo.write("service/uv.lock", "version = 1\n");
    repo.write(".github/workflows/ci.yml", CI);
    repo.write(".github/workflows/nightly.yml", NIGHTLY);
    repo.write(
        "docs/RELEASING.md",
        "# Releasing\n\n**Last Verified**: 2026-02-01\n\nRun `make release-gate`.\n",
    );
    repo.write("docs/GLOSSARY.md", "# Glossary\n\nNo marker here.\n");
    repo.write(
        "tasks/BACKLOG.md",
        "# Backlog\n\n### TASK-101: first\n### TASK-102: second\n### TASK-103: third\n",
    );
    repo.write(
        "tasks/CURRENT_SPRINT.md",
        "# Sprint\n\n- TASK-104 planned\n- TASK-105 planned\n- TASK-106 planned\n",
    );
    repo.write(
        "tasks/COMPLETED.md",
        "- TASK-001 a\n- TASK-002 b\n- TASK-003 c\n- TASK-004 d\n",
    );
    repo.commit_all("the service as it is");
    repo.git(&["branch", "codex/task-101-first"]);
    repo.git(&["branch", "codex/task-102-second"]);
    repo
}

#[test]
fn init_drafts_the_policy_from_what_the_repository_has_and_the_commands_accept_it() {
    let repo = existing_repo();
    let done = repo.xtask(&["init"]).run();
    done.code(0)
        .stderr_has("wrote ")
        .stderr_has("xtask.toml")
        .nowhere("s3cr3t-pw");
    let policy = repo.read("xtask.toml");
    assert!(
        !policy.contains("s3cr3t-pw"),
        "a secret reached the policy:\n{policy}"
    );
    for expected in [
        // [git]
        "# guessed from the branch `main`\nmain-branch = \"main\"",
        // [task]: the backlog, not the completed list; branches give the template
        "id-prefix = \"TASK-\"",
        "id-digits = 3",
        "ledger = [\"tasks/BACKLOG.md\", \"tasks/CURRENT_SPRINT.md\"]",
        "branch-template = \"codex/task-{NNN}-{slug}\"",
        // [prepare] from the gates' prerequisite
        "deps-dev = [\n  # guessed from Makefile:5 target `deps-dev` (its own command)\n  { name = \"deps-dev\", argv = [\"uv\", \"sync\", \"--extra\", \"dev\"] },\n]",
        // [gates.check] from `check: lint typecheck`, in Make's order
        "[gates.check]\n# guessed from Makefile target `check`\nprepare = [\"deps-dev\"]",
        "{ name = \"lint\", argv = [\"uv\", \"run\", \"--no-sync\", \"ruff\", \"check\", \"src/\"] }",
        "{ name = \"typecheck\", argv = [\"uv\", \"run\", \"--no-sync\", \"mypy\", \"src/\"] }",
        // [gates.test]: `test`, naming the other test targets
        "# guessed from Makefile target `test` (also there: `test-integration`",
        "{ name = \"test\", argv = [\"uv\", \"run\", \"--no-sync\", \"pytest\", \"tests/\", \"-q\"] }",
        // [migration]: where alembic.ini is; uv.lock says how alembic runs
        "# guessed from service/alembic.ini\ndirectory = \"service\"",
        "# guessed from service/uv.lock\nalembic = [\"uv\", \"run\", \"--no-sync\", \"alembic\"]",
        // [github]: the pull-request jobs of ci.yml, not the nightly one
        "required-checks = [\"lint\", \"Unit tests\"]",
        // [docs]: the marked file, its directory as the scope
        "scope = [\"docs/**/*.md\"]",
        "{ path = \"docs/RELEASING.md\", label = \"Last Verified\" }",
    ] {
        assert!(policy.contains(expected), "the policy lacks {expected:?}:\n{policy}");
    }
    assert!(!policy.contains("GLOSSARY"), "{policy}");
    assert!(!policy.contains("soak"), "{policy}");
    assert!(
        policy.matches("# guessed from ").count() >= 15,
        "every guess is marked:\n{policy}"
    );
    // The commands load the file with the real policy loader and plan from it.
    repo.xtask(&["check", "--dry-run"])
        .run()
        .code(0)
        .stderr_has("prepare/deps-dev/deps-dev")
        .stderr_has("uv sync --extra dev")
        .stderr_has("check/lint")
        .stderr_has("uv run --no-sync mypy src/");
    let plan = repo.xtask(&["--format", "json", "test", "--dry-run"]).run();
    plan.code(0);
    let steps = plan.json()["steps"].clone();
    let commands: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        commands,
        ["uv sync --extra dev", "uv run --no-sync pytest tests/ -q"],
        "{}",
        plan.dump()
    );
    repo.xtask(&["docs-freshness", "--today", "2026-02-10"])
        .run()
        .code(0);
}

#[test]
fn init_never_overwrites_a_file() {
    let repo = existing_repo();
    let mine = "# our own policy, half written\n[git\n";
    repo.write("xtask.toml", mine);
    for args in [&["init"][..], &["init", "--dry-run"][..]] {
        repo.xtask(args)
            .run()
            .code(1)
            .stderr_has("xtask.toml already exists: init never overwrites a file")
            .stderr_has("--output FILE");
        assert_eq!(repo.read("xtask.toml"), mine, "{args:?} changed the file");
    }
    repo.write("draft.toml", "keep me\n");
    repo.xtask(&["init", "--output", "draft.toml"])
        .run()
        .code(1)
        .stderr_has("draft.toml already exists");
    assert_eq!(repo.read("draft.toml"), "keep me\n");
    // --stdout writes nothing, so an existing (even broken) policy is no obstacle.
    let printed = repo.xtask(&["init", "--stdout"]).run();
    printed
        .code(0)
        .stdout_has("[gates.check]")
        .stderr_has("nothing written");
    assert_eq!(repo.read("xtask.toml"), mine);
    // A new file elsewhere is written, and only that one.
    repo.xtask(&["init", "--output", "target/xtask.draft.toml"])
        .run()
        .code(2)
        .stderr_has("does not exist");
    assert!(!repo.path("target").exists());
    repo.xtask(&["init", "--output", "proposed.toml"])
        .run()
        .code(0);
    // The global --policy names the file init writes, as it names the one
    // the other commands read; given with --output it is ambiguous.
    repo.xtask(&["--policy", "ci.toml", "init", "--output", "other.toml"])
        .run()
        .code(2)
        .stderr_has("with --output FILE or with --policy FILE");
    repo.xtask(&["--policy", "ci.toml", "init"]).run().code(0);
    repo.xtask(&["--policy", "ci.toml", "check", "--dry-run"])
        .run()
        .code(0)
        .stderr_has("check/lint");
    assert!(!repo.path("other.toml").exists());
    assert_eq!(
        repo.read("proposed.toml").trim_end(),
        printed.stdout.trim_end()
    );
    assert_eq!(repo.read("xtask.toml"), mine);
}

#[test]
fn init_reports_in_json_and_a_dry_run_writes_nothing() {
    let repo = existing_repo();
    let done = repo.xtask(&["--format", "json", "init", "--dry-run"]).run();
    done.code(0);
    let report = done.json();
    assert_eq!(report["status"], "ok", "{}", done.dump());
    assert_eq!(report["written"], serde_json::Value::Null);
    assert_eq!(report["dry_run"], true);
    assert!(report["guesses"].as_u64().unwrap() >= 15, "{}", done.dump());
    let policy = report["policy"].as_str().unwrap();
    assert!(
        policy.contains("ledger = [\"tasks/BACKLOG.md\", \"tasks/CURRENT_SPRINT.md\"]"),
        "{policy}"
    );
    assert!(
        report["target"]
            .as_str()
            .unwrap()
            .ends_with("/work/xtask.toml"),
        "{}",
        done.dump()
    );
    assert!(
        !repo.path("xtask.toml").exists(),
        "a dry run wrote the policy"
    );
}

#[test]
fn a_bare_repository_gets_a_valid_policy_that_says_what_is_missing() {
    let repo = Repo::new("init-bare");
    repo.xtask(&["init"]).run().code(0);
    let policy = repo.read("xtask.toml");
    for note in [
        "no Makefile: add [gates.check] and [gates.test] by hand",
        "no alembic.ini",
        "no workflow job runs on pull requests to `main`",
    ] {
        assert!(policy.contains(note), "missing note {note:?}:\n{policy}");
    }
    // Outside a git repository there is nothing to adopt: exit 2, nothing written.
    let plain = repo.tmp.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    repo.xtask(&["--root", plain.to_str().unwrap(), "init"])
        .run()
        .code(2)
        .stderr_has("is not a git repository");
    assert!(!plain.join("xtask.toml").exists());
    // The loader accepts it: a command that needs a gate names the section.
    repo.xtask(&["check", "--dry-run"])
        .run()
        .code(2)
        .stderr_has("has no [gates.check] section");
}

#[test]
fn init_reads_only_regular_files_inside_the_repository() {
    let repo = existing_repo();
    // A marked doc outside the repository, linked from inside it, and a FIFO
    // named like a doc (reading it would block forever): neither is read.
    let outside = repo.tmp.path().join("outside.md");
    std::fs::write(&outside, "**Last Verified**: 2026-02-01\n").unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("docs/LINKED.md")).unwrap();
    let fifo = repo.path("docs/PIPE.md");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo failed");
    // Archived docs and ledgers are history, not what the gates check.
    repo.write(
        "archive/old/BACKLOG.md",
        "- TASK-900 a\n- TASK-901 b\n- TASK-902 c\n- TASK-903 d\n",
    );
    repo.write("archive/old/STATUS.md", "**Last Verified**: 2025-01-01\n");
    let done = repo.xtask(&["init", "--stdout"]).run();
    done.code(0)
        .stdout_has("{ path = \"docs/RELEASING.md\", label = \"Last Verified\" }")
        .stdout_has("ledger = [\"tasks/BACKLOG.md\", \"tasks/CURRENT_SPRINT.md\"]")
        .nowhere("LINKED")
        .nowhere("PIPE")
        .nowhere("archive");
}

/// This repository's own Makefile is shims (`$(XTASK) check`): copying them
/// would make each gate call itself, so init leaves them out and says so.
#[test]
fn init_on_a_repository_of_make_shims_copies_no_gate_that_calls_itself() {
    let repo = Repo::new("init-self");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    repo.write(
        "Makefile",
        &std::fs::read_to_string(root.join("Makefile")).unwrap(),
    );
    repo.commit_all("a Makefile of shims");
    let done = repo.xtask(&["init", "--stdout"]).run();
    done.code(0)
        .stdout_has("the step `check` of [gates.check] was left out: it runs this xtask itself")
        .stdout_has("the step `test` of [gates.test] was left out")
        .nowhere("[gates.check]\n")
        .nowhere("\"xtask\"");
}
