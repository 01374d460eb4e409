//! Squash-merge awareness: task-preflight (no GitHub) counts a remote task
//! branch as merged when its change is on main by a squash merge, a rebase
//! merge or cherry-picks, and as open only when some of its work is not.
//! The branches are made on a colleague's clone, so that their commits are
//! not in the repository under test until the preflight fetches them.

use std::path::{Path, PathBuf};

use crate::support::Repo;

/// A second clone of origin, as a colleague's machine.
fn colleague(repo: &Repo) -> PathBuf {
    let dir = repo.tmp.path().join("colleague");
    let origin = repo.origin.to_string_lossy().into_owned();
    repo.git_in(repo.tmp.path(), &["clone", "--quiet", &origin, "colleague"]);
    dir
}

/// Commits `file` with `text` in `dir` on the checked-out branch.
fn commit(repo: &Repo, dir: &Path, file: &str, text: &str, message: &str) {
    std::fs::write(dir.join(file), text).unwrap();
    repo.git_in(dir, &["add", file]);
    repo.git_in(dir, &["commit", "--quiet", "-m", message]);
}

/// A task branch of two commits, pushed to origin from the colleague's clone.
fn task_branch(repo: &Repo, dir: &Path, branch: &str) {
    repo.git_in(dir, &["switch", "--quiet", "-c", branch, "origin/main"]);
    commit(repo, dir, &format!("{branch}-a.txt"), "one\n", "first");
    commit(repo, dir, &format!("{branch}-b.txt"), "two\n", "second");
    repo.git_in(dir, &["push", "--quiet", "origin", branch]);
}

/// Squash-merges `branch` into origin's main as GitHub does: one commit "Subject (#N)".
fn squash_merge(repo: &Repo, dir: &Path, branch: &str, pr: u32) {
    repo.git_in(dir, &["switch", "--quiet", "main"]);
    repo.git_in(dir, &["pull", "--quiet", "--ff-only"]);
    repo.git_in(dir, &["merge", "--quiet", "--squash", branch]);
    repo.git_in(
        dir,
        &[
            "commit",
            "--quiet",
            "-m",
            &format!("Task work ({branch}) (#{pr})"),
        ],
    );
    repo.git_in(dir, &["push", "--quiet", "origin", "main"]);
}

fn ready(label: &str) -> (Repo, PathBuf) {
    let repo = Repo::new(label);
    repo.xtask(&["hooks"]).run().code(0);
    let dir = colleague(&repo);
    (repo, dir)
}

fn sync(repo: &Repo) {
    repo.git(&["pull", "--quiet", "--ff-only", "origin", "main"]);
}

#[test]
fn squash_merged_task_branches_are_merged_and_later_work_is_open() {
    let (repo, dir) = ready("merged-squash");
    task_branch(&repo, &dir, "task-301-squashed");
    // Main moves on between the branch and its squash merge.
    repo.git_in(&dir, &["switch", "--quiet", "main"]);
    commit(&repo, &dir, "other.txt", "other\n", "Other work (#11)");
    repo.git_in(&dir, &["push", "--quiet", "origin", "main"]);
    squash_merge(&repo, &dir, "task-301-squashed", 12);
    sync(&repo);
    let refs_before = repo.git(&["for-each-ref"]);
    let done = repo.xtask(&["task-preflight", "--format", "json"]).run();
    done.code(0);
    let json = done.json();
    let open = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "open-task-prs")
        .unwrap()
        .clone();
    assert_eq!(open["status"], "passed", "{}", done.dump());
    let evidence = open["evidence"].to_string();
    assert!(
        evidence.contains("task-301-squashed") && evidence.contains("merged (squashed into"),
        "{}",
        done.dump()
    );
    assert_eq!(
        repo.git(&["for-each-ref"]),
        refs_before,
        "the preflight wrote a ref"
    );

    // More work on the branch after its squash merge is open work.
    repo.git_in(&dir, &["switch", "--quiet", "task-301-squashed"]);
    commit(&repo, &dir, "more.txt", "more\n", "after the merge");
    repo.git_in(&dir, &["push", "--quiet", "origin", "task-301-squashed"]);
    repo.xtask(&["task-preflight"])
        .run()
        .code(1)
        .stderr_has("1 task branch(es) on origin not merged into origin/main")
        .stderr_has("task-301-squashed")
        .stderr_has("(1 commit(s) not on origin/main)");
}

#[test]
fn rebase_merged_and_cherry_picked_branches_are_merged_and_unmerged_ones_open() {
    let (repo, dir) = ready("merged-rebase");
    task_branch(&repo, &dir, "task-302-rebased");
    // A rebase merge: the branch's commits replayed on main (new SHAs).
    repo.git_in(&dir, &["switch", "--quiet", "main"]);
    commit(&repo, &dir, "other.txt", "other\n", "Other work (#11)");
    let first = repo.git_in(&dir, &["rev-parse", "task-302-rebased~1"]);
    let second = repo.git_in(&dir, &["rev-parse", "task-302-rebased"]);
    repo.git_in(&dir, &["cherry-pick", &first, &second]);
    repo.git_in(&dir, &["push", "--quiet", "origin", "main"]);
    task_branch(&repo, &dir, "task-303-open");
    sync(&repo);
    let done = repo.xtask(&["task-preflight"]).run();
    done.code(1)
        .stderr_has("1 task branch(es) on origin not merged into origin/main")
        .stderr_has("task-303-open")
        .stderr_has("(2 commit(s) not on origin/main)")
        .nowhere("task-302-rebased ");
    // With the open one merged the ordinary way, everything passes.
    repo.git_in(&dir, &["switch", "--quiet", "main"]);
    repo.git_in(&dir, &["pull", "--quiet", "--ff-only"]);
    repo.git_in(
        &dir,
        &[
            "merge",
            "--quiet",
            "--no-ff",
            "-m",
            "Merge (#13)",
            "task-303-open",
        ],
    );
    repo.git_in(&dir, &["push", "--quiet", "origin", "main"]);
    sync(&repo);
    let done = repo.xtask(&["task-preflight"]).run();
    done.code(0)
        .stderr_has("task-302-rebased")
        .stderr_has("merged (every commit has an equivalent on origin/main)");
}
