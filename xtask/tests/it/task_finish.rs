//! task-finish against real git repositories with a bare origin, and a
//! local server standing in for GitHub's REST API (pulls, a pull, branch
//! protection, check runs, statuses, merge, ref deletion) and its GraphQL
//! endpoint (enablePullRequestAutoMerge). The fake's merge (direct, or the
//! auto-merge some polls later) moves origin's main to a squash commit
//! prepared by the test, as GitHub would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::fake_github::{FakeGithub, Reply, Request};
use crate::support::{git_env, write_exec, Repo, Run};

const TOKEN: &str = "ghp_finishtoken987654321";
const BRANCH: &str = "task-117-add-x";

fn install_hooks(repo: &Repo) {
    let dir = repo.root.join(".git/hooks");
    for name in ["pre-commit", "pre-push", "commit-msg"] {
        write_exec(
            &dir.join(name),
            "#!/bin/sh\n# installed by cargo xtask hooks\nexit 0\n",
        );
    }
}

/// A repository on the pushed task branch `task-117-add-x` (one commit),
/// with the squash commit GitHub would create already stored in origin
/// (under refs/tmp/squash, not on main). Returns (repo, head, squash).
fn on_task_branch(label: &str) -> (Repo, String, String) {
    let repo = Repo::new(label);
    install_hooks(&repo);
    repo.git(&["switch", "--quiet", "-c", BRANCH]);
    repo.write("x.txt", "x\n");
    repo.commit_all("TASK-117: add x");
    repo.git(&["push", "--quiet", "-u", "origin", BRANCH]);
    let head = repo.head();
    let tree = format!("{head}^{{tree}}");
    let squash = repo.git(&[
        "commit-tree",
        &tree,
        "-p",
        "main",
        "-m",
        "TASK-117: add x (#5)",
    ]);
    repo.git(&[
        "push",
        "--quiet",
        "origin",
        &format!("{squash}:refs/tmp/squash"),
    ]);
    (repo, head, squash)
}

/// What GitHub's merge does to the repository: origin's main moves.
fn move_origin_main(origin: &Path, home: &Path, sha: &str) {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(origin)
        .args(["update-ref", "refs/heads/main", sha]);
    for (k, v) in git_env(home) {
        cmd.env(k, v);
    }
    assert!(cmd.status().unwrap().success());
}

struct Gh {
    merged: bool,
    draft: bool,
    head: String,
    squash: String,
    origin: PathBuf,
    home: PathBuf,
    required: Vec<&'static str>,
    /// Check runs per poll; the last one repeats.
    polls: Vec<Value>,
    seen_polls: usize,
    merge_reply: Option<Reply>,
    no_pr: bool,
    /// GitHub's `auto_merge` of the pull, once enabled.
    auto_merge: Option<Value>,
    /// The answer to the GraphQL mutation instead of accepting it.
    graphql_reply: Option<Reply>,
    /// With auto-merge enabled, GitHub merges on this GET of the pull.
    auto_merge_on_poll: Option<usize>,
    polls_with_auto_merge: usize,
    html_url: String,
    /// The combined status's statuses, one list per page.
    status_pages: Vec<Value>,
    /// A `Link: rel="next"` on the combined status's first page to this
    /// base URL (another server) instead of page 2.
    status_link_to: Option<String>,
    delete_reply: Option<Reply>,
    /// The list of pulls always has a next page.
    endless_pulls: bool,
    /// The pull's answer is larger than the client reads.
    huge_pull: bool,
    /// The ruleset rules that apply to main.
    rules: Vec<Value>,
}

const NODE_ID: &str = "PR_kwDOAcmeApp5";

impl Gh {
    fn new(repo: &Repo, head: &str, squash: &str) -> Gh {
        Gh {
            merged: false,
            draft: false,
            head: head.to_string(),
            squash: squash.to_string(),
            origin: repo.origin.clone(),
            home: repo.home.clone(),
            required: vec!["test"],
            polls: vec![json!([run("test", "completed", Some("success"))])],
            seen_polls: 0,
            merge_reply: None,
            no_pr: false,
            auto_merge: None,
            graphql_reply: None,
            auto_merge_on_poll: None,
            polls_with_auto_merge: 0,
            html_url: "https://github.com/acme/app/pull/5".to_string(),
            status_pages: vec![json!([])],
            status_link_to: None,
            delete_reply: None,
            endless_pulls: false,
            huge_pull: false,
            rules: Vec::new(),
        }
    }

    fn merge(&mut self) {
        move_origin_main(&self.origin, &self.home, &self.squash);
        self.merged = true;
    }

    fn pull(&self) -> Value {
        json!({
            "number": 5,
            "node_id": NODE_ID,
            "mergeable_state": if self.merged { "unknown" } else { "blocked" },
            "auto_merge": if self.merged { Value::Null } else { json!(self.auto_merge) },
            "state": if self.merged { "closed" } else { "open" },
            "merged": self.merged,
            "merged_at": if self.merged { json!("2026-01-02T00:00:00Z") } else { Value::Null },
            "draft": self.draft,
            "html_url": self.html_url,
            "head": { "ref": BRANCH, "sha": self.head },
            "merge_commit_sha": if self.merged { json!(self.squash) } else { Value::Null },
            "user": { "login": "octo" },
        })
    }

    fn answer(&mut self, req: &Request, base: &str) -> Reply {
        let runs = format!("/repos/acme/app/commits/{}/check-runs", self.head);
        let status = format!("/repos/acme/app/commits/{}/status", self.head);
        let page: usize = query(req, "page").and_then(|p| p.parse().ok()).unwrap_or(1);
        match (req.method.as_str(), req.route()) {
            ("GET", "/repos/acme/app/pulls") if self.endless_pulls => Reply::json(200, json!([]))
                .header(
                    "Link",
                    &format!(
                        "<{base}{}?state=closed&per_page=100&page={}>; rel=\"next\"",
                        req.route(),
                        page + 1
                    ),
                ),
            ("GET", "/repos/acme/app/pulls") if self.no_pr => Reply::json(200, json!([])),
            ("GET", "/repos/acme/app/pulls/5") if self.huge_pull => {
                let mut pull = self.pull();
                pull["body"] = json!("x".repeat(17 << 20));
                Reply::json(200, pull)
            }
            ("GET", "/repos/acme/app/pulls") => Reply::json(200, json!([self.pull()])),
            ("GET", "/repos/acme/app/pulls/5") => {
                if self.auto_merge.is_some() && !self.merged {
                    self.polls_with_auto_merge += 1;
                    if self.auto_merge_on_poll == Some(self.polls_with_auto_merge) {
                        self.merge();
                    }
                }
                Reply::json(200, self.pull())
            }
            ("POST", "/graphql") => {
                if let Some(reply) = self.graphql_reply.clone() {
                    return reply;
                }
                self.auto_merge = Some(json!({
                    "enabled_by": { "login": "octo" },
                    "merge_method": "squash",
                    "commit_title": "add x (#5)",
                    "commit_message": "",
                }));
                Reply::json(
                    200,
                    json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": {
                        "number": 5,
                        "autoMergeRequest": { "enabledAt": "2026-01-02T00:00:00Z", "mergeMethod": "SQUASH" }
                    } } } }),
                )
            }
            ("GET", "/repos/acme/app/branches/main") => Reply::json(
                200,
                json!({ "name": "main", "protected": true, "protection": { "enabled": true,
                    "required_status_checks": { "enforcement_level": "everyone", "contexts": self.required } } }),
            ),
            ("GET", "/repos/acme/app/rules/branches/main") => Reply::json(200, json!(self.rules)),
            ("GET", r) if r == runs => {
                let list = self.polls[self.seen_polls.min(self.polls.len() - 1)].clone();
                self.seen_polls += 1;
                Reply::json(
                    200,
                    json!({ "total_count": list.as_array().unwrap().len(), "check_runs": list }),
                )
            }
            ("GET", r) if r == status => {
                let pages = self.status_pages.len();
                let list = self.status_pages[(page - 1).min(pages - 1)].clone();
                let reply = Reply::json(
                    200,
                    json!({ "state": "success", "sha": self.head, "total_count": list.as_array().unwrap().len(), "statuses": list }),
                );
                match &self.status_link_to {
                    Some(elsewhere) => reply.header("Link", &format!("<{elsewhere}{status}?per_page=100&page=2>; rel=\"next\"")),
                    None if page < pages => reply.header("Link", &format!("<{base}{status}?per_page=100&page={}>; rel=\"next\", <{base}{status}?per_page=100&page={pages}>; rel=\"last\"", page + 1)),
                    None => reply,
                }
            }
            ("PUT", "/repos/acme/app/pulls/5/merge") => {
                if let Some(reply) = self.merge_reply.clone() {
                    return reply;
                }
                self.merge();
                Reply::json(
                    200,
                    json!({ "sha": self.squash, "merged": true, "message": "Pull Request successfully merged" }),
                )
            }
            ("DELETE", r) if r == format!("/repos/acme/app/git/refs/heads/{BRANCH}") => self
                .delete_reply
                .clone()
                .unwrap_or(Reply::json(204, Value::Null)),
            _ => Reply::status(404, "Not Found"),
        }
    }
}

/// A query parameter of the request.
fn query<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    let (_, query) = req.path.split_once('?')?;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn status(context: &str, state: &str) -> Value {
    json!({ "context": context, "state": state, "description": null, "target_url": null })
}

fn run(name: &str, status: &str, conclusion: Option<&str>) -> Value {
    json!({ "name": name, "status": status, "conclusion": conclusion, "html_url": format!("https://github.com/acme/app/runs/{name}") })
}

fn serve(gh: Gh) -> (FakeGithub, Arc<Mutex<Gh>>) {
    let state = Arc::new(Mutex::new(gh));
    let shared = state.clone();
    (
        FakeGithub::start(move |req: &Request, base| shared.lock().unwrap().answer(req, base)),
        state,
    )
}

fn with_github(run: Run, github: &FakeGithub) -> Run {
    run.env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GH_TOKEN", TOKEN)
        .env("TASK_FINISH_POLL_INTERVAL", "50ms")
        .env("TASK_FINISH_CHECKS_TIMEOUT", "20s")
}

fn state(repo: &Repo) -> String {
    [
        repo.git(&[
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads",
            "refs/tags",
        ]),
        repo.git(&["rev-parse", "--symbolic-full-name", "HEAD"]),
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        repo.git(&["ls-remote", "origin"]),
    ]
    .join("\n---\n")
}

fn branch_exists(repo: &Repo, branch: &str) -> bool {
    repo.git_output(&[
        "show-ref",
        "--verify",
        "--quiet",
        &format!("refs/heads/{branch}"),
    ])
    .status
    .success()
}

fn current(repo: &Repo) -> String {
    repo.git(&["symbolic-ref", "--short", "HEAD"])
}

#[test]
fn merge_waits_for_required_checks_squash_merges_syncs_main_and_deletes_the_branch() {
    let (repo, head, squash) = on_task_branch("tf-merge");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.polls = vec![
        json!([
            run("test", "in_progress", None),
            run("lint", "completed", Some("success"))
        ]),
        json!([
            run("test", "completed", Some("success")),
            run("lint", "completed", Some("success"))
        ]),
    ];
    let (github, fake) = serve(gh);
    let done = with_github(repo.xtask(&["task-finish", "--merge"]), &github).run();
    done.code(0)
        .stderr_has("PR #5 https://github.com/acme/app/pull/5 (open)")
        .stderr_has("waiting for required checks: test: pending")
        .stderr_has("required checks green")
        .stderr_has(&format!("squash-merged PR #5 ({squash})"))
        .stderr_has("switched to main")
        .stderr_has(&format!("deleted local {BRANCH}"))
        .stderr_has(&format!("deleted origin/{BRANCH}"))
        .stderr_has(&format!(
            "git log --oneline -n 1: {} TASK-117: add x (#5)",
            &squash[..7]
        ))
        .nowhere(TOKEN);
    assert_eq!(current(&repo), "main");
    assert_eq!(repo.head(), squash);
    assert!(!branch_exists(&repo, BRANCH));
    assert!(
        !repo.git(&["for-each-ref", "refs/remotes"]).contains(BRANCH),
        "no stale origin/{BRANCH}"
    );
    assert_eq!(fake.lock().unwrap().seen_polls, 2);

    let writes = github.writes();
    let seen: Vec<_> = writes
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            "PUT /repos/acme/app/pulls/5/merge",
            &format!("DELETE /repos/acme/app/git/refs/heads/{BRANCH}")
        ]
    );
    assert_eq!(
        writes[0].json(),
        json!({ "merge_method": "squash", "sha": head })
    );
    for r in github.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{r:?}"
        );
    }

    // Run again from main: nothing is merged twice; what is left is cleaned.
    let done = with_github(
        repo.xtask(&["task-finish", "TASK-117", "--format", "json"]),
        &github,
    )
    .run();
    let json = done.code(0).json();
    assert_eq!(json["status"], "finished");
    assert_eq!(json["merge_commit"], squash);
    assert_eq!(
        github.writes().iter().filter(|r| r.method == "PUT").count(),
        1
    );
}

#[test]
fn a_failed_required_check_stops_before_anything_changes() {
    let (repo, head, squash) = on_task_branch("tf-fail");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.polls = vec![json!([run("test", "completed", Some("failure"))])];
    let (github, _) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("required checks on")
        .stderr_has("test: failed")
        .stderr_has("nothing was merged");
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn cancelled_checks_also_stop_the_merge() {
    let (repo, head, squash) = on_task_branch("tf-cancel");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.polls = vec![json!([run("test", "completed", Some("cancelled"))])];
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("test: failed");
    assert!(github.writes().is_empty());
}

/// `make task-finish TASK=117 MERGE=1` merges like `--merge`; MERGE accepts
/// only 1 or 0.
#[test]
fn merge_1_in_the_environment_is_the_merge_flag() {
    let (repo, head, squash) = on_task_branch("tf-merge-env");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.polls = vec![json!([run("test", "completed", Some("cancelled"))])];
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish"]), &github)
        .env("MERGE", "1")
        .run()
        .code(1)
        .stderr_has("test: failed");
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish"]), &github)
        .env("MERGE", "yes")
        .run()
        .code(2)
        .stderr_has("MERGE=\"yes\" is not a value it accepts");
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn checks_that_never_finish_time_out_without_merging() {
    let (repo, head, squash) = on_task_branch("tf-timeout");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.polls = vec![json!([run("test", "queued", None)])];
    gh.required = vec!["test", "build"];
    let (github, fake) = serve(gh);
    let before = state(&repo);
    with_github(
        repo.xtask(&[
            "task-finish",
            "--merge",
            "--poll-interval",
            "50ms",
            "--checks-timeout",
            "1s",
        ]),
        &github,
    )
    .run()
    .code(1)
    .stderr_has("did not pass within 1.0s")
    .stderr_has("test: pending")
    .stderr_has("build: not reported yet");
    assert!(
        fake.lock().unwrap().seen_polls >= 2,
        "it polled more than once"
    );
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn a_draft_pr_is_not_merged() {
    let (repo, head, squash) = on_task_branch("tf-draft");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.draft = true;
    let (github, fake) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("is a draft; refusing to merge")
        .stderr_has("gh pr ready 5");
    assert_eq!(fake.lock().unwrap().seen_polls, 0);
    assert!(github.writes().is_empty());
    assert_eq!(state(&repo), before);
}

#[test]
fn an_open_pr_without_merge_changes_nothing() {
    let (repo, head, squash) = on_task_branch("tf-open");
    let (github, _) = serve(Gh::new(&repo, &head, &squash));
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish"]), &github)
        .run()
        .code(1)
        .stderr_has("is open, not merged")
        .stderr_has("cargo xtask task-finish --merge");
    assert!(github.writes().is_empty());
    assert_eq!(state(&repo), before);
}

#[test]
fn a_refused_merge_that_auto_merge_cannot_wait_out_is_explained_and_changes_nothing() {
    let (repo, head, squash) = on_task_branch("tf-405");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merge_reply = Some(Reply::status(
        405,
        "Squash merges are not allowed on this repository.",
    ));
    let (github, _) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("GitHub refused to merge PR #5: Squash merges are not allowed")
        .stderr_has("not one that auto-merge waits out")
        .stderr_has("GraphQL")
        .stderr_has("gh pr merge 5 --auto --squash")
        .stderr_has("Nothing was changed locally");
    assert_eq!(state(&repo), before);
    assert_eq!(writes(&github), ["PUT /repos/acme/app/pulls/5/merge"]);
}

fn writes(github: &FakeGithub) -> Vec<String> {
    github
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn refused_for_review(gh: &mut Gh) {
    gh.merge_reply = Some(Reply::status(
        405,
        "At least 1 approving review is required by reviewers with write access.",
    ));
}

#[test]
fn a_merge_waiting_for_a_review_enables_auto_merge_and_finishes_once_github_merges() {
    let (repo, head, squash) = on_task_branch("tf-auto");
    let mut gh = Gh::new(&repo, &head, &squash);
    refused_for_review(&mut gh);
    gh.auto_merge_on_poll = Some(3);
    let (github, fake) = serve(gh);
    let done = with_github(repo.xtask(&["task-finish", "--merge"]), &github).run();
    done.code(0)
        .stderr_has("required checks green")
        .stderr_has("GitHub refused the direct merge: At least 1 approving review is required")
        .stderr_has(&format!(
            "enabled auto-merge (squash) on PR #5 for head {}",
            &head[..12]
        ))
        .stderr_has("it waits for the required reviews")
        .stderr_has("waiting for GitHub's auto-merge of PR #5 (mergeable state: blocked)")
        .stderr_has("auto-merge merged PR #5")
        .stderr_has("switched to main")
        .stderr_has(&format!("merge commit {} is on main", &squash[..12]))
        .stderr_has(&format!("deleted local {BRANCH}"))
        .stderr_has(&format!("deleted origin/{BRANCH}"))
        .nowhere(TOKEN);
    assert_eq!(current(&repo), "main");
    assert_eq!(repo.head(), squash);
    assert!(!branch_exists(&repo, BRANCH));
    assert_eq!(fake.lock().unwrap().polls_with_auto_merge, 3);

    assert_eq!(
        writes(&github),
        [
            "PUT /repos/acme/app/pulls/5/merge",
            "POST /graphql",
            &format!("DELETE /repos/acme/app/git/refs/heads/{BRANCH}"),
        ]
    );
    let mutation = &github.writes()[1];
    assert_eq!(
        mutation.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = mutation.json();
    let query = body["query"].as_str().unwrap();
    assert!(query.trim_start().starts_with("mutation"), "{query}");
    assert!(query.contains("enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid})"), "{query}");
    assert_eq!(
        body["variables"],
        json!({ "pullRequestId": NODE_ID, "mergeMethod": "SQUASH", "expectedHeadOid": head })
    );
    // The token is never on curl's command line: it was only in the header.
    assert!(!mutation.body.contains(TOKEN));
}

#[test]
fn a_repository_that_does_not_allow_auto_merge_fails_and_changes_nothing() {
    let (repo, head, squash) = on_task_branch("tf-auto-off");
    let mut gh = Gh::new(&repo, &head, &squash);
    refused_for_review(&mut gh);
    // GraphQL reports failures with HTTP 200 and an `errors` array.
    gh.graphql_reply = Some(Reply::json(
        200,
        json!({
            "data": { "enablePullRequestAutoMerge": null },
            "errors": [{
                "type": "UNPROCESSABLE",
                "path": ["enablePullRequestAutoMerge"],
                "locations": [{ "line": 1, "column": 120 }],
                "message": "Auto-merge is not allowed for this repository"
            }]
        }),
    ));
    let (github, fake) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has(
            "GitHub did not enable auto-merge on PR #5: Auto-merge is not allowed for this repository",
        )
        .stderr_has("Nothing was changed locally; the PR stays open")
        .stderr_has("gh repo edit --enable-auto-merge")
        .nowhere(TOKEN);
    assert_eq!(state(&repo), before);
    assert_eq!(
        writes(&github),
        ["PUT /repos/acme/app/pulls/5/merge", "POST /graphql"]
    );
    assert!(!fake.lock().unwrap().merged);
}

#[test]
fn an_auto_merge_that_takes_too_long_leaves_it_enabled_and_a_rerun_continues() {
    let (repo, head, squash) = on_task_branch("tf-auto-slow");
    let mut gh = Gh::new(&repo, &head, &squash);
    refused_for_review(&mut gh);
    let (github, fake) = serve(gh);
    let before = state(&repo);
    with_github(
        repo.xtask(&[
            "task-finish",
            "--merge",
            "--poll-interval",
            "50ms",
            "--checks-timeout",
            "1s",
        ]),
        &github,
    )
    .run()
    .code(1)
    .stderr_has("PR #5 https://github.com/acme/app/pull/5 was not merged within 1.0s")
    .stderr_has("auto-merge stays enabled on GitHub")
    .stderr_has("Nothing was changed locally")
    .stderr_has("gh pr merge 5 --disable-auto");
    assert_eq!(state(&repo), before);
    {
        let gh = fake.lock().unwrap();
        assert!(!gh.merged, "the PR is left open");
        assert!(gh.auto_merge.is_some());
        assert!(gh.polls_with_auto_merge >= 2, "it polled more than once");
    }
    assert_eq!(
        writes(&github),
        ["PUT /repos/acme/app/pulls/5/merge", "POST /graphql"]
    );

    // Without --merge it says that auto-merge is on.
    with_github(repo.xtask(&["task-finish"]), &github)
        .run()
        .code(1)
        .stderr_has("is open, not merged (auto-merge is enabled on GitHub");

    // Run again: auto-merge is already enabled, so it only waits. (GETs of
    // the pull here: the first look, the look after the 405, then polls.)
    {
        let mut gh = fake.lock().unwrap();
        gh.auto_merge_on_poll = Some(gh.polls_with_auto_merge + 4);
    }
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(0)
        .stderr_has("auto-merge (squash) is already enabled on PR #5")
        .stderr_has("waiting for GitHub's auto-merge of PR #5")
        .stderr_has("auto-merge merged PR #5")
        .stderr_has(&format!("deleted local {BRANCH}"));
    assert_eq!(repo.head(), squash);
    assert_eq!(
        writes(&github)
            .iter()
            .filter(|w| w.as_str() == "POST /graphql")
            .count(),
        1,
        "auto-merge was enabled once"
    );
}

#[test]
fn main_without_required_checks_is_not_merged_blindly() {
    let (repo, head, squash) = on_task_branch("tf-unprotected");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.required = vec![];
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("main has no required status checks")
        .stderr_has("cargo xtask protect-main");
    assert!(github.writes().is_empty());
}

#[test]
fn a_local_branch_ahead_of_the_pr_head_is_not_merged() {
    let (repo, head, squash) = on_task_branch("tf-ahead");
    repo.write("more.txt", "unpushed\n");
    repo.commit_all("TASK-117: more");
    let (github, _) = serve(Gh::new(&repo, &head, &squash));
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has(&format!("PR #5's head is {head}"))
        .stderr_has("nothing was merged");
    assert!(github.writes().is_empty());
}

#[test]
fn a_pr_merged_on_github_is_finished_from_main_with_the_task_id() {
    let (repo, head, squash) = on_task_branch("tf-merged");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merged = true;
    move_origin_main(&repo.origin, &repo.home, &squash);
    repo.git(&["switch", "--quiet", "main"]);
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish", "117"]), &github)
        .run()
        .code(0)
        .stderr_has("PR #5 https://github.com/acme/app/pull/5 (merged)")
        .stderr_has(&format!("merge commit {} is on main", &squash[..12]))
        .stderr_has(&format!("deleted local {BRANCH}"));
    assert_eq!(repo.head(), squash);
    assert!(!branch_exists(&repo, BRANCH));
    let seen: Vec<_> = github
        .writes()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [format!("DELETE /repos/acme/app/git/refs/heads/{BRANCH}")]
    );
}

#[test]
fn with_github_a_task_that_never_existed_is_nothing_found() {
    // TASK-117's PR exists and is merged; TASK-012 has no branch, no commit, no PR.
    let (repo, head, squash) = on_task_branch("tf-none");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merged = true;
    move_origin_main(&repo.origin, &repo.home, &squash);
    repo.git(&["switch", "--quiet", "main"]);
    let before = state(&repo);
    let (github, _) = serve(gh);
    let done = with_github(
        repo.xtask(&["task-finish", "TASK-012", "--format", "json"]),
        &github,
    )
    .run();
    let json = done.code(1).json();
    assert_eq!(json["status"], "error");
    assert!(
        json["error"].as_str().unwrap().starts_with(
            "nothing found for TASK-012: no branch task-012-* locally or on origin; no commit on origin/main naming TASK-012; no merged PR of a task-012-* branch in acme/app; nothing was changed"
        ),
        "{json}"
    );
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn with_github_a_rerun_after_the_branch_is_gone_finds_the_merged_pr() {
    // The PR's squash commit does not name the task: only GitHub knows.
    let repo = Repo::new("tf-rerun");
    let main = repo.head();
    let tree = format!("{main}^{{tree}}");
    let squash = repo.git(&["commit-tree", &tree, "-p", "main", "-m", "add x (#5)"]);
    let mut gh = Gh::new(&repo, &main, &squash);
    gh.merged = true;
    let (github, _) = serve(gh);
    // Merged on GitHub, but main does not have the merge commit: not finished.
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "117"]), &github)
        .run()
        .code(1)
        .stderr_has(&format!(
            "nothing found for TASK-117: no branch task-117-* locally or on origin; no commit on origin/main naming TASK-117; PR #5 ({BRANCH}) was merged as {squash}, which is not on origin/main; nothing was changed"
        ));
    assert_eq!(state(&repo), before);
    repo.git(&[
        "push",
        "--quiet",
        "origin",
        &format!("{squash}:refs/heads/main"),
    ]);
    let done = with_github(
        repo.xtask(&["task-finish", "117", "--format", "json"]),
        &github,
    )
    .run();
    let json = done.code(0).json();
    assert_eq!(json["status"], "finished");
    assert_eq!(json["merge_commit"], squash.as_str());
    assert!(
        json["steps"][0].as_str().unwrap().starts_with(&format!(
            "TASK-117 was finished earlier: PR #5 ({BRANCH}) was merged as {}",
            &squash[..12]
        )),
        "{json}"
    );
    assert_eq!(repo.head(), squash);
    assert!(github.writes().is_empty());
}

#[test]
fn local_work_that_is_not_in_the_merged_pr_is_never_deleted() {
    let (repo, head, squash) = on_task_branch("tf-keep");
    repo.write("late.txt", "committed after the merge\n");
    repo.commit_all("TASK-117: late work");
    let tip = repo.head();
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merged = true;
    move_origin_main(&repo.origin, &repo.home, &squash);
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish"]), &github)
        .run()
        .code(1)
        .stderr_has(&format!(
            "local {BRANCH} at {tip} has work that is not on main"
        ))
        .stderr_has("kept");
    assert!(branch_exists(&repo, BRANCH));
    assert_eq!(repo.git(&["rev-parse", BRANCH]), tip);
    assert_eq!(current(&repo), "main");
    assert_eq!(repo.head(), squash, "main was still synced");
}

#[test]
fn a_branch_without_a_pr_is_told_how_to_open_one() {
    let (repo, head, squash) = on_task_branch("tf-nopr");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.no_pr = true;
    let (github, _) = serve(gh);
    let done = with_github(repo.xtask(&["task-finish", "--merge"]), &github).run();
    done.code(1)
        .stderr_has(&format!("{BRANCH} has no PR in acme/app"))
        .stderr_has("Primary-Task: TASK-117");
    let list = &github.requests()[0];
    assert_eq!(
        list.path,
        format!("/repos/acme/app/pulls?state=all&head=acme:{BRANCH}&per_page=100")
    );
}

#[test]
fn without_a_token_task_finish_refuses_before_anything() {
    let (repo, _, _) = on_task_branch("tf-notoken");
    let before = state(&repo);
    repo.xtask(&["task-finish", "--merge"])
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GITHUB_API_URL", crate::fake_github::dead_url())
        .run()
        .code(2)
        .stderr_has("needs a GitHub token");
    assert_eq!(state(&repo), before);
}

#[test]
fn a_dirty_tree_or_a_mismatched_task_is_refused_before_anything() {
    let (repo, head, squash) = on_task_branch("tf-refuse");
    let (github, _) = serve(Gh::new(&repo, &head, &squash));
    repo.write("x.txt", "edited\n");
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has(" M x.txt");
    repo.git(&["checkout", "x.txt"]);
    with_github(repo.xtask(&["task-finish", "TASK-118", "--merge"]), &github)
        .run()
        .code(2)
        .stderr_has("belongs to TASK-117, not TASK-118");
    with_github(
        repo.xtask(&["task-finish", "--merge", "--poll-interval", "soon"]),
        &github,
    )
    .run()
    .code(2)
    .stderr_has("--poll-interval: \"soon\" is not a duration like \"500ms\", \"10s\" or \"30m\"");
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .env("TASK_FINISH_POLL_INTERVAL", "0s")
        .run()
        .code(2)
        .stderr_has("TASK_FINISH_POLL_INTERVAL: \"0s\" must be between 1ms and 168h");
    with_github(
        repo.xtask(&["task-finish", "--", "--upload-pack=x"]),
        &github,
    )
    .run()
    .code(2)
    .stderr_has("invalid task id");
    assert!(github.requests().is_empty());
    repo.write("x.txt", "edited\n");
    assert_eq!(state(&repo), before);
}

// ------------------------------------------------------------ without GitHub

#[test]
fn without_github_a_branch_reachable_from_the_remote_main_is_deleted() {
    let (repo, _, _) = on_task_branch("tf-git");
    // Merged elsewhere: origin's main now contains the branch tip.
    let tip = repo.head();
    move_origin_main(&repo.origin, &repo.home, &tip);
    let done = repo.xtask(&["task-finish"]).run();
    done.code(0)
        .stderr_has(&format!(
            "{BRANCH} is merged: its tip is reachable from origin/main"
        ))
        .stderr_has(&format!("deleted local {BRANCH}"))
        .stderr_has(&format!("deleted origin/{BRANCH}"));
    assert_eq!(current(&repo), "main");
    assert_eq!(repo.head(), tip);
    assert!(!branch_exists(&repo, BRANCH));
    assert!(!repo.git(&["ls-remote", "origin"]).contains(BRANCH));
    // Again, from main: nothing is left to do, and it says so.
    repo.xtask(&["task-finish", "117"])
        .run()
        .code(0)
        .stderr_has(&format!(
            "TASK-117 was finished earlier: {} TASK-117: add x on origin/main names it",
            &tip[..12]
        ))
        .stderr_has("nothing to merge or delete");
}

#[test]
fn without_github_a_squash_merged_branch_is_merged_and_deleted() {
    let (repo, _, _) = on_task_branch("tf-git-squash");
    repo.write("y.txt", "y\n");
    repo.commit_all("TASK-117: add y");
    repo.git(&["push", "--quiet", "origin", BRANCH]);
    // The runbook's merge: one squash commit on main, "(#N)" in its subject.
    repo.git(&["switch", "--quiet", "main"]);
    repo.git(&["merge", "--quiet", "--squash", BRANCH]);
    repo.git(&["commit", "--quiet", "-m", "TASK-117: add x (#12)"]);
    let squash = repo.head();
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.git(&["switch", "--quiet", BRANCH]);
    let done = repo.xtask(&["task-finish"]).run();
    done.code(0)
        .stderr_has(&format!(
            "{BRANCH} is merged: its change is on origin/main as squash commit {}",
            &squash[..12]
        ))
        .stderr_has(&format!("deleted local {BRANCH}"))
        .stderr_has(&format!("deleted origin/{BRANCH}"));
    assert_eq!(current(&repo), "main");
    assert_eq!(repo.head(), squash);
    assert!(!branch_exists(&repo, BRANCH));
}

#[test]
fn without_github_a_task_that_never_existed_is_nothing_found() {
    let repo = Repo::new("tf-git-none");
    // Names TASK-1170, which is not TASK-117.
    repo.write("y.txt", "y\n");
    repo.commit_all("TASK-1170: another task");
    repo.git(&["push", "--quiet", "origin", "main"]);
    let before = state(&repo);
    for (arg, id, n) in [("012", "TASK-012", "012"), ("117", "TASK-117", "117")] {
        let done = repo.xtask(&["task-finish", arg]).run();
        done.code(1)
            .stderr_has(&format!(
                "nothing found for {id}: no branch task-{n}-* locally or on origin; no commit on origin/main naming {id}; nothing was changed"
            ))
            .stderr_has(&format!(
                "fix: check the task id, or start the task: cargo xtask task-start {id} <short-name>"
            ));
        assert!(!done.stderr.contains("finished"), "{}", done.dump());
        assert_eq!(state(&repo), before);
    }
}

#[test]
fn without_github_unmerged_work_is_kept_and_nothing_changes() {
    let (repo, _, _) = on_task_branch("tf-git-open");
    let before = state(&repo);
    repo.xtask(&["task-finish"])
        .run()
        .code(1)
        .stderr_has("is not reachable from origin/main")
        .stderr_has("nothing was changed");
    assert_eq!(state(&repo), before);
    repo.xtask(&["task-finish", "--merge"])
        .run()
        .code(2)
        .stderr_has("--merge needs a GitHub repository");
    repo.git(&["switch", "--quiet", "main"]);
    repo.xtask(&["task-finish"])
        .run()
        .code(2)
        .stderr_has("main is not a task branch");
}

#[test]
fn a_required_status_on_page_two_of_the_combined_status_is_seen() {
    let (repo, head, squash) = on_task_branch("tf-status-pages");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.required = vec!["test", "ci/legacy"];
    gh.status_pages = vec![
        json!([status("ci/other", "success")]),
        json!([status("ci/legacy", "failure")]),
    ];
    let (github, fake) = serve(gh);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("ci/legacy: failed")
        .stderr_has("nothing was merged");
    assert!(github.writes().is_empty());
    fake.lock().unwrap().status_pages[1] = json!([status("ci/legacy", "success")]);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(0)
        .stderr_has("required checks green")
        .stderr_has("test, ci/legacy");
    let lists: Vec<String> = github
        .requests()
        .iter()
        .filter(|r| {
            r.route().ends_with("/status")
                || r.route().ends_with("/check-runs")
                || r.route() == "/repos/acme/app/pulls"
        })
        .map(|r| r.path.clone())
        .collect();
    assert!(
        lists
            .iter()
            .any(|p| p.ends_with("/status?per_page=100&page=2")),
        "{lists:#?}"
    );
    assert!(
        lists.iter().all(|p| p.contains("per_page=100")),
        "{lists:#?}"
    );
}

#[test]
fn a_link_to_another_host_is_refused_and_the_token_is_not_sent_there() {
    let (repo, head, squash) = on_task_branch("tf-link-elsewhere");
    let elsewhere = FakeGithub::start(|_: &Request, _| Reply::json(200, json!({ "statuses": [] })));
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.status_link_to = Some(elsewhere.url.clone());
    let (github, _) = serve(gh);
    let host = elsewhere.url.trim_start_matches("http://").to_string();
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("GitHub's answer points to another host")
        .stderr_has(&host)
        .stderr_has("the token is sent only to")
        .nowhere(TOKEN);
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(github.writes().is_empty());
}

#[test]
fn text_from_github_is_printed_sanitized() {
    let (repo, head, squash) = on_task_branch("tf-sanitize");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.html_url =
        "https://github.com/acme/app/pull/5\n::error::pwned \u{1b}[31mred\u{7}".to_string();
    let (github, _) = serve(gh);
    let done = with_github(repo.xtask(&["task-finish"]), &github).run();
    done.code(1)
        .stderr_has("\\x3a:error::pwned \\x1b[31mred\\x07")
        .nowhere("\u{1b}")
        .nowhere("\u{7}");
    for line in done.stdout.lines().chain(done.stderr.lines()) {
        assert!(
            !line.trim_start().starts_with("::error::pwned"),
            "{}",
            done.dump()
        );
    }
}

#[test]
fn the_branch_delete_accepts_only_204_or_reference_does_not_exist() {
    let (repo, head, squash) = on_task_branch("tf-delete-422");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merged = true;
    gh.delete_reply = Some(Reply::status(422, "Reference update failed"));
    move_origin_main(&repo.origin, &repo.home, &squash);
    let (github, fake) = serve(gh);
    with_github(repo.xtask(&["task-finish"]), &github)
        .run()
        .code(1)
        .stderr_has(&format!(
            "DELETE /repos/acme/app/git/refs/heads/{BRANCH}: HTTP 422 Reference update failed"
        ));
    fake.lock().unwrap().delete_reply = Some(Reply::status(422, "Reference does not exist"));
    with_github(repo.xtask(&["task-finish", "117"]), &github)
        .run()
        .code(0)
        .stderr_has(&format!("deleted origin/{BRANCH}"));
    assert!(!repo.git(&["for-each-ref", "refs/remotes"]).contains(BRANCH));
}

#[test]
fn closed_prs_are_asked_for_by_head_branch_when_the_clone_remembers_it() {
    let (repo, head, _) = on_task_branch("tf-by-head");
    // GitHub's squash commit does not name the task: only the PR does.
    let tree = format!("{head}^{{tree}}");
    let squash = repo.git(&["commit-tree", &tree, "-p", "main", "-m", "add x (#5)"]);
    repo.git(&[
        "push",
        "--quiet",
        "origin",
        &format!("{squash}:refs/heads/main"),
    ]);
    repo.git(&["switch", "--quiet", "main"]);
    repo.git(&["branch", "--quiet", "-D", BRANCH]);
    repo.git(&["push", "--quiet", "origin", "--delete", BRANCH]);
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.merged = true;
    let (github, _) = serve(gh);
    with_github(repo.xtask(&["task-finish", "117"]), &github)
        .run()
        .code(0)
        .stderr_has("TASK-117 was finished earlier: PR #5");
    let lists: Vec<String> = github.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        lists,
        [format!(
            "/repos/acme/app/pulls?state=closed&base=main&head=acme:{BRANCH}&per_page=100"
        )]
    );
}

#[test]
fn past_the_page_cap_the_closed_pr_listing_fails_saying_what_to_narrow() {
    let repo = Repo::new("tf-page-cap");
    let main = repo.head();
    let mut gh = Gh::new(&repo, &main, &main);
    gh.endless_pulls = true;
    let (github, _) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "117"]), &github)
        .run()
        .code(1)
        .stderr_has("more than 10 pages of 100")
        .stderr_has("run task-finish in the clone where the task was worked on");
    assert_eq!(github.requests().len(), 10);
    assert_eq!(state(&repo), before);
}

#[test]
fn an_answer_larger_than_the_cap_is_refused_not_cut() {
    let (repo, head, squash) = on_task_branch("tf-huge");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.huge_pull = true;
    let (github, _) = serve(gh);
    let before = state(&repo);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("GitHub's answer is larger than 16 MiB");
    assert_eq!(state(&repo), before);
    assert!(github.writes().is_empty());
}

#[test]
fn required_checks_from_rulesets_count_with_their_app() {
    let (repo, head, squash) = on_task_branch("tf-rulesets");
    let mut gh = Gh::new(&repo, &head, &squash);
    gh.rules = vec![json!({
        "type": "required_status_checks",
        "ruleset_source_type": "Repository", "ruleset_source": "acme/app", "ruleset_id": 7,
        "parameters": {
            "strict_required_status_checks_policy": true,
            "required_status_checks": [{ "context": "e2e", "integration_id": 42 }],
        },
    })];
    let by_app = |name: &str, app: i64, conclusion: &str| {
        let mut r = run(name, "completed", Some(conclusion));
        r["app"] = json!({ "id": app, "slug": format!("app-{app}") });
        r
    };
    // The ruleset's e2e failed as reported by its app: nothing is merged,
    // whatever another app says.
    gh.polls = vec![json!([
        run("test", "completed", Some("success")),
        by_app("e2e", 7, "success"),
        by_app("e2e", 42, "failure"),
    ])];
    let (github, fake) = serve(gh);
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(1)
        .stderr_has("e2e (app 42): failed")
        .stderr_has("nothing was merged");
    assert!(github.writes().is_empty());
    {
        let mut gh = fake.lock().unwrap();
        gh.polls = vec![json!([
            run("test", "completed", Some("success")),
            by_app("e2e", 42, "success"),
        ])];
        gh.seen_polls = 0;
    }
    with_github(repo.xtask(&["task-finish", "--merge"]), &github)
        .run()
        .code(0)
        .stderr_has("required checks green")
        .stderr_has("test, e2e (app 42)");
    assert!(github
        .requests()
        .iter()
        .any(|r| r.path == "/repos/acme/app/rules/branches/main?per_page=100"));
}
