//! Bounded inputs and policy paths (issue 12): a `*_FILE` that is not a
//! regular file of at most 64 KiB, a policy named by `--policy` that is a
//! FIFO or too large, and policy paths that a symlink leads out of the
//! repository are refused at once (exit 2), naming what is wrong; nothing
//! hangs and nothing runs.

use crate::support::{mkfifo, run_bounded, Repo};

fn gated_repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    repo.write(
        "xtask.toml",
        "secret-env = [\"SENTRY_DSN\"]\n\n[gates.check]\nsteps = [{ name = \"mark\", argv = [\"sh\", \"-c\", \"echo ran > check-ran\"] }]\n\n[gates.test]\nsteps = [{ name = \"t\", argv = [\"true\"] }]\n",
    );
    repo.write(".gitignore", "check-ran\n");
    repo.commit_all("policy");
    repo
}

#[test]
fn a_secret_file_that_is_not_a_small_regular_file_is_refused_at_once() {
    let repo = gated_repo("bounded-files");
    let fifo = repo.tmp.path().join("secret.fifo");
    mkfifo(&fifo);
    let dir = repo.tmp.path().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let big = repo.tmp.path().join("big");
    std::fs::write(&big, "x".repeat(64 * 1024 + 1)).unwrap();
    let cases = [
        (fifo.as_path(), "is a FIFO (named pipe), not a regular file"),
        (
            std::path::Path::new("/dev/zero"),
            "is a device, not a regular file",
        ),
        (dir.as_path(), "is a directory, not a regular file"),
        (big.as_path(), "is too large (over the 64 KiB limit)"),
    ];
    for (path, says) in cases {
        for var in [
            "RELEASE_GATE_DATABASE_URL_FILE",
            "GH_TOKEN_FILE",
            "SENTRY_DSN_FILE",
        ] {
            let done = run_bounded(
                repo.xtask(&["release-gate"])
                    .env("RELEASE_GATE_DATABASE_URL", "sqlite:///target/x.db")
                    .env(var, path),
            );
            done.code(2)
                .stderr_has(&format!("{var}: {}", path.display()))
                .stderr_has(says);
            assert!(
                !repo.path("check-ran").exists(),
                "a step ran{}",
                done.dump()
            );
        }
    }
    // The file is fine at the limit.
    let at_limit = repo.tmp.path().join("at-limit");
    std::fs::write(&at_limit, "x".repeat(64 * 1024)).unwrap();
    run_bounded(
        repo.xtask(&["check", "--dry-run"])
            .env("SENTRY_DSN_FILE", &at_limit),
    )
    .code(0);
}

#[test]
fn a_policy_that_is_a_fifo_or_too_large_is_refused_with_what_it_is() {
    let repo = gated_repo("bounded-policy");
    let fifo = repo.tmp.path().join("policy.fifo");
    mkfifo(&fifo);
    let fifo_arg = fifo.to_string_lossy().into_owned();
    let done = run_bounded(repo.xtask(&["check", "--dry-run", "--policy", &fifo_arg]));
    done.code(2)
        .stderr_has("is a FIFO (named pipe), not a regular file");
    assert!(!done.stderr.contains("no such file"), "{}", done.dump());

    let big = repo.tmp.path().join("big.toml");
    let mut text = String::from("[gates.check]\nsteps = [{ name = \"t\", argv = [\"true\"] }]\n");
    text.push_str(&"# padding\n".repeat(110_000));
    std::fs::write(&big, text).unwrap();
    let big_arg = big.to_string_lossy().into_owned();
    run_bounded(repo.xtask(&["check", "--dry-run", "--policy", &big_arg]))
        .code(2)
        .stderr_has("is too large (over the 1 MiB limit)");

    let missing = repo.tmp.path().join("missing.toml");
    let missing_arg = missing.to_string_lossy().into_owned();
    run_bounded(repo.xtask(&["check", "--dry-run", "--policy", &missing_arg]))
        .code(2)
        .stderr_has("no such file");
}

#[test]
fn policy_paths_that_a_symlink_leads_out_of_the_repository_are_refused_at_load() {
    let repo = Repo::new("bounded-paths");
    let outside = repo.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, repo.path("out")).unwrap();
    std::fs::create_dir_all(repo.path("service")).unwrap();
    std::os::unix::fs::symlink("service", repo.path("svc")).unwrap();
    let base = "[gates.check]\nsteps = [{ name = \"mark\", argv = [\"sh\", \"-c\", \"echo ran > /dev/null; touch ran\"], cwd = \"CWD\" }]\n[migration]\ndirectory = \"MIG\"\n[task]\nledger = \"LEDGER\"\n[docs]\nscope = [\"README.md\"]\noverrides-file = \"OVERRIDES\"\n";
    let policy = |cwd: &str, mig: &str, ledger: &str, overrides: &str| {
        base.replace("CWD", cwd)
            .replace("MIG", mig)
            .replace("LEDGER", ledger)
            .replace("OVERRIDES", overrides)
    };
    repo.write(
        "xtask.toml",
        &policy("out", "out/alembic", "out/BACKLOG.md", "out/o.json"),
    );
    let done = repo.xtask(&["check"]).run();
    done.code(2);
    for key in [
        "gates.check.steps[0] (mark): cwd \"out\"",
        "migration.directory \"out/alembic\"",
        "task.ledger \"out/BACKLOG.md\"",
        "docs.overrides-file \"out/o.json\"",
    ] {
        done.stderr_has(key);
    }
    done.stderr_has("outside the repository");
    assert!(
        !outside.join("ran").exists(),
        "the step ran outside{}",
        done.dump()
    );

    // Symlinks that stay inside, and paths not created yet, are fine.
    repo.write(
        "xtask.toml",
        &policy("svc", "svc", "tasks/BACKLOG.md", "docs/o.json"),
    );
    repo.xtask(&["check"]).run().code(0);
    assert!(repo.path("service/ran").exists());
}
