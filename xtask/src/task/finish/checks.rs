//! The required checks on a PR head: which checks main requires (gather),
//! what was reported on the head (gather), the judgement (pure), and the
//! wait until they pass or fail.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Finish;
use crate::github::client as github;
use crate::plumbing::exit;
use crate::plumbing::output::{self, Format};
use crate::task::preflight::short;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Pass,
    Pending,
    Fail,
}

/// The state of one reported check run or commit status.
fn state_of_run(run: &Value) -> State {
    if run["status"] != "completed" {
        return State::Pending;
    }
    match run["conclusion"].as_str() {
        Some("success" | "neutral" | "skipped") => State::Pass,
        _ => State::Fail,
    }
}

fn state_of_status(status: &Value) -> State {
    match status["state"].as_str() {
        Some("success") => State::Pass,
        Some("pending") => State::Pending,
        _ => State::Fail,
    }
}

/// Judges the required checks against what was reported: each required name
/// is pending until reported, failed when any report of it failed.
fn judge_checks(required: &[String], reported: &[(String, State)]) -> (State, Vec<String>) {
    let mut worst = State::Pass;
    let mut lines = Vec::new();
    for name in required {
        let states: Vec<State> = reported
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| *s)
            .collect();
        let state = if states.contains(&State::Fail) {
            State::Fail
        } else if states.is_empty() || states.contains(&State::Pending) {
            State::Pending
        } else {
            State::Pass
        };
        let word = match (state, states.is_empty()) {
            (State::Pass, _) => "passed",
            (State::Fail, _) => "failed",
            (State::Pending, true) => "not reported yet",
            (State::Pending, false) => "pending",
        };
        lines.push(format!("{name}: {word}"));
        worst = match (worst, state) {
            (State::Fail, _) | (_, State::Fail) => State::Fail,
            (State::Pending, _) | (_, State::Pending) => State::Pending,
            _ => State::Pass,
        };
    }
    (worst, lines)
}

/// The status checks main's protection requires (readable with read access
/// through the branch endpoint).
fn required_checks(f: &Finish, client: &github::Client) -> anyhow::Result<Vec<String>> {
    let path = format!("/repos/{}/branches/{}", client.repo, f.main);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    let p = &resp.body;
    let mut names: Vec<String> = p
        .pointer("/protection/required_status_checks/contexts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(checks) = p
        .pointer("/protection/required_status_checks/checks")
        .and_then(Value::as_array)
    {
        for c in checks.iter().filter_map(|c| c["context"].as_str()) {
            if !names.iter().any(|n| n == c) {
                names.push(c.to_string());
            }
        }
    }
    Ok(names)
}

/// Check runs and commit statuses reported on `sha`, every page of each.
fn reported_checks(client: &github::Client, sha: &str) -> anyhow::Result<Vec<(String, State)>> {
    let narrow = format!("{sha} has more check runs or statuses than task-finish reads; merge it on GitHub, then rerun cargo xtask task-finish");
    let repo = &client.repo;
    let runs = client.get_list(
        &format!("/repos/{repo}/commits/{sha}/check-runs"),
        Some("check_runs"),
        20,
        &narrow,
    )?;
    // The combined status is paginated too: a required context may be on
    // any page.
    let statuses = client.get_list(
        &format!("/repos/{repo}/commits/{sha}/status"),
        Some("statuses"),
        20,
        &narrow,
    )?;
    let name = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
    Ok(runs
        .iter()
        .map(|run| (name(run, "name"), state_of_run(run)))
        .chain(
            statuses
                .iter()
                .map(|s| (name(s, "context"), state_of_status(s))),
        )
        .collect())
}

pub(super) fn wait_for_checks(
    f: &mut Finish,
    client: &github::Client,
    sha: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let required = required_checks(f, client)?;
    if required.is_empty() {
        return Err(exit::failed(format!(
            "{} has no required status checks in its branch protection, so \"merge only when all required checks are green\" cannot be verified: protect it (cargo xtask protect-main), or merge on GitHub yourself and rerun cargo xtask task-finish; nothing was merged",
            f.main
        )));
    }
    let started = Instant::now();
    loop {
        let (state, lines) = judge_checks(&required, &reported_checks(client, sha)?);
        match state {
            State::Pass => {
                f.say(format!("required checks green on {}: {}", short(sha), required.join(", ")));
                return Ok(());
            }
            State::Fail => {
                return Err(exit::failed(format!(
                    "required checks on {} did not pass; nothing was merged:\n  {}\nfix: fix the failure, push, and rerun cargo xtask task-finish --merge",
                    short(sha),
                    lines.join("\n  ")
                )))
            }
            State::Pending if started.elapsed() + poll > timeout => {
                return Err(exit::failed(format!(
                    "required checks on {} did not pass within {}; nothing was merged:\n  {}\nfix: rerun cargo xtask task-finish --merge later (or --checks-timeout 1h)",
                    short(sha),
                    output::duration(timeout),
                    lines.join("\n  ")
                )))
            }
            State::Pending => {
                if f.ctx.format == Format::Human {
                    output::say(&format!("  waiting for required checks: {}", lines.join(", ")));
                }
                std::thread::sleep(poll);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(required: &[&str], reported: &[(&str, State)], expected: State) {
        let required: Vec<String> = required.iter().map(|s| s.to_string()).collect();
        let reported: Vec<(String, State)> =
            reported.iter().map(|(n, s)| (n.to_string(), *s)).collect();
        assert_eq!(
            judge_checks(&required, &reported).0,
            expected,
            "{required:?} {reported:?}"
        );
    }

    #[test]
    fn required_checks_are_judged_fail_closed() {
        use State::*;
        check(&["test"], &[("test", Pass)], Pass);
        check(&["test"], &[], Pending);
        check(&["test", "lint"], &[("test", Pass)], Pending);
        check(&["test"], &[("test", Pass), ("test", Fail)], Fail);
        check(
            &["test", "lint"],
            &[("test", Pending), ("lint", Fail)],
            Fail,
        );
        check(&["test"], &[("test", Pass), ("other", Fail)], Pass);
    }

    #[test]
    fn runs_and_statuses_map_to_states() {
        assert_eq!(
            state_of_run(&json!({"status": "in_progress", "conclusion": null})),
            State::Pending
        );
        assert_eq!(
            state_of_run(&json!({"status": "completed", "conclusion": "success"})),
            State::Pass
        );
        assert_eq!(
            state_of_run(&json!({"status": "completed", "conclusion": "skipped"})),
            State::Pass
        );
        for bad in [
            "failure",
            "cancelled",
            "timed_out",
            "action_required",
            "stale",
        ] {
            assert_eq!(
                state_of_run(&json!({"status": "completed", "conclusion": bad})),
                State::Fail,
                "{bad}"
            );
        }
        assert_eq!(
            state_of_status(&json!({"state": "pending"})),
            State::Pending
        );
        assert_eq!(state_of_status(&json!({"state": "error"})), State::Fail);
    }
}
