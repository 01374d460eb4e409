//! Hostile answers from GitHub to the GitHub commands (task-preflight's
//! GitHub path, task-finish, protect-main), from the fake GitHub: links to
//! another host, bodies that are not JSON, server errors, refused tokens,
//! oversize answers, escapes in text, missing fields, endless pagination;
//! and hostile settings of the caller's (repository, API URL, token file).
//! Each is refused with its exit code and a one-line message, changes
//! nothing (refs, HEAD, the working tree, origin) and writes nothing to
//! GitHub.

use std::process::Command;

use serde_json::json;

use crate::fake_github::{FakeGithub, Reply, Request};
use crate::support::{Done, Repo, Run};

const TOKEN: &str = "ghp_hostilegithubtoken0123456789";

const CI: &str = "name: CI\non:\n  push:\n    branches: [main]\n  pull_request:\n    branches: [main]\njobs:\n  check:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cargo xtask check\n";

/// Everything a GitHub command could change locally.
#[derive(Debug, PartialEq, Eq)]
struct State {
    refs: String,
    head: String,
    status: String,
    origin: String,
}

fn state(repo: &Repo) -> State {
    State {
        refs: repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        head: repo.git(&["symbolic-ref", "HEAD"]),
        status: repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        origin: repo.git(&["ls-remote", "origin"]),
    }
}

/// A repository on main with the hooks, a CI workflow and a policy naming
/// acme/app and its required check, pushed.
fn repo(label: &str) -> Repo {
    let repo = Repo::new(label);
    repo.write(".github/workflows/ci.yml", CI);
    repo.write(
        "xtask.toml",
        "[github]\nrepository = \"acme/app\"\nrequired-checks = [\"check\"]\n",
    );
    repo.commit_all("policy and CI");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["hooks"]).run().code(0);
    repo
}

/// The three GitHub commands, pointed at `url` with the token.
fn commands(repo: &Repo, url: &str) -> Vec<Run> {
    let with = |run: Run| {
        run.env("GITHUB_API_URL", url)
            .env("GITHUB_REPOSITORY", "acme/app")
            .env("GH_TOKEN", TOKEN)
            .env_remove("GITHUB_ACTOR")
            .env_remove("GITHUB_ACTIONS")
    };
    vec![
        with(repo.xtask(&["task-preflight"])),
        with(repo.xtask(&["task-finish", "117"])),
        with(repo.xtask(&["protect-main"])),
    ]
}

/// The message of a failed run: a preflight's failed check's detail, or
/// the `error:` line and what follows it, without progress and `fix:` hints.
fn message(stderr: &str) -> Vec<&str> {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(at) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("FAILED"))
    {
        return lines[at + 1..]
            .iter()
            .take_while(|l| !l.starts_with("Task sequencing guard failed"))
            .filter(|l| !l.trim_start().starts_with("fix:"))
            .copied()
            .collect();
    }
    match lines.iter().position(|l| l.starts_with("error:")) {
        Some(at) => lines[at..]
            .iter()
            .filter(|l| !l.starts_with("fix:") && !l.trim().is_empty())
            .copied()
            .collect(),
        None => lines,
    }
}

/// Runs `run`, asserts exit `code`, a one-line message holding every
/// needle, no token printed, and no change to the repository.
#[track_caller]
fn refused(repo: &Repo, run: Run, code: i32, needles: &[&str]) -> Done {
    let before = state(repo);
    let done = run.run();
    done.code(code);
    for needle in needles {
        done.stderr_has(needle);
    }
    done.nowhere(TOKEN);
    assert_eq!(
        message(&done.stderr).len(),
        1,
        "not a one-line message:{}",
        done.dump()
    );
    assert_eq!(
        state(repo),
        before,
        "the repository changed:{}",
        done.dump()
    );
    done
}

/// Runs each of `commands` (0 preflight, 1 task-finish, 2 protect-main)
/// against a GitHub answering every request with `reply`, expecting exit 1
/// and the needles; nothing is written to GitHub.
#[track_caller]
fn against(
    label: &str,
    which: &[usize],
    reply: impl Fn(&Request, &str) -> Reply + Send + Sync + 'static,
    needles: &[&str],
) -> FakeGithub {
    let repo = repo(label);
    let github = FakeGithub::start(reply);
    let mut runs = commands(&repo, &github.url);
    for &i in which.iter().rev() {
        refused(&repo, runs.remove(i), 1, needles);
    }
    assert!(github.writes().is_empty(), "{:?}", github.writes());
    // What GitHub would never answer is the point here.
    github.take_violations();
    github
}

fn raw(status: u16, body: String) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body,
    }
}

#[test]
fn server_errors_and_refused_tokens_stop_every_command() {
    for (label, status, message, needle) in [
        ("hg-500", 500, "Server Error", "HTTP 500 Server Error"),
        ("hg-401", 401, "Bad credentials", "HTTP 401 Bad credentials"),
        (
            "hg-403",
            403,
            "Resource not accessible by integration",
            "HTTP 403 Resource not accessible by integration",
        ),
    ] {
        against(
            label,
            &[0, 1, 2],
            move |_, _| Reply::status(status, message),
            &[needle],
        );
    }
}

#[test]
fn a_redirect_is_not_followed() {
    let github = against(
        "hg-redirect",
        &[0, 1, 2],
        |req: &Request, base: &str| {
            raw(302, String::new()).header("Location", &format!("{base}{}", req.path))
        },
        &["HTTP 302", "unexpected answer"],
    );
    assert_eq!(github.requests().len(), 3, "{:?}", github.requests());
}

#[test]
fn an_answer_over_the_cap_is_refused_not_cut() {
    // Not JSON either, so the fake passes it on as it is.
    against(
        "hg-huge",
        &[0, 1, 2],
        |_, _| raw(200, format!("[{}", " ".repeat(17 << 20))),
        &[
            "GitHub's answer is larger than 16 MiB",
            "Narrow the request",
        ],
    );
}

#[test]
fn a_success_that_is_not_json_is_refused_by_every_command_before_any_write() {
    // A maintenance page answered 200 must never read as "no settings":
    // protect-main would otherwise go on to write the protection.
    against(
        "hg-not-json",
        &[0, 1, 2],
        |_, _| raw(200, "<html>maintenance</html>".to_string()),
        &["GitHub answered 200 with a body that is not JSON (<html>maintenance</html>"],
    );
}

#[test]
fn a_user_answer_without_its_login_is_refused() {
    against(
        "hg-no-login",
        &[0],
        |_, _| Reply::json(200, json!({ "login": "octo\n::error::x" })),
        &["GET /user: the answer has no valid login"],
    );
}

#[test]
fn a_link_to_another_host_is_not_followed_and_gets_no_token() {
    let elsewhere = FakeGithub::start(|_: &Request, _| Reply::json(200, json!([])));
    let other = elsewhere.url.clone();
    let host = other.trim_start_matches("http://").to_string();
    against(
        "hg-link",
        &[1],
        move |_, _| {
            Reply::json(200, json!([])).header(
                "Link",
                &format!("<{other}/repos/acme/app/pulls?page=2>; rel=\"next\""),
            )
        },
        &[
            &host,
            "GitHub's answer points to another host",
            "the token is sent only to",
        ],
    );
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[test]
fn endless_pagination_stops_at_the_page_cap_saying_what_to_narrow() {
    let github = against(
        "hg-endless",
        &[1],
        |req: &Request, base: &str| {
            let page: usize = req
                .path
                .split(['?', '&'])
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let items: Vec<serde_json::Value> = (0..100)
                .map(|n| json!({ "number": page * 100 + n, "head": { "ref": "task-9-other" } }))
                .collect();
            Reply::json(200, json!(items)).header(
                "Link",
                &format!(
                    "<{base}{}?state=closed&base=main&per_page=100&page={}>; rel=\"next\"",
                    req.route(),
                    page + 1
                ),
            )
        },
        &["more than 10 pages of 100", "run task-finish in the clone"],
    );
    assert_eq!(github.requests().len(), 10);
}

#[test]
fn text_from_github_is_printed_escaped_never_raw() {
    let repo = repo("hg-escapes");
    let github = FakeGithub::start(|req: &Request, _| match req.route() {
        "/user" => Reply::json(200, json!({ "login": "octo" })),
        _ => Reply::json(
            200,
            json!([{
                "number": 9, "head": { "ref": "task-109-mine", "sha": "0".repeat(40) },
                "user": { "login": "octo" }, "draft": false,
                "title": "title \u{1b}]8;;x\u{7}\n::error::title",
                "html_url": "https://github.com/acme/app/pull/9\u{1b}[2J\n::error::pwned",
            }]),
        ),
    });
    let before = state(&repo);
    let done = commands(&repo, &github.url).remove(0).run();
    done.code(1)
        .stderr_has("https://github.com/acme/app/pull/9\\x1b[2J")
        .stderr_has("\\x3a:error::pwned")
        .nowhere("\u{1b}")
        .nowhere("\u{7}")
        .nowhere(TOKEN);
    for line in done.stdout.lines().chain(done.stderr.lines()) {
        assert!(
            !line.trim_start().starts_with("::error::"),
            "{}",
            done.dump()
        );
    }
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn hostile_settings_of_the_caller_are_refused_before_github_is_asked() {
    let repo = repo("hg-inputs");
    let github = FakeGithub::start(|_: &Request, _| Reply::status(404, "Not Found"));
    for run in commands(&repo, &github.url) {
        refused(
            &repo,
            run.env("GITHUB_REPOSITORY", "../x"),
            2,
            &["\"../x\" is not a GitHub repository name (owner/name)"],
        );
    }
    let fifo = repo.tmp.path().join("token");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", fifo.display());
    for run in commands(&repo, &github.url) {
        refused(
            &repo,
            run.env_remove("GH_TOKEN").env("GH_TOKEN_FILE", &fifo),
            2,
            &[
                "GH_TOKEN_FILE",
                "is a FIFO (named pipe), not a regular file",
            ],
        );
    }
    assert!(github.requests().is_empty(), "{:?}", github.requests());
}

#[test]
fn credentials_in_the_api_url_are_never_printed_nor_sent() {
    let repo = repo("hg-userinfo");
    let github = FakeGithub::start(|_: &Request, _| Reply::status(404, "Not Found"));
    let url = github.url.replace("http://", "http://user:canary@");
    for run in commands(&repo, &url) {
        refused(&repo, run, 1, &["HTTP 404 Not Found"]).nowhere("canary");
    }
    for req in github.requests() {
        for (name, value) in &req.headers {
            assert!(!value.contains("canary"), "{name}: {value}");
            assert!(!value.starts_with("Basic"), "{name}: {value}");
        }
    }
    assert!(github.writes().is_empty());
    // A 404 where GitHub documents none: the answer is not the point here.
    github.take_violations();
}

#[test]
fn an_api_url_that_is_not_http_is_refused_before_curl_runs() {
    let repo = repo("hg-file-url");
    let needle = "GITHUB_API_URL file:///etc/passwd: not an http(s) URL";
    for (i, run) in commands(&repo, "file:///etc/passwd")
        .into_iter()
        .enumerate()
    {
        // task-preflight reports GitHub's part as a failed check (exit 1);
        // task-finish and protect-main stop with a usage error.
        refused(&repo, run, if i == 0 { 1 } else { 2 }, &[needle]);
    }
}
