//! Hostile input to the gates family (release-gate, check, test,
//! audit-eval, docs-freshness, db-migration-gate, gate-status): switches
//! with undocumented values, `*_FILE` variables naming files that are not
//! files, database values that are not URLs or whose password is awkward,
//! dates that are not dates, steps that do not exist, revisions that are
//! not revisions, and a step `cwd` leading out of the repository. Each is
//! refused with exit 2 and a one-line message, never shows the password,
//! and changes nothing: refs, notes, tags, HEAD and the working tree are as
//! they were.

use crate::support::{mkfifo, refused_unchanged, Done, Repo, Run};

/// Everything a gate command could change.
#[derive(Debug, PartialEq, Eq)]
struct State {
    refs: String,
    head: String,
    status: String,
}

fn state(repo: &Repo) -> State {
    State {
        // Notes and tags are refs too (refs/notes/*, refs/tags/*).
        refs: repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        head: repo.git(&["symbolic-ref", "HEAD"]),
        status: repo.git(&[
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--ignored",
        ]),
    }
}

/// Runs `run`, asserts exit `code`, one line on stderr holding every
/// needle, and no change to the repository (see `state`).
#[track_caller]
fn refused(repo: &Repo, run: Run, code: i32, needles: &[&str]) -> Done {
    refused_unchanged(|| state(repo), run, code, needles)
}

/// Steps that leave a trace in the working tree when they run.
const GATES: &str = r#"
[gates.check]
steps = [{ name = "one", argv = ["sh", "-c", "echo ran > check.out"] }]

[gates.test]
steps = [{ name = "one", argv = ["sh", "-c", "echo ran > test.out"] }]

[gates.audit-eval]
steps = [{ name = "one", argv = ["sh", "-c", "echo ran > eval.out"] }]

[docs]
"#;

/// A repository with the gates policy committed, a tag and a note, so that
/// a change to any of them shows.
fn repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    repo.write("xtask.toml", GATES);
    repo.commit_all("policy");
    repo.git(&["tag", "v1.0.0"]);
    repo.git(&["notes", "add", "-m", "a note", "HEAD"]);
    repo
}

#[test]
fn switches_accept_only_their_documented_values() {
    let repo = repo("hostile-gate-switches");
    for (var, value, args) in [
        ("RELEASE_GATE_INCLUDE_EVAL", "yes", vec!["release-gate"]),
        ("RELEASE_GATE_INCLUDE_EVAL", "1 ", vec!["release-gate"]),
        (
            "MIGRATION_GATE_VALIDATE_AUTOGEN",
            "maybe",
            vec!["db-migration-gate"],
        ),
        (
            "MIGRATION_GATE_VALIDATE_AUTOGEN",
            "maybe",
            vec!["release-gate"],
        ),
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
fn url_files_that_are_not_small_regular_files_are_refused_at_once() {
    let repo = repo("hostile-gate-files");
    let fifo = repo.tmp.path().join("fifo");
    mkfifo(&fifo);
    let empty = repo.tmp.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let big = repo.tmp.path().join("big");
    std::fs::write(&big, "x".repeat(65 * 1024)).unwrap();
    let dir = repo.tmp.path().to_str().unwrap();
    for (path, what) in [
        (
            fifo.to_str().unwrap(),
            "is a FIFO (named pipe), not a regular file",
        ),
        (dir, "is a directory, not a regular file"),
        ("/dev/zero", "is a device, not a regular file"),
        (empty.to_str().unwrap(), "which is empty"),
        (big.to_str().unwrap(), "too large (over the 64 KiB limit)"),
    ] {
        for (var, command) in [
            ("RELEASE_GATE_DATABASE_URL_FILE", "release-gate"),
            ("MIGRATION_GATE_DATABASE_URL_FILE", "db-migration-gate"),
            // The migration gate also reads the release gate's variable.
            ("RELEASE_GATE_DATABASE_URL_FILE", "db-migration-gate"),
        ] {
            refused(
                &repo,
                repo.xtask(&[command]).env(var, path),
                2,
                &[var, what],
            );
        }
    }
    assert!(!repo.path("check.out").exists());
}

#[test]
fn database_values_that_are_not_urls_are_refused_without_the_password() {
    let repo = repo("hostile-gate-urls");
    let dsn_file = repo.tmp.path().join("dsn");
    std::fs::write(&dsn_file, "host=db password=canary123\n").unwrap();
    for (value, needle) in [
        ("host=db password=canary123", "keyword form"),
        ("not a url canary123", "is not a URL"),
        ("canary123", "is not a URL"),
    ] {
        for (var, command) in [
            ("RELEASE_GATE_DATABASE_URL", "release-gate"),
            ("MIGRATION_GATE_DATABASE_URL", "db-migration-gate"),
        ] {
            let done = refused(
                &repo,
                repo.xtask(&[command]).env(var, value),
                2,
                &[var, needle, "the value is not shown"],
            );
            done.nowhere("canary123");
        }
    }
    for (var, command) in [
        ("RELEASE_GATE_DATABASE_URL_FILE", "release-gate"),
        ("MIGRATION_GATE_DATABASE_URL_FILE", "db-migration-gate"),
    ] {
        let done = refused(
            &repo,
            repo.xtask(&[command]).env(var, &dsn_file),
            2,
            &[var, "keyword form"],
        );
        done.nowhere("canary123");
    }
    assert!(!repo.path("check.out").exists());
}

#[test]
fn a_password_holding_url_delimiters_never_shows() {
    let repo = repo("hostile-gate-password");
    // The gate cannot run alembic here: it stops in one line, after reading
    // the URL, and neither that line nor stdout may carry the password.
    repo.write(
        "xtask.toml",
        &format!("{GATES}\n[migration]\ndirectory = \"nope\"\n"),
    );
    repo.commit_all("no alembic directory");
    for password in ["can/ary123", "can#ary123", "can?ary123", "can@ary123"] {
        let url = format!("postgresql+psycopg://app:{password}@db:5432/app");
        let file = repo.tmp.path().join("url");
        std::fs::write(&file, &url).unwrap();
        for run in [
            repo.xtask(&["db-migration-gate"])
                .env("MIGRATION_GATE_DATABASE_URL", &url),
            repo.xtask(&["db-migration-gate"])
                .env("RELEASE_GATE_DATABASE_URL", &url),
            repo.xtask(&["db-migration-gate"])
                .env("MIGRATION_GATE_DATABASE_URL_FILE", &file),
        ] {
            let done = refused(&repo, run, 2, &["[migration] directory \"nope\""]);
            done.nowhere("ary123").nowhere(password);
        }
    }
}

#[test]
fn today_must_be_a_real_date() {
    let repo = repo("hostile-gate-today");
    for today in ["not-a-date", "2026-13-45", "2026-02-30", "20260219", "$(x)"] {
        let message = format!("--today {today:?} is not a real date (YYYY-MM-DD)");
        for command in ["docs-freshness", "release-gate"] {
            refused(
                &repo,
                repo.xtask(&[command, "--today", today]),
                2,
                &[&message],
            );
        }
    }
    assert!(!repo.path("check.out").exists());
}

#[test]
fn steps_that_do_not_exist_are_refused_naming_the_real_ones() {
    let repo = repo("hostile-gate-steps");
    for gate in ["check", "test", "audit-eval"] {
        for step in ["nope", "", "../one", "one;two", "ONE", "--upload-pack=x"] {
            refused(
                &repo,
                repo.xtask(&[gate, &format!("--step={step}")]),
                2,
                &[
                    &format!("gate {gate} has no step named {step:?}"),
                    "its steps: one",
                ],
            );
        }
    }
    for out in ["check.out", "test.out", "eval.out"] {
        assert!(!repo.path(out).exists(), "{out} was written");
    }
}

#[test]
fn gate_status_refuses_what_is_not_a_revision_before_git_runs() {
    let repo = repo("hostile-gate-status");
    for rev in ["--upload-pack=touch pwned", "a b", "$(touch pwned)", "-x"] {
        refused(
            &repo,
            repo.xtask(&["gate-status", "--", rev]),
            2,
            &[&format!("{rev:?} is not a revision")],
        );
    }
    assert!(!repo.path("pwned").exists());
    assert!(!repo.tmp.path().join("pwned").exists());
}

#[test]
fn a_step_cwd_leading_out_of_the_repository_is_refused_at_load() {
    let repo = repo("hostile-gate-cwd");
    std::os::unix::fs::symlink("..", repo.path("up")).unwrap();
    repo.commit_all("a symlink out");
    for (cwd, needle) in [
        ("..", "must be a relative path inside the repository"),
        (
            "a/../../..",
            "must be a relative path inside the repository",
        ),
        ("/tmp", "must be a relative path inside the repository"),
        ("up", "outside the repository"),
    ] {
        let policy = format!(
            "[gates.check]\nsteps = [{{ name = \"one\", argv = [\"touch\", \"escaped\"], cwd = {cwd:?} }}]\n"
        );
        let at = repo.tmp.path().join("policy.toml");
        std::fs::write(&at, policy).unwrap();
        let at = at.to_str().unwrap();
        for args in [
            vec!["--policy", at, "check"],
            vec!["--policy", at, "check", "--dry-run"],
            vec!["--policy", at, "check", "--step", "one"],
            vec!["--policy", at, "release-gate"],
        ] {
            refused(
                &repo,
                repo.xtask(&args),
                2,
                &[
                    "gates.check.steps[0] (one)",
                    &format!("cwd {cwd:?}"),
                    needle,
                ],
            );
        }
    }
    assert!(!repo.tmp.path().join("escaped").exists());
    assert!(!repo.path("escaped").exists());
}
