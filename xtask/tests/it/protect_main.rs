//! protect-main against a local stand-in for GitHub that keeps the
//! repository settings and the branch protection as state, so that apply
//! followed by read-back is real. It answers in GitHub's shapes: the
//! protection GET differs from the PUT (`enforce_admins.enabled`,
//! `required_status_checks.checks`, 404 "Branch not protected").

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::fake_github::{dead_url, FakeGithub, Reply, Request};
use crate::support::{Done, Repo};

const TOKEN: &str = "ghp_protectmaintesttoken123";
const REPO_PATH: &str = "/repos/acme/service";
const PROTECTION_PATH: &str = "/repos/acme/service/branches/main/protection";
const RULES_PATH: &str = "/repos/acme/service/rules/branches/main?per_page=100";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Behaves like GitHub.
    Normal,
    /// Accepts every write but does not apply this field.
    Ignores(&'static str),
    /// Answers every request with this status.
    Status(u16),
    /// Answers the protection PUT with this status (after the PATCH worked).
    FailPut(u16),
    /// Leaves out of its protection GET the fields GitHub documents as
    /// false by default (as GitHub does for some plans and servers).
    OmitsDefaults,
}

struct State {
    repo: Value,
    protection: Option<Value>,
    mode: Mode,
    /// The ruleset rules that apply to main.
    rules: Vec<Value>,
}

struct Github {
    server: FakeGithub,
    state: Arc<Mutex<State>>,
}

impl Github {
    fn start(repo: Value, protection: Option<Value>, mode: Mode) -> Github {
        let state = Arc::new(Mutex::new(State {
            repo,
            protection,
            mode,
            rules: Vec::new(),
        }));
        let shared = state.clone();
        let server =
            FakeGithub::start(move |req, base| answer(&mut shared.lock().unwrap(), req, base));
        Github { server, state }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect()
    }
}

fn answer(st: &mut State, req: &Request, base: &str) -> Reply {
    if let Mode::Status(code) = st.mode {
        let message = match code {
            401 => "Bad credentials",
            403 => "Resource not accessible by integration",
            404 => "Not Found",
            _ => "Server Error",
        };
        return Reply::status(code, message);
    }
    if req.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
        return Reply::status(401, "Bad credentials");
    }
    match (req.method.as_str(), req.route()) {
        ("GET", REPO_PATH) => Reply::json(200, st.repo.clone()),
        ("GET", "/repos/acme/service/rules/branches/main") => Reply::json(200, json!(st.rules)),
        ("PATCH", REPO_PATH) => {
            let body = req.json();
            for (k, v) in body.as_object().unwrap() {
                if !matches!(st.mode, Mode::Ignores(f) if f == k) {
                    st.repo[k] = v.clone();
                }
            }
            Reply::json(200, st.repo.clone())
        }
        ("GET", PROTECTION_PATH) => match &st.protection {
            Some(p) => Reply::json(200, p.clone()),
            None => Reply::status(404, "Branch not protected"),
        },
        ("PUT", PROTECTION_PATH) => {
            if let Mode::FailPut(code) = st.mode {
                return Reply::status(code, "Resource not accessible by integration");
            }
            let body = req.json();
            for key in [
                "required_status_checks",
                "enforce_admins",
                "required_pull_request_reviews",
                "restrictions",
            ] {
                if body.get(key).is_none() {
                    return Reply::status(
                        422,
                        &format!("Invalid request. \"{key}\" wasn't supplied."),
                    );
                }
            }
            let mut shape = get_shape(&body, &format!("{base}{PROTECTION_PATH}"));
            if let Mode::Ignores(field) = st.mode {
                let before = st.protection.as_ref().and_then(|p| p.get(field).cloned());
                match before {
                    Some(v) => shape[field] = v,
                    None => shape[field] = json!({ "enabled": false }),
                }
            }
            if st.mode == Mode::OmitsDefaults {
                for key in ["lock_branch", "allow_fork_syncing", "block_creations"] {
                    shape.as_object_mut().unwrap().remove(key);
                }
                if let Some(reviews) = shape["required_pull_request_reviews"].as_object_mut() {
                    reviews.remove("require_last_push_approval");
                }
            }
            st.protection = Some(shape.clone());
            Reply::json(200, shape)
        }
        (_, route) if route.starts_with("/repos/acme/service/branches/") => {
            Reply::status(404, "Branch not found")
        }
        _ => Reply::status(404, "Not Found"),
    }
}

/// What GitHub's "Get branch protection" answers after a PUT of `put`.
fn get_shape(put: &Value, url: &str) -> Value {
    let enabled = |key: &str| json!({ "enabled": put[key].as_bool().unwrap_or(false) });
    let mut out = json!({
        "url": url,
        "enforce_admins": { "url": format!("{url}/enforce_admins"), "enabled": put["enforce_admins"] == json!(true) },
        "required_signatures": { "url": format!("{url}/required_signatures"), "enabled": false },
        "required_linear_history": enabled("required_linear_history"),
        "allow_force_pushes": enabled("allow_force_pushes"),
        "allow_deletions": enabled("allow_deletions"),
        "block_creations": enabled("block_creations"),
        "required_conversation_resolution": enabled("required_conversation_resolution"),
        "lock_branch": enabled("lock_branch"),
        "allow_fork_syncing": enabled("allow_fork_syncing"),
    });
    let rsc = &put["required_status_checks"];
    if !rsc.is_null() {
        let contexts = rsc["contexts"].clone();
        let checks: Vec<Value> = contexts
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!({ "context": c, "app_id": null }))
            .collect();
        out["required_status_checks"] = json!({
            "url": format!("{url}/required_status_checks"),
            "strict": rsc["strict"],
            "contexts": contexts,
            "contexts_url": format!("{url}/required_status_checks/contexts"),
            "checks": checks,
        });
    }
    let reviews = &put["required_pull_request_reviews"];
    if !reviews.is_null() {
        out["required_pull_request_reviews"] = json!({
            "url": format!("{url}/required_pull_request_reviews"),
            "dismiss_stale_reviews": reviews["dismiss_stale_reviews"].as_bool().unwrap_or(false),
            "require_code_owner_reviews": reviews["require_code_owner_reviews"].as_bool().unwrap_or(false),
            "required_approving_review_count": reviews["required_approving_review_count"].as_u64().unwrap_or(0),
            "require_last_push_approval": reviews["require_last_push_approval"].as_bool().unwrap_or(false),
        });
    }
    if !put["restrictions"].is_null() {
        out["restrictions"] = put["restrictions"].clone();
    }
    out
}

fn loose_repo() -> Value {
    json!({
        "id": 1, "full_name": "acme/service", "default_branch": "main",
        "allow_merge_commit": true, "allow_squash_merge": true, "allow_rebase_merge": true,
        "delete_branch_on_merge": false,
    })
}

fn compliant_repo() -> Value {
    let mut r = loose_repo();
    r["allow_merge_commit"] = json!(false);
    r["delete_branch_on_merge"] = json!(true);
    r
}

fn merge_policy() -> Value {
    json!({ "allow_merge_commit": false, "allow_squash_merge": true, "allow_rebase_merge": true, "delete_branch_on_merge": true })
}

fn expected_put() -> Value {
    json!({
        "required_status_checks": { "strict": true, "contexts": ["check", "test"] },
        "enforce_admins": true,
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": false,
            "require_code_owner_reviews": false,
            "required_approving_review_count": 0,
            "require_last_push_approval": false,
        },
        "restrictions": null,
        "required_linear_history": true,
        "allow_force_pushes": false,
        "allow_deletions": false,
        "block_creations": false,
        "required_conversation_resolution": true,
        "lock_branch": false,
        "allow_fork_syncing": false,
    })
}

fn compliant_protection() -> Value {
    get_shape(
        &expected_put(),
        "https://api.github.com/repos/acme/service/branches/main/protection",
    )
}

const CI: &str = "name: CI\non:\n  push:\n    branches: [main]\n  pull_request:\n    branches: [main]\njobs:\n  check:\n    name: check\n    runs-on: ubuntu-latest\n    steps:\n      - run: cargo xtask check\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          cargo xtask test # all of it\n";

fn repo_with(checks: &str) -> Repo {
    let repo = Repo::new("protect-main");
    repo.write(".github/workflows/ci.yml", CI);
    repo.write(
        "xtask.toml",
        &format!("[github]\nrepository = \"acme/service\"\nrequired-checks = {checks}\n"),
    );
    repo.commit_all("policy and CI");
    repo
}

fn protect(repo: &Repo, gh: &str, args: &[&str]) -> Done {
    let mut all = vec!["protect-main"];
    all.extend_from_slice(args);
    repo.xtask(&all)
        .env("GITHUB_API_URL", gh)
        .env("GH_TOKEN", TOKEN)
        .run()
}

fn get(path: &str) -> (String, String) {
    ("GET".to_string(), path.to_string())
}

#[test]
fn an_unprotected_branch_is_protected_and_verified() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    let done = protect(&repo, &gh.server.url, &[]);
    done.code(0)
        .stderr_has("NOT protected")
        .stderr_has("all 19 settings read back as sent")
        .nowhere(TOKEN);
    done.stderr_has("`main` is protected: pull requests required (0 approving review(s), conversations resolved), checks check, test");
    let requests = gh.server.requests();
    let seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    assert_eq!(
        seen,
        [
            get(REPO_PATH),
            get(PROTECTION_PATH),
            get(RULES_PATH),
            ("PATCH".into(), REPO_PATH.into()),
            ("PUT".into(), PROTECTION_PATH.into()),
            get(REPO_PATH),
            get(PROTECTION_PATH),
        ],
        "{}",
        done.dump()
    );
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{} {}",
            r.method,
            r.path
        );
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    }
    assert_eq!(requests[3].json(), merge_policy());
    assert_eq!(requests[4].json(), expected_put());
    let st = gh.state.lock().unwrap();
    assert_eq!(st.repo["allow_merge_commit"], json!(false));
    assert_eq!(
        st.protection.as_ref().unwrap()["enforce_admins"]["enabled"],
        json!(true)
    );
}

#[test]
fn an_already_compliant_repository_gets_no_writes() {
    let repo = repo_with("[\"test\", \"check\"]");
    let gh = Github::start(compliant_repo(), Some(compliant_protection()), Mode::Normal);
    protect(&repo, &gh.server.url, &[])
        .code(0)
        .stderr_has("already compliant: nothing to write");
    protect(&repo, &gh.server.url, &["--check"])
        .code(0)
        .stderr_has("match the policy");
    assert!(gh.server.writes().is_empty(), "{:?}", gh.requests());
    assert_eq!(gh.requests().len(), 6);
}

#[test]
fn drift_makes_check_exit_1_with_the_differences_and_no_writes() {
    let repo = repo_with("[\"check\", \"test\"]");
    let mut protection = compliant_protection();
    protection["enforce_admins"]["enabled"] = json!(false);
    protection["required_status_checks"]["contexts"] = json!(["check"]);
    protection["required_status_checks"]["checks"] =
        json!([{ "context": "check", "app_id": null }]);
    let mut live = compliant_repo();
    live["allow_merge_commit"] = json!(true);
    let gh = Github::start(live, Some(protection), Mode::Normal);
    let done = protect(&repo, &gh.server.url, &["--check"]);
    done.code(1)
        .stderr_has("3 setting(s) drifted from the policy")
        .stderr_has("repository.allow_merge_commit: GitHub has true, the policy wants false")
        .stderr_has("protection.enforce_admins: GitHub has false, the policy wants true")
        .stderr_has("protection.required_status_checks.contexts: GitHub has [\"check\"], the policy wants [\"check\",\"test\"]")
        .stderr_has("Run `cargo xtask protect-main`");
    let json = repo
        .xtask(&["protect-main", "--check", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN", TOKEN)
        .run();
    json.code(1);
    let report = json.json();
    assert_eq!(report["status"], "drift");
    assert_eq!(report["exit_code"], 1);
    assert_eq!(report["mode"], "check");
    let fields: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "repository.allow_merge_commit",
            "protection.required_status_checks.contexts",
            "protection.enforce_admins"
        ]
    );
    assert_eq!(
        report["live"]["fields"]["protection.enforce_admins"],
        json!(false)
    );
    assert!(gh.server.writes().is_empty());
}

#[test]
fn a_required_check_no_workflow_produces_is_refused_before_any_request() {
    let repo = repo_with("[\"check\", \"test\", \"lint\"]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    let done = protect(&repo, &gh.server.url, &[]);
    done.code(1)
        .stderr_has("refused before any request to GitHub")
        .stderr_has(
            "required check `lint` is produced by no workflow job that runs on pull requests",
        )
        .stderr_has("no job in .github/workflows/ has that id or `name:`")
        .stderr_has(
            "would make every pull request to `main` wait for it forever, so none could merge",
        )
        .stderr_has("Fix: add a job named `lint`");
    assert!(gh.server.requests().is_empty(), "{:?}", gh.requests());

    // A job that exists but only runs on push does not count either.
    repo.write(
        ".github/workflows/lint.yml",
        "on: push\njobs:\n  lint:\n    runs-on: ubuntu-latest\n",
    );
    let done = protect(&repo, &gh.server.url, &["--dry-run"]);
    done.code(1).stderr_has("lint.yml: job `lint` reports `lint`, but the workflow does not run on pull requests to `main`: it runs on `push` only");
    let done = repo
        .xtask(&["protect-main", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN", TOKEN)
        .run();
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "refused");
    assert_eq!(report["checks"]["missing"][0]["check"], "lint");
    assert_eq!(report["live"], Value::Null);
    assert!(gh.server.requests().is_empty());
}

#[test]
fn a_dry_run_shows_the_plan_and_writes_nothing() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    let done = protect(&repo, &gh.server.url, &["--dry-run"]);
    done.code(0)
        .stderr_has("protection.enforce_admins: (not set) → true")
        .stderr_has("repository.delete_branch_on_merge: false → true")
        .stderr_has(&format!("would send PUT {PROTECTION_PATH}"))
        .stderr_has("nothing written");
    assert_eq!(
        gh.requests(),
        [get(REPO_PATH), get(PROTECTION_PATH), get(RULES_PATH)]
    );

    let done = repo
        .xtask(&["protect-main", "--dry-run", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN", TOKEN)
        .run();
    done.code(0);
    let report = done.json();
    assert_eq!(report["status"], "planned");
    assert_eq!(report["desired"]["protection"], expected_put());
    assert_eq!(report["desired"]["repository"], merge_policy());
    assert_eq!(report["live"]["protected"], json!(false));
    assert_eq!(report["actions"][1]["method"], "PUT");
    assert_eq!(report["actions"][1]["body"], expected_put());
    assert_eq!(report["actions"][1]["result"], "planned");
    assert!(gh.server.writes().is_empty());
}

#[test]
fn a_setting_accepted_but_not_applied_fails_verification_by_name() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::Ignores("required_linear_history"));
    let done = protect(&repo, &gh.server.url, &[]);
    done.code(1)
        .stderr_has("GitHub accepted the request but did not apply 1 setting(s)")
        .stderr_has("protection.required_linear_history: sent true, GitHub reports false");
    assert_eq!(gh.server.writes().len(), 2);

    let gh = Github::start(
        loose_repo(),
        Some(compliant_protection()),
        Mode::Ignores("delete_branch_on_merge"),
    );
    let done = repo
        .xtask(&["protect-main", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN", TOKEN)
        .run();
    done.code(1);
    let report = done.json();
    assert_eq!(report["status"], "not-applied");
    assert_eq!(report["verification"]["status"], "failed");
    assert_eq!(
        report["verification"]["not_applied"][0]["field"],
        "repository.delete_branch_on_merge"
    );
    assert_eq!(
        report["actions"].as_array().unwrap().len(),
        1,
        "only the merge policy differed"
    );
}

#[test]
fn http_failures_exit_1_with_the_reason_and_what_to_do() {
    let repo = repo_with("[\"check\", \"test\"]");
    for (code, hint) in [
        (401, "HTTP 401 Bad credentials: the token is missing, expired or invalid"),
        (403, "HTTP 403 Resource not accessible by integration: the token lacks the permission for this (admin rights"),
        (404, "HTTP 404 Not Found: the repository or branch is unknown"),
        (500, "HTTP 500 Server Error: GitHub's API failed; try again later"),
    ] {
        let gh = Github::start(loose_repo(), None, Mode::Status(code));
        protect(&repo, &gh.server.url, &[]).code(1).stderr_has(hint).nowhere(TOKEN);
        assert_eq!(gh.requests(), [get(REPO_PATH)], "{code}");
    }
}

#[test]
fn a_failure_after_the_merge_policy_is_reported_as_partial() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::FailPut(403));
    let done = protect(&repo, &gh.server.url, &[]);
    done.code(1)
        .stderr_has(&format!("PUT {PROTECTION_PATH}: HTTP 403"))
        .stderr_has("PARTIALLY APPLIED: the merge policy was updated, the protection was NOT.");
    let writes: Vec<String> = gh
        .server
        .writes()
        .iter()
        .map(|w| w.method.clone())
        .collect();
    assert_eq!(writes, ["PATCH", "PUT"]);

    let gh = Github::start(loose_repo(), None, Mode::FailPut(403));
    let done = repo
        .xtask(&["protect-main", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN", TOKEN)
        .run();
    done.code(1).stderr_has("PARTIALLY APPLIED");
    let report = done.json();
    assert_eq!(report["status"], "partially-applied");
    assert_eq!(report["actions"][0]["result"], "accepted");
    assert_eq!(report["actions"][1]["result"], "failed");
    assert_eq!(report["verification"]["status"], "not run");
}

#[test]
fn an_unknown_branch_is_not_mistaken_for_an_unprotected_one() {
    let repo = repo_with("[\"check\", \"test\"]");
    repo.write(
        ".github/workflows/ci.yml",
        &CI.replace("branches: [main]", "branches: [main, trunk]"),
    );
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    protect(&repo, &gh.server.url, &["--branch", "trunk"])
        .code(1)
        .stderr_has("HTTP 404 Branch not found: the repository or branch is unknown");
    assert!(gh.server.writes().is_empty());
}

#[test]
fn a_bad_branch_name_is_refused_before_anything() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    for bad in ["../x", "-x", "a b", "main?x=1"] {
        protect(&repo, &gh.server.url, &[&format!("--branch={bad}")])
            .code(2)
            .stderr_has("is not a branch name");
    }
    assert!(gh.server.requests().is_empty());
}

#[test]
fn a_server_that_is_down_exits_1_and_says_so() {
    let repo = repo_with("[\"check\", \"test\"]");
    protect(&repo, &dead_url(), &[])
        .code(1)
        .stderr_has("GitHub's API could not be reached")
        .stderr_has("check the network");
}

#[test]
fn the_json_report_has_desired_live_differences_actions_and_verification() {
    let repo = repo_with("[\"check\", \"test\"]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    let token_file = repo.tmp.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let done = repo
        .xtask(&["protect-main", "--format", "json"])
        .env("GITHUB_API_URL", &gh.server.url)
        .env("GH_TOKEN_FILE", &token_file)
        .run();
    done.code(0).nowhere(TOKEN);
    let report = done.json();
    assert_eq!(report["status"], "applied");
    assert_eq!(report["repository"], "acme/service");
    assert_eq!(report["branch"], "main");
    assert_eq!(
        report["checks"]["produced"][1],
        json!({ "check": "test", "workflow": ".github/workflows/ci.yml", "job": "test", "conditional": false })
    );
    assert_eq!(report["differences"].as_array().unwrap().len(), 17);
    assert_eq!(report["actions"][0]["result"], "accepted");
    assert_eq!(report["actions"][1]["status"], 200);
    assert_eq!(
        report["verification"],
        json!({ "status": "verified", "source": "read back", "not_applied": [] })
    );
    assert_eq!(
        report["live"]["fields"]["protection.required_status_checks.contexts"],
        json!(["check", "test"])
    );
}

#[test]
fn a_policy_without_required_checks_is_a_usage_error() {
    let repo = repo_with("[]");
    let gh = Github::start(loose_repo(), None, Mode::Normal);
    protect(&repo, &gh.server.url, &[])
        .code(2)
        .stderr_has("[github] required-checks is empty");
    assert!(gh.server.requests().is_empty());
}

#[test]
fn absent_default_false_fields_are_no_drift_and_an_apply_ends_applied() {
    let repo = repo_with("[\"test\", \"check\"]");
    let gh = Github::start(loose_repo(), None, Mode::OmitsDefaults);
    protect(&repo, &gh.server.url, &[])
        .code(0)
        .stderr_has("read back as sent");
    let st = gh.state.lock().unwrap();
    let p = st.protection.as_ref().unwrap();
    assert!(
        p.get("lock_branch").is_none() && p.get("allow_fork_syncing").is_none(),
        "{p}"
    );
    drop(st);
    protect(&repo, &gh.server.url, &["--check"])
        .code(0)
        .stderr_has("match the policy");
    assert_eq!(
        gh.server.writes().len(),
        2,
        "one PATCH and one PUT: {:?}",
        gh.requests()
    );
}

#[test]
fn check_shows_ruleset_rules_and_how_they_relate_to_the_policy() {
    let repo = repo_with("[\"test\", \"check\"]");
    let gh = Github::start(compliant_repo(), Some(compliant_protection()), Mode::Normal);
    gh.state.lock().unwrap().rules = vec![
        json!({ "type": "required_status_checks", "ruleset_source_type": "Organization",
            "ruleset_source": "acme", "ruleset_id": 12, "parameters": {
                "strict_required_status_checks_policy": false,
                "required_status_checks": [{ "context": "test" }, { "context": "security-scan", "integration_id": 57789 }] } }),
        json!({ "type": "pull_request", "ruleset_source_type": "Repository",
            "ruleset_source": "acme/service", "ruleset_id": 3, "parameters": {
                "required_approving_review_count": 2, "dismiss_stale_reviews_on_push": false,
                "require_code_owner_review": false, "require_last_push_approval": false,
                "required_review_thread_resolution": true } }),
        json!({ "type": "non_fast_forward", "ruleset_source_type": "Repository",
            "ruleset_source": "acme/service", "ruleset_id": 3 }),
    ];
    protect(&repo, &gh.server.url, &["--check"])
        .code(0)
        .stderr_has("3 ruleset rule(s) also apply to main; protect-main manages classic branch protection only")
        .stderr_has("overlap required_status_checks (ruleset #12 of acme): requires check test, which the policy requires too")
        .stderr_has("requires check security-scan (app 57789), which is not in [github] required-checks")
        .stderr_has("pull_request (ruleset #3 of acme/service): requires 2 approving review(s), the policy 0")
        .stderr_has("overlap non_fast_forward (ruleset #3 of acme/service): blocks force pushes")
        .stderr_has("match the policy");
    let json = protect(&repo, &gh.server.url, &["--check", "--format", "json"]).json();
    let kinds: Vec<&str> = json["rulesets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["overlap", "conflict", "conflict", "overlap"],
        "{json}"
    );
    assert!(gh.server.writes().is_empty());
}
