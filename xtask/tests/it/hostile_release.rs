//! Hostile input to the release family (release-notes, release-tag, deploy,
//! verify-deploy, rollback, env-parity): versions and bumps, revisions,
//! environment names, rollback reasons, switches, notes and output files
//! that are not files, env files with hostile lines. Each is refused with its
//! exit code and a one-line message, prints no secret, and changes nothing:
//! refs (tags, notes, the remote's), HEAD, the working tree, the worktrees,
//! the deploy locks, and no deploy step runs.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{mkfifo, refused_unchanged, run_bounded, Done, Repo, Run};

/// Everything a release command could change.
#[derive(Debug, PartialEq, Eq)]
struct State {
    refs: String,
    origin_refs: String,
    head: String,
    status: String,
    worktrees: String,
    /// Every file under `.git/xtask` (locks, deploy worktrees), with its bytes.
    xtask_dir: BTreeMap<String, Vec<u8>>,
    /// Whether a deploy or rollback step ran (each step touches this file).
    step_ran: bool,
}

fn walk(dir: &Path, base: &Path, into: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            into.insert(format!("{rel}/"), Vec::new());
            walk(&path, base, into);
        } else {
            into.insert(rel, std::fs::read(&path).unwrap_or_default());
        }
    }
}

fn state(repo: &Repo) -> State {
    let mut xtask_dir = BTreeMap::new();
    let dir = repo.root.join(".git/xtask");
    walk(&dir, &dir, &mut xtask_dir);
    let origin = repo.origin.to_string_lossy().into_owned();
    State {
        refs: repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        origin_refs: repo.git(&[
            "--git-dir",
            &origin,
            "for-each-ref",
            "--format=%(refname) %(objectname)",
        ]),
        head: repo.git(&["symbolic-ref", "HEAD"]),
        status: repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        worktrees: repo.git(&["worktree", "list", "--porcelain"]),
        xtask_dir,
        step_ran: repo.tmp.path().join("step-ran").exists(),
    }
}

/// Runs `run`, asserts exit `code`, one line on stderr holding every
/// needle, and no change to the repository (see `state`).
#[track_caller]
fn refused(repo: &Repo, run: Run, code: i32, needles: &[&str]) -> Done {
    refused_unchanged(|| state(repo), run, code, needles)
}

/// The xtask in `repo` without the variables of the release commands
/// leaking in from the shell.
fn xt(repo: &Repo, args: &[&str]) -> Run {
    [
        "BUMP",
        "VERSION",
        "PUSH",
        "NOTES",
        "SINCE",
        "UNTIL",
        "OUTPUT",
        "DEPLOY_ENV",
        "DEPLOY_TAG",
        "DEPLOY_SHA",
        "ROLLBACK_TO",
        "ROLLBACK_REASON",
    ]
    .iter()
    .fold(repo.xtask(args), |run, var| run.env_remove(var))
}

/// A repository with release v1.0.0 pushed to origin, a policy with staging
/// and prod environments whose steps would touch `step-ran`, and env files.
fn repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    let marker = repo.tmp.path().join("step-ran");
    let step = format!(
        r#"{{ name = "step", argv = ["touch", "{}"] }}"#,
        marker.display()
    );
    let verify = r#"
deadline = "5s"
retries = 0
backoff = "1s"
checks = [ { name = "health", url = "http://127.0.0.1:9/health" } ]
"#;
    repo.write(
        "xtask.toml",
        &format!(
            r#"[release.env-files]
staging = "deploy/staging.env"
prod = "deploy/prod.env"

[deploy.environments.staging]
steps = [{step}]

[deploy.environments.staging.verify]
{verify}
[deploy.environments.prod]
production = true
requires-verified-in = "staging"
steps = [{step}]
rollback-steps = [{step}]

[deploy.environments.prod.verify]
{verify}"#
        ),
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service/deploy");
    for env in ["staging", "prod"] {
        repo.write(
            &format!("deploy/{env}.env"),
            &std::fs::read_to_string(shipped.join(format!("{env}.env"))).unwrap(),
        );
    }
    repo.commit_all("release policy");
    repo.git(&["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"]);
    repo.git(&["push", "--quiet", "origin", "main", "v1.0.0"]);
    repo
}

#[test]
fn hostile_versions_bumps_and_switches_are_refused() {
    let repo = repo("hostile-versions");
    for (var, value, needle) in [
        ("BUMP", "huge", "BUMP=\"huge\": use BUMP=patch"),
        ("BUMP", "Patch", "BUMP=\"Patch\": use BUMP=patch"),
        (
            "BUMP",
            "patch\n",
            "use BUMP=patch, BUMP=minor or BUMP=major",
        ),
    ] {
        refused(
            &repo,
            xt(&repo, &["release-tag", "--dry-run"]).env(var, value),
            2,
            &[needle],
        );
    }
    for value in ["yes", "true", "2", " 1"] {
        refused(
            &repo,
            xt(&repo, &["release-tag", "--bump", "patch", "--dry-run"]).env("PUSH", value),
            2,
            &[&format!("PUSH={value:?} is not a value it accepts")],
        );
    }
    refused(
        &repo,
        xt(&repo, &["release-tag", "--dry-run"]),
        2,
        &["which version? pass --bump patch|minor|major or --version X.Y.Z"],
    );
    // Tags that are not vMAJOR.MINOR.PATCH, for deploy and rollback alike.
    for tag in [
        "v1.2",
        "1.2.3.4",
        "v1.2.3.4",
        "v1.0.0+build",
        "--upload-pack=x",
        "$(x)",
        "a b",
        "nope",
    ] {
        let needle = format!("{tag:?} is not a release tag: use vMAJOR.MINOR.PATCH");
        refused(
            &repo,
            xt(
                &repo,
                &["deploy", "staging", "--dry-run", &format!("--tag={tag}")],
            ),
            2,
            &[&needle],
        );
        refused(
            &repo,
            xt(&repo, &["deploy", "staging", "--dry-run"]).env("DEPLOY_TAG", tag),
            2,
            &[&needle],
        );
        refused(
            &repo,
            xt(
                &repo,
                &["rollback", "prod", "--dry-run", &format!("--to={tag}")],
            ),
            2,
            &[&needle],
        );
        refused(
            &repo,
            xt(&repo, &["rollback", "prod", "--dry-run"]).env("ROLLBACK_TO", tag),
            2,
            &[&needle],
        );
    }
    // A well-formed tag that does not exist.
    refused(
        &repo,
        xt(
            &repo,
            &["deploy", "staging", "--dry-run", "--tag", "v9.9.9"],
        ),
        2,
        &["there is no tag v9.9.9 here"],
    );
}

#[test]
fn hostile_revisions_are_refused_before_git_reads_them() {
    let repo = repo("hostile-revisions");
    for (rev, needle) in [
        ("--upload-pack=touch pwned", "is not a revision"),
        ("a b", "is not a revision"),
        ("$(x)", "is not a revision"),
        ("..", "no such tag, branch or commit"),
        ("nope", "no such tag, branch or commit"),
        ("v9.9.9", "no such tag, branch or commit"),
    ] {
        for (flag, var) in [("--since", "SINCE"), ("--until", "UNTIL")] {
            refused(
                &repo,
                xt(&repo, &["release-notes", &format!("{flag}={rev}")]),
                2,
                &[flag, needle],
            );
            refused(
                &repo,
                xt(&repo, &["release-notes", "--dry-run"]).env(var, rev),
                2,
                &[flag, needle],
            );
        }
    }
    for (sha, needle) in [
        ("--upload-pack=touch pwned", "is not a revision"),
        ("a b", "is not a revision"),
        ("$(x)", "is not a revision"),
        ("..", "does not name a commit here"),
        ("nope", "does not name a commit here"),
    ] {
        refused(
            &repo,
            xt(
                &repo,
                &["deploy", "staging", "--dry-run", &format!("--sha={sha}")],
            ),
            2,
            &[needle],
        );
        refused(
            &repo,
            xt(&repo, &["deploy", "staging", "--dry-run"]).env("DEPLOY_SHA", sha),
            2,
            &[needle],
        );
    }
    assert!(!repo.root.join("pwned").exists());
    assert!(!repo.tmp.path().join("pwned").exists());
}

#[test]
fn hostile_environment_names_are_refused_by_every_command() {
    let repo = repo("hostile-envs");
    for env in [
        "../prod",
        "-x",
        "PROD;rm",
        "",
        "prod\n",
        "staging/..",
        "Prod",
    ] {
        let needle = format!("{env:?} is not an environment name");
        for command in ["deploy", "verify-deploy", "rollback"] {
            refused(
                &repo,
                xt(&repo, &[command, "--dry-run", "--", env]),
                2,
                &[&needle],
            );
        }
        refused(
            &repo,
            xt(&repo, &["deploy", "--dry-run"])
                .env("DEPLOY_ENV", env)
                .env("DEPLOY_TAG", "v1.0.0"),
            2,
            &[if env.is_empty() {
                "name the environment"
            } else {
                &needle
            }],
        );
        refused(
            &repo,
            xt(&repo, &["env-parity", "--", env, "prod"]),
            2,
            &[&needle],
        );
    }
    for command in ["deploy", "verify-deploy", "rollback"] {
        refused(
            &repo,
            xt(&repo, &[command, "qa", "--dry-run"]),
            2,
            &["\"qa\" is not an environment of", "known are prod, staging"],
        );
    }
    refused(
        &repo,
        xt(&repo, &["env-parity", "staging", "qa"]),
        2,
        &["no env file for environment \"qa\""],
    );
}

#[test]
fn rollback_reasons_must_be_one_short_line() {
    let repo = repo("hostile-reasons");
    let long = "x".repeat(501);
    for reason in ["", "a\nb", "a\rb", "\n", &long] {
        refused(
            &repo,
            xt(
                &repo,
                &["rollback", "prod", "--dry-run", "--reason", reason],
            ),
            2,
            &["--reason must be one line of text, at most 500 characters"],
        );
        refused(
            &repo,
            xt(
                &repo,
                &["rollback", "prod", "--to", "v1.0.0", "--reason", reason],
            ),
            2,
            &["--reason must be one line of text, at most 500 characters"],
        );
        if reason.is_empty() {
            // An empty variable is an unset one (as PUSH= is).
            continue;
        }
        refused(
            &repo,
            xt(&repo, &["rollback", "prod", "--dry-run"]).env("ROLLBACK_REASON", reason),
            2,
            &["--reason must be one line of text, at most 500 characters"],
        );
    }
}

#[test]
fn output_files_that_cannot_be_written_are_refused_at_once() {
    let repo = repo("hostile-output");
    let dir = repo.tmp.path().to_str().unwrap().to_string();
    let missing = repo.tmp.path().join("missing/NOTES.md");
    let missing = missing.to_str().unwrap();
    for dry in [false, true] {
        let run = |path: &str| {
            let mut args = vec!["release-notes", "--output", path];
            if dry {
                args.push("--dry-run");
            }
            xt(&repo, &args)
        };
        refused(&repo, run(&dir), 2, &["--output", "is a directory"]);
        // A FIFO would block the write for ever; a device would swallow it.
        let fifo = repo.tmp.path().join(format!("notes-fifo-{dry}"));
        mkfifo(&fifo);
        refused(
            &repo,
            run(fifo.to_str().unwrap()),
            2,
            &["--output", "is not a regular file"],
        );
        refused(
            &repo,
            run("/dev/zero"),
            2,
            &["--output", "is not a regular file"],
        );
        refused(
            &repo,
            run(missing),
            2,
            &["--output", "does not exist", "mkdir -p"],
        );
        refused(
            &repo,
            xt(&repo, &["release-notes"]).env("OUTPUT", missing),
            2,
            &["--output", "does not exist"],
        );
    }
}

#[test]
fn env_files_that_are_not_regular_files_are_refused() {
    let repo = repo("hostile-envfiles");
    let fifo = repo.tmp.path().join("fifo.env");
    mkfifo(&fifo);
    let dir = repo.tmp.path().join("dir.env");
    std::fs::create_dir(&dir).unwrap();
    let big = repo.tmp.path().join("big.env");
    std::fs::write(&big, "# x\n".repeat(300_000)).unwrap();
    let missing = repo.tmp.path().join("missing/x.env");
    let policy = repo.tmp.path().join("policy.toml");
    let at = policy.to_str().unwrap();
    for (path, what) in [
        (fifo.as_path(), "is a FIFO (named pipe), not a regular file"),
        (dir.as_path(), "is a directory, not a regular file"),
        (Path::new("/dev/zero"), "is a device, not a regular file"),
        (big.as_path(), "is too large (over the 1 MiB limit)"),
        (missing.as_path(), "no such file"),
    ] {
        std::fs::write(
            &policy,
            format!(
                "[release.env-files]\nstaging = {:?}\nprod = \"deploy/prod.env\"\n",
                path.to_str().unwrap()
            ),
        )
        .unwrap();
        refused(
            &repo,
            xt(&repo, &["--policy", at, "env-parity"]),
            2,
            &["the env file of staging (release.env-files.staging)", what],
        );
    }
}

#[test]
fn hostile_env_file_lines_are_named_by_line_never_by_value() {
    let canary = "sk_live_CANARY_7f3a9";
    let repo = repo("hostile-envlines");
    let staging = repo.read("deploy/staging.env");
    let line_no = staging.lines().count() + 1;
    let at = format!("staging.env:{line_no}:");
    for (line, needle) in [
        (
            canary.to_string(),
            "expected KEY=value; the line is not shown",
        ),
        (format!("={canary}"), "is not a variable name"),
        (
            format!("API_KEY {canary}"),
            "expected KEY=value for API_KEY",
        ),
        (
            format!("API_KEY: {canary}"),
            "expected KEY=value for API_KEY",
        ),
        (format!("API KEY={canary}"), "is not a variable name"),
        (format!("1API={canary}"), "is not a variable name"),
        (format!("API-KEY={canary}"), "is not a variable name"),
        (
            format!("\u{1b}[31mAPI_KEY\u{1b}[0m={canary}"),
            "is not a variable name",
        ),
        (format!("API_KEY=\"{canary}"), "API_KEY: unterminated quote"),
    ] {
        repo.write("deploy/staging.env", &format!("{staging}{line}\n"));
        refused(
            &repo,
            xt(&repo, &["env-parity", "staging", "prod"]),
            2,
            &[&at, needle],
        )
        .nowhere(canary)
        .nowhere("sk_live");
        let json = run_bounded(xt(
            &repo,
            &["env-parity", "staging", "prod", "--format", "json"],
        ));
        json.code(2).nowhere(canary).nowhere("sk_live");
    }
    // Not UTF-8: refused as a whole file, nothing of it shown.
    let mut bytes = format!("{staging}API_KEY={canary}").into_bytes();
    bytes.extend_from_slice(b"\xff\n");
    std::fs::write(repo.path("deploy/staging.env"), bytes).unwrap();
    refused(
        &repo,
        xt(&repo, &["env-parity"]),
        2,
        &["staging.env: is not UTF-8 text"],
    )
    .nowhere(canary);
    // A secret set directly is a finding (exit 1), its value hidden.
    for line in [
        format!("API_KEY={canary}"),
        format!("API_KEY={canary}\r"),
        format!("export API_KEY={canary}"),
    ] {
        repo.write("deploy/staging.env", &format!("{staging}{line}\n"));
        let before = state(&repo);
        let done = run_bounded(xt(&repo, &["env-parity", "staging", "prod"]));
        done.code(1)
            .stderr_has("set directly as API_KEY (value hidden)")
            .nowhere(canary)
            .nowhere("sk_live");
        assert_eq!(state(&repo), before, "{}", done.dump());
        run_bounded(xt(
            &repo,
            &["env-parity", "staging", "prod", "--format", "json"],
        ))
        .code(1)
        .nowhere(canary);
    }
}

#[test]
fn refused_gates_change_nothing_with_or_without_dry_run() {
    let repo = repo("hostile-gates");
    for dry in [true, false] {
        let with = |args: &[&str]| {
            let mut args = args.to_vec();
            if dry {
                args.push("--dry-run");
            }
            xt(&repo, &args)
        };
        refused(
            &repo,
            with(&["verify-deploy", "staging", "--push"]),
            1,
            &["records no deployment to staging"],
        );
        refused(
            &repo,
            with(&["rollback", "prod", "--reason", "spike", "--push"]),
            1,
            &["records no deployment to prod: there is nothing to roll back from"],
        );
        // A deploy lists every problem (one per line): none of it changes anything.
        for (env, problems) in [("staging", 1), ("prod", 2)] {
            let before = state(&repo);
            let done = run_bounded(with(&["deploy", env, "--tag", "v1.0.0", "--push"]));
            done.code(1)
                .stderr_has(&format!("refused ({problems} problem"))
                .stderr_has("nothing was changed")
                .stderr_has("has no release-gate record");
            assert_eq!(
                state(&repo),
                before,
                "the repository changed:{}",
                done.dump()
            );
        }
    }
}
