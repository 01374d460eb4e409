//! The required checks on a PR head: which checks main requires (gather),
//! what was reported on the head (gather), the judgement (pure), and the
//! wait until they pass or fail.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::Finish;
use crate::github::client::{self as github, RequiredCheck};
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

/// One report on the head: its name, the app that reported it (check
/// runs; `None` for a commit status), its state.
type Reported = (String, Option<i64>, State);

/// Judges the required checks against what was reported: each required
/// check is pending until reported (by its app, when one is required),
/// failed when any such report failed.
fn judge_checks(required: &[RequiredCheck], reported: &[Reported]) -> (State, Vec<String>) {
    let mut worst = State::Pass;
    let mut lines = Vec::new();
    for check in required {
        let states: Vec<State> = reported
            .iter()
            .filter(|(n, app, _)| *n == check.context && check.accepts(*app))
            .map(|(_, _, s)| *s)
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
        lines.push(format!("{}: {word}", check.label()));
        worst = match (worst, state) {
            (State::Fail, _) | (_, State::Fail) => State::Fail,
            (State::Pending, _) | (_, State::Pending) => State::Pending,
            _ => State::Pass,
        };
    }
    (worst, lines)
}

/// The status checks main requires: its classic protection's (readable
/// with read access through the branch endpoint) and its rulesets'
/// (`rules/branches/{main}`), each with the app that must report it.
fn required_checks(f: &Finish, client: &github::Client) -> anyhow::Result<Vec<RequiredCheck>> {
    let path = format!("/repos/{}/branches/{}", client.repo, f.main);
    let resp = client.request("GET", &path, None)?;
    if resp.status != 200 {
        return Err(github::http_error(&resp, "GET", &path));
    }
    let classic = resp
        .body
        .pointer("/protection/required_status_checks")
        .map(github::required_checks_of_protection)
        .unwrap_or_default();
    let rules = client.branch_rules(&f.main)?;
    let mut required: Vec<RequiredCheck> = Vec::new();
    for check in classic
        .into_iter()
        .chain(github::required_checks_of_rules(&rules))
    {
        if !required
            .iter()
            .any(|r| r.context == check.context && r.app_id == check.app_id)
        {
            required.push(check);
        }
    }
    Ok(required)
}

/// Check runs (with their app) and commit statuses reported on `sha`,
/// every page of each.
fn reported_checks(client: &github::Client, sha: &str) -> anyhow::Result<Vec<Reported>> {
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
        .map(|run| {
            (
                name(run, "name"),
                run.pointer("/app/id").and_then(Value::as_i64),
                state_of_run(run),
            )
        })
        .chain(
            statuses
                .iter()
                .map(|s| (name(s, "context"), None, state_of_status(s))),
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
            "{} has no required status checks in its branch protection or rulesets, so \"merge only when all required checks are green\" cannot be verified: protect it (cargo xtask protect-main), or merge on GitHub yourself and rerun cargo xtask task-finish; nothing was merged",
            f.main
        )));
    }
    let started = Instant::now();
    loop {
        let (state, lines) = judge_checks(&required, &reported_checks(client, sha)?);
        match state {
            State::Pass => {
                f.say(format!("required checks green on {}: {}", short(sha), required.iter().map(RequiredCheck::label).collect::<Vec<_>>().join(", ")));
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

    fn any_app(name: &str) -> RequiredCheck {
        RequiredCheck {
            context: name.to_string(),
            app_id: None,
            source: "branch protection".into(),
        }
    }

    fn check(required: &[&str], reported: &[(&str, State)], expected: State) {
        let required: Vec<RequiredCheck> = required.iter().map(|s| any_app(s)).collect();
        let reported: Vec<Reported> = reported
            .iter()
            .map(|(n, s)| (n.to_string(), None, *s))
            .collect();
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
    fn a_required_app_is_respected() {
        use State::*;
        let mut e2e = any_app("e2e");
        e2e.app_id = Some(42);
        let judge = |reported: &[(&str, Option<i64>, State)]| {
            let reported: Vec<Reported> = reported
                .iter()
                .map(|(n, a, s)| (n.to_string(), *a, *s))
                .collect();
            judge_checks(std::slice::from_ref(&e2e), &reported)
        };
        // Another app's report (or a status) does not count, even a failure.
        let (state, lines) = judge(&[("e2e", Some(7), Pass), ("e2e", None, Fail)]);
        assert_eq!(
            (state, lines),
            (Pending, vec!["e2e (app 42): not reported yet".to_string()])
        );
        assert_eq!(
            judge(&[("e2e", Some(42), Pass), ("e2e", Some(7), Fail)]).0,
            Pass
        );
        assert_eq!(judge(&[("e2e", Some(42), Fail)]).0, Fail);
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
