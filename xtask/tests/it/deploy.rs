//! deploy, verify-deploy and rollback against real git repositories (with a
//! bare origin) and a real HTTP service: the policy's deploy steps start
//! `tests/fixtures/service.py` as a daemon on 127.0.0.1, and the tests stop
//! it afterwards (also when they fail). What the service does wrong (another
//! SHA, a 500, missing metrics, slowness) is part of the deployed revision
//! (`service.json`), as a bad release would be.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{require_tool, Done, Repo};

/// The real Python interpreter (not a version-manager shim, which depends
/// on the HOME the tests replace).
fn python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        require_tool("python3", "install Python 3 (apt-get install python3)");
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "python3 does not run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    })
}

fn service_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/service.py")
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One environment's service: its port, pid file and faults file. Dropping
/// it stops the daemon, whatever the test did.
struct Service {
    port: u16,
    pid_file: PathBuf,
    faults_file: PathBuf,
}

impl Service {
    fn new(dir: &Path, name: &str) -> Service {
        Service {
            port: free_port(),
            pid_file: dir.join(format!("{name}.pid")),
            faults_file: dir.join(format!("{name}.faults.json")),
        }
    }

    /// Changes what the running service does wrong (see service.py).
    fn faults(&self, faults: Value) {
        std::fs::write(&self.faults_file, faults.to_string()).unwrap();
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(&self.pid_file)
            .expect("the service is running")
            .trim()
            .to_string()
    }

    fn running(&self) -> bool {
        self.pid_file.exists()
    }

    fn stop(&self) {
        let status = Command::new(python())
            .arg(service_script())
            .args(["stop", "--pid-file"])
            .arg(&self.pid_file)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The body of GET `path` on the service.
    fn get(&self, path: &str) -> String {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                &format!("http://127.0.0.1:{}{path}", self.port),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill").args(["-TERM", pid.trim()]).status();
        }
    }
}

struct Setup {
    // Fields drop in declaration order: the services are stopped while their
    // pid files (inside the repository's temporary directory) still exist.
    staging: Service,
    prod: Service,
    repo: Repo,
}

/// How the tests' verification is tuned: short, so failures are quick.
struct Tuning {
    deadline: &'static str,
    retries: u32,
}

const QUICK: Tuning = Tuning {
    deadline: "5s",
    retries: 1,
};

/// One attempt per verification: each asks `/health` exactly once.
const ONE_TRY: Tuning = Tuning {
    deadline: "10s",
    retries: 0,
};

fn policy(staging: &Service, prod: &Service, t: &Tuning) -> String {
    let py = python();
    let svc = service_script().to_string_lossy().into_owned();
    let up = |s: &Service| {
        format!(
            r#"{{ name = "up", argv = ["{py}", "{svc}", "start", "--port", "{}", "--pid-file", "{}", "--faults", "{}"], timeout = "30s" }}"#,
            s.port,
            s.pid_file.display(),
            s.faults_file.display()
        )
    };
    let (deadline, retries) = (t.deadline, t.retries);
    format!(
        r#"
[deploy.environments.staging]
steps = [
  {{ name = "build", argv = ["{py}", "{svc}", "check"] }},
  {up_staging},
]

[deploy.environments.staging.verify]
deadline = "{deadline}"
retries = {retries}
backoff = "1s"
checks = [
  {{ name = "metrics", url = "http://127.0.0.1:{sp}/metrics", metrics = ["http_requests_total", "worker_jobs_processed_total"] }},
  {{ name = "health", url = "http://127.0.0.1:{sp}/health", contains = ["ok"], version-field = "version" }},
]
commands = [
  {{ name = "service-running", argv = ["test", "-s", "{spid}"] }},
]

[deploy.environments.prod]
production = true
requires-verified-in = "staging"
steps = [
  {{ name = "build", argv = ["{py}", "{svc}", "check"] }},
  {up_prod},
]
rollback-steps = [{up_prod}]

[deploy.environments.prod.verify]
deadline = "{deadline}"
retries = {retries}
backoff = "1s"
checks = [
  {{ name = "health", url = "http://127.0.0.1:{pp}/health", version-header = "X-Version" }},
  {{ name = "metrics", url = "http://127.0.0.1:{pp}/metrics", metrics = ["http_requests_total"] }},
]
"#,
        up_staging = up(staging),
        up_prod = up(prod),
        sp = staging.port,
        pp = prod.port,
        spid = staging.pid_file.display(),
    )
}

fn setup(label: &str, tuning: &Tuning) -> Setup {
    let repo = Repo::new(label);
    let staging = Service::new(repo.tmp.path(), "staging");
    let prod = Service::new(repo.tmp.path(), "prod");
    repo.write("xtask.toml", &policy(&staging, &prod, tuning));
    repo.commit_all("deployment policy");
    Setup {
        repo,
        staging,
        prod,
    }
}

/// Writes a gate record on `sha` the way release-gate does.
fn gate_record(repo: &Repo, sha: &str, status: &str) {
    let record = json!({
        "sha": sha, "tree": repo.git(&["rev-parse", &format!("{sha}^{{tree}}")]), "status": status,
        "started_at": "2026-01-01T00:00:00Z", "finished_at": "2026-01-01T00:01:00Z",
        "steps": [{ "gate": "check", "name": "fmt", "status": status, "duration_ms": 5 }],
        "bypasses": [], "database": "sqlite:///target/gate.db", "tool": "xtask 0.1.0",
    });
    repo.git(&[
        "notes",
        "--ref=release-gate",
        "add",
        "--force",
        "-m",
        &record.to_string(),
        sha,
    ]);
}

/// A release commit (with `service_json` as the service's behaviour), tagged
/// `version`, with a passing gate record when `gated`. Returns its SHA.
fn release(repo: &Repo, version: &str, service_json: Option<Value>, gated: bool) -> String {
    match service_json {
        Some(v) => repo.write("service.json", &v.to_string()),
        None => {
            let _ = std::fs::remove_file(repo.path("service.json"));
        }
    }
    repo.write("CHANGELOG.md", &format!("release {version}\n"));
    repo.commit_all(&format!("release {version}"));
    repo.git(&["tag", "-a", version, "-m", &format!("Release {version}")]);
    let sha = repo.head();
    if gated {
        gate_record(repo, &sha, "passed");
    }
    sha
}

fn xt(repo: &Repo, args: &[&str]) -> Done {
    xt_run(repo, args).run()
}

/// The xtask in `repo` without the deploy variables or proxies of the shell.
fn xt_run(repo: &Repo, args: &[&str]) -> crate::support::Run {
    let mut run = repo.xtask(args);
    for var in [
        "DEPLOY_ENV",
        "DEPLOY_TAG",
        "DEPLOY_SHA",
        "ROLLBACK_TO",
        "ROLLBACK_REASON",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        run = run.env_remove(var);
    }
    run
}

/// Runs `args` in `n` processes at once; their results, in start order.
fn at_once(repo: &Repo, n: usize, args: &[&str]) -> Vec<Done> {
    let children: Vec<_> = (0..n)
        .map(|_| {
            let mut run = xt_run(repo, args);
            run.cmd
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            run.cmd.spawn().expect("the xtask binary starts")
        })
        .collect();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            Done {
                args: args.iter().map(|s| s.to_string()).collect(),
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .collect()
}

/// The staging verifications on `sha` in the ledger of `notes_ref`, in time order.
fn verifications(repo: &Repo, notes_ref: &str, sha: &str) -> Vec<Value> {
    let out = repo.git_output(&["notes", &format!("--ref={notes_ref}"), "show", sha]);
    let mut entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("a ledger line is JSON"))
        .filter(|e| e["environment"] == "staging" && e["action"] == "verify")
        .collect();
    entries.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    entries
}

/// The ledger entries on `sha`, oldest first.
fn ledger(repo: &Repo, sha: &str) -> Vec<Value> {
    let out = repo.git_output(&["notes", "--ref=deployments", "show", sha]);
    if !out.status.success() {
        return Vec::new();
    }
    let mut entries: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a ledger line is JSON"))
        .collect();
    entries.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    entries
}

fn summary(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["environment"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["result"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn staging_deploy_runs_in_a_clean_worktree_verifies_and_records_both_then_prod_takes_the_same_sha()
{
    let s = setup("deploy-ok", &QUICK);
    let sha = release(&s.repo, "v1.0.0", None, true);
    // The user's uncommitted change would break the service: it must not be deployed.
    s.repo.write("service.json", r#"{"status": 500}"#);

    let done = xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0", "--push"]);
    done.code(0)
        .stderr_has("verified staging: v1.0.0")
        .stderr_has("clean worktree of");
    assert!(s.staging.running(), "{}", done.dump());
    let health = s.staging.get("/health");
    assert!(
        health.contains(&sha),
        "the service does not report the deployed SHA: {health}"
    );
    assert_eq!(
        summary(&ledger(&s.repo, &sha)),
        [
            "staging deploy started",
            "staging deploy passed",
            "staging verify passed"
        ],
        "{}",
        done.dump()
    );
    let entry = &ledger(&s.repo, &sha)[1];
    assert_eq!(entry["tag"], "v1.0.0");
    assert_eq!(entry["operator"], "Test Author <author@example.com>");
    // The worktree is gone, the user's change is still there, and the ledger reached origin.
    assert_eq!(
        s.repo.git(&["worktree", "list"]).lines().count(),
        1,
        "{}",
        done.dump()
    );
    assert_eq!(s.repo.read("service.json"), r#"{"status": 500}"#);
    let remote = s
        .repo
        .git(&["ls-remote", "origin", "refs/notes/deployments"]);
    assert!(
        !remote.is_empty(),
        "--push did not push the ledger{}",
        done.dump()
    );

    let done = xt(
        &s.repo,
        &["deploy", "prod", "--tag", "v1.0.0", "--format", "json"],
    );
    done.code(0);
    let report = done.json();
    assert_eq!(report["status"], "passed", "{}", done.dump());
    assert_eq!(report["sha"], sha.as_str());
    let checks: Vec<&str> = report["verification"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(checks, ["health", "metrics"], "identity check first");
    assert!(s.prod.get("/health").contains(&sha));
    assert_eq!(
        summary(&ledger(&s.repo, &sha))[3..],
        [
            "prod deploy started",
            "prod deploy passed",
            "prod verify passed"
        ]
    );

    // verify-deploy checks what the ledger says runs there, and records it.
    xt(&s.repo, &["verify-deploy", "prod"])
        .code(0)
        .stderr_has("verified prod: v1.0.0");
    assert_eq!(ledger(&s.repo, &sha).len(), 7);

    // The test's guard stops both daemons (none outlives the test).
    let pids = [s.staging.pid(), s.prod.pid()];
    drop(s);
    for pid in pids {
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(&pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(&pid), "the service {pid} outlived its test");
    }
}

/// Running, and not a zombie waiting to be reaped.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().next() != Some("Z"))
        })
        .unwrap_or(false)
}

/// A pre-release (`v1.1.0-rc.1`, as release-tag makes them) goes to
/// staging and is verified there; production refuses it, naming why, even
/// verified; the release tagged later on the same commit goes through.
#[test]
fn a_pre_release_goes_to_staging_and_production_takes_only_its_release() {
    let s = setup("deploy-rc", &QUICK);
    let sha = release(&s.repo, "v1.1.0-rc.1", None, true);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.1.0-rc.1"])
        .code(0)
        .stderr_has("verified staging: v1.1.0-rc.1");
    let done = xt(&s.repo, &["deploy", "prod", "--tag", "v1.1.0-rc.1"]);
    done.code(1)
        .stderr_has("v1.1.0-rc.1 is a pre-release: prod is production and takes only releases");
    assert!(!s.prod.running(), "{}", done.dump());
    // The same SHA by --sha carries its highest tag, still the pre-release.
    xt(&s.repo, &["deploy", "prod", "--sha", &sha])
        .code(1)
        .stderr_has("v1.1.0-rc.1 is a pre-release");
    // Released on the same commit: production takes it (staging verified the SHA).
    s.repo.git(&["tag", "-a", "v1.1.0", "-m", "Release v1.1.0"]);
    xt(&s.repo, &["deploy", "prod", "--sha", &sha])
        .code(0)
        .stderr_has("verified prod: v1.1.0");
}

#[test]
fn production_refuses_a_sha_without_staging_verification_gate_record_or_tag() {
    let s = setup("deploy-refused", &QUICK);
    let gated = release(&s.repo, "v1.0.0", None, true);
    let ungated = release(&s.repo, "v1.1.0", None, false);

    let done = xt(&s.repo, &["deploy", "prod", "--tag", "v1.0.0"]);
    done.code(1)
        .stderr_has("refused")
        .stderr_has(&format!("{gated} has no passing verification in staging"))
        .stderr_has("cargo xtask deploy staging --tag v1.0.0");

    let done = xt(&s.repo, &["deploy", "prod", "--tag", "v1.1.0"]);
    done.code(1)
        .stderr_has(&format!("{ungated} has no release-gate record"))
        .stderr_has("cargo xtask release-gate")
        .stderr_has("no passing verification in staging");
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.1.0"])
        .code(1)
        .stderr_has("has no release-gate record");

    // A gated commit without a release tag goes to staging, never to production.
    s.repo.commit_all("untagged");
    let untagged = s.repo.head();
    gate_record(&s.repo, &untagged, "passed");
    let done = xt(
        &s.repo,
        &["deploy", "prod", "--sha", &untagged, "--format", "json"],
    );
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "refused");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("not the commit of a release tag"),
        "{}",
        done.dump()
    );

    // A failed gate record is not a pass.
    gate_record(&s.repo, &gated, "failed");
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0"])
        .code(1)
        .stderr_has("says failed");

    // Nothing ran and nothing was recorded.
    assert!(!s.staging.running() && !s.prod.running());
    assert!(s
        .repo
        .git_output(&["rev-parse", "--verify", "--quiet", "refs/notes/deployments"])
        .stdout
        .is_empty());
    // Bad input is refused before anything happens.
    xt(&s.repo, &["deploy", "prod", "--tag", "1.0.0"])
        .code(2)
        .stderr_has("not a release tag");
    xt(&s.repo, &["deploy", "qa"])
        .code(2)
        .stderr_has("known are prod, staging");
}

#[test]
fn dry_run_checks_everything_and_prints_every_action_without_changing_anything() {
    let s = setup("deploy-dry", &QUICK);
    let sha = release(&s.repo, "v1.0.0", None, true);
    let done = xt(
        &s.repo,
        &[
            "deploy",
            "staging",
            "--tag",
            "v1.0.0",
            "--dry-run",
            "--push",
        ],
    );
    done.code(0)
        .stderr_has("dry run")
        .stderr_has(&format!(
            "git worktree add --detach .git/xtask/deploy-worktrees/<run> {sha}"
        ))
        .stderr_has("check health: curl GET")
        .stderr_has("git push origin refs/notes/deployments");
    let done = xt(
        &s.repo,
        &["deploy", "staging", "--dry-run", "--format", "json"],
    );
    assert_eq!(done.json()["status"], "planned");
    assert!(!s.staging.running());
    assert!(ledger(&s.repo, &sha).is_empty());
    assert_eq!(s.repo.git(&["worktree", "list"]).lines().count(), 1);

    // The records are fetched first: an unreachable remote is an error, not a guess.
    let gone = s.repo.tmp.path().join("gone.git");
    s.repo
        .git(&["remote", "set-url", "origin", &gone.to_string_lossy()]);
    xt(&s.repo, &["deploy", "staging", "--dry-run"])
        .code(2)
        .stderr_has("cannot reach the remote \"origin\"");
}

/// Deploys a release whose service misbehaves as `service_json` says and
/// returns the failed run.
fn failed_deploy(label: &str, tuning: &Tuning, service_json: Value) -> (Setup, String, Done) {
    let (s, sha, done, _) = timed_failed_deploy(label, tuning, service_json);
    (s, sha, done)
}

/// [`failed_deploy`], and how long the deploy command itself took.
fn timed_failed_deploy(
    label: &str,
    tuning: &Tuning,
    service_json: Value,
) -> (Setup, String, Done, Duration) {
    let s = setup(label, tuning);
    let sha = release(&s.repo, "v1.0.0", Some(service_json), true);
    let start = Instant::now();
    let done = xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0"]);
    let took = start.elapsed();
    // The first deploy to staging: no last known good, so the suggested
    // rollback names a release (a plain `rollback staging` would refuse).
    done.code(1)
        .stderr_has("verification of staging")
        .stderr_has("There is no last known good to roll back to: no release tag was verified in staging before this deployment")
        .stderr_has("cargo xtask rollback staging --to vX.Y.Z --reason \"post-deploy verification failed\"");
    assert_eq!(
        summary(&ledger(&s.repo, &sha)),
        [
            "staging deploy started",
            "staging deploy passed",
            "staging verify failed"
        ],
        "{}",
        done.dump()
    );
    (s, sha, done, took)
}

#[test]
fn a_service_reporting_another_sha_fails_the_identity_check() {
    let (_s, sha, done) = failed_deploy(
        "deploy-wrong-sha",
        &QUICK,
        json!({ "version": "deadbeefcafe" }),
    );
    done.stderr_has("health (http://127.0.0.1:")
        .stderr_has(&format!(
            "version (JSON field `version`): expected {sha} or v1.0.0, got \"deadbeefcafe\""
        ))
        .stderr_has("after 2 attempts");
}

#[test]
fn a_500_fails_with_the_status_it_got() {
    let (s, sha, done) = failed_deploy("deploy-500", &QUICK, json!({ "status": 500 }));
    done.stderr_has("status: expected 200, got 500");
    let detail = ledger(&s.repo, &sha)[2]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("health") && detail.contains("got 500"),
        "the ledger names the failed check: {detail}"
    );
}

#[test]
fn missing_metrics_are_named() {
    let (_s, _sha, done) = failed_deploy("deploy-metrics", &QUICK, json!({ "metrics": false }));
    done.stderr_has("metrics (http://127.0.0.1:")
        .stderr_has("metrics: expected worker_jobs_processed_total, got only http_requests_total");
}

#[test]
fn a_slow_service_fails_at_the_hard_deadline() {
    // The deploy alone (its steps, its lock, the verification) is timed, not
    // the test's repository set-up: the service answers after 20 s.
    let (_s, _sha, done, took) = timed_failed_deploy(
        "deploy-slow",
        &Tuning {
            deadline: "2s",
            retries: 5,
        },
        json!({ "delay": 20 }),
    );
    done.stderr_has("deadline 2.0s reached")
        .stderr_has("no answer within");
    assert!(
        took < Duration::from_secs(10),
        "the deadline was not enforced ({took:?}){}",
        done.dump()
    );
}

#[test]
fn verify_deploy_checks_what_the_ledger_says_runs_and_records_a_failure() {
    let s = setup("verify-deploy", &QUICK);
    xt(&s.repo, &["verify-deploy", "staging"])
        .code(1)
        .stderr_has("records no deployment to staging");
    let sha = release(&s.repo, "v1.0.0", None, true);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0"]).code(0);
    s.staging.stop();
    let done = xt(&s.repo, &["verify-deploy", "staging", "--format", "json"]);
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "failed", "{}", done.dump());
    assert_eq!(report["sha"], sha.as_str());
    // v1.0.0 passed its first verification, but it is what runs: nothing
    // verified before it, so the suggestion names a release.
    assert_eq!(
        report["rollback_command"],
        "cargo xtask rollback staging --to vX.Y.Z --reason \"post-deploy verification failed\""
    );
    let checks = report["verification"]["checks"].to_string();
    assert!(
        checks.contains("no answer") && checks.contains("service-running"),
        "{}",
        done.dump()
    );
    assert_eq!(
        summary(&ledger(&s.repo, &sha)),
        [
            "staging deploy started",
            "staging deploy passed",
            "staging verify passed",
            "staging verify failed"
        ]
    );
}

#[test]
fn rollback_chooses_the_last_verified_tag_not_the_previous_tag() {
    let s = setup("rollback", &QUICK);
    let good = release(&s.repo, "v1.0.0", None, true);
    let broken = release(&s.repo, "v1.1.0", Some(json!({ "status": 500 })), true);
    let current = release(&s.repo, "v1.2.0", Some(json!({ "metrics": false })), true);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0"]).code(0);
    xt(&s.repo, &["deploy", "prod", "--tag", "v1.0.0"]).code(0);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.1.0"]).code(1);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.2.0"])
        .code(1)
        .stderr_has("Roll back to the last known good (v1.0.0) with:\n  cargo xtask rollback staging --reason \"post-deploy verification failed\"");

    let done = xt(
        &s.repo,
        &[
            "rollback",
            "staging",
            "--reason",
            "metrics missing",
            "--dry-run",
        ],
    );
    done.code(0)
        .stderr_has("rollback staging: v1.0.0")
        .stderr_has("last known good: v1.0.0 passed verification in staging at")
        .stderr_has(&format!("rolling back from {current}"));
    assert!(
        s.staging.get("/health").contains(&current),
        "a dry run changed the deployment"
    );

    let done = xt(
        &s.repo,
        &[
            "rollback",
            "staging",
            "--reason",
            "metrics missing",
            "--push",
        ],
    );
    done.code(0).stderr_has("verified staging: v1.0.0");
    assert!(s.staging.get("/health").contains(&good));
    let entries = ledger(&s.repo, &good);
    let rollback = entries
        .iter()
        .find(|e| e["action"] == "rollback" && e["result"] != "started")
        .expect("a rollback entry");
    assert_eq!(rollback["result"], "passed");
    assert_eq!(rollback["reason"], "metrics missing");
    assert_eq!(rollback["from_sha"], current.as_str());
    assert_eq!(summary(&entries).last().unwrap(), "staging verify passed");
    xt(&s.repo, &["verify-deploy", "staging"])
        .code(0)
        .stderr_has("v1.0.0");
    assert_eq!(s.repo.git(&["worktree", "list"]).lines().count(), 1);

    // Production rolls back only to revisions validated in staging.
    let done = xt(
        &s.repo,
        &["rollback", "prod", "--to", "v1.1.0", "--reason", "test"],
    );
    done.code(1)
        .stderr_has(&format!("{broken} has no passing verification in staging"));
    xt(&s.repo, &["rollback", "prod", "--reason", "test"])
        .code(1)
        .stderr_has("no release tag verified in prod before");
    xt(&s.repo, &["rollback", "staging", "--to", "v1.0.0"])
        .code(1)
        .stderr_has("is what staging runs already");
}

#[test]
fn the_ledger_and_gate_records_are_shared_through_the_remote_without_rewriting() {
    let s = setup("deploy-shared", &QUICK);
    let sha = release(&s.repo, "v1.0.0", None, true);
    s.repo.git(&[
        "push",
        "--quiet",
        "origin",
        "main",
        "v1.0.0",
        "refs/notes/release-gate",
    ]);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0", "--push"]).code(0);

    // Another operator's clone: it has neither the ledger nor the gate records
    // until the command fetches them.
    let other = s.repo.tmp.path().join("other");
    s.repo.git_in(
        s.repo.tmp.path(),
        &[
            "clone",
            "--quiet",
            &s.repo.origin.to_string_lossy(),
            "other",
        ],
    );
    let done = s
        .repo
        .xtask(&["deploy", "prod", "--tag", "v1.0.0", "--push"])
        .current_dir(&other)
        .env_remove("DEPLOY_ENV")
        .run();
    done.code(0).stderr_has("verified prod: v1.0.0");

    // Meanwhile the first clone recorded more; its next command merges both sides.
    xt(&s.repo, &["verify-deploy", "staging"]).code(0);
    let done = xt(&s.repo, &["verify-deploy", "prod", "--push"]);
    done.code(0);
    assert_eq!(
        summary(&ledger(&s.repo, &sha)),
        [
            "staging deploy started",
            "staging deploy passed",
            "staging verify passed",
            "prod deploy started",
            "prod deploy passed",
            "prod verify passed",
            "staging verify passed",
            "prod verify passed"
        ],
        "{}",
        done.dump()
    );
    // The remote has every entry: nothing was lost or rewritten on the way.
    s.repo.git_in(
        &other,
        &[
            "fetch",
            "--quiet",
            "origin",
            "+refs/notes/deployments:refs/notes/deployments",
        ],
    );
    assert_eq!(ledger_in(&s.repo, &other, &sha).len(), 8);
}

fn ledger_in(repo: &Repo, dir: &Path, sha: &str) -> Vec<String> {
    repo.git_in(dir, &["notes", "--ref=deployments", "show", sha])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_failing_deploy_step_is_recorded_stops_the_rollout_and_leaves_no_worktree() {
    let s = setup("deploy-step-fails", &QUICK);
    // A revision whose build fails: its service.json is not JSON.
    s.repo.write("service.json", "{ not json");
    s.repo.commit_all("broken build");
    let sha = s.repo.head();
    gate_record(&s.repo, &sha, "passed");
    let done = xt(&s.repo, &["deploy", "staging"]);
    done.code(1)
        .stderr_has("deploy staging of")
        .stderr_has("deploy step build (")
        .stderr_has("exited with code 1")
        .stderr_has("cargo xtask rollback staging --to vX.Y.Z --reason \"deploy step failed\"");
    assert!(
        !done.stderr.contains("verification failed"),
        "no verification ran{}",
        done.dump()
    );
    assert!(
        !s.staging.running(),
        "the step after the failure ran{}",
        done.dump()
    );
    let entries = ledger(&s.repo, &sha);
    assert_eq!(
        summary(&entries),
        ["staging deploy started", "staging deploy failed"],
        "no verification after a failed deploy{}",
        done.dump()
    );
    assert!(entries[1]["detail"].as_str().unwrap().contains("build"));
    // A failed run releases the environment's lock too.
    assert!(
        remote_lock(&s.repo, "staging").is_empty(),
        "{}",
        done.dump()
    );
    assert!(!s.repo.path(".git/xtask/locks/staging.json").exists());
    assert_eq!(
        s.repo.git(&["worktree", "list"]).lines().count(),
        1,
        "{}",
        done.dump()
    );
}

/// A repository whose staging deploy step, or verification command, hangs
/// (writing its pid) while `hang-step` or `hang-verify` exists in the
/// temporary directory: for Ctrl-C. Returns the repository and that directory.
fn hanging(label: &str) -> (Repo, PathBuf) {
    let repo = Repo::new(label);
    let dir = repo.tmp.path().to_path_buf();
    let hang = |what: &str| {
        let (flag, pid) = (
            dir.join(format!("hang-{what}")),
            dir.join(format!("{what}.pid")),
        );
        format!(
            r#"argv = ["sh", "-c", "if [ -e '{}' ]; then echo $$ > '{}'; exec sleep 30; fi"]"#,
            flag.display(),
            pid.display()
        )
    };
    repo.write(
        "xtask.toml",
        &format!(
            "[deploy.environments.staging]\nsteps = [{{ name = \"up\", {} }}]\n\n[deploy.environments.staging.verify]\ndeadline = \"60s\"\nretries = 0\ncommands = [{{ name = \"probe\", {} }}]\n",
            hang("step"),
            hang("verify")
        ),
    );
    repo.commit_all("deployment policy");
    let sha = repo.head();
    gate_record(&repo, &sha, "passed");
    (repo, dir)
}

/// Runs the xtask until `pid_file` appears, sends it SIGINT, and returns its
/// exit code, its JSON report and its stderr.
fn interrupt(repo: &Repo, args: &[&str], pid_file: &Path) -> (Option<i32>, Value, String) {
    let mut run = repo.xtask(args);
    for var in ["DEPLOY_ENV", "DEPLOY_TAG", "DEPLOY_SHA"] {
        run = run.env_remove(var);
    }
    let child = run
        .cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pid_file.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never started",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}"));
    (out.status.code(), report, stderr)
}

#[test]
fn an_interrupted_deploy_or_verification_reports_interrupted_and_exits_130() {
    let (repo, dir) = hanging("deploy-interrupted");
    let sha = repo.head();
    std::fs::write(dir.join("hang-step"), "").unwrap();
    let (code, report, stderr) = interrupt(
        &repo,
        &["deploy", "staging", "--format", "json"],
        &dir.join("step.pid"),
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(report["steps"][0]["status"], "interrupted", "{report:#}");
    assert!(report["verification"].is_null(), "{report:#}");
    assert!(
        report["rollback_command"]
            .as_str()
            .unwrap()
            .ends_with("--reason \"deploy interrupted\""),
        "{report:#}"
    );
    assert!(stderr.contains("interrupted up"), "{stderr}");
    let entries = ledger(&repo, &sha);
    assert_eq!(
        summary(&entries),
        ["staging deploy started", "staging deploy failed"]
    );
    assert!(entries[1]["detail"]
        .as_str()
        .unwrap()
        .contains("interrupted"));

    // Deployed and verified; then verify-deploy is interrupted in its check.
    std::fs::remove_file(dir.join("hang-step")).unwrap();
    xt(&repo, &["deploy", "staging"]).code(0);
    std::fs::write(dir.join("hang-verify"), "").unwrap();
    let (code, report, stderr) = interrupt(
        &repo,
        &["verify-deploy", "staging", "--format", "json"],
        &dir.join("verify.pid"),
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(report["status"], "interrupted", "{report:#}");
    assert_eq!(
        report["verification"]["status"], "interrupted",
        "{report:#}"
    );
    let entries = ledger(&repo, &sha);
    assert_eq!(summary(&entries).last().unwrap(), "staging verify failed");
    assert!(entries.last().unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("interrupted before the verification finished"));
}

/// env-parity is in this file with the deployment it checks (issue 12): a
/// malformed line is reported by file, line and key, never with its value.
#[test]
fn env_parity_names_the_file_line_and_key_of_a_malformed_line_never_the_value() {
    let canary = "sk_live_CANARY_7f3a9";
    let repo = Repo::new("parity-malformed");
    repo.write(
        "deploy/staging.env",
        &format!("API_AUTH_ENABLED=true\nAPI_KEY: {canary}\n"),
    );
    repo.write("deploy/prod.env", "API_AUTH_ENABLED=true\n");
    repo.write(
        "xtask.toml",
        "[release.env-files]\nstaging = \"deploy/staging.env\"\nprod = \"deploy/prod.env\"\n",
    );
    let done = xt(&repo, &["env-parity", "staging", "prod"]);
    done.code(2)
        .stderr_has("staging.env:2: expected KEY=value for API_KEY;")
        .nowhere(canary)
        .nowhere("sk_live");
    let json = xt(
        &repo,
        &["env-parity", "staging", "prod", "--format", "json"],
    );
    json.code(2).nowhere(canary).nowhere("sk_live");
    assert!(
        json.stdout.contains("staging.env:2") || json.stderr.contains("staging.env:2"),
        "{}",
        json.dump()
    );
}

/// Issue 11: four verifications at once, some failing, keep all their
/// entries, locally and on the remote, and the latest decides promotion.
#[test]
fn concurrent_verifications_keep_every_entry_and_a_lost_failure_never_admits_a_sha() {
    let s = setup("verify-concurrent", &ONE_TRY);
    let sha = release(&s.repo, "v1.0.0", None, true);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0", "--push"]).code(0);
    assert_eq!(verifications(&s.repo, "deployments", &sha).len(), 1);
    let args = ["verify-deploy", "staging", "--push", "--format", "json"];

    // Every other answer names another SHA: two of the four fail.
    s.staging.faults(json!({ "wrong_version_every": 2 }));
    let runs = at_once(&s.repo, 4, &args);
    let dumps: String = runs.iter().map(Done::dump).collect();
    let failed = runs.iter().filter(|d| d.code == Some(1)).count();
    let passed = runs.iter().filter(|d| d.code == Some(0)).count();
    assert_eq!((passed, failed), (2, 2), "{dumps}");
    for d in &runs {
        assert_eq!(
            d.json()["ledger"].as_array().unwrap().len(),
            1,
            "{}",
            d.dump()
        );
    }
    let local = verifications(&s.repo, "deployments", &sha);
    let results: Vec<&str> = local
        .iter()
        .map(|e| e["result"].as_str().unwrap())
        .collect();
    assert_eq!(local.len(), 5, "{results:?}{dumps}");
    assert_eq!(
        results.iter().filter(|r| **r == "failed").count(),
        2,
        "{results:?}"
    );
    // The remote kept every entry too (pushed by racing processes).
    s.repo.git(&[
        "fetch",
        "--quiet",
        "origin",
        "+refs/notes/deployments:refs/notes/seen-on-origin",
    ]);
    assert_eq!(
        verifications(&s.repo, "seen-on-origin", &sha),
        local,
        "{dumps}"
    );
    // Promotion follows the latest verification, whichever it is.
    let latest_passed = local.last().unwrap()["result"] == "passed";
    let prod = xt(&s.repo, &["deploy", "prod", "--tag", "v1.0.0", "--dry-run"]);
    if latest_passed {
        prod.code(0);
    } else {
        prod.code(1).stderr_has("verify that failed");
    }

    // Then every answer is wrong: four failures at once, none lost, and
    // prod refuses the SHA.
    s.staging.faults(json!({ "wrong_version_every": 1 }));
    let runs = at_once(&s.repo, 4, &args);
    let dumps: String = runs.iter().map(Done::dump).collect();
    assert!(runs.iter().all(|d| d.code == Some(1)), "{dumps}");
    let local = verifications(&s.repo, "deployments", &sha);
    assert_eq!(local.len(), 9, "{dumps}");
    assert_eq!(local.iter().filter(|e| e["result"] == "failed").count(), 6);
    xt(&s.repo, &["deploy", "prod", "--tag", "v1.0.0", "--dry-run"])
        .code(1)
        .stderr_has("verify that failed");
}

/// Issue 11: an entry that cannot be written is a failure that says why.
#[test]
fn a_verification_that_cannot_be_recorded_fails_and_says_why() {
    let s = setup("verify-unrecorded", &QUICK);
    let sha = release(&s.repo, "v1.0.0", None, true);
    xt(&s.repo, &["deploy", "staging", "--tag", "v1.0.0"]).code(0);
    // A stale lock on the ledger's ref, as a crashed git would leave: a
    // minute old, where git holds a live one for milliseconds.
    let lock = s.repo.path(".git/refs/notes/deployments.lock");
    let crashed = |lock: &std::path::Path| {
        let file = std::fs::File::create(lock).unwrap();
        let then = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        file.set_modified(then).unwrap();
    };
    crashed(&lock);
    let done = xt(&s.repo, &["verify-deploy", "staging", "--format", "json"]);
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "failed", "{}", done.dump());
    assert_eq!(report["ledger"], json!([]), "{}", done.dump());
    assert!(
        report["ledger_error"]
            .as_str()
            .unwrap()
            .contains("refs/notes/deployments"),
        "{}",
        done.dump()
    );
    std::fs::remove_file(&lock).unwrap();
    assert_eq!(verifications(&s.repo, "deployments", &sha).len(), 1);
    // Human output says so too.
    crashed(&lock);
    xt(&s.repo, &["verify-deploy", "staging"])
        .code(1)
        .stderr_has("could not be recorded in refs/notes/deployments, so it does not count");
    std::fs::remove_file(&lock).unwrap();

    // With --push, a remote that cannot take the ledger fails the run too,
    // after the entry was written locally: exit 1, and the JSON says why.
    let origin_lock = s.repo.origin.join("refs/notes/deployments.lock");
    std::fs::create_dir_all(origin_lock.parent().unwrap()).unwrap();
    crashed(&origin_lock);
    let done = xt(
        &s.repo,
        &["verify-deploy", "staging", "--push", "--format", "json"],
    );
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "failed", "{}", done.dump());
    assert_eq!(report["pushed"], false, "{}", done.dump());
    let why = report["ledger_error"].as_str().unwrap();
    assert!(
        why.contains("cannot push refs/notes/deployments to origin"),
        "{}",
        done.dump()
    );
    assert_eq!(verifications(&s.repo, "deployments", &sha).len(), 2);
    std::fs::remove_file(&origin_lock).unwrap();
}

/// Starts `args` in the background and waits until `pid_file` (written by
/// the hanging step) appears: the run is then inside its slow step.
fn start_until(repo: &Repo, args: &[&str], pid_file: &Path) -> std::process::Child {
    let mut run = xt_run(repo, args);
    let mut child = run
        .cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pid_file.exists() || std::fs::read_to_string(pid_file).unwrap().trim().is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended ({status}) before its step started: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never started",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether `pid` runs (a zombie does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

fn remote_lock(repo: &Repo, env: &str) -> String {
    repo.git(&["ls-remote", "origin", &format!("refs/xtask/locks/{env}")])
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Issue 11: one deploy at a time per environment, visible through the
/// remote, released however the run ends.
#[test]
fn a_second_deploy_refuses_while_the_first_is_inside_a_slow_step_naming_the_holder() {
    let (repo, dir) = hanging("deploy-lock");
    let sha = repo.head();
    std::fs::write(dir.join("hang-step"), "").unwrap();
    let first = start_until(&repo, &["deploy", "staging"], &dir.join("step.pid"));
    let holder = format!(
        "staging is being deployed: deploy of {sha} by Test Author <author@example.com> on host {} (pid {}) since ",
        this_host(),
        first.id()
    );
    let done = xt(&repo, &["deploy", "staging"]);
    done.code(1).stderr_has(&holder);
    let json = xt(&repo, &["deploy", "staging", "--format", "json"]);
    json.code(1);
    assert_eq!(json.json()["status"], "refused", "{}", json.dump());
    assert!(json.json()["problems"][0]
        .as_str()
        .unwrap()
        .starts_with(&holder));
    // Another clone of the same origin (another machine's view) sees it too.
    assert!(!remote_lock(&repo, "staging").is_empty());
    repo.git(&[
        "push",
        "--quiet",
        "origin",
        "main",
        "refs/notes/release-gate",
    ]);
    let other = repo.tmp.path().join("other");
    repo.git(&[
        "clone",
        "--quiet",
        &repo.origin.to_string_lossy(),
        &other.to_string_lossy(),
    ]);
    let mut from_other = xt_run(&repo, &["deploy", "staging", "--sha", &sha]);
    from_other.cmd.current_dir(&other);
    from_other.run().code(1).stderr_has(&holder);
    // The refused runs changed nothing: the first is still in its step.
    let step = std::fs::read_to_string(dir.join("step.pid")).unwrap();
    assert!(running(&step));
    assert_eq!(summary(&ledger(&repo, &sha)), ["staging deploy started"]);

    // SIGTERM: the first stops its step, records it, releases both locks.
    signal(first.id(), "TERM");
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(remote_lock(&repo, "staging").is_empty());
    assert!(!repo.path(".git/xtask/locks/staging.json").exists());
    std::fs::remove_file(dir.join("hang-step")).unwrap();
    xt(&repo, &["deploy", "staging"]).code(0);
    assert!(remote_lock(&repo, "staging").is_empty());
}

/// Issue 11: a deploy killed with SIGKILL inside a slow step leaves its
/// environment unknown; the next deploy takes its stale lock over, stops the
/// step it left running, and reclaims its worktree.
#[test]
fn a_killed_deploy_leaves_the_environment_unknown_and_the_next_one_reclaims_everything() {
    let (repo, dir) = hanging("deploy-killed");
    let sha = repo.head();
    std::fs::write(dir.join("hang-step"), "").unwrap();
    let mut first = start_until(&repo, &["deploy", "staging"], &dir.join("step.pid"));
    let killed = first.id();
    signal(killed, "KILL");
    first.wait().unwrap();
    let step = std::fs::read_to_string(dir.join("step.pid")).unwrap();
    assert!(running(&step), "the step outlives a SIGKILL of the deploy");
    assert_eq!(repo.git(&["worktree", "list"]).lines().count(), 2);
    assert!(!remote_lock(&repo, "staging").is_empty());

    // What runs in staging is unknown: verify-deploy says so and records nothing.
    let unknown = xt(&repo, &["verify-deploy", "staging", "--format", "json"]);
    unknown.code(1);
    assert_eq!(unknown.json()["status"], "unknown", "{}", unknown.dump());
    assert_eq!(summary(&ledger(&repo, &sha)), ["staging deploy started"]);
    xt(&repo, &["verify-deploy", "staging"])
        .code(1)
        .stderr_has(&format!(
            "what runs in staging is unknown: the deploy of {sha} started at"
        ));

    std::fs::remove_file(dir.join("hang-step")).unwrap();
    let done = xt(&repo, &["deploy", "staging"]);
    done.code(0)
        .stderr_has("what runs in staging is unknown")
        .stderr_has(&format!(
            "took over a stale lock of staging: deploy of {sha}"
        ))
        .stderr_has(&format!("pid {killed} is gone"))
        .stderr_has(&format!(
            "reclaimed the worktree of a killed staging run (pid {killed}"
        ))
        .stderr_has(&format!(
            "stopped what its steps left running (pid {}",
            step.trim()
        ));
    assert!(
        !running(&step),
        "the left-over step was stopped{}",
        done.dump()
    );
    assert_eq!(
        repo.git(&["worktree", "list"]).lines().count(),
        1,
        "{}",
        done.dump()
    );
    let entries = ledger(&repo, &sha);
    assert_eq!(
        summary(&entries),
        [
            "staging deploy started",
            "staging deploy started",
            "staging deploy passed",
            "staging verify passed"
        ]
    );
    assert!(entries[1]["detail"]
        .as_str()
        .unwrap()
        .contains("took over a stale lock"));
    assert!(remote_lock(&repo, "staging").is_empty());
    xt(&repo, &["verify-deploy", "staging"]).code(0);
}

/// Plants a lock on origin as a run on another machine would hold it.
fn foreign_lock(repo: &Repo, since: &str) {
    let holder = json!({
        "environment": "staging", "command": "deploy", "operator": "Bo <bo@example.com>",
        "host": "build-box-2", "pid": 4242, "since": since, "sha": "f".repeat(40),
    });
    let tree = repo.git(&["mktree"]);
    let commit = repo.git(&["commit-tree", &tree, "-m", &holder.to_string()]);
    repo.git(&[
        "push",
        "--quiet",
        "origin",
        &format!("{commit}:refs/xtask/locks/staging"),
    ]);
}

/// Issue 11: a lock held from another host is broken only with --break-lock,
/// only once older than the deploy deadline, and the ledger records it.
#[test]
fn a_lock_from_another_host_needs_break_lock_and_is_recorded() {
    let (repo, _dir) = hanging("deploy-foreign");
    let sha = repo.head();
    foreign_lock(&repo, "2020-01-01T00:00:00Z");
    xt(&repo, &["deploy", "staging"])
        .code(1)
        .stderr_has("staging is locked from another host: deploy of ffff")
        .stderr_has("on host build-box-2 (pid 4242) since 2020-01-01T00:00:00Z")
        .stderr_has("--break-lock");
    assert!(ledger(&repo, &sha).is_empty());
    let done = xt(&repo, &["deploy", "staging", "--break-lock"]);
    done.code(0)
        .stderr_has("broke the lock of staging with --break-lock: deploy of ffff");
    let entries = ledger(&repo, &sha);
    assert!(
        entries[0]["detail"]
            .as_str()
            .unwrap()
            .contains("broke the lock of staging with --break-lock: deploy of ffffffffffffffffffffffffffffffffffffffff by Bo <bo@example.com> on host build-box-2"),
        "{}",
        done.dump()
    );
    assert!(remote_lock(&repo, "staging").is_empty());

    // A lock younger than the deadline is never broken.
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    foreign_lock(&repo, &now);
    xt(&repo, &["deploy", "staging", "--break-lock"])
        .code(1)
        .stderr_has("cannot be broken");
    assert!(!remote_lock(&repo, "staging").is_empty());
}

#[test]
fn require_isolated_gate_refuses_a_record_made_in_the_working_tree() {
    let s = setup("deploy-isolated", &QUICK);
    let mut policy = std::fs::read_to_string(s.repo.path("xtask.toml")).unwrap();
    policy.push_str("\n[release]\nrequire-isolated-gate = true\n");
    s.repo.write("xtask.toml", &policy);
    s.repo.commit_all("require isolated gate records");
    let sha = release(&s.repo, "v1.0.0", None, true);

    // The record release() wrote was not isolated: refused, saying how to fix it.
    xt(
        &s.repo,
        &["deploy", "staging", "--tag", "v1.0.0", "--dry-run"],
    )
    .code(1)
    .stderr_has("was not made in an isolated worktree")
    .stderr_has("cargo xtask release-gate --isolated");

    // A later isolated record on the same SHA admits it.
    let record = json!({
        "sha": sha, "tree": s.repo.git(&["rev-parse", &format!("{sha}^{{tree}}")]), "status": "passed",
        "started_at": "2026-01-02T00:00:00Z", "finished_at": "2026-01-02T00:01:00Z",
        "steps": [{ "gate": "check", "name": "fmt", "status": "passed", "duration_ms": 5 }],
        "bypasses": [], "database": "sqlite:///target/gate.db", "tool": "xtask 0.1.0", "isolated": true,
    });
    let mut note = s.repo.git(&["notes", "--ref=release-gate", "show", &sha]);
    note.push('\n');
    note.push_str(&record.to_string());
    s.repo.git(&[
        "notes",
        "--ref=release-gate",
        "add",
        "--force",
        "-m",
        &note,
        &sha,
    ]);
    xt(
        &s.repo,
        &["deploy", "staging", "--tag", "v1.0.0", "--dry-run"],
    )
    .code(0);
}
