//! `task-preflight`: the runbook's task sequencing guard. A task starts from
//! a clean main that equals the remote main, with the hooks installed and no
//! other task still open. Every check runs and every failure is reported
//! together; `task-start` runs the same checks before creating a branch.
//!
//! Facts are gathered here (git, GitHub's REST API); the judgement of each
//! fact is a small pure function with unit tests.

use serde::Serialize;
use serde_json::{json, Value};
use xshell::Shell;

use crate::github::client as github;
use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, Ctx};
use crate::task::{hooks, id as task_id, merged};

#[derive(clap::Args, Debug)]
pub struct Flags {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

/// One check: what was found, the evidence, and the command that fixes it.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Outcome,
    pub summary: String,
    pub evidence: Vec<String>,
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &str, summary: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Outcome::Passed,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }
    pub fn fail(
        name: &str,
        summary: impl Into<String>,
        evidence: Vec<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            name: name.into(),
            status: Outcome::Failed,
            summary: summary.into(),
            evidence,
            fix: Some(fix.into()),
        }
    }
    pub fn skip(name: &str, summary: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: Outcome::Skipped,
            summary: summary.into(),
            evidence: Vec::new(),
            fix: None,
        }
    }
    pub fn failed(&self) -> bool {
        self.status == Outcome::Failed
    }
}

/// The runbook's two switches, validated before anything runs.
#[derive(Clone, Copy, Debug)]
pub struct Switches {
    pub skip_all: bool,
    pub allow_open_prs: bool,
}

pub fn read_switches() -> anyhow::Result<Switches> {
    Ok(Switches {
        skip_all: env::SKIP_TASK_SEQUENCE_GUARD.read()?,
        allow_open_prs: env::ALLOW_OPEN_TASK_PRS.read()?,
    })
}

/// Everything the preflight found.
#[derive(Clone, Debug, Serialize)]
pub struct Preflight {
    pub checks: Vec<Check>,
    pub bypasses: Vec<Bypass>,
    /// `github-api` or `remote-branches`: how open task work was looked for.
    pub open_work_method: Option<String>,
    pub local_main: Option<String>,
    pub remote_main: Option<String>,
    pub ahead: Option<u64>,
    pub behind: Option<u64>,
}

impl Preflight {
    pub fn failed(&self) -> bool {
        self.checks.iter().any(Check::failed)
    }
}

pub fn run(ctx: &Ctx, _flags: &Flags) -> anyhow::Result<()> {
    let switches = read_switches()?;
    let sh = git::shell(&ctx.root)?;
    let pre = gather(ctx, &sh, switches)?;
    for b in &pre.bypasses {
        b.warn();
    }
    let status = if switches.skip_all {
        "skipped"
    } else if pre.failed() {
        "failed"
    } else {
        "passed"
    };
    match ctx.format {
        Format::Json => {
            let mut report = serde_json::to_value(&pre)?;
            report["command"] = json!("task-preflight");
            report["status"] = json!(status);
            output::json(&report);
        }
        Format::Human => {
            print_checks(&pre.checks);
            output::say(&match status {
                "skipped" => {
                    "Task sequencing guard skipped (SKIP_TASK_SEQUENCE_GUARD=1).".to_string()
                }
                "passed" => format!(
                    "{} main is clean and synced, no open task work.",
                    output::green("Task sequencing guard passed:")
                ),
                _ => format!(
                    "{} {} of {} checks failed (above).",
                    output::red("Task sequencing guard failed:"),
                    pre.checks.iter().filter(|c| c.failed()).count(),
                    pre.checks.len()
                ),
            });
        }
    }
    if pre.failed() {
        return Err(exit::silent(exit::FAILED));
    }
    Ok(())
}

/// Prints checks one per line; failures with their evidence and fix.
pub fn print_checks(checks: &[Check]) {
    for c in checks {
        let status = match c.status {
            Outcome::Passed => output::green("ok     "),
            Outcome::Failed => output::red("FAILED "),
            Outcome::Skipped => output::yellow("skipped"),
        };
        output::say(&format!("  {status} {}: {}", c.name, c.summary));
        for e in &c.evidence {
            output::say(&format!("            {e}"));
        }
        if let Some(fix) = &c.fix {
            output::say(&format!("            fix: {fix}"));
        }
    }
}

/// Names from the policy that reach git's command line: no options, no
/// whitespace, no ref expressions.
pub fn validate_names(ctx: &Ctx) -> anyhow::Result<(String, String)> {
    let g = &ctx.policy.policy.git;
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with(['-', '.', '/'])
            && !s.contains("..")
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    };
    for (key, value) in [
        ("git.main-branch", &g.main_branch),
        ("git.remote", &g.remote),
    ] {
        if !ok(value) {
            return Err(exit::usage(format!(
                "{key} {value:?} is not a plain branch or remote name"
            )));
        }
    }
    Ok((g.main_branch.clone(), g.remote.clone()))
}

/// Runs every check (or none under `SKIP_TASK_SEQUENCE_GUARD=1`).
pub fn gather(ctx: &Ctx, sh: &Shell, switches: Switches) -> anyhow::Result<Preflight> {
    let (main, remote) = validate_names(ctx)?;
    let mut pre = Preflight {
        checks: Vec::new(),
        bypasses: Vec::new(),
        open_work_method: None,
        local_main: None,
        remote_main: None,
        ahead: None,
        behind: None,
    };
    if switches.skip_all {
        pre.bypasses.push(Bypass::new(
            env::SKIP_TASK_SEQUENCE_GUARD,
            "the whole task sequencing guard was skipped",
        ));
        pre.checks.push(Check::skip(
            "preflight",
            "skipped by SKIP_TASK_SEQUENCE_GUARD=1",
        ));
        return Ok(pre);
    }

    // 1. Hooks.
    let problems = hooks::check(ctx)?;
    pre.checks.push(if problems.is_empty() {
        Check::pass(
            "hooks",
            "pre-commit, pre-push and commit-msg hooks are installed",
        )
    } else {
        Check::fail(
            "hooks",
            "the required git hooks are not installed",
            problems,
            hooks::install_command(),
        )
    });

    // 2. On main, nothing in progress, clean.
    let branch = git::current_branch(sh)?;
    pre.checks.push(judge_branch(branch.as_deref(), &main));
    let in_progress = operations_in_progress(sh)?;
    pre.checks.push(judge_operations(&in_progress));
    pre.checks.push(judge_clean(&git::dirty_paths(sh)?));

    // 3. Synced with the remote main.
    let synced = check_synced(sh, &main, &remote, &mut pre);
    pre.checks.push(synced);

    // 4. No open task work.
    if switches.allow_open_prs {
        pre.bypasses.push(Bypass::new(
            env::ALLOW_OPEN_TASK_PRS,
            "open task PRs / unmerged task branches were not looked for",
        ));
        pre.checks.push(Check::skip(
            "open-task-prs",
            "not checked: ALLOW_OPEN_TASK_PRS=1",
        ));
    } else {
        let repo = github::repository(sh, ctx.policy.policy.github.repository.as_deref(), &remote)?;
        let check = match repo {
            Some(repo) => {
                pre.open_work_method = Some("github-api".into());
                open_prs_via_api(ctx, &repo, &main)
            }
            None => {
                pre.open_work_method = Some("remote-branches".into());
                open_branches_via_git(ctx, sh, &main, &remote)
            }
        };
        pre.checks.push(check);
    }
    Ok(pre)
}

fn judge_branch(branch: Option<&str>, main: &str) -> Check {
    match branch {
        Some(b) if b == main => Check::pass("on-main", format!("on {main}")),
        Some(b) => Check::fail(
            "on-main",
            format!("tasks start from {main}, but the current branch is {b}"),
            vec![format!("current branch: {b}")],
            format!("git switch {main}"),
        ),
        None => Check::fail(
            "on-main",
            format!("tasks start from {main}, but HEAD is detached"),
            vec!["current branch: (detached HEAD)".into()],
            format!("git switch {main}"),
        ),
    }
}

/// `(what, fix)` for each operation git has in progress.
pub fn operations_in_progress(sh: &Shell) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    let known = [
        (
            "rebase-merge",
            "a rebase",
            "git rebase --continue, or git rebase --abort",
        ),
        (
            "rebase-apply",
            "a rebase (or git am)",
            "git rebase --continue, or git rebase --abort (git am --abort)",
        ),
        (
            "MERGE_HEAD",
            "a merge",
            "git merge --continue, or git merge --abort",
        ),
        (
            "CHERRY_PICK_HEAD",
            "a cherry-pick",
            "git cherry-pick --continue, or git cherry-pick --abort",
        ),
        (
            "REVERT_HEAD",
            "a revert",
            "git revert --continue, or git revert --abort",
        ),
    ];
    let mut found = Vec::new();
    for (file, what, fix) in known {
        let path = git::read(sh, &["rev-parse", "--git-path", file])?;
        if sh.current_dir().join(path).exists() {
            found.push((what, fix));
        }
    }
    Ok(found)
}

fn judge_operations(found: &[(&str, &str)]) -> Check {
    if found.is_empty() {
        return Check::pass(
            "no-operation-in-progress",
            "no rebase, merge or cherry-pick in progress",
        );
    }
    Check::fail(
        "no-operation-in-progress",
        format!(
            "{} in progress",
            found
                .iter()
                .map(|(w, _)| *w)
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        found
            .iter()
            .map(|(w, _)| format!("{w} is in progress"))
            .collect(),
        found.iter().map(|(_, f)| *f).collect::<Vec<_>>().join("; "),
    )
}

fn judge_clean(dirty: &[String]) -> Check {
    if dirty.is_empty() {
        return Check::pass("clean-tree", "the working tree is clean");
    }
    let mut evidence: Vec<String> = dirty.iter().take(20).cloned().collect();
    if dirty.len() > 20 {
        evidence.push(format!("… and {} more", dirty.len() - 20));
    }
    Check::fail(
        "clean-tree",
        format!(
            "the working tree has {} uncommitted or untracked path(s)",
            dirty.len()
        ),
        evidence,
        "commit them on their task branch, or set them aside: git stash push --include-untracked",
    )
}

fn check_synced(sh: &Shell, main: &str, remote: &str, pre: &mut Preflight) -> Check {
    let refspec = format!("+refs/heads/{main}:refs/remotes/{remote}/{main}");
    let fetch = git::answer(sh, &["fetch", "--quiet", "--no-tags", remote, &refspec]);
    match fetch {
        Ok(out) if out.ok() => {}
        Ok(out) if out.stderr.contains("couldn't find remote ref") => {
            // A new repository whose remote has no main yet: the one push
            // to main the guard lets through is this explicit bootstrap.
            return Check::fail(
                "synced",
                format!("{remote} has no branch {main} yet"),
                lines_of(out.stderr.as_bytes()),
                format!(
                    "publish main once (the repository's bootstrap): SKIP_BRANCH_GUARD=1 git push -u {remote} {main}"
                ),
            );
        }
        Ok(out) => {
            return Check::fail(
                "synced",
                format!("git fetch {remote} {main} failed"),
                lines_of(out.stderr.as_bytes()),
                format!(
                    "check the remote and your access: git remote -v; git fetch {remote} {main}"
                ),
            )
        }
        Err(e) => {
            return Check::fail(
                "synced",
                format!("git fetch cannot run: {e}"),
                Vec::new(),
                "install git",
            )
        }
    }
    let local = git::rev(sh, &format!("refs/heads/{main}"));
    let upstream = git::rev(sh, &format!("refs/remotes/{remote}/{main}"));
    pre.local_main = local.clone();
    pre.remote_main = upstream.clone();
    let (Some(local), Some(upstream)) = (local, upstream) else {
        return Check::fail(
            "synced",
            format!("no local {main} or no {remote}/{main} to compare"),
            vec![
                format!(
                    "local {main}: {}",
                    pre.local_main.as_deref().unwrap_or("(none)")
                ),
                format!(
                    "{remote}/{main}: {}",
                    pre.remote_main.as_deref().unwrap_or("(none)")
                ),
            ],
            format!("git switch {main} && git pull --ff-only"),
        );
    };
    let range = format!("refs/heads/{main}...refs/remotes/{remote}/{main}");
    let counts =
        git::read(sh, &["rev-list", "--left-right", "--count", &range]).unwrap_or_default();
    let mut parts = counts
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (ahead, behind) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    pre.ahead = Some(ahead);
    pre.behind = Some(behind);
    judge_synced(main, remote, &local, &upstream, ahead, behind)
}

fn judge_synced(
    main: &str,
    remote: &str,
    local: &str,
    upstream: &str,
    ahead: u64,
    behind: u64,
) -> Check {
    if local == upstream {
        return Check::pass(
            "synced",
            format!("local {main} equals {remote}/{main} ({})", short(local)),
        );
    }
    let evidence = vec![
        format!("local {main}:  {local}"),
        format!("{remote}/{main}: {upstream}"),
        format!("local {main} is {ahead} commit(s) ahead and {behind} behind {remote}/{main}"),
    ];
    let fix = if ahead == 0 {
        format!("git switch {main} && git pull --ff-only")
    } else {
        format!(
            "move the {ahead} local commit(s) onto a task branch (git branch <task-branch> {main}), then reset {main}: git switch {main} && git reset --keep {remote}/{main}"
        )
    };
    Check::fail(
        "synced",
        format!("local {main} is not synced to {remote}/{main}"),
        evidence,
        fix,
    )
}

/// A command's output as evidence lines, without blank ones.
pub fn lines_of(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

pub fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

const BYPASS_HINT: &str = "to bypass once, explicitly: ALLOW_OPEN_TASK_PRS=1";

/// An open PR found on GitHub.
#[derive(Debug, PartialEq)]
struct OpenPr {
    number: u64,
    branch: String,
    url: String,
}

fn open_prs_via_api(ctx: &Ctx, repo: &str, main: &str) -> Check {
    let name = "open-task-prs";
    let token = match github::token() {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Check::fail(
                name,
                format!("cannot look for open task PRs in {repo}: no GitHub token"),
                vec!["none of GH_TOKEN_FILE, GITHUB_TOKEN_FILE, GH_TOKEN, GITHUB_TOKEN is set, and `gh auth token` gave none".into()],
                format!("set GH_TOKEN (or GH_TOKEN_FILE), or run gh auth login; {BYPASS_HINT}"),
            )
        }
        Err(e) => return Check::fail(name, format!("cannot read the GitHub token: {e:#}"), Vec::new(), BYPASS_HINT),
    };
    let client = github::Client::new(repo.to_string(), token);
    let result = (|| -> anyhow::Result<(String, Vec<OpenPr>)> {
        let login = client.login()?;
        let pulls = client.get_all(&format!(
            "/repos/{repo}/pulls?state=open&base={main}&per_page=100"
        ))?;
        Ok((
            login.clone(),
            task_prs_of(&ctx.policy.policy.task, &pulls, &login),
        ))
    })();
    match result {
        Err(e) => Check::fail(
            name,
            format!(
                "cannot look for open task PRs in {repo} (GitHub API at {})",
                github::api_base()
            ),
            vec![format!("{e:#}")],
            format!("check the token and the network (GITHUB_API_URL, GH_TOKEN); {BYPASS_HINT}"),
        ),
        Ok((login, prs)) if prs.is_empty() => Check::pass(
            name,
            format!("no open task PR of {login} against {main} in {repo} (GitHub API)"),
        ),
        Ok((login, prs)) => Check::fail(
            name,
            format!(
                "{} open task PR(s) of {login} against {main} in {repo} (GitHub API)",
                prs.len()
            ),
            prs.iter()
                .map(|p| format!("#{} {} {}", p.number, p.branch, p.url))
                .collect(),
            format!(
                "merge or close them first (one task at a time): {} on that branch; {BYPASS_HINT}",
                env::invocation().command("task-finish --merge", Some("task-finish MERGE=1"))
            ),
        ),
    }
}

/// The open PRs whose head branch follows the task template and whose
/// author is `login`.
fn task_prs_of(task: &crate::plumbing::policy::Task, pulls: &[Value], login: &str) -> Vec<OpenPr> {
    pulls
        .iter()
        .filter_map(|p| {
            let branch = p.pointer("/head/ref")?.as_str()?;
            let author = p.pointer("/user/login")?.as_str()?;
            (author == login && task_id::task_of_branch(task, branch).is_some()).then(|| OpenPr {
                number: p.get("number").and_then(Value::as_u64).unwrap_or(0),
                branch: branch.to_string(),
                url: p
                    .get("html_url")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

fn open_branches_via_git(ctx: &Ctx, sh: &Shell, main: &str, remote: &str) -> Check {
    let name = "open-task-prs";
    let method = format!(
        "method: no GitHub repository, so task branches on {remote} not merged into {remote}/{main} count as open work"
    );
    let listing = match git::answer(sh, &["ls-remote", "--heads", remote]) {
        Ok(out) if out.ok() => out.stdout,
        Ok(out) => {
            return Check::fail(
                name,
                format!("cannot list the branches of {remote} ({method})"),
                lines_of(out.stderr.as_bytes()),
                format!("check the remote: git ls-remote --heads {remote}; {BYPASS_HINT}"),
            )
        }
        Err(e) => {
            return Check::fail(
                name,
                format!("git ls-remote cannot run: {e}"),
                Vec::new(),
                BYPASS_HINT,
            )
        }
    };
    let upstream = format!("refs/remotes/{remote}/{main}");
    if git::rev(sh, &upstream).is_none() {
        return Check::fail(
            name,
            format!("cannot tell which task branches are merged: no {remote}/{main}"),
            Vec::new(),
            format!("git fetch {remote} {main}; {BYPASS_HINT}"),
        );
    }
    let task = &ctx.policy.policy.task;
    let tips: Vec<(String, String)> = listing
        .lines()
        .filter_map(|line| {
            let (sha, refname) = line.split_once('\t')?;
            let branch = refname.strip_prefix("refs/heads/")?;
            task_id::task_of_branch(task, branch)?;
            Some((branch.to_string(), sha.to_string()))
        })
        .collect();
    let verdicts = match merged::remote_tips(sh, remote, &tips, &upstream) {
        Ok(v) => v,
        Err(e) => {
            return Check::fail(
                name,
                format!("cannot tell which task branches on {remote} are merged ({method})"),
                vec![format!("{e:#}")],
                format!("check the remote: git fetch {remote}; {BYPASS_HINT}"),
            )
        }
    };
    let (open, squashed) = judge_tips(&tips, &verdicts, &format!("{remote}/{main}"));
    if open.is_empty() {
        let mut check = Check::pass(name, format!("no open task work ({method}: none)"));
        check.evidence = squashed;
        check
    } else {
        Check::fail(
            name,
            format!("{} task branch(es) on {remote} not merged into {remote}/{main} ({method})", open.len()),
            open,
            format!(
                "finish that task first ({} on its branch), or delete an abandoned branch: git push {remote} --delete <branch>; {BYPASS_HINT}",
                env::invocation().command("task-finish", Some("task-finish"))
            ),
        )
    }
}

/// The open branches (evidence lines) and those merged by squash or
/// rebase (said, so that nobody wonders why a branch with commits not on
/// main passes).
fn judge_tips(
    tips: &[(String, String)],
    verdicts: &[merged::Verdict],
    main: &str,
) -> (Vec<String>, Vec<String>) {
    let mut open = Vec::new();
    let mut squashed = Vec::new();
    for ((branch, sha), verdict) in tips.iter().zip(verdicts) {
        match verdict {
            merged::Verdict::Merged(merged::Merged::Ancestor) => {}
            merged::Verdict::Merged(merged::Merged::PatchEquivalent) => squashed.push(format!(
                "{branch} {}: merged (every commit has an equivalent on {main})",
                short(sha)
            )),
            merged::Verdict::Merged(merged::Merged::Squash { commit }) => squashed.push(format!(
                "{branch} {}: merged (squashed into {} on {main})",
                short(sha),
                short(commit)
            )),
            merged::Verdict::Open { unmerged } => open.push(format!(
                "{branch} {} ({} commit(s) not on {main})",
                short(sha),
                unmerged.len()
            )),
        }
    }
    (open, squashed)
}

/// Whether commit `sha` is reachable from `target` (false when the commit
/// is not even present locally: then `target`, fully fetched, lacks it).
pub fn is_ancestor(sh: &Shell, sha: &str, target: &str) -> bool {
    let spec = format!("{sha}^{{commit}}");
    let yes = |args: &[&str]| git::answer(sh, args).is_ok_and(|a| a.ok());
    yes(&["cat-file", "-e", &spec]) && yes(&["merge-base", "--is-ancestor", sha, target])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::policy::Task;

    #[test]
    fn branch_must_be_main() {
        assert!(!judge_branch(Some("main"), "main").failed());
        let c = judge_branch(Some("task-117-x"), "main");
        assert!(
            c.failed() && c.fix.as_deref() == Some("git switch main"),
            "{c:?}"
        );
        assert!(judge_branch(None, "main").summary.contains("detached"));
    }

    #[test]
    fn sync_shows_both_shas_and_counts() {
        let c = judge_synced("main", "origin", "aaa", "aaa", 0, 0);
        assert!(!c.failed());
        let c = judge_synced("main", "origin", "aaa", "bbb", 0, 2);
        assert!(c.failed());
        assert!(
            c.evidence.iter().any(|e| e.contains("aaa"))
                && c.evidence.iter().any(|e| e.contains("bbb"))
        );
        assert!(c
            .evidence
            .iter()
            .any(|e| e.contains("0 commit(s) ahead and 2 behind")));
        assert_eq!(
            c.fix.as_deref(),
            Some("git switch main && git pull --ff-only")
        );
        let c = judge_synced("main", "origin", "aaa", "bbb", 1, 0);
        assert!(c.fix.unwrap().contains("git reset --keep origin/main"));
    }

    #[test]
    fn only_task_prs_of_the_user_count() {
        let pulls = serde_json::json!([
            { "number": 1, "head": { "ref": "task-101-a" }, "user": { "login": "me" }, "html_url": "u1" },
            { "number": 2, "head": { "ref": "task-102-b" }, "user": { "login": "other" }, "html_url": "u2" },
            { "number": 3, "head": { "ref": "feature-x" }, "user": { "login": "me" }, "html_url": "u3" },
        ]);
        let prs = task_prs_of(&Task::default(), pulls.as_array().unwrap(), "me");
        assert_eq!(
            prs,
            vec![OpenPr {
                number: 1,
                branch: "task-101-a".into(),
                url: "u1".into()
            }]
        );
    }

    #[test]
    fn operations_are_named_with_their_fix() {
        let c = judge_operations(&[("a rebase", "git rebase --abort")]);
        assert!(
            c.failed()
                && c.summary == "a rebase in progress"
                && c.fix.as_deref() == Some("git rebase --abort")
        );
        assert!(!judge_operations(&[]).failed());
    }
}
