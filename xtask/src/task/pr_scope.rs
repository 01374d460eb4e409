//! `pr-scope`: the CI "Workflow Guard". A PR comes from a task branch and
//! its body names exactly one `Primary-Task: TASK-NNN`, the branch's task.
//!
//! Inputs, first found wins for each of branch and body: `--branch` /
//! `--body-file`, then `PR_BRANCH` / `PR_BODY`, then the GitHub Actions event
//! file (`GITHUB_EVENT_PATH`: `pull_request.head.ref`, `pull_request.body`).
//! Everything in them is untrusted (anyone can open a PR): it is only
//! compared and, quoted and escaped, shown; it never reaches a process.

use std::io::Read;
use std::path::PathBuf;

use serde_json::json;

use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Task;
use crate::plumbing::{env, exit, fs, Ctx};
use crate::task::id as task_id;

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// The PR's head branch [default: PR_BRANCH, else the event file at GITHUB_EVENT_PATH].
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// A file with the PR body, `-` for stdin [default: PR_BODY, else the event file at GITHUB_EVENT_PATH].
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// The PR's title, checked when the policy sets `task.pr-title` [default: PR_TITLE, else the event file].
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
}

/// The verdict on one PR.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The branch's task id, when the branch matches the template.
    pub task: Option<String>,
    /// The distinct Primary-Task ids, as written, in order.
    pub primary: Vec<String>,
    pub problems: Vec<String>,
}

/// The body with literal `\r\n` / `\n` sequences, CRLF and CR made newlines
/// (bodies reach CI through YAML and shells that escape them).
pub fn normalize(body: &str) -> String {
    body.replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// The id of a `Primary-Task: TASK-NNN` line: whole line, label in any case,
/// optional spaces around; the id as written (`task-125` stays lower case,
/// and then differs from the branch's `TASK-125`).
pub fn primary_task(task: &Task, line: &str) -> Option<String> {
    const LABEL: &str = "primary-task:";
    let l = line.trim();
    if !l.get(..LABEL.len())?.eq_ignore_ascii_case(LABEL) {
        return None;
    }
    let id = l[LABEL.len()..].trim_start();
    let prefix = &task.id_prefix;
    if !id.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let digits = &id[prefix.len()..];
    let ok = task_id::digits_ok(task, digits) && digits.chars().all(|c| c.is_ascii_digit());
    ok.then(|| id.to_string())
}

/// Untrusted text as it may be shown: quoted, escaped, at most 120 characters.
fn shown(text: &str) -> String {
    let cut: String = text.chars().take(120).collect();
    let more = if text.chars().count() > 120 {
        "…"
    } else {
        ""
    };
    format!("{cut:?}{more}")
}

/// Judges a PR from its branch and body: every problem, not just the first.
pub fn judge(task: &Task, branch: &str, body: &str) -> Verdict {
    let mut verdict = Verdict {
        task: task_id::task_of_branch(task, branch),
        ..Verdict::default()
    };
    let pattern = task_id::branch_pattern(task);
    if verdict.task.is_none() {
        verdict.problems.push(format!(
            "pr-scope failed: branch {} does not match the task branch pattern {pattern} (e.g. {}).\n  fix: open the PR from a task branch (cargo xtask task-start NNN short-name)",
            shown(branch),
            task_id::branch_example(task)
        ));
    }
    let body = normalize(body);
    let mut near = Vec::new();
    for (i, line) in body.lines().enumerate() {
        match primary_task(task, line) {
            Some(id) if !verdict.primary.contains(&id) => verdict.primary.push(id),
            Some(_) => {}
            None if line.to_ascii_lowercase().contains("primary-task") => near.push((i + 1, line)),
            None => {}
        }
    }
    let wanted = verdict
        .task
        .clone()
        .unwrap_or_else(|| format!("{}{}", task.id_prefix, "X".repeat(task.id_digits)));
    match verdict.primary.len() {
        0 => {
            let near: String = near
                .iter()
                .take(5)
                .map(|(n, l)| format!("\n  line {n} is not in that form (alone on its line, no bullet or other text): {}", shown(l)))
                .collect();
            verdict.problems.push(format!(
                "pr-scope failed: the PR body has no Primary-Task line.{near}\n  fix: add this line to the PR body, alone on its line:\n  Primary-Task: {wanted}"
            ));
        }
        1 => {
            if let Some(id) = &verdict.task {
                if &verdict.primary[0] != id {
                    verdict.problems.push(format!(
                        "pr-scope failed: the branch's task and the Primary-Task differ.\n  branch task: {id} ({})\n  Primary-Task: {}\n  fix: make the PR body's line `Primary-Task: {id}`, or open this work from {}'s own branch (one task = one branch = one PR)",
                        shown(branch),
                        verdict.primary[0],
                        verdict.primary[0]
                    ));
                }
            }
        }
        _ => verdict.problems.push(format!(
            "pr-scope failed: the PR body has more than one Primary-Task: {} (one task = one branch = one PR).\n  fix: keep only `Primary-Task: {wanted}` and move other tasks' work to their own PRs",
            verdict.primary.join(", ")
        )),
    }
    verdict
}

/// What is wrong with the PR title under the policy's `task.pr-title` (none
/// when the policy sets no rule).
pub fn judge_title(task: &Task, id: &str, title: Option<&str>) -> Option<String> {
    let raw = task.pr_title.as_deref()?;
    let re = match task.pr_title_regex(id)? {
        Ok(re) => re,
        Err(e) => return Some(format!("pr-scope failed: {e}")),
    };
    let example = format!("{id}: <summary>");
    match title {
        None => Some(format!(
            "pr-scope failed: no PR title, and the policy's task.pr-title {raw:?} needs one.\n  fix: pass --title TITLE, set PR_TITLE, or run it in a GitHub Actions pull_request job (GITHUB_EVENT_PATH)"
        )),
        Some(t) if re.is_match(t) => None,
        Some(t) => Some(format!(
            "pr-scope failed: the PR title {} does not match task.pr-title {raw:?} (for {id}).\n  fix: retitle the PR, e.g. {example:?}",
            shown(t)
        )),
    }
}

/// Where an input came from, for the report.
fn source_name(flag: bool, var: bool) -> &'static str {
    if flag {
        "flag"
    } else if var {
        "environment"
    } else {
        "event"
    }
}

/// The PR as pr-scope got it, and where each part came from.
struct Inputs {
    branch: Option<String>,
    body: Option<String>,
    title: Option<String>,
    branch_from_flag: bool,
    branch_from_env: bool,
    body_from_flag: bool,
    body_from_env: bool,
    event_used: bool,
}

/// Reads branch and body from the flags, the environment, then the event
/// file; a body over [`MAX_BODY`] from any of them is refused.
fn gather(flags: &Flags) -> anyhow::Result<Inputs> {
    let mut branch = flags.branch.clone();
    let branch_from_flag = branch.is_some();
    let branch_from_env = branch.is_none() && env::var("PR_BRANCH").is_some();
    if branch.is_none() {
        branch = env::var("PR_BRANCH");
    }
    let mut body = match &flags.body_file {
        Some(path) => Some(read_body(path)?),
        None => None,
    };
    let body_from_flag = body.is_some();
    let body_from_env = body.is_none() && env::var("PR_BODY").is_some();
    if body.is_none() {
        body = env::var("PR_BODY");
    }
    let mut title = flags.title.clone().or_else(|| env::var("PR_TITLE"));
    let mut event_used = false;
    if branch.is_none() || body.is_none() || title.is_none() {
        if let Some(path) = env::var("GITHUB_EVENT_PATH") {
            let (event_branch, event_body, event_title) = read_event(&PathBuf::from(path))?;
            event_used = true;
            if title.is_none() {
                title = event_title;
            }
            if branch.is_none() {
                branch = event_branch;
            }
            if body.is_none() {
                // A PR without a body has `"body": null`: that is an empty body.
                body = Some(event_body.unwrap_or_default());
            }
        }
    }
    if body.as_ref().is_some_and(|b| b.len() as u64 > MAX_BODY) {
        return Err(too_large(if body_from_env {
            "PR_BODY"
        } else {
            "the event file's pull_request.body"
        }));
    }
    Ok(Inputs {
        branch,
        body,
        title,
        branch_from_flag,
        branch_from_env,
        body_from_flag,
        body_from_env,
        event_used,
    })
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let task_policy = &ctx.policy.policy.task;
    let Inputs {
        branch,
        body,
        title,
        branch_from_flag,
        branch_from_env,
        body_from_flag,
        body_from_env,
        event_used,
    } = gather(flags)?;
    let Some(branch) = branch.filter(|b| !b.is_empty()) else {
        let message = "pr-scope failed: no PR branch: pass --branch BRANCH, set PR_BRANCH, or run it in a GitHub Actions pull_request job (GITHUB_EVENT_PATH)";
        return fail(
            ctx,
            json!({ "command": "pr-scope", "status": "failed", "problems": [message] }),
            &[message.to_string()],
        );
    };
    let body_given = body.is_some();
    let verdict = judge(task_policy, &branch, body.as_deref().unwrap_or(""));
    let mut problems = verdict.problems.clone();
    if let Some(id) = &verdict.task {
        problems.extend(judge_title(task_policy, id, title.as_deref()));
    }
    if !body_given {
        problems.push(
            "no PR body was given: pass --body-file FILE, set PR_BODY, or run it in a GitHub Actions pull_request job (GITHUB_EVENT_PATH)"
                .to_string(),
        );
    }
    let report = json!({
        "command": "pr-scope",
        "status": if problems.is_empty() { "passed" } else { "failed" },
        "branch": branch,
        "branch_source": source_name(branch_from_flag, branch_from_env),
        "body_source": if body_given { source_name(body_from_flag, body_from_env) } else { "none" },
        "event_file_read": event_used,
        "task": verdict.task,
        "primary_tasks": verdict.primary,
        "title_checked": task_policy.pr_title.is_some(),
        "problems": problems,
    });
    if !problems.is_empty() {
        return fail(ctx, report, &problems);
    }
    let id = verdict.task.unwrap_or_default();
    match ctx.format {
        Format::Json => output::json(&report),
        Format::Human => output::say(&output::green(&format!(
            "pr-scope passed: {id} (Primary-Task)"
        ))),
    }
    output::step_summary(&format!(
        "pr-scope passed: `{id}` (branch and Primary-Task agree)\n"
    ));
    Ok(())
}

fn fail(ctx: &Ctx, report: serde_json::Value, problems: &[String]) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => output::json(&report),
        Format::Human => problems.iter().for_each(|p| output::error(p)),
    }
    output::step_summary(&format!(
        "### pr-scope failed\n\n{}\n",
        problems
            .iter()
            .map(|p| format!("```\n{p}\n```\n"))
            .collect::<String>()
    ));
    Err(exit::silent(exit::FAILED))
}

/// The largest PR body pr-scope reads (`--body-file`, stdin, `PR_BODY`):
/// anything larger is refused, never cut (a second `Primary-Task` line
/// after a cut would go unseen).
pub const MAX_BODY: u64 = 16 * 1024 * 1024;

/// The largest GitHub Actions event file pr-scope reads.
pub const MAX_EVENT: u64 = 32 * 1024 * 1024;

fn too_large(what: &str) -> anyhow::Error {
    exit::usage(format!(
        "{what}: the PR body is larger than {} (pr-scope's limit): nothing was checked",
        fs::size(MAX_BODY)
    ))
}

fn read_body(path: &std::path::Path) -> anyhow::Result<String> {
    let what = format!("--body-file {}", path.display());
    if path.as_os_str() != "-" {
        return fs::read_bounded(path, MAX_BODY, "the PR body").map_err(|e| {
            let code = exit::code_of(&e);
            let message = format!("{what}: cannot read it: {e:#}");
            if code == exit::USAGE {
                exit::usage(message)
            } else {
                exit::failed(message)
            }
        });
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX_BODY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| exit::usage(format!("{what}: cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_BODY {
        return Err(too_large("--body-file - (stdin)"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

type Event = (Option<String>, Option<String>, Option<String>);

/// `pull_request.head.ref`, `pull_request.body` and `pull_request.title` of the event file.
fn read_event(path: &std::path::Path) -> anyhow::Result<Event> {
    let text = fs::read_bounded(path, MAX_EVENT, "the event file").map_err(|e| {
        exit::usage(format!(
            "GITHUB_EVENT_PATH={}: cannot read the event file: {e:#}",
            path.display()
        ))
    })?;
    let event: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        exit::usage(format!(
            "GITHUB_EVENT_PATH={}: not JSON: {e}",
            path.display()
        ))
    })?;
    let Some(pr) = event.get("pull_request").filter(|v| v.is_object()) else {
        return Err(exit::usage(format!(
            "GITHUB_EVENT_PATH={}: not a pull_request event (GITHUB_EVENT_NAME={}): run pr-scope on pull_request, or pass --branch and --body-file",
            path.display(),
            env::var("GITHUB_EVENT_NAME").unwrap_or_else(|| "unset".into())
        )));
    };
    let branch = pr
        .pointer("/head/ref")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let body = pr.get("body").and_then(|v| v.as_str()).map(str::to_string);
    let title = pr.get("title").and_then(|v| v.as_str()).map(str::to_string);
    Ok((branch, body, title))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_checked_only_under_a_rule() {
        let none = Task::default();
        assert_eq!(judge_title(&none, "TASK-125", None), None);
        let rule = Task {
            pr_title: Some("^{ID}: ".into()),
            ..Task::default()
        };
        assert_eq!(
            judge_title(&rule, "TASK-125", Some("TASK-125: fix it")),
            None
        );
        for bad in [
            "fix it",
            "TASK-1250: x",
            "TASK-126: x",
            "task-125: x",
            " TASK-125: x",
        ] {
            let p = judge_title(&rule, "TASK-125", Some(bad)).unwrap();
            assert!(
                p.contains("does not match task.pr-title \"^{ID}: \" (for TASK-125)"),
                "{p}"
            );
            assert!(p.contains("e.g. \"TASK-125: <summary>\""), "{p}");
        }
        let p = judge_title(&rule, "TASK-125", None).unwrap();
        assert!(p.contains("no PR title"), "{p}");
    }

    fn check(branch: &str, body: &str, task: Option<&str>, primary: &[&str], problems: &[&str]) {
        let v = judge(&Task::default(), branch, body);
        assert_eq!(v.task.as_deref(), task, "{branch} {body:?}");
        assert_eq!(v.primary, primary, "{body:?}");
        assert_eq!(
            v.problems.len(),
            problems.len(),
            "{body:?}: {:?}",
            v.problems
        );
        for (p, needle) in v.problems.iter().zip(problems) {
            assert!(p.contains(needle), "{p}\nlacks {needle}");
        }
    }

    #[test]
    fn one_primary_task_naming_the_branch_task_passes() {
        check(
            "task-125-x",
            "Summary\n\nPrimary-Task: TASK-125\n",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "primary-task:TASK-125",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "  PRIMARY-TASK:   TASK-125  \t",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "Primary-Task: TASK-125\nPrimary-Task: TASK-125",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
    }

    #[test]
    fn bodies_are_normalized() {
        check(
            "task-125-x",
            "Summary\\nPrimary-Task: TASK-125\\n",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "Summary\\r\\nPrimary-Task: TASK-125",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "Summary\r\nPrimary-Task: TASK-125\r\n",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
        check(
            "task-125-x",
            "Summary\rPrimary-Task: TASK-125\r",
            Some("TASK-125"),
            &["TASK-125"],
            &[],
        );
    }

    #[test]
    fn failures_are_all_reported() {
        check("task-125-x", "", Some("TASK-125"), &[], &["no Primary-Task line.\n  fix: add this line to the PR body, alone on its line:\n  Primary-Task: TASK-125"]);
        check(
            "task-125-x",
            "- Primary-Task: TASK-125",
            Some("TASK-125"),
            &[],
            &["line 1 is not in that form"],
        );
        check(
            "task-125-x",
            "Primary-Task: TASK-125 and more",
            Some("TASK-125"),
            &[],
            &["no Primary-Task line"],
        );
        check(
            "task-125-x",
            "Primary-Task: TASK-12",
            Some("TASK-125"),
            &[],
            &["no Primary-Task line"],
        );
        check(
            "task-125-x",
            "Primary-Task: TASK-125\nPrimary-Task: TASK-126",
            Some("TASK-125"),
            &["TASK-125", "TASK-126"],
            &["more than one Primary-Task: TASK-125, TASK-126"],
        );
        check(
            "task-125-x",
            "Primary-Task: TASK-126",
            Some("TASK-125"),
            &["TASK-126"],
            &["branch task: TASK-125"],
        );
        check(
            "task-125-x",
            "Primary-Task: task-125",
            Some("TASK-125"),
            &["task-125"],
            &["Primary-Task: task-125"],
        );
        check(
            "main",
            "Primary-Task: TASK-125",
            None,
            &["TASK-125"],
            &["does not match the task branch pattern"],
        );
        check(
            "feature",
            "",
            None,
            &[],
            &["does not match", "Primary-Task: TASK-XXX"],
        );
    }

    #[test]
    fn hostile_text_is_shown_escaped() {
        let v = judge(
            &Task::default(),
            "x\n::error::owned",
            "::set-output name=x::primary-task\u{1b}[31m",
        );
        let all = v.problems.join("\n");
        assert!(!all.lines().any(|l| l.starts_with("::")), "{all}");
        assert!(all.contains("\\u{1b}"), "{all}");
    }
}
