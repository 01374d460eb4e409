//! release-notes, release-tag and env-parity against real git repositories
//! with a bare origin, gate records and ledger entries written as the
//! release-gate and deploy commands write them (JSON lines in git notes).

use serde_json::json;

use crate::support::{Repo, Run};

/// The xtask in `repo`, without the make variables these commands read
/// (`BUMP`, `VERSION`, `PUSH`, `SINCE`, `OUTPUT`) leaking in from the shell.
fn xtask(repo: &Repo, args: &[&str]) -> Run {
    ["BUMP", "VERSION", "PUSH", "NOTES", "SINCE", "OUTPUT"]
        .iter()
        .fold(repo.xtask(args), |run, var| run.env_remove(var))
}

/// Pushes the gate records to origin and drops them here: records that CI
/// wrote in another clone.
fn move_gate_records_to_origin(repo: &Repo) {
    repo.git(&["push", "--quiet", "origin", "refs/notes/release-gate"]);
    repo.git(&["update-ref", "-d", "refs/notes/release-gate"]);
}

/// Appends a gate record in the format `release_gate::GateRecord` serializes to.
fn gate_record(repo: &Repo, sha: &str, status: &str, skip_autogen: bool) {
    let tree = repo.git(&["rev-parse", &format!("{sha}^{{tree}}")]);
    let bypasses = if skip_autogen {
        json!([{ "variable": "MIGRATION_GATE_VALIDATE_AUTOGEN", "value": "false",
                 "effect": "alembic check (model parity) skipped in db-migration-gate; document it in the release notes" }])
    } else {
        json!([])
    };
    let record = json!({
        "sha": sha, "tree": tree, "status": status,
        "started_at": "2026-01-02T10:00:00Z", "finished_at": "2026-01-02T10:05:00Z",
        "steps": [{ "gate": "check", "name": "lint", "status": status, "duration_ms": 12 }],
        "bypasses": bypasses, "database": "postgresql://app:***@db/app", "tool": "xtask 0.1.0",
    });
    append_note(repo, "release-gate", sha, &record.to_string());
}

/// Appends a deployment-ledger entry in the format `ledger::Entry` serializes to.
fn ledger_entry(repo: &Repo, sha: &str, env: &str, action: &str, result: &str, time: &str) {
    let entry = json!({
        "sha": sha, "environment": env, "action": action, "result": result, "time": time,
        "operator": "Test Committer <committer@example.com>", "tag": null, "reason": null,
        "from_sha": null, "detail": null,
    });
    append_note(repo, "deployments", sha, &entry.to_string());
}

fn append_note(repo: &Repo, notes_ref: &str, sha: &str, line: &str) {
    let existing = repo.git_output(&["notes", &format!("--ref={notes_ref}"), "show", sha]);
    let mut text = if existing.status.success() {
        String::from_utf8_lossy(&existing.stdout).into_owned()
    } else {
        String::new()
    };
    text.push_str(line);
    text.push('\n');
    repo.git(&[
        "notes",
        &format!("--ref={notes_ref}"),
        "add",
        "-f",
        "-m",
        &text,
        sha,
    ]);
}

const MIGRATION_1: &str = "\"\"\"initial\"\"\"\nrevision = \"0001\"\ndown_revision = None\n";
const MIGRATION_2: &str =
    "\"\"\"widgets\"\"\"\nrevision: str = \"0002\"\ndown_revision: Union[str, None] = \"0001\"\n";

/// A repository with release v1.0.0 (one migration, two env variables) and
/// after it, pushed to origin: TASK-101 adding a migration and changing the
/// env example, and TASK-102 by its Primary-Task line.
fn released_repo(label: &str) -> (Repo, String) {
    let repo = Repo::new(label);
    repo.write("alembic/versions/0001_initial.py", MIGRATION_1);
    repo.write(
        ".env.example",
        "DATABASE_URL=postgresql://localhost/app\nOLD_FLAG=1\n",
    );
    repo.commit_all("TASK-100: service skeleton");
    repo.git(&["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"]);
    let v1 = repo.head();
    repo.write("alembic/versions/0002_widgets.py", MIGRATION_2);
    repo.write(
        ".env.example",
        "DATABASE_URL=postgresql://localhost/app\n# comment\nWIDGET_LIMIT=10\n",
    );
    repo.commit_all("TASK-101: add widgets");
    repo.write("src.txt", "faster\n");
    repo.commit_all("Speed up the trends page\n\nPrimary-Task: TASK-102\n");
    repo.git(&["push", "--quiet", "origin", "main", "v1.0.0"]);
    (repo, v1)
}

fn tags_of(repo: &Repo) -> String {
    repo.git(&["tag", "--list"])
}

#[test]
fn release_tag_refuses_with_every_reason_at_once() {
    let repo = Repo::new("tag-refused");
    repo.write("a.txt", "a\n");
    repo.commit_all("TASK-100: first");
    repo.git(&["tag", "-a", "v1.0.0", "-m", "Release v1.0.0"]);
    repo.git(&["push", "--quiet", "origin", "main", "v1.0.0"]);
    repo.git(&["tag", "-d", "v1.0.0"]); // only the remote has it now
    repo.write("b.txt", "b\n");
    repo.commit_all("TASK-101: not pushed"); // HEAD ahead of origin/main
    repo.write("dirty.txt", "uncommitted\n");
    let before = repo.git(&["ls-remote", "--tags", "origin"]);

    let done = xtask(&repo, &["release-tag", "--version", "1.0.0"]).run();
    done.code(1)
        .stderr_has("release-tag refused")
        .stderr_has("the working tree is not clean (1 path(s): ?? dirty.txt)")
        .stderr_has("1 commit(s) ahead, 0 behind")
        .stderr_has("has no release-gate record: run `cargo xtask release-gate`")
        .stderr_has("v1.0.0 is not greater than the latest release tag v1.0.0")
        .stderr_has("tag v1.0.0 already exists (on origin)");
    assert_eq!(
        tags_of(&repo),
        "",
        "a refused release-tag created a tag{}",
        done.dump()
    );
    assert_eq!(repo.git(&["ls-remote", "--tags", "origin"]), before);

    // A failed gate record, a lower version, off main: every reason again, in JSON.
    std::fs::remove_file(repo.path("dirty.txt")).unwrap();
    repo.git(&["push", "--quiet", "origin", "main"]);
    gate_record(&repo, &repo.head(), "failed", false);
    repo.git(&["switch", "--quiet", "-c", "task-103-side"]);
    let done = xtask(
        &repo,
        &["release-tag", "--version", "0.9.0", "--format", "json"],
    )
    .run();
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "refused", "{}", done.dump());
    let reasons: Vec<String> = report["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    assert!(
        has("HEAD is on branch task-103-side, not main"),
        "{reasons:#?}"
    );
    assert!(
        has("release-gate record on HEAD") && has("is failed"),
        "{reasons:#?}"
    );
    assert!(
        has("v0.9.0 is not greater than the latest release tag v1.0.0"),
        "{reasons:#?}"
    );
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    assert_eq!(tags_of(&repo), "");

    // Not semver: refused as input, with the other checks still run.
    let done = xtask(&repo, &["release-tag", "--version", "1.2"]).run();
    done.code(1)
        .stderr_has("is not a semantic version")
        .stderr_has("not main");
}

#[test]
fn release_tag_refuses_behind_main_and_a_released_head() {
    let (repo, _) = released_repo("tag-behind");
    let head = repo.head();
    gate_record(&repo, &head, "passed", false);
    // Someone else moved main on: HEAD is behind origin/main.
    let other = repo.tmp.path().join("other");
    repo.git_in(
        repo.tmp.path(),
        &[
            "clone",
            "--quiet",
            repo.origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("c.txt"), "c\n").unwrap();
    repo.git_in(&other, &["add", "c.txt"]);
    repo.git_in(&other, &["commit", "--quiet", "-m", "TASK-104: elsewhere"]);
    repo.git_in(&other, &["push", "--quiet", "origin", "main"]);
    repo.git(&["tag", "-a", "v1.0.1", "-m", "x"]);
    // Released: on origin too (a tag only here is an unfinished push, resumed).
    repo.git(&["push", "--quiet", "origin", "v1.0.1"]);
    let done = xtask(&repo, &["release-tag", "--bump", "minor", "--dry-run"]).run();
    done.code(1)
        .stderr_has("0 commit(s) ahead, 1 behind")
        .stderr_has("`git pull --ff-only`")
        .stderr_has("is already released as v1.0.1");
}

#[test]
fn release_tag_creates_an_annotated_tag_with_the_notes_and_pushes_the_records() {
    let (repo, v1) = released_repo("tag-created");
    let head = repo.head();
    gate_record(&repo, &head, "passed", true);
    ledger_entry(
        &repo,
        &v1,
        "prod",
        "verify",
        "passed",
        "2026-01-01T12:00:00Z",
    );

    // The dry run checks everything and changes nothing.
    let dry = xtask(
        &repo,
        &["release-tag", "--bump", "minor", "--push", "--dry-run"],
    )
    .run();
    dry.code(0).stderr_has("would run `git tag -a v1.1.0").stdout_has("# Release v1.1.0").stderr_has("git push --atomic origin refs/tags/v1.1.0 refs/notes/release-gate refs/notes/deployments");
    assert!(!tags_of(&repo).contains("v1.1.0"), "{}", dry.dump());

    let done = xtask(&repo, &["release-tag", "--bump", "minor", "--push"]).run();
    done.code(0)
        .stderr_has("tagged v1.1.0")
        .stderr_has("pushed refs/tags/v1.1.0");
    assert_eq!(
        repo.git(&["cat-file", "-t", "v1.1.0"]),
        "tag",
        "not an annotated tag"
    );
    assert_eq!(repo.git(&["rev-parse", "v1.1.0^{commit}"]), head);
    let message = repo.git(&["tag", "-l", "--format=%(contents)", "v1.1.0"]);
    for want in [
        "# Release v1.1.0",
        "2 commit(s) since `v1.0.0`",
        "### TASK-101\n- TASK-101: add widgets",
        "### TASK-102\n- Speed up the trends page",
        "- Added `alembic/versions/0002_widgets.py` (revision `0002`, down `0001`)",
        "`.env.example`: added `WIDGET_LIMIT`",
        "`.env.example`: removed `OLD_FLAG`",
        "**`MIGRATION_GATE_VALIDATE_AUTOGEN=false`**",
        "Last known good: `v1.0.0`",
        "verified in `prod` at 2026-01-01T12:00:00Z",
        "`alembic downgrade 0001`",
    ] {
        assert!(
            message.contains(want),
            "the tag message lacks {want:?}:\n{message}"
        );
    }
    let remote = repo.git(&["ls-remote", "origin"]);
    assert!(remote.contains("refs/tags/v1.1.0"), "{remote}");
    assert!(
        remote.contains("refs/notes/release-gate") && remote.contains("refs/notes/deployments"),
        "{remote}"
    );

    // The next one must be greater, and the tag is never moved.
    let again = xtask(&repo, &["release-tag", "--version", "1.1.0"]).run();
    again
        .code(1)
        .stderr_has("tag v1.1.0 already exists (here and on origin)");
}

#[test]
fn release_tag_takes_the_remote_gate_record_first() {
    let (repo, _) = released_repo("tag-fetch");
    let head = repo.head();
    // The record exists only on origin (written by CI in another clone).
    gate_record(&repo, &head, "passed", false);
    move_gate_records_to_origin(&repo);
    // BUMP is how `make release-tag BUMP=patch` reaches the command; a bad value is refused.
    xtask(&repo, &["release-tag"])
        .env("BUMP", "huge")
        .run()
        .code(2)
        .stderr_has("use BUMP=patch");
    let done = xtask(&repo, &["release-tag", "--format", "json"])
        .env("BUMP", "patch")
        .run();
    done.code(0);
    assert_eq!(done.json()["tag"], "v1.0.1", "{}", done.dump());
    assert!(repo
        .git(&["notes", "--ref=release-gate", "show", &head])
        .contains("\"passed\""));
}

#[test]
fn release_notes_document_bypass_migration_env_and_the_last_verified_tag() {
    let (repo, v1) = released_repo("notes");
    // v1.0.1 was released after v1.0.0 but never verified in prod: the
    // rollback target is v1.0.0, proven by the ledger, not the previous tag.
    let v101 = repo.head();
    repo.git(&["tag", "-a", "v1.0.1", "-m", "x", &v101]);
    ledger_entry(
        &repo,
        &v1,
        "prod",
        "verify",
        "passed",
        "2026-01-01T12:00:00Z",
    );
    ledger_entry(
        &repo,
        &v101,
        "staging",
        "verify",
        "passed",
        "2026-01-02T12:00:00Z",
    );
    ledger_entry(
        &repo,
        &v101,
        "prod",
        "verify",
        "failed",
        "2026-01-03T12:00:00Z",
    );
    repo.write(
        "alembic/versions/0003_gadgets.py",
        "revision = '0003'\ndown_revision = '0002'\n",
    );
    repo.commit_all("TASK-105: gadgets");
    let head = repo.head();
    gate_record(&repo, &head, "passed", true);

    let done = xtask(&repo, &["release-notes"]).run();
    done.code(0)
        .stdout_has("# Release notes draft: v1.0.1..")
        .stdout_has("1 commit(s) since `v1.0.1`")
        .stdout_has("### TASK-105\n- TASK-105: gadgets")
        .stdout_has("- Added `alembic/versions/0003_gadgets.py` (revision `0003`, down `0002`)")
        .stdout_has(
            "**`MIGRATION_GATE_VALIDATE_AUTOGEN=false`**: alembic check (model parity) skipped",
        )
        .stdout_has("Last known good: `v1.0.0`")
        .stdout_has("`cargo xtask rollback prod --to v1.0.0")
        .stdout_has("  - `alembic/versions/0002_widgets.py`")
        .stdout_has("  - `alembic/versions/0003_gadgets.py`")
        .stdout_has("`alembic downgrade 0001`")
        .stderr_has("used bypass MIGRATION_GATE_VALIDATE_AUTOGEN=false");

    // --since, and the JSON report.
    let json = xtask(
        &repo,
        &["release-notes", "--since", "v1.0.0", "--format", "json"],
    )
    .run();
    json.code(0);
    let report = json.json();
    let facts = &report["facts"];
    assert_eq!(facts["since"]["name"], "v1.0.0");
    assert_eq!(
        facts["commits"].as_array().unwrap().len(),
        3,
        "{}",
        json.dump()
    );
    assert_eq!(facts["env_changes"][0]["added"], json!(["WIDGET_LIMIT"]));
    assert_eq!(facts["env_changes"][0]["removed"], json!(["OLD_FLAG"]));
    assert_eq!(facts["last_known_good"]["basis"], "verified");
    assert_eq!(
        facts["gate"]["bypasses"][0]["variable"],
        "MIGRATION_GATE_VALIDATE_AUTOGEN"
    );

    // --output writes the file; --dry-run does not.
    let dry = xtask(
        &repo,
        &["release-notes", "--output", "NOTES.md", "--dry-run"],
    )
    .run();
    dry.code(0)
        .stderr_has("would write these release notes to NOTES.md");
    assert!(!repo.path("NOTES.md").exists());
    xtask(&repo, &["release-notes", "--output", "NOTES.md"])
        .run()
        .code(0);
    assert!(repo.read("NOTES.md").contains("## Risk and rollback"));

    let bad = xtask(&repo, &["release-notes", "--since", "v9.9.9"]).run();
    bad.code(2).stderr_has("--since v9.9.9: no such tag");
    let bad = xtask(&repo, &["release-notes", "--until", "nope"]).run();
    bad.code(2)
        .stderr_has("--until nope: no such tag, branch or commit");
    let hostile = xtask(&repo, &["release-notes", "--since", "--upload-pack=x"]).run();
    hostile.code(2);
}

#[test]
fn release_notes_name_an_unproven_previous_tag_but_no_rollback_target() {
    let (repo, _) = released_repo("notes-fallback");
    let done = xtask(&repo, &["release-notes"]).run();
    done.code(0)
        .stdout_has("Last known good: **none proven**: the deployment ledger has no passing `prod` verification")
        .stdout_has("The previous release tag, `v1.0.0` (")
        .stdout_has("is **the previous tag only**: verify it before rolling back to it")
        .nowhere("cargo xtask rollback")
        .stdout_has("**No release-gate record on")
        .stderr_has("merely the previous tag");
}

#[test]
fn release_notes_output_in_a_missing_directory_says_how_to_create_it() {
    let (repo, _) = released_repo("notes-output");
    xtask(
        &repo,
        &["release-notes", "--output", "out/RELEASE_NOTES.md"],
    )
    .run()
    .code(2)
    .stderr_has("the directory ")
    .stderr_has("out does not exist: create it (mkdir -p ");
    assert!(!repo.path("out").exists());
    std::fs::create_dir(repo.path("out")).unwrap();
    xtask(&repo, &["release-notes", "--output", "out"])
        .run()
        .code(2)
        .stderr_has(
            "--output out: is a directory; name a file, e.g. --output out/RELEASE_NOTES.md",
        );
    xtask(
        &repo,
        &["release-notes", "--output", "out/RELEASE_NOTES.md"],
    )
    .run()
    .code(0);
    assert!(repo
        .read("out/RELEASE_NOTES.md")
        .contains("Release notes draft"));
}

/// A repository with the shipped example env files and a policy naming them.
fn parity_repo(label: &str, prod: &str) -> Repo {
    let repo = Repo::new(label);
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/service/deploy");
    repo.write(
        "deploy/staging.env",
        &std::fs::read_to_string(shipped.join("staging.env")).unwrap(),
    );
    repo.write("deploy/prod.env", prod);
    repo.write(
        "xtask.toml",
        "[release.env-files]\nstaging = \"deploy/staging.env\"\nprod = \"deploy/prod.env\"\n",
    );
    repo
}

fn shipped_prod() -> String {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/service/deploy/prod.env");
    std::fs::read_to_string(shipped).unwrap()
}

#[test]
fn the_shipped_example_env_files_are_in_parity() {
    let repo = parity_repo("parity-ok", &shipped_prod());
    xtask(&repo, &["env-parity", "staging", "prod"])
        .run()
        .code(0)
        .stderr_has("env-parity passed: 8 rules");
    // The defaults are the policy's staging and production environments.
    xtask(&repo, &["env-parity"]).run().code(0);
}

#[test]
fn env_parity_reports_one_finding_per_rule_with_both_values_and_no_secret() {
    let secret = "sk-live-hunter2-do-not-print";
    let staging = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/service/deploy/staging.env"),
    )
    .unwrap();
    let prod = shipped_prod()
        .replace(
            "API_RATE_LIMIT_PER_MINUTE=120",
            "API_RATE_LIMIT_PER_MINUTE=600",
        )
        .replace(
            "API_KEY_FILE=/run/secrets/api_key",
            &format!("API_KEY={secret}"),
        )
        .replace(
            "DATABASE_HOST=db.prod.internal",
            "DATABASE_HOST=db.staging.internal",
        )
        .replace(
            "DATABASE_NAME=service_prod",
            "DATABASE_NAME=service_staging",
        )
        .replace("redis.prod.internal", "redis.staging.internal")
        .replace(
            "DATA_DIR=/srv/service-prod/data",
            "DATA_DIR=/srv/service-staging/data",
        )
        .replace("service.example.com", "staging.service.example.com")
        .replace(
            "COMPOSE_PROJECT_NAME=service-prod",
            "COMPOSE_PROJECT_NAME=service-staging",
        )
        + "MIGRATION_GATE_VALIDATE_AUTOGEN=false\n";
    assert_ne!(prod, staging);
    let repo = parity_repo("parity-findings", &prod);

    let done = xtask(&repo, &["env-parity", "staging", "prod"]).run();
    done.code(1)
        .stderr_has("FAIL  must-match.auth-posture: staging and prod differ on API_KEY, API_RATE_LIMIT_PER_MINUTE")
        .stderr_has("API_RATE_LIMIT_PER_MINUTE  staging: 120  |  prod: 600")
        .stderr_has("FAIL  secret-handling: secrets must be provided as <NAME>_FILE only: prod: API_KEY is set directly")
        .stderr_has("set directly as API_KEY (value hidden)")
        .stderr_has("FAIL  migration-workflow")
        .stderr_has("MIGRATION_GATE_VALIDATE_AUTOGEN  staging: unset  |  prod: false")
        .stderr_has("FAIL  must-differ.database: staging and prod share the same DATABASE_HOST, DATABASE_NAME")
        .stderr_has("FAIL  must-differ.redis")
        .stderr_has("FAIL  must-differ.data")
        .stderr_has("FAIL  must-differ.endpoints")
        .stderr_has("FAIL  must-differ.compose-project")
        .stderr_has("COMPOSE_PROJECT_NAME  staging: service-staging  |  prod: service-staging")
        .stderr_has("env-parity: 8 of 8 rules violated")
        .nowhere(secret);

    let json = xtask(
        &repo,
        &["env-parity", "staging", "prod", "--format", "json"],
    )
    .run();
    json.code(1).nowhere(secret);
    let report = json.json();
    assert_eq!(report["findings"], 8, "{}", json.dump());
    assert_eq!(report["rules"].as_array().unwrap().len(), 8);

    // A secret missing entirely in staging is a secret-handling finding too.
    repo.write("deploy/prod.env", &shipped_prod());
    repo.write(
        "deploy/staging.env",
        &staging.replace("DATABASE_URL_FILE=/run/secrets/database_url\n", ""),
    );
    xtask(&repo, &["env-parity", "staging", "prod"])
        .run()
        .code(1)
        .stderr_has("staging: DATABASE_URL is not provided")
        .stderr_has("1 of 8 rules violated");
}

#[test]
fn env_parity_refuses_unknown_environments_and_bad_files() {
    let repo = parity_repo("parity-usage", &shipped_prod());
    xtask(&repo, &["env-parity", "staging", "qa"])
        .run()
        .code(2)
        .stderr_has("no env file for environment \"qa\"");
    xtask(&repo, &["env-parity", "prod", "prod"]).run().code(2);
    xtask(&repo, &["env-parity", "staging", "../x"])
        .run()
        .code(2);
    repo.write(
        "deploy/prod.env",
        "API_AUTH_ENABLED=true\nthis is not an assignment\n",
    );
    xtask(&repo, &["env-parity"])
        .run()
        .code(2)
        .stderr_has("prod.env:2: expected KEY=value");
    let bare = Repo::new("parity-nopolicy");
    xtask(&bare, &["env-parity"])
        .run()
        .code(2)
        .stderr_has("[release.env-files]");
}

#[test]
fn release_tag_refuses_diverged_records_instead_of_failing_the_push_later() {
    let (repo, _) = released_repo("tag-diverged");
    let head = repo.head();
    gate_record(&repo, &head, "failed", false);
    repo.git(&["push", "--quiet", "origin", "refs/notes/release-gate"]);
    // Another clone adds a record on origin; this one adds its own: diverged.
    let other = repo.tmp.path().join("other");
    repo.git_in(
        repo.tmp.path(),
        &[
            "clone",
            "--quiet",
            repo.origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    repo.git_in(
        &other,
        &[
            "fetch",
            "--quiet",
            "origin",
            "refs/notes/release-gate:refs/notes/release-gate",
        ],
    );
    repo.git_in(
        &other,
        &["notes", "--ref=release-gate", "append", "-m", "{}", &head],
    );
    repo.git_in(
        &other,
        &["push", "--quiet", "origin", "refs/notes/release-gate"],
    );
    gate_record(&repo, &head, "passed", false);
    let done = xtask(&repo, &["release-tag", "--bump", "patch", "--push"]).run();
    done.code(1)
        .stderr_has("refs/notes/release-gate has diverged from origin's")
        .stderr_has("git notes --ref=release-gate merge");
    assert_eq!(tags_of(&repo), "v1.0.0");
}

#[test]
fn the_first_release_tag_starts_from_zero() {
    let repo = Repo::new("tag-first");
    gate_record(&repo, &repo.head(), "passed", false);
    let done = xtask(&repo, &["release-tag", "--bump", "minor"]).run();
    done.code(0).stderr_has("tagged v0.1.0");
    let message = repo.git(&["tag", "-l", "--format=%(contents)", "v0.1.0"]);
    assert!(
        message.contains("the first release") && message.contains("No earlier release tag"),
        "{message}"
    );
}

#[test]
fn release_tag_uses_reviewed_notes_only_when_they_document_the_bypass() {
    let (repo, _) = released_repo("tag-reviewed");
    gate_record(&repo, &repo.head(), "passed", true);
    let notes = repo.tmp.path().join("reviewed.md");
    std::fs::write(&notes, "# Release v1.0.1\n\nWidgets.\n").unwrap();
    let notes_arg = notes.to_str().unwrap();
    let done = xtask(
        &repo,
        &["release-tag", "--bump", "patch", "--notes", notes_arg],
    )
    .run();
    done.code(1)
        .stderr_has("does not document the bypass MIGRATION_GATE_VALIDATE_AUTOGEN=false recorded in HEAD's gate record");
    assert_eq!(tags_of(&repo), "v1.0.0");

    let reviewed = "# Release v1.0.1\n\nWidgets.\n\n## Bypasses\n\n- MIGRATION_GATE_VALIDATE_AUTOGEN=false: alembic 1.13 false positive, fixed in TASK-106.\n";
    std::fs::write(&notes, reviewed).unwrap();
    xtask(
        &repo,
        &["release-tag", "--bump", "patch", "--notes", notes_arg],
    )
    .run()
    .code(0);
    let message = repo.git(&["tag", "-l", "--format=%(contents)", "v1.0.1"]);
    assert_eq!(message.trim_end(), reviewed.trim_end());
}

#[test]
fn pre_release_tags_count_in_the_order_of_releases() {
    let (repo, v1) = released_repo("tag-prerelease");
    // v1.10.5 and v1.11.0-rc.1 are both released; HEAD is new.
    repo.git(&["tag", "-a", "v1.10.5", "-m", "x", &v1]);
    repo.git(&["tag", "-a", "v1.11.0-rc.1", "-m", "x", "HEAD~1"]);
    repo.git(&["push", "--quiet", "origin", "--tags"]);
    gate_record(&repo, &repo.head(), "passed", false);

    let done = xtask(&repo, &["release-tag", "--version", "1.10.6"]).run();
    done.code(1)
        .stderr_has("v1.10.6 is not greater than the latest release tag v1.11.0-rc.1");
    assert!(!tags_of(&repo).contains("v1.10.6"), "{}", done.dump());

    let dry = xtask(
        &repo,
        &[
            "release-tag",
            "--bump",
            "patch",
            "--dry-run",
            "--format",
            "json",
        ],
    )
    .run();
    dry.code(0);
    assert_eq!(dry.json()["tag"], "v1.11.0", "{}", dry.dump());

    let done = xtask(&repo, &["release-tag", "--version", "1.11.0-rc.2"]).run();
    done.code(0).stderr_has("tagged v1.11.0-rc.2");
    assert_eq!(
        repo.git(&["rev-parse", "v1.11.0-rc.2^{commit}"]),
        repo.head()
    );
    // The notes of a pre-release start after the last plain release.
    let message = repo.git(&["tag", "-l", "--format=%(contents)", "v1.11.0-rc.2"]);
    assert!(message.contains("since `v1.10.5`"), "{message}");
}

#[test]
fn a_rerun_finishes_a_release_tag_that_was_not_pushed() {
    let (repo, _) = released_repo("tag-resume");
    let head = repo.head();
    gate_record(&repo, &head, "passed", false);
    // What a run killed between tagging and pushing leaves: the tag here only.
    xtask(&repo, &["release-tag", "--bump", "minor"])
        .run()
        .code(0)
        .stderr_has("tagged v1.1.0");
    let before = repo.git(&["ls-remote", "origin"]);
    assert!(!before.contains("v1.1.0"), "{before}");

    // Without --push: the exact command, nothing changed, no "already released".
    let told = xtask(&repo, &["release-tag", "--bump", "minor"]).run();
    told.code(0)
        .stderr_has("is already tagged v1.1.0 here, but origin does not have it")
        .stderr_has(
            "publish it: git push --atomic origin refs/tags/v1.1.0 refs/notes/release-gate",
        );
    told.nowhere("already released");
    assert_eq!(repo.git(&["ls-remote", "origin"]), before);
    // Another version for the same HEAD is refused, naming the way out.
    xtask(&repo, &["release-tag", "--version", "1.2.0", "--push"])
        .run()
        .code(1)
        .stderr_has("finish it with `cargo xtask release-tag --version 1.1.0 --push`");

    // With --push: the tag and the notes refs reach origin, the tag unchanged.
    let tag_object = repo.git(&["rev-parse", "v1.1.0"]);
    let done = xtask(
        &repo,
        &[
            "release-tag",
            "--bump",
            "minor",
            "--push",
            "--format",
            "json",
        ],
    )
    .run();
    done.code(0);
    let report = done.json();
    assert_eq!(report["resumed"], true, "{}", done.dump());
    assert_eq!(report["pushed"], true, "{}", done.dump());
    let remote = repo.git(&["ls-remote", "origin"]);
    assert!(
        remote.contains(&format!("{tag_object}\trefs/tags/v1.1.0")),
        "{remote}"
    );
    assert!(remote.contains("refs/notes/release-gate"), "{remote}");
    // Now it is released, here and there.
    xtask(&repo, &["release-tag", "--bump", "minor"])
        .run()
        .code(1)
        .stderr_has("is already released as v1.1.0");
}

/// What .github/workflows/release.yml's tag job does with the record the
/// gate job uploads: fetch the shared records, `git notes append` the new
/// one, `release-tag --push`. The appended record is the one that counts.
#[test]
fn a_gate_record_carried_as_the_release_workflow_does_is_accepted() {
    let (repo, _) = released_repo("tag-from-ci");
    let head = repo.head();
    // An earlier, failed run on this SHA is already shared on origin.
    gate_record(&repo, &head, "failed", false);
    move_gate_records_to_origin(&repo);
    // The gate job's record, as `git notes show` printed it on the runner.
    let record = json!({
        "sha": head, "tree": repo.git(&["rev-parse", "HEAD^{tree}"]), "status": "passed",
        "started_at": "2026-01-03T10:00:00Z", "finished_at": "2026-01-03T10:05:00Z",
        "steps": [], "bypasses": [], "database": null, "tool": "xtask 0.1.0",
    });
    let file = repo.tmp.path().join("gate-record.jsonl");
    std::fs::write(&file, format!("{record}\n")).unwrap();
    repo.git(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "origin",
        "+refs/notes/*:refs/notes/*",
    ]);
    repo.git(&[
        "notes",
        "--ref=release-gate",
        "append",
        "-F",
        file.to_str().unwrap(),
        &head,
    ]);
    let done = xtask(&repo, &["release-tag", "--push", "--format", "json"])
        .env("BUMP", "minor")
        .run();
    done.code(0);
    assert_eq!(done.json()["tag"], "v1.1.0", "{}", done.dump());
    assert_eq!(done.json()["pushed"], true, "{}", done.dump());
    // Both records are on origin now, the failed one kept.
    repo.git(&["update-ref", "-d", "refs/notes/release-gate"]);
    repo.git(&[
        "fetch",
        "--quiet",
        "--no-tags",
        "origin",
        "+refs/notes/*:refs/notes/*",
    ]);
    let shared = repo.git(&["notes", "--ref=release-gate", "show", &head]);
    assert!(
        shared.contains("\"failed\"") && shared.contains("2026-01-03T10:05:00Z"),
        "{shared}"
    );
}

/// Horadus's history: tasks named in the body (`Primary-Task:`, a bare id
/// line) or only by the merged branch, titles in the task ledger, a range
/// between any two revisions.
#[test]
fn release_notes_find_tasks_in_bodies_and_branches_with_ledger_titles() {
    let (repo, v1) = released_repo("notes-horadus");
    repo.write("xtask.toml", "[task]\nledger = \"tasks/BACKLOG.md\"\n");
    repo.write(
        "tasks/BACKLOG.md",
        "# Backlog\n\nNext available task IDs start at `TASK-371`\n\n- [ ] TASK-163: Parse feeds faster\n- [ ] TASK-271: Ledger bookkeeping\n- TASK-101: Widgets\n",
    );
    repo.commit_all("Add the task ledger\n\nTASK-163\n");
    let ledger_commit = repo.head();
    // A branch merged with a merge commit: its commit names no task.
    repo.git(&["switch", "--quiet", "-c", "task-271-ledger-bookkeeping"]);
    repo.write("bookkeeping.txt", "x\n");
    repo.commit_all("Queue the follow-up");
    repo.git(&["switch", "--quiet", "main"]);
    repo.git(&[
        "merge",
        "--quiet",
        "--no-ff",
        "-m",
        "Merge pull request #7 from acme/task-271-ledger-bookkeeping",
        "task-271-ledger-bookkeeping",
    ]);
    repo.write("later.txt", "x\n");
    repo.commit_all("TASK-300: after the range");

    let done = xtask(
        &repo,
        &[
            "release-notes",
            "--since",
            &v1,
            "--until",
            "HEAD~1",
            "--format",
            "json",
        ],
    )
    .run();
    done.code(0);
    let report = done.json();
    let md = report["markdown"].as_str().unwrap();
    for want in [
        "# Release notes draft: ",
        "### TASK-101: Widgets\n- TASK-101: add widgets",
        "### TASK-102\n- Speed up the trends page",
        "### TASK-163: Parse feeds faster\n- Add the task ledger",
        "### TASK-271: Ledger bookkeeping\n- Queue the follow-up",
    ] {
        assert!(md.contains(want), "missing {want:?} in:\n{md}");
    }
    assert!(!md.contains("TASK-300"), "--until is the end point:\n{md}");
    assert!(!md.contains("Without a task id"), "{md}");
    assert_eq!(report["facts"]["until"], "HEAD~1");
    assert_eq!(report["facts"]["since"]["sha"], json!(v1));
    // A start that is not below the end point is refused, naming both.
    let done = xtask(
        &repo,
        &[
            "release-notes",
            "--since",
            "main~1",
            "--until",
            &ledger_commit,
        ],
    )
    .run();
    done.code(2).stderr_has(&format!(
        "--since main~1: it is not an ancestor of {ledger_commit}"
    ));
    let done = xtask(&repo, &["release-notes", "--since", &ledger_commit]).run();
    done.code(0)
        .stdout_has("### TASK-271: Ledger bookkeeping")
        .stdout_has("### TASK-300\n- TASK-300: after the range");
}

/// A tag on another line of history is never the last known good, even
/// verified and higher; a crashed deploy leaves production unknown.
#[test]
fn release_notes_roll_back_only_to_a_verified_ancestor_and_report_a_crashed_deploy() {
    let (repo, v1) = released_repo("notes-ancestor");
    ledger_entry(
        &repo,
        &v1,
        "prod",
        "verify",
        "passed",
        "2026-01-01T12:00:00Z",
    );
    // v1.5.0 on a side line, verified in prod later: not an ancestor of HEAD.
    repo.git(&["switch", "--quiet", "-c", "hotfix", &v1]);
    repo.write("hotfix.txt", "x\n");
    repo.commit_all("TASK-150: hotfix");
    let side = repo.head();
    repo.git(&["tag", "-a", "v1.5.0", "-m", "x"]);
    ledger_entry(
        &repo,
        &side,
        "prod",
        "verify",
        "passed",
        "2026-01-02T12:00:00Z",
    );
    repo.git(&["switch", "--quiet", "main"]);

    let done = xtask(&repo, &["release-notes"]).run();
    done.code(0)
        .stdout_has("Last known good: `v1.0.0`")
        .stdout_has("`cargo xtask rollback prod --to v1.0.0")
        .nowhere("v1.5.0");

    // A deploy of HEAD started and recorded no outcome: prod is unknown.
    let head = repo.head();
    let started = json!({
        "sha": head, "environment": "prod", "action": "deploy", "result": "started",
        "time": "2026-01-03T12:00:00Z", "operator": "Test Committer <committer@example.com>",
        "tag": null, "reason": null, "from_sha": null, "detail": null,
    });
    append_note(&repo, "deployments", &head, &started.to_string());
    let done = xtask(&repo, &["release-notes", "--format", "json"]).run();
    done.code(0);
    let report = done.json();
    assert_eq!(report["facts"]["production_unknown"]["sha"], json!(head));
    assert_eq!(report["facts"]["last_known_good"]["tag"], "v1.0.0");
    let md = report["markdown"].as_str().unwrap();
    assert!(
        md.contains(
            "**`prod` is in an unknown state**: its latest deployment-ledger entry is a deploy of"
        ),
        "{md}"
    );
}

#[test]
fn release_tag_refuses_a_gate_record_that_was_not_isolated_when_the_policy_says_so() {
    let (repo, _) = released_repo("tag-isolated");
    repo.write("xtask.toml", "[release]\nrequire-isolated-gate = true\n");
    repo.commit_all("TASK-103: require isolated gate records");
    repo.git(&["push", "--quiet", "origin", "main"]);
    let head = repo.head();
    gate_record(&repo, &head, "passed", false);
    let done = xtask(&repo, &["release-tag", "--bump", "patch"]).run();
    done.code(1).stderr_has(
        "was not made in an isolated worktree, and [release] require-isolated-gate = true: rerun `cargo xtask release-gate --isolated`",
    );
    assert_eq!(tags_of(&repo), "v1.0.0", "{}", done.dump());

    // A record made by `release-gate --isolated` is taken.
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]);
    let record = json!({
        "sha": head, "tree": tree, "status": "passed", "isolated": true,
        "started_at": "2026-01-02T11:00:00Z", "finished_at": "2026-01-02T11:05:00Z",
        "steps": [], "bypasses": [], "database": null, "tool": "xtask 0.1.0",
    });
    append_note(&repo, "release-gate", &head, &record.to_string());
    xtask(&repo, &["release-tag", "--bump", "patch"])
        .run()
        .code(0)
        .stderr_has("tagged v1.0.1");
}

/// A squash-merged PR names only its number (`… (#12)`): its task comes
/// from the PR's branch on GitHub when there is a token, and the draft
/// says which commits stayed without a task when GitHub cannot be asked.
#[test]
fn release_notes_find_a_squash_merged_prs_task_through_its_branch() {
    use crate::fake_github::{FakeGithub, Reply, Request};
    let (repo, v1) = released_repo("notes-squash");
    repo.write("squashed.txt", "x\n");
    repo.commit_all("Parse feeds faster (#12)");
    let squash = repo.head();
    repo.write("mention.txt", "x\n");
    repo.commit_all("Follow up on the parser (#13)");
    let answer_sha = squash.clone();
    let github = FakeGithub::start(move |req: &Request, _| match req.route() {
        "/repos/acme/service/pulls/12" => Reply::json(
            200,
            json!({ "number": 12, "merged_at": "2026-11-30T10:00:00Z", "merge_commit_sha": answer_sha, "head": { "ref": "task-163-parse-feeds" } }),
        ),
        // #13 was merged as another commit: its subject only mentions it.
        "/repos/acme/service/pulls/13" => Reply::json(
            200,
            json!({ "number": 13, "merged_at": "2026-11-30T11:00:00Z", "merge_commit_sha": "f".repeat(40), "head": { "ref": "task-164-other" } }),
        ),
        _ => Reply::status(404, "Not Found"),
    });
    let notes = |run: Run| {
        run.env("GITHUB_REPOSITORY", "acme/service")
            .env("GITHUB_API_URL", &github.url)
            .env_remove("GITHUB_ACTIONS")
    };
    let done = notes(xtask(&repo, &["release-notes", "--since", &v1]))
        .env("GH_TOKEN", "test-token")
        .run();
    done.code(0)
        .stdout_has("### TASK-163\n- Parse feeds faster (#12)")
        .stdout_has("Follow up on the parser (#13)");
    assert!(!done.stdout.contains("TASK-164"), "{}", done.dump());
    let asked: Vec<String> = github
        .requests()
        .iter()
        .map(|r| r.route().to_string())
        .collect();
    assert_eq!(
        asked,
        [
            "/repos/acme/service/pulls/12",
            "/repos/acme/service/pulls/13"
        ]
    );
    // Without a token: no request, the draft still comes, and says why.
    let before = github.requests().len();
    let done = notes(xtask(&repo, &["release-notes", "--since", &v1]))
        .env_remove("GH_TOKEN")
        .run();
    done.code(0).stderr_has(
        "2 commit(s) name a pull request (#N) but no task, and there is no GitHub token",
    );
    assert!(!done.stdout.contains("### TASK-163"), "{}", done.dump());
    assert_eq!(github.requests().len(), before);
}
