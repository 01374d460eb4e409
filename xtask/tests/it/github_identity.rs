//! Who the GitHub token acts for, with each kind of token's answer to
//! `GET /user` from the fake server: a personal token (200 with a login),
//! an installation token (Actions' GITHUB_TOKEN, `ghs_…`; a GitHub App's):
//! 403 "Resource not accessible by integration". Under GitHub Actions the
//! user is GITHUB_ACTOR, and `GET /user` is not asked. And what the
//! preflight prints of GitHub's answers is sanitized at the client.

use serde_json::json;

use crate::fake_github::{FakeGithub, Reply, Request};
use crate::support::{Repo, Run};

const PERSONAL: &str = "ghp_personaltoken0123456789";
const INSTALLATION: &str = "ghs_installationtoken0123456789";

/// GitHub answering `/user` by token kind, with one open task PR of `octo`.
fn github() -> FakeGithub {
    FakeGithub::start(|req: &Request, _| {
        let auth = req.header("authorization").unwrap_or_default().to_string();
        match (req.method.as_str(), req.route()) {
            ("GET", "/user") if auth == format!("Bearer {PERSONAL}") => {
                Reply::json(200, json!({ "login": "octo", "type": "User" }))
            }
            ("GET", "/user") => Reply::status(403, "Resource not accessible by integration"),
            ("GET", "/repos/acme/app/pulls") => Reply::json(
                200,
                json!([{
                    "number": 9, "head": { "ref": "task-109-mine", "sha": "0".repeat(40) },
                    "user": { "login": "octo" }, "html_url": "https://github.com/acme/app/pull/9", "draft": false,
                }]),
            ),
            _ => Reply::status(404, "Not Found"),
        }
    })
}

/// task-preflight in a ready repository (kept alive by the caller).
fn preflight(github: &FakeGithub, token: &str, label: &str) -> (Repo, Run) {
    let repo = Repo::new(label);
    repo.xtask(&["hooks"]).run().code(0);
    let run = repo
        .xtask(&["task-preflight"])
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GH_TOKEN", token)
        .env_remove("GITHUB_ACTOR");
    (repo, run)
}

fn routes(github: &FakeGithub) -> Vec<String> {
    github
        .requests()
        .iter()
        .map(|r| r.route().to_string())
        .collect()
}

#[test]
fn a_personal_token_is_asked_who_it_is() {
    let github = github();
    let (_repo, run) = preflight(&github, PERSONAL, "id-personal");
    run.run()
        .code(1)
        .stderr_has("1 open task PR(s) of octo against main in acme/app (GitHub API)")
        .nowhere(PERSONAL);
    assert_eq!(routes(&github), ["/user", "/repos/acme/app/pulls"]);
}

#[test]
fn under_actions_an_installation_token_uses_github_actor() {
    let github = github();
    let (_repo, run) = preflight(&github, INSTALLATION, "id-actions");
    run.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTOR", "octo")
        .run()
        .code(1)
        .stderr_has("1 open task PR(s) of octo against main in acme/app (GitHub API)")
        .nowhere(INSTALLATION);
    assert_eq!(routes(&github), ["/repos/acme/app/pulls"]);
    // Another actor has no open task PR.
    let github = self::github();
    let (_repo, run) = preflight(&github, INSTALLATION, "id-actions-other");
    run.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTOR", "dependabot[bot]")
        .run()
        .code(0)
        .stderr_has("no open task PR of dependabot[bot] against main in acme/app");
}

#[test]
fn outside_actions_an_installation_token_is_explained() {
    let github = github();
    let (_repo, run) = preflight(&github, INSTALLATION, "id-installation");
    run
        .run()
        .code(1)
        .stderr_has("GET /user: HTTP 403 Resource not accessible by integration: the token is an installation token")
        .stderr_has("GITHUB_ACTOR")
        .nowhere(INSTALLATION);
    assert_eq!(routes(&github), ["/user"]);
}

#[test]
fn a_hostile_github_actor_is_refused() {
    let github = github();
    let (_repo, run) = preflight(&github, INSTALLATION, "id-hostile");
    run.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_ACTOR", "octo\n::error::pwned")
        .run()
        .code(1)
        .stderr_has("is not a GitHub login");
    assert!(github.requests().is_empty());
}

#[test]
fn what_the_preflight_prints_of_githubs_answers_is_sanitized() {
    let github = FakeGithub::start(|req: &Request, _| match req.route() {
        "/user" => Reply::json(200, json!({ "login": "octo" })),
        "/repos/acme/app/pulls" => Reply::json(
            200,
            json!([{
                "number": 9, "head": { "ref": "task-109-mine", "sha": "0".repeat(40) },
                "user": { "login": "octo" }, "draft": false,
                "html_url": "https://github.com/acme/app/pull/9\u{1b}[2J\n::error::pwned",
            }]),
        ),
        _ => Reply::status(404, "Not Found"),
    });
    let (_repo, run) = preflight(&github, PERSONAL, "id-sanitize");
    let done = run.run();
    done.code(1)
        .stderr_has("https://github.com/acme/app/pull/9\\x1b[2J")
        .stderr_has("\\x3a:error::pwned")
        .nowhere("\u{1b}");
    for line in done.stderr.lines() {
        assert!(
            !line.trim_start().starts_with("::error::pwned"),
            "{}",
            done.dump()
        );
    }
}
