//! task-preflight and task-start against real git repositories with a bare
//! origin, and a local server standing in for GitHub's REST API.

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::fake_github::{dead_url, FakeGithub, Reply, Request};
use crate::support::{Repo, Run};

const TOKEN: &str = "ghp_testtoken0123456789";

/// Installs the required hooks with the real `cargo xtask hooks`.
fn install_hooks(repo: &Repo) {
    repo.xtask(&["hooks"]).run().code(0);
}

/// A repository where every preflight check passes (no GitHub repository).
fn ready(label: &str) -> Repo {
    let repo = Repo::new(label);
    install_hooks(&repo);
    repo
}

/// Everything a failed command must leave as it was: refs, HEAD, the
/// working tree and the remote's branches.
fn state(repo: &Repo) -> String {
    [
        repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        repo.git(&["rev-parse", "--symbolic-full-name", "HEAD"]),
        repo.git(&["status", "--porcelain", "--untracked-files=all"]),
        repo.git(&["ls-remote", "origin"]),
    ]
    .join("\n---\n")
}

/// Pushes a task branch with one commit of its own to origin, then returns
/// to main (the branch stays unmerged).
fn push_unmerged_task_branch(repo: &Repo, branch: &str) {
    repo.git(&["switch", "--quiet", "-c", branch]);
    repo.write(&format!("{branch}.txt"), "work\n");
    repo.commit_all(&format!("work on {branch}"));
    repo.git(&["push", "--quiet", "origin", branch]);
    repo.git(&["switch", "--quiet", "main"]);
    repo.git(&["branch", "--quiet", "-D", branch]);
}

/// Makes origin's main one commit ahead of the local main.
fn advance_origin(repo: &Repo) {
    repo.write("upstream.txt", "from a colleague\n");
    repo.commit_all("upstream change");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.git(&["reset", "--quiet", "--hard", "HEAD~1"]);
}

fn with_github(run: Run, github: &FakeGithub) -> Run {
    run.env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GH_TOKEN", TOKEN)
}

fn pr(number: u64, branch: &str, login: &str) -> serde_json::Value {
    json!({
        "number": number,
        "head": { "ref": branch, "sha": "0".repeat(40) },
        "user": { "login": login },
        "html_url": format!("https://github.com/acme/app/pull/{number}"),
        "draft": false,
    })
}

/// GitHub with two pages of open PRs; the user's task PR is on page 2.
fn github_with_open_pr_on_page_two() -> FakeGithub {
    FakeGithub::start(|req: &Request, base: &str| {
        match (req.method.as_str(), req.route()) {
        ("GET", "/user") => Reply::json(200, json!({ "login": "octo" })),
        ("GET", "/repos/acme/app/pulls") if !req.path.contains("page=2") => {
            Reply::json(200, json!([pr(7, "task-107-other-user", "someone"), pr(8, "feature-not-a-task", "octo")]))
                .header(
                    "Link",
                    &format!("<{base}/repos/acme/app/pulls?state=open&base=main&per_page=100&page=2>; rel=\"next\""),
                )
        }
        ("GET", "/repos/acme/app/pulls") => Reply::json(200, json!([pr(9, "task-109-mine", "octo")])),
        _ => Reply::status(404, "Not Found"),
    }
    })
}

// ---------------------------------------------------------------- preflight

#[test]
fn preflight_passes_on_a_clean_synced_main_and_says_which_method_it_used() {
    let repo = ready("pf-pass");
    let done = repo.xtask(&["task-preflight"]).run();
    done.code(0)
        .stderr_has("ok      hooks")
        .stderr_has("no open task work (method: no GitHub repository, so task branches on origin not merged into origin/main count as open work: none)")
        .stderr_has("Task sequencing guard passed");
    let json = repo
        .xtask(&["task-preflight", "--format", "json"])
        .run()
        .json();
    assert_eq!(json["status"], "passed");
    assert_eq!(json["open_work_method"], "remote-branches");
    assert_eq!(json["local_main"], json["remote_main"]);
    assert_eq!(json["local_main"], repo.head());
    let names: Vec<_> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "hooks",
            "on-main",
            "no-operation-in-progress",
            "clean-tree",
            "synced",
            "open-task-prs"
        ]
    );
}

#[test]
fn preflight_reports_every_failed_check_together() {
    let repo = Repo::new("pf-all"); // no hooks
    push_unmerged_task_branch(&repo, "task-200-unfinished");
    advance_origin(&repo);
    let behind = repo.head();
    let remote_main = repo.git(&["rev-parse", "origin/main"]);
    repo.git(&["switch", "--quiet", "-c", "somewhere-else"]);
    repo.write("scratch.txt", "untracked\n");
    let done = repo.xtask(&["task-preflight"]).run();
    done.code(1)
        .stderr_has("FAILED  hooks: the required git hooks are not installed")
        .stderr_has("pre-commit hook is missing")
        .stderr_has("fix: cargo xtask hooks")
        .stderr_has("the current branch is somewhere-else")
        .stderr_has("fix: git switch main")
        .stderr_has("?? scratch.txt")
        .stderr_has(&format!("local main:  {behind}"))
        .stderr_has(&format!("origin/main: {remote_main}"))
        .stderr_has("0 commit(s) ahead and 1 behind")
        .stderr_has("fix: git switch main && git pull --ff-only")
        .stderr_has("task-200-unfinished")
        .stderr_has("ALLOW_OPEN_TASK_PRS=1")
        .stderr_has("5 of 6 checks failed");
    let json = repo.xtask(&["task-preflight", "--format", "json"]).run();
    json.code(1);
    let json = json.json();
    assert_eq!(json["status"], "failed");
    let failed: Vec<_> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["hooks", "on-main", "clean-tree", "synced", "open-task-prs"]
    );
    assert_eq!(
        (json["ahead"].as_u64(), json["behind"].as_u64()),
        (Some(0), Some(1))
    );
}

#[test]
fn preflight_fails_during_a_rebase() {
    let repo = ready("pf-rebase");
    repo.git(&["switch", "--quiet", "-c", "side"]);
    repo.write("README.md", "side\n");
    repo.commit_all("side change");
    repo.git(&["switch", "--quiet", "main"]);
    repo.write("README.md", "main\n");
    repo.commit_all("main change");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.git(&["switch", "--quiet", "side"]);
    assert!(
        !repo.git_output(&["rebase", "main"]).status.success(),
        "the rebase should stop on a conflict"
    );
    let done = repo.xtask(&["task-preflight"]).run();
    done.code(1)
        .stderr_has("FAILED  no-operation-in-progress: a rebase in progress")
        .stderr_has("git rebase --abort")
        .stderr_has("HEAD is detached");
}

#[test]
fn preflight_reports_a_merge_in_progress() {
    let repo = ready("pf-merge");
    repo.git(&["switch", "--quiet", "-c", "side"]);
    repo.write("README.md", "side\n");
    repo.commit_all("side change");
    repo.git(&["switch", "--quiet", "main"]);
    repo.write("README.md", "main\n");
    repo.commit_all("main change");
    assert!(!repo.git_output(&["merge", "side"]).status.success());
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("a merge in progress")
        .stderr_has("git merge --abort");
}

#[test]
fn preflight_shows_a_local_main_ahead_of_the_remote() {
    let repo = ready("pf-ahead");
    repo.write("local.txt", "x\n");
    repo.commit_all("local only");
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("1 commit(s) ahead and 0 behind")
        .stderr_has("git reset --keep origin/main");
}

#[test]
fn preflight_fails_when_the_remote_cannot_be_fetched() {
    let repo = ready("pf-fetch");
    std::fs::rename(&repo.origin, repo.tmp.path().join("gone.git")).unwrap();
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("FAILED  synced: git fetch origin main failed")
        .stderr_has("FAILED  open-task-prs: cannot list the branches of origin");
}

/// A new repository whose remote has no main yet: the fix is the explicit
/// bootstrap push, not "check your access".
#[test]
fn preflight_on_a_remote_without_main_says_how_to_publish_it() {
    let repo = ready("pf-empty-origin");
    let origin = repo.origin.to_string_lossy().into_owned();
    repo.git(&["--git-dir", &origin, "update-ref", "-d", "refs/heads/main"]);
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("FAILED  synced: origin has no branch main yet")
        .stderr_has("fix: publish main once (the repository's bootstrap): SKIP_BRANCH_GUARD=1 git push -u origin main");
}

#[test]
fn hooks_that_are_not_executable_or_not_ours_fail_the_preflight() {
    let repo = ready("pf-hooks");
    let hooks = repo.root.join(".git/hooks");
    std::fs::set_permissions(
        hooks.join("pre-push"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::write(hooks.join("commit-msg"), "#!/bin/sh\nexit 0\n").unwrap();
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("pre-push hook is not executable")
        .stderr_has("commit-msg hook is not installed");
}

#[test]
fn merged_task_branches_on_the_remote_are_not_open_work() {
    let repo = ready("pf-merged");
    repo.git(&["switch", "--quiet", "-c", "task-201-done"]);
    repo.write("done.txt", "done\n");
    repo.commit_all("TASK-201: done");
    repo.git(&["push", "--quiet", "origin", "task-201-done"]);
    repo.git(&["switch", "--quiet", "main"]);
    repo.git(&["merge", "--quiet", "--ff-only", "task-201-done"]);
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["task-preflight"]).run().code(0);
}

#[test]
fn skip_task_sequence_guard_skips_everything_with_a_warning_and_a_record() {
    let repo = Repo::new("pf-skip"); // nothing would pass
    repo.git(&["switch", "--quiet", "-c", "elsewhere"]);
    let done = repo
        .xtask(&["task-preflight"])
        .env("SKIP_TASK_SEQUENCE_GUARD", "1")
        .run();
    done.code(0)
        .stderr_has("warning: bypass SKIP_TASK_SEQUENCE_GUARD=1")
        .stderr_has("Task sequencing guard skipped");
    let done = repo
        .xtask(&["task-preflight", "--format", "json"])
        .env("SKIP_TASK_SEQUENCE_GUARD", "1")
        .run();
    let json = done.code(0).json();
    assert_eq!(json["status"], "skipped");
    assert_eq!(json["bypasses"][0]["variable"], "SKIP_TASK_SEQUENCE_GUARD");
    assert_eq!(json["bypasses"][0]["value"], "1");
    repo.xtask(&["task-preflight"])
        .env("SKIP_TASK_SEQUENCE_GUARD", "0")
        .run()
        .code(1);
}

#[test]
fn bypass_variables_accept_only_their_documented_values() {
    let repo = ready("pf-badvalues");
    for (var, value) in [
        ("SKIP_TASK_SEQUENCE_GUARD", "true"),
        ("SKIP_TASK_SEQUENCE_GUARD", "yes"),
        ("ALLOW_OPEN_TASK_PRS", "TRUE"),
        ("ALLOW_OPEN_TASK_PRS", "2"),
    ] {
        for cmd in [&["task-preflight"][..], &["task-start", "117", "x"][..]] {
            let before = state(&repo);
            repo.xtask(cmd)
                .env(var, value)
                .run()
                .code(2)
                .stderr_has(&format!("{var}={value:?} is not a value it accepts"));
            assert_eq!(state(&repo), before);
        }
    }
}

#[test]
fn allow_open_task_prs_skips_only_that_check_and_is_recorded() {
    let repo = ready("pf-allow");
    push_unmerged_task_branch(&repo, "task-300-open");
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("task-300-open");
    let done = repo
        .xtask(&["task-preflight", "--format", "json"])
        .env("ALLOW_OPEN_TASK_PRS", "1")
        .run();
    done.code(0)
        .stderr_has("warning: bypass ALLOW_OPEN_TASK_PRS=1");
    let json = done.json();
    assert_eq!(json["bypasses"][0]["variable"], "ALLOW_OPEN_TASK_PRS");
    let open = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "open-task-prs")
        .unwrap()
        .clone();
    assert_eq!(open["status"], "skipped");
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == "passed")
            .count()
            == 5
    );
}

#[test]
fn open_task_prs_of_the_user_are_found_across_pages() {
    let repo = ready("pf-gh-open");
    let github = github_with_open_pr_on_page_two();
    let done = with_github(repo.xtask(&["task-preflight"]), &github).run();
    done.code(1)
        .stderr_has("1 open task PR(s) of octo against main in acme/app (GitHub API)")
        .stderr_has("#9 task-109-mine https://github.com/acme/app/pull/9")
        .stderr_has("ALLOW_OPEN_TASK_PRS=1")
        .nowhere("#7 ")
        .nowhere("#8 ")
        .nowhere(TOKEN);
    let requests = github.requests();
    let seen: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            "GET /user",
            "GET /repos/acme/app/pulls?state=open&base=main&per_page=100",
            "GET /repos/acme/app/pulls?state=open&base=main&per_page=100&page=2",
        ]
    );
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str()),
            "{r:?}"
        );
    }
    assert!(github.writes().is_empty());
}

#[test]
fn no_open_task_pr_passes_through_the_api() {
    let repo = ready("pf-gh-none");
    let github = FakeGithub::start(|req: &Request, _| match req.route() {
        "/user" => Reply::json(200, json!({ "login": "octo" })),
        "/repos/acme/app/pulls" => Reply::json(200, json!([pr(4, "task-104-theirs", "someone")])),
        _ => Reply::status(404, "Not Found"),
    });
    let done = with_github(repo.xtask(&["task-preflight", "--format", "json"]), &github).run();
    let json = done.code(0).json();
    assert_eq!(json["open_work_method"], "github-api");
    let open = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "open-task-prs")
        .unwrap()
        .clone();
    assert_eq!(
        open["summary"],
        "no open task PR of octo against main in acme/app (GitHub API)"
    );
}

#[test]
fn a_missing_token_fails_closed_and_names_the_bypass() {
    let repo = ready("pf-notoken");
    let github = github_with_open_pr_on_page_two();
    let done = repo
        .xtask(&["task-preflight"])
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/app")
        .run();
    done.code(1)
        .stderr_has("no GitHub token")
        .stderr_has("ALLOW_OPEN_TASK_PRS=1");
    assert!(github.requests().is_empty());
}

#[test]
fn an_http_error_fails_closed_and_names_the_bypass() {
    let repo = ready("pf-401");
    let github = FakeGithub::start(|_: &Request, _| Reply::status(401, "Bad credentials"));
    let done = with_github(repo.xtask(&["task-preflight"]), &github).run();
    done.code(1)
        .stderr_has("HTTP 401 Bad credentials")
        .stderr_has("ALLOW_OPEN_TASK_PRS=1")
        .nowhere(TOKEN);
}

#[test]
fn an_unreachable_api_fails_closed_and_names_the_bypass() {
    let repo = ready("pf-down");
    let done = repo
        .xtask(&["task-preflight"])
        .env("GITHUB_API_URL", dead_url())
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GH_TOKEN", TOKEN)
        .run();
    done.code(1)
        .stderr_has("could not be reached")
        .stderr_has("ALLOW_OPEN_TASK_PRS=1")
        .nowhere(TOKEN);
}

#[test]
fn the_token_can_come_from_a_file() {
    let repo = ready("pf-tokenfile");
    let file = repo.tmp.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let github = {
        let seen = seen.clone();
        FakeGithub::start(move |req: &Request, _| {
            seen.lock()
                .unwrap()
                .push(req.header("authorization").unwrap_or("").to_string());
            match req.route() {
                "/user" => Reply::json(200, json!({ "login": "octo" })),
                _ => Reply::json(200, json!([])),
            }
        })
    };
    repo.xtask(&["task-preflight"])
        .env("GITHUB_API_URL", &github.url)
        .env("GITHUB_REPOSITORY", "acme/app")
        .env("GH_TOKEN_FILE", &file)
        .run()
        .code(0);
    assert_eq!(*seen.lock().unwrap(), vec![format!("Bearer {TOKEN}"); 2]);
}

// --------------------------------------------------------------- task-start

#[test]
fn task_start_creates_the_branch_from_main_and_prints_the_next_steps() {
    let repo = ready("ts-create");
    let main = repo.head();
    let done = repo
        .xtask(&["task-start", "task-117", "Short", "Name"])
        .run();
    done.code(0)
        .stderr_has("Created task branch: task-117-short-name")
        .stderr_has("Primary-Task: TASK-117")
        .stderr_has("git push -u origin task-117-short-name")
        .stderr_has("one task = one branch = one PR");
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]),
        "task-117-short-name"
    );
    assert_eq!(repo.head(), main);
}

#[test]
fn task_start_reads_task_and_name_from_the_environment_as_make_passes_them() {
    let repo = ready("ts-env");
    let done = repo
        .xtask(&["task-start", "--format", "json"])
        .env("TASK", "117")
        .env("NAME", "short-name")
        .run();
    let json = done.code(0).json();
    assert_eq!(json["status"], "created");
    assert_eq!(json["task"], "TASK-117");
    assert_eq!(json["branch"], "task-117-short-name");
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]),
        "task-117-short-name"
    );
}

#[test]
fn task_start_without_a_task_or_name_is_a_usage_error() {
    let repo = ready("ts-usage");
    repo.xtask(&["task-start"])
        .run()
        .code(2)
        .stderr_has("make task-start TASK=117 NAME=short-name");
    repo.xtask(&["task-start"])
        .run()
        .code(2)
        .stderr_has("task-start needs a task id and a short name");
    repo.xtask(&["task-start", "117"])
        .run()
        .code(2)
        .stderr_has("task-start needs a short name (NAME)");
    repo.xtask(&["task-start"])
        .env("NAME", "short-name")
        .run()
        .code(2)
        .stderr_has("task-start needs a task id (TASK)");
}

#[test]
fn dry_run_reports_every_check_and_the_branch_and_creates_nothing() {
    let repo = ready("ts-dry");
    let before = state(&repo);
    let done = repo
        .xtask(&["task-start", "TASK-117", "short-name", "--dry-run"])
        .run();
    done.code(0)
        .stderr_has("Dry run: would create task branch task-117-short-name from main")
        .stderr_has("ok      synced")
        .stderr_has("ok      branch-free")
        .stderr_has("ok      remote-branch-free");
    assert_eq!(state(&repo), before);
    let json = repo
        .xtask(&["task-start", "117", "x", "--dry-run", "--format", "json"])
        .run()
        .json();
    assert_eq!(json["status"], "dry-run");
    assert_eq!(json["checks"].as_array().unwrap().len(), 8);
    assert_eq!(state(&repo), before);
}

#[test]
fn hostile_names_never_reach_git_except_as_a_validated_slug() {
    let repo = ready("ts-hostile");
    let before = state(&repo);
    for bad in ["../x", "a..b", "\n", ";", ".hidden", "x.lock", "---", ""] {
        let done = repo
            .xtask(&["task-start", "117", "--dry-run"])
            .env("NAME", bad)
            .run();
        if bad.is_empty() {
            done.code(2).stderr_has("needs a short name (NAME)");
        } else {
            done.code(2).stderr_has("invalid short name");
        }
        assert_eq!(state(&repo), before, "{bad:?}");
    }
    for (name, slug) in [
        (
            "--upload-pack=touch /tmp/pwned",
            "upload-pack-touch-tmp-pwned",
        ),
        ("a;rm -rf /", "a-rm--rf"),
        ("two\nlines", "two-lines"),
        ("$(id)", "id"),
    ] {
        let done = repo
            .xtask(&["task-start", "117", "--dry-run"])
            .env("NAME", name)
            .run();
        done.code(0).stderr_has(&format!(
            "would create task branch task-117-{slug} from main"
        ));
    }
    for bad_id in [
        "--upload-pack=x",
        "1;2",
        "../117",
        "11",
        "TASK-1a7",
        "117 x",
    ] {
        repo.xtask(&["task-start", "--dry-run", "--", bad_id, "x"])
            .run()
            .code(2)
            .stderr_has("invalid task id");
        repo.xtask(&["task-start", "--dry-run"])
            .env("TASK", bad_id)
            .env("NAME", "x")
            .run()
            .code(2)
            .stderr_has("invalid task id");
    }
    // As an argument, an option-looking name is refused by the parser.
    repo.xtask(&["task-start", "117", "--upload-pack=evil"])
        .run()
        .code(2);
    // After `--` it is only text, and becomes a slug.
    let done = repo
        .xtask(&["task-start", "--dry-run", "117", "--", "--upload-pack=evil"])
        .run();
    done.code(0)
        .stderr_has("would create task branch task-117-upload-pack-evil");
    assert_eq!(state(&repo), before);
}

#[test]
fn task_start_changes_nothing_when_a_check_fails() {
    let repo = ready("ts-dirty");
    repo.write("notes.txt", "untracked\n");
    let before = state(&repo);
    let done = repo.xtask(&["task-start", "117", "x"]).run();
    done.code(1)
        .stderr_has("FAILED  clean-tree")
        .stderr_has("nothing was created");
    assert_eq!(state(&repo), before);
}

#[test]
fn task_start_refuses_a_branch_that_exists_locally_or_on_the_remote() {
    let repo = ready("ts-exists");
    repo.git(&["branch", "task-117-short-name"]);
    let before = state(&repo);
    repo.xtask(&["task-start", "117", "short-name"])
        .run()
        .code(1)
        .stderr_has("branch task-117-short-name already exists locally")
        .stderr_has("git switch task-117-short-name");
    assert_eq!(state(&repo), before);

    repo.git(&["push", "--quiet", "origin", "task-117-short-name"]);
    repo.git(&["branch", "-D", "task-117-short-name"]);
    let before = state(&repo);
    repo.xtask(&["task-start", "117", "short-name"])
        .env("ALLOW_OPEN_TASK_PRS", "1")
        .run()
        .code(1)
        .stderr_has("branch task-117-short-name already exists on origin");
    assert_eq!(state(&repo), before);
}

#[test]
fn task_start_runs_the_preflight_with_github() {
    let repo = ready("ts-gh");
    let github = github_with_open_pr_on_page_two();
    let before = state(&repo);
    with_github(repo.xtask(&["task-start", "117", "x"]), &github)
        .run()
        .code(1)
        .stderr_has("#9 task-109-mine")
        .nowhere(TOKEN);
    assert_eq!(state(&repo), before);
    let done = with_github(
        repo.xtask(&["task-start", "117", "x", "--format", "json"]),
        &github,
    )
    .env("ALLOW_OPEN_TASK_PRS", "1")
    .run();
    let json = done.code(0).json();
    assert_eq!(json["bypasses"][0]["variable"], "ALLOW_OPEN_TASK_PRS");
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "task-117-x");
}

#[test]
fn the_task_ledger_must_name_the_task() {
    let repo = ready("ts-ledger");
    repo.write("xtask.toml", "[task]\nledger = \"tasks/BACKLOG.md\"\n");
    repo.write(
        "tasks/BACKLOG.md",
        "### TASK-116: earlier\n### TASK-1170: longer id\n",
    );
    repo.commit_all("policy and ledger");
    repo.git(&["push", "--quiet", "origin", "main"]);
    let before = state(&repo);
    repo.xtask(&["task-start", "117", "x"])
        .run()
        .code(1)
        .stderr_has("TASK-117 does not appear in the task ledger tasks/BACKLOG.md")
        .stderr_has("add TASK-117 to tasks/BACKLOG.md");
    assert_eq!(state(&repo), before);

    repo.write(
        "tasks/BACKLOG.md",
        "### TASK-116: earlier\n### TASK-117: this one\n",
    );
    repo.commit_all("TASK-117 in the ledger");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["task-start", "117", "x"])
        .run()
        .code(0)
        .stderr_has("TASK-117 is in the task ledger");

    let repo = ready("ts-ledger-missing");
    repo.write("xtask.toml", "[task]\nledger = \"tasks/BACKLOG.md\"\n");
    repo.commit_all("policy");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["task-start", "117", "x"])
        .run()
        .code(1)
        .stderr_has("the task ledger tasks/BACKLOG.md cannot be read");
}

#[test]
fn only_an_open_task_line_in_one_of_the_ledgers_makes_a_task_valid() {
    let repo = ready("ts-ledgers");
    repo.write(
        "xtask.toml",
        "[task]\nledger = [\"tasks/BACKLOG.md\", \"tasks/CURRENT_SPRINT.md\", \"tasks/COMPLETED.md\"]\n",
    );
    repo.write(
        "tasks/BACKLOG.md",
        "# Backlog\n\nNext available task IDs start at `TASK-371`.\n\n### TASK-117: fix the gate\nDepends on TASK-100.\n",
    );
    repo.write(
        "tasks/CURRENT_SPRINT.md",
        "## Active Tasks\n- `TASK-289` queued follow-up\n",
    );
    repo.write("tasks/COMPLETED.md", "- TASK-100: old work ✅\n");
    repo.commit_all("policy and ledgers");
    repo.git(&["push", "--quiet", "origin", "main"]);
    let before = state(&repo);
    repo.xtask(&["task-start", "371", "x"])
        .run()
        .code(1)
        .stderr_has("TASK-371 has no task line in the task ledgers tasks/BACKLOG.md, tasks/CURRENT_SPRINT.md, tasks/COMPLETED.md: it is only mentioned")
        .stderr_has("tasks/BACKLOG.md:3: \"Next available task IDs start at `TASK-371`.\" (not a task line)");
    repo.xtask(&["task-start", "100", "x"])
        .run()
        .code(1)
        .stderr_has("TASK-100 is done in the task ledgers")
        .stderr_has("tasks/COMPLETED.md:1: \"- TASK-100: old work ✅\"");
    assert_eq!(state(&repo), before);
    repo.xtask(&["task-start", "289", "follow-up", "--dry-run"])
        .run()
        .code(0)
        .stderr_has("TASK-289 is in the task ledgers")
        .stderr_has("tasks/CURRENT_SPRINT.md:2:");
    repo.xtask(&["task-start", "117", "x"])
        .run()
        .code(0)
        .stderr_has("tasks/BACKLOG.md:5: \"### TASK-117: fix the gate\"");
}

#[test]
fn skip_task_sequence_guard_lets_task_start_create_the_branch_from_main_with_a_warning() {
    let repo = Repo::new("ts-skip"); // no hooks
    let done = repo
        .xtask(&["task-start", "117", "x"])
        .env("SKIP_TASK_SEQUENCE_GUARD", "1")
        .run();
    done.code(0)
        .stderr_has("warning: bypass SKIP_TASK_SEQUENCE_GUARD=1")
        .stderr_has("Created task branch: task-117-x");
}

#[test]
fn a_policy_branch_template_is_followed() {
    let repo = ready("ts-codex");
    repo.write(
        "xtask.toml",
        "[task]\nbranch-template = \"codex/task-{NNN}-{slug}\"\n",
    );
    repo.commit_all("policy");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["task-start", "117", "x"]).run().code(0);
    assert_eq!(
        repo.git(&["symbolic-ref", "--short", "HEAD"]),
        "codex/task-117-x"
    );
}

#[test]
fn hooks_are_looked_for_where_git_runs_them() {
    let repo = Repo::new("pf-hookspath");
    repo.git(&["config", "core.hooksPath", ".githooks"]);
    install_hooks(&repo); // asks git where its hooks are: .githooks
    assert!(repo.path(".githooks/pre-commit").is_file());
    repo.write(".gitignore", ".githooks/\n");
    repo.commit_all("ignore local hooks");
    repo.git(&["push", "--quiet", "origin", "main"]);
    repo.xtask(&["task-preflight"])
        .run()
        .code(0)
        .stderr_has("ok      hooks");
    std::fs::remove_file(repo.path(".githooks/commit-msg")).unwrap();
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("commit-msg hook is missing")
        .stderr_has(".githooks/commit-msg");
}

#[test]
fn hints_name_the_command_the_user_ran() {
    let repo = Repo::new("ts-invocation"); // no hooks: the preflight says how to install them
    let fix = |run: Run| {
        let done = run.run();
        done.code(1);
        done
    };
    fix(repo.xtask(&["task-preflight"]).env_remove("MAKELEVEL"))
        .stderr_has("fix: cargo xtask hooks");
    fix(repo.xtask(&["task-preflight"]).env("MAKELEVEL", "1"))
        .stderr_has("fix: make hooks")
        .nowhere("cargo xtask hooks");
    fix(repo.xtask(&["hooks", "--check"]).env("MAKELEVEL", "1"))
        .stderr_has("pre-commit hook is missing")
        .stderr_has("run make hooks");
    // An installed binary, run by its name outside cargo.
    let bin = repo.tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A symlink, not a copy: a copy's write descriptor can be inherited by a
    // child another test thread is forking, and exec then fails with
    // ETXTBSY ("Text file busy") until that child execs. argv[0] is the
    // link's name either way.
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_xtask"), bin.join("xtask")).unwrap();
    let installed = |command: &str| {
        let mut run = repo.xtask(&[command]);
        run.cmd = {
            let mut cmd = std::process::Command::new(bin.join("xtask"));
            cmd.arg(command).current_dir(&repo.root);
            for (k, v) in crate::support::git_env(&repo.home) {
                cmd.env(k, v);
            }
            cmd.env_remove("CARGO")
                .env_remove("CARGO_MANIFEST_DIR")
                .env_remove("MAKELEVEL");
            cmd
        };
        run
    };
    fix(installed("task-preflight"))
        .stderr_has("fix: xtask hooks")
        .nowhere("cargo xtask hooks");
    // Every command's hints, not only the task commands': gate-status.
    fix(installed("gate-status"))
        .stderr_has("run `xtask release-gate` on a clean checkout")
        .nowhere("cargo xtask");
    fix(repo.xtask(&["gate-status"]).env("MAKELEVEL", "1"))
        .stderr_has("run `make release-gate` on a clean checkout");
    // task-start's next steps under make.
    install_hooks(&repo);
    repo.xtask(&["task-start", "117", "x"])
        .env("MAKELEVEL", "1")
        .run()
        .code(0)
        .stderr_has("When its required checks are green: make task-finish MERGE=1");
}
