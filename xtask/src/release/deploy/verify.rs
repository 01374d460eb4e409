//! Post-deploy verification: HTTP checks through `curl` (argv, no shell)
//! and commands, identity checks first, retried with backoff until they pass
//! or the hard deadline is reached. Judging a response is a pure function.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use super::Target;
use crate::plumbing::curl;
use crate::plumbing::output;
use crate::plumbing::policy::{self, Environment, HttpCheck};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::Ctx;

const DEFAULT_DEADLINE: &str = "60s";
const DEFAULT_RETRIES: u32 = 5;
const DEFAULT_BACKOFF: &str = "2s";

pub(super) fn verification_actions(env: &Environment, target: &Target) -> Vec<String> {
    let v = &env.verify;
    let mut actions = vec![format!(
        "verify within {} ({} retries, backoff from {}), identity checks first:",
        output::duration(deadline_of(env)),
        v.retries.unwrap_or(DEFAULT_RETRIES),
        output::duration(backoff_of(env))
    )];
    for check in ordered_checks(env) {
        let mut expect = vec![format!("status {}", check.status.unwrap_or(200))];
        if let Some(f) = &check.version_field {
            expect.push(format!("JSON field {f} = {}", expected_identity(target)));
        }
        if let Some(h) = &check.version_header {
            expect.push(format!("header {h} = {}", expected_identity(target)));
        }
        for t in &check.contains {
            expect.push(format!("body contains {t:?}"));
        }
        if !check.metrics.is_empty() {
            expect.push(format!("metrics {}", check.metrics.join(", ")));
        }
        actions.push(format!(
            "  check {}: curl GET {} expecting {}",
            check.name,
            check.url,
            expect.join(", ")
        ));
    }
    for step in &v.commands {
        actions.push(format!(
            "  command {}: {} must succeed",
            step.name,
            process::display(&step.argv)
        ));
    }
    actions
}

// ---------------------------------------------------------------------------
// Verification

/// One problem a check found: what was looked at, expected, and got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Mismatch {
    pub what: String,
    pub expected: String,
    pub got: String,
}

#[derive(Clone, Debug, Serialize)]
struct CheckResult {
    name: String,
    kind: &'static str,
    target: String,
    passed: bool,
    mismatches: Vec<Mismatch>,
}

pub(super) struct VerifyOutcome {
    pub(super) passed: bool,
    attempts: u32,
    duration: Duration,
    deadline: Duration,
    deadline_reached: bool,
    results: Vec<CheckResult>,
}

impl VerifyOutcome {
    fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.results.iter().filter(|r| !r.passed) {
            for m in &r.mismatches {
                out.push(format!(
                    "{} ({}): {}: expected {}, got {}",
                    r.name, r.target, m.what, m.expected, m.got
                ));
            }
        }
        out
    }

    pub(super) fn detail(&self) -> Option<String> {
        if self.passed {
            return None;
        }
        let mut text = self.failures().join("; ");
        if process::interrupted().is_some() {
            text = format!("interrupted before the verification finished; last attempt: {text}");
        }
        if self.deadline_reached {
            text.push_str(&format!(
                " (deadline {} reached)",
                output::duration(self.deadline)
            ));
        }
        Some(text.chars().take(2000).collect())
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "status": super::status_word(self.passed),
            "attempts": self.attempts, "duration_ms": self.duration.as_millis() as u64,
            "deadline_ms": self.deadline.as_millis() as u64, "deadline_reached": self.deadline_reached,
            "checks": self.results,
        })
    }
}

pub(super) fn deadline_of(env: &Environment) -> Duration {
    env.verify
        .deadline
        .as_deref()
        .unwrap_or(DEFAULT_DEADLINE)
        .parse_duration()
}

fn backoff_of(env: &Environment) -> Duration {
    env.verify
        .backoff
        .as_deref()
        .unwrap_or(DEFAULT_BACKOFF)
        .parse_duration()
}

trait ParseDuration {
    fn parse_duration(&self) -> Duration;
}

impl ParseDuration for str {
    /// Validated with the policy; the fallback is never reached.
    fn parse_duration(&self) -> Duration {
        policy::parse_duration(self).unwrap_or(Duration::from_secs(60))
    }
}

/// Identity checks first, then the others, each group in policy order.
fn ordered_checks(env: &Environment) -> Vec<&HttpCheck> {
    let (mut first, rest): (Vec<&HttpCheck>, Vec<&HttpCheck>) = env
        .verify
        .checks
        .iter()
        .partition(|c| c.version_field.is_some() || c.version_header.is_some());
    first.extend(rest);
    first
}

fn expected_identity(target: &Target) -> String {
    match &target.tag {
        Some(tag) => format!("{} or {tag}", target.sha),
        None => target.sha.clone(),
    }
}

/// The whole verification, retried with backoff until it passes, the retries
/// are used up, or the hard deadline is reached.
pub(super) fn verify(ctx: &Ctx, env: &Environment, target: &Target) -> VerifyOutcome {
    let deadline = deadline_of(env);
    let retries = env.verify.retries.unwrap_or(DEFAULT_RETRIES);
    let mut wait = backoff_of(env);
    let start = Instant::now();
    let end = start + deadline;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let results = attempt(ctx, env, target, end);
        let passed = results.iter().all(|r| r.passed);
        let left = end.saturating_duration_since(Instant::now());
        let out_of_time = left.is_zero();
        if passed || attempts > retries || out_of_time {
            let deadline_reached = !passed
                && (out_of_time
                    || results
                        .iter()
                        .any(|r| r.mismatches.iter().any(|m| m.got.contains("deadline"))));
            return VerifyOutcome {
                passed,
                attempts,
                duration: start.elapsed(),
                deadline,
                deadline_reached,
                results,
            };
        }
        let first = results
            .iter()
            .find(|r| !r.passed)
            .and_then(|r| r.mismatches.first().map(|m| (r.name.clone(), m.clone())));
        if let Some((name, m)) = first {
            output::say(&format!(
                "  attempt {attempts}: {name}: {}: expected {}, got {}; retrying in {}",
                m.what,
                m.expected,
                m.got,
                output::duration(wait.min(left))
            ));
        }
        nap(wait.min(left));
        wait = wait.saturating_mul(2);
        if process::interrupted().is_some() {
            return VerifyOutcome {
                passed: false,
                attempts,
                duration: start.elapsed(),
                deadline,
                deadline_reached: false,
                results,
            };
        }
        if Instant::now() >= end {
            return VerifyOutcome {
                passed: false,
                attempts,
                duration: start.elapsed(),
                deadline,
                deadline_reached: true,
                results,
            };
        }
    }
}

/// Sleeps for `d`, waking early when the tool is interrupted.
fn nap(d: Duration) {
    let until = Instant::now() + d;
    while process::interrupted().is_none() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn attempt(ctx: &Ctx, env: &Environment, target: &Target, end: Instant) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in ordered_checks(env) {
        let mismatches = http_mismatches(check, target, end);
        results.push(CheckResult {
            name: check.name.clone(),
            kind: "http",
            target: check.url.clone(),
            passed: mismatches.is_empty(),
            mismatches,
        });
    }
    for step in &env.verify.commands {
        let mismatches = command_mismatches(ctx, step, end);
        results.push(CheckResult {
            name: step.name.clone(),
            kind: "command",
            target: process::display(&step.argv),
            passed: mismatches.is_empty(),
            mismatches,
        });
    }
    results
}

/// One HTTP check, tried once within what is left before `end`.
fn http_mismatches(check: &HttpCheck, target: &Target, end: Instant) -> Vec<Mismatch> {
    let left = end.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(50) {
        vec![Mismatch {
            what: "response".into(),
            expected: "an answer".into(),
            got: "not tried: the verification deadline was reached".into(),
        }]
    } else {
        match fetch(&check.url, left) {
            Ok(resp) => evaluate(check, target, &resp),
            Err(got) => vec![Mismatch {
                what: "response".into(),
                expected: format!("HTTP {}", check.status.unwrap_or(200)),
                got,
            }],
        }
    }
}

/// One verification command, run once within what is left before `end`.
fn command_mismatches(ctx: &Ctx, step: &policy::Step, end: Instant) -> Vec<Mismatch> {
    let left = end.saturating_duration_since(Instant::now());
    if left < Duration::from_millis(50) {
        vec![Mismatch {
            what: "exit".into(),
            expected: "exit code 0".into(),
            got: "not run: the verification deadline was reached".into(),
        }]
    } else {
        let cwd = ctx.root.join(step.cwd.as_deref().unwrap_or("."));
        let env_vars: Vec<(String, String)> = step
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let done = process::run(
            &Spec {
                argv: &step.argv,
                cwd: &cwd,
                env: env_vars,
                timeout: step.timeout().min(left),
            },
            Sink::Capture,
        );
        match done.outcome {
            Outcome::Passed => Vec::new(),
            Outcome::TimedOut(_) if step.timeout() > left => vec![Mismatch {
                what: "exit".into(),
                expected: "exit code 0".into(),
                got: format!(
                    "still running when the verification deadline was reached ({})",
                    output::duration(left)
                ),
            }],
            other => {
                let nonempty = |l: &&str| !l.trim().is_empty();
                let last = done
                    .stderr
                    .lines()
                    .rfind(nonempty)
                    .or_else(|| done.stdout.lines().rfind(nonempty))
                    .unwrap_or("")
                    .to_string();
                let got = if last.is_empty() {
                    other.describe()
                } else {
                    format!("{} ({last})", other.describe())
                };
                vec![Mismatch {
                    what: "exit".into(),
                    expected: "exit code 0".into(),
                    got,
                }]
            }
        }
    }
}

/// An HTTP response as curl gave it.
#[derive(Debug, Default)]
struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

/// GET `url` with curl (argv, no shell), at most `left`.
fn fetch(url: &str, left: Duration) -> Result<Response, String> {
    let argv: Vec<String> = [
        "curl",
        "--silent",
        "--show-error",
        "--include",
        "--proto",
        "=http,https",
        "--max-time",
        &format!("{:.3}", left.as_secs_f64()),
        "--write-out",
        "\n%{http_code}",
        url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let done = process::run(
        &Spec {
            argv: &argv,
            cwd: Path::new("/"),
            env: Vec::new(),
            timeout: left + Duration::from_secs(2),
        },
        Sink::Capture,
    );
    match done.outcome {
        Outcome::Passed => parse_response(&done.stdout),
        Outcome::Exited(28) | Outcome::TimedOut(_) => Err(format!(
            "no answer within {} (the verification deadline)",
            output::duration(left)
        )),
        other => {
            let why = done.stderr.trim().trim_start_matches("curl: ").to_string();
            Err(if why.is_empty() {
                format!("curl {}", other.describe())
            } else {
                format!("no answer ({why})")
            })
        }
    }
}

/// Reads curl's answer (`--include` plus the `--write-out` status line).
fn parse_response(raw: &str) -> Result<Response, String> {
    let answer = curl::parse(raw)?;
    Ok(Response {
        status: answer.status,
        headers: answer.headers().collect(),
        body: answer.body.to_string(),
    })
}

/// Everything wrong with `resp` for `check`: identity first, then status,
/// required texts, metrics.
fn evaluate(check: &HttpCheck, target: &Target, resp: &Response) -> Vec<Mismatch> {
    let mut out = identity_mismatches(check, target, resp);
    let want = check.status.unwrap_or(200);
    if resp.status != want {
        out.push(Mismatch {
            what: "status".into(),
            expected: want.to_string(),
            got: format!("{} ({})", resp.status, excerpt(&resp.body)),
        });
    }
    for text in &check.contains {
        if !resp.body.contains(text.as_str()) {
            out.push(Mismatch {
                what: "body text".into(),
                expected: format!("{text:?}"),
                got: format!("a body without it ({})", excerpt(&resp.body)),
            });
        }
    }
    let exposed = metric_names(&resp.body);
    let missing: Vec<&String> = check
        .metrics
        .iter()
        .filter(|m| !exposed.contains(m.as_str()))
        .collect();
    if !missing.is_empty() {
        out.push(Mismatch {
            what: "metrics".into(),
            expected: missing
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            got: if exposed.is_empty() {
                "no metrics".into()
            } else {
                format!(
                    "only {}",
                    exposed.iter().copied().collect::<Vec<_>>().join(", ")
                )
            },
        });
    }
    out
}

/// Whether `resp` names the deployed revision, by JSON field or header.
fn identity_mismatches(check: &HttpCheck, target: &Target, resp: &Response) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let expected = expected_identity(target);
    if let Some(field) = &check.version_field {
        let got = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|v| field.split('.').try_fold(v, |v, k| v.get(k).cloned()))
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            });
        match got {
            Some(got) if identity_matches(&got, target) => {}
            Some(got) => out.push(Mismatch {
                what: format!("version (JSON field `{field}`)"),
                expected: expected.clone(),
                got: format!("{got:?}"),
            }),
            None => out.push(Mismatch {
                what: format!("version (JSON field `{field}`)"),
                expected: expected.clone(),
                got: format!("no such field in the body ({})", excerpt(&resp.body)),
            }),
        }
    }
    if let Some(header) = &check.version_header {
        match resp.headers.get(&header.to_ascii_lowercase()) {
            Some(got) if identity_matches(got, target) => {}
            Some(got) => out.push(Mismatch {
                what: format!("version (header `{header}`)"),
                expected: expected.clone(),
                got: format!("{got:?}"),
            }),
            None => out.push(Mismatch {
                what: format!("version (header `{header}`)"),
                expected: expected.clone(),
                got: "no such header".into(),
            }),
        }
    }
    out
}

/// The version a service reports is the deployed one: the full SHA, an
/// abbreviation of it (at least 7 hex digits), or the release tag.
fn identity_matches(got: &str, target: &Target) -> bool {
    let got = got.trim();
    (got.len() >= 7
        && got.len() <= target.sha.len()
        && target.sha.starts_with(&got.to_ascii_lowercase()))
        || target.tag.as_deref() == Some(got)
}

/// Metric names of a Prometheus text exposition: sample names and the
/// names of `# TYPE` / `# HELP` lines.
fn metric_names(body: &str) -> std::collections::BTreeSet<&str> {
    let mut names = std::collections::BTreeSet::new();
    for line in body.lines().map(str::trim) {
        let name = if let Some(rest) = line
            .strip_prefix("# TYPE ")
            .or_else(|| line.strip_prefix("# HELP "))
        {
            rest.split_whitespace().next()
        } else if line.starts_with('#') || line.is_empty() {
            None
        } else {
            line.split(|c: char| c == '{' || c.is_whitespace()).next()
        };
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            names.insert(name);
        }
    }
    names
}

fn excerpt(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "empty body".into();
    }
    let cut: String = one_line.chars().take(120).collect();
    if cut.len() < one_line.len() {
        format!("body: {cut}…")
    } else {
        format!("body: {cut}")
    }
}

/// `advice`: the rollback command to suggest on failure, and its intro line.
pub(super) fn report_verification(
    env: &str,
    target: &Target,
    o: &VerifyOutcome,
    advice: &(String, String),
) {
    for r in &o.results {
        let status = if r.passed {
            output::green("passed")
        } else {
            output::red("failed")
        };
        output::say(&format!("  {status} {} {} ({})", r.kind, r.name, r.target));
    }
    if o.passed {
        output::say(&output::green(&format!(
            "verified {env}: {} in {} ({} attempt{}); recorded in refs/notes/deployments",
            target.label(),
            output::duration(o.duration),
            o.attempts,
            if o.attempts == 1 { "" } else { "s" }
        )));
        return;
    }
    let why = if o.deadline_reached {
        format!(", deadline {} reached", output::duration(o.deadline))
    } else {
        String::new()
    };
    output::error(&format!(
        "verification of {env} {} {} after {} attempt{} in {}{why}; recorded in refs/notes/deployments:",
        target.label(),
        if process::interrupted().is_some() {
            "interrupted"
        } else {
            "failed"
        },
        o.attempts,
        if o.attempts == 1 { "" } else { "s" },
        output::duration(o.duration)
    ));
    for f in o.failures() {
        output::say(&format!("  - {f}"));
    }
    output::say(&format!("{}\n  {}", advice.1, advice.0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::deploy::tests::{target, SHA};

    #[test]
    fn identity_is_the_full_sha_an_abbreviation_or_the_tag() {
        let t = target(Some("v1.2.0"));
        for good in [
            SHA,
            "0123456",
            "0123456789AB",
            "v1.2.0",
            " 0123456789abcdef ",
        ] {
            assert!(identity_matches(good, &t), "{good}");
        }
        for bad in [
            "012345",
            "1123456",
            "v1.2.1",
            "",
            "v1.2",
            &format!("{SHA}0"),
        ] {
            assert!(!identity_matches(bad, &t), "{bad}");
        }
        assert!(!identity_matches("v1.2.0", &target(None)));
    }

    #[test]
    fn metric_names_come_from_samples_and_type_lines() {
        let body = "# HELP http_requests_total All requests\n# TYPE http_requests_total counter\nhttp_requests_total{path=\"/\"} 3\nup 1\n# a comment\nlatency_seconds_bucket{le=\"1\"} 2\n";
        let names: Vec<&str> = metric_names(body).into_iter().collect();
        assert_eq!(
            names,
            ["http_requests_total", "latency_seconds_bucket", "up"]
        );
    }

    #[test]
    fn responses_are_split_into_status_headers_and_body() {
        let raw = "HTTP/1.0 200 OK\r\nX-Version: abc\r\nContent-Type: application/json\r\n\r\n{\"version\": \"abc\"}\n200";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.headers.get("x-version").map(String::as_str), Some("abc"));
        assert_eq!(r.body, "{\"version\": \"abc\"}");
        assert!(parse_response("garbage").is_err());
    }

    fn check_response(check: HttpCheck, status: u16, body: &str, expected: &[&str]) {
        let resp = Response {
            status,
            headers: BTreeMap::from([("x-version".to_string(), "v1.0.0".to_string())]),
            body: body.into(),
        };
        let got: Vec<String> = evaluate(&check, &target(Some("v1.0.0")), &resp)
            .into_iter()
            .map(|m| format!("{}: {} / {}", m.what, m.expected, m.got))
            .collect();
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(g.contains(e), "{g:?} lacks {e:?}");
        }
    }

    #[test]
    fn responses_are_judged_identity_first_and_completely() {
        let health = || HttpCheck {
            name: "health".into(),
            url: "http://x/".into(),
            version_field: Some("build.sha".into()),
            ..HttpCheck::default()
        };
        check_response(
            health(),
            200,
            &format!("{{\"build\": {{\"sha\": \"{SHA}\"}}}}"),
            &[],
        );
        check_response(
            health(),
            500,
            "{\"build\": {\"sha\": \"ffffffff\"}}",
            &["version (JSON field `build.sha`)", "status: 200 / 500"],
        );
        check_response(health(), 200, "not json", &["no such field"]);
        let header = HttpCheck {
            name: "h".into(),
            url: "http://x/".into(),
            version_header: Some("X-Version".into()),
            ..HttpCheck::default()
        };
        check_response(header, 200, "", &[]);
        let metrics = HttpCheck {
            name: "metrics".into(),
            url: "http://x/metrics".into(),
            contains: vec!["up".into()],
            metrics: vec!["up".into(), "jobs_total".into()],
            ..HttpCheck::default()
        };
        check_response(metrics, 200, "up 1\n", &["metrics: jobs_total / only up"]);
    }
}
