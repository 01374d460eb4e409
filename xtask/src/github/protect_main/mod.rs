//! `protect-main`: the runbook's "Repository Guardrails" on GitHub, planned,
//! applied and verified: the repository merge policy (no merge commits,
//! squash and rebase, delete merged branches) and the protection of main
//! (pull requests, required checks on an up-to-date branch, admins
//! included, linear history, no force pushes or deletions).
//!
//! Tools that apply protection from configuration fail quietly: no dry run,
//! partial application, a required check that no workflow produces (every
//! pull request then waits forever), "200 OK" without the setting taking
//! effect. So: (1) every required check is matched to a workflow job that
//! runs on pull requests to the branch before any request; (2) the live
//! state is read and compared field by field; (3) only what differs is
//! written, merge policy first (linear history needs squash or rebase);
//! (4) everything is read back and every desired field compared, and a
//! field GitHub accepted but did not apply fails the command by name.
//! It manages classic branch protection only: the rules of rulesets that
//! also apply to the branch are shown with step 2, each as an overlap with
//! the policy, a conflict, or not managed.
//!
//! Here: `mod.rs` runs the steps and renders the outcome (step summary,
//! JSON); `inputs` validates the branch and the policy and reads the
//! workflows; `plan` decides (desired fields, live values, differences,
//! ruleset findings; pure); `steps` talks to GitHub.

use serde_json::{json, Value};

use crate::github::workflow;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, Ctx};

mod inputs;
mod plan;
mod steps;

use plan::{desired_fields, live_value, merge_policy_body, protection_body, show, Diff};

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Validate and show the differences and the requests it would send; write nothing.
    #[arg(long, conflicts_with = "check")]
    pub dry_run: bool,
    /// Validate and compare; exit 1 when anything differs (a scheduled drift check). Writes nothing.
    #[arg(long)]
    pub check: bool,
    /// The branch to protect [default: the policy's git.main-branch].
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Apply,
    DryRun,
    Check,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::DryRun => "dry-run",
            Mode::Check => "check",
        }
    }
}

/// What the command did, for the JSON report and the final summary.
#[derive(Default)]
struct Report {
    repository: Option<String>,
    checks: Option<workflow::Findings>,
    live_repository: Option<Value>,
    live_protection: Option<Option<Value>>,
    differences: Vec<Diff>,
    actions: Vec<Value>,
    verification: Value,
    /// The ruleset rules on the branch and how they relate to the policy.
    rulesets: Vec<plan::RuleFinding>,
    /// The status word of a failure: `refused`, `drift`,
    /// `partially-applied`, `not-applied` (else `failed`, or `error` for exit 2).
    failure: Option<&'static str>,
}

/// How the command ended: the status word, the exit code, the error text.
struct Outcome {
    status: String,
    code: i32,
    error: Option<String>,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let mode = match (flags.dry_run, flags.check) {
        (true, _) => Mode::DryRun,
        (_, true) => Mode::Check,
        _ => Mode::Apply,
    };
    let policy = &ctx.policy.policy;
    let g = &policy.github;
    let branch = match &flags.branch {
        Some(b) => {
            inputs::validate_branch(b, "--branch")?;
            b.clone()
        }
        None => {
            inputs::validate_branch(&policy.git.main_branch, "[git] main-branch")?;
            policy.git.main_branch.clone()
        }
    };
    inputs::validate_policy(ctx, g)?;

    let mut report = Report {
        verification: json!({ "status": "not run" }),
        ..Report::default()
    };
    let result = steps::steps(ctx, mode, &branch, g, &mut report);
    let outcome = match &result {
        Ok(status) => Outcome {
            status: status.to_string(),
            code: exit::OK,
            error: None,
        },
        Err(e) => {
            let code = exit::code_of(e);
            let word = match (code, report.failure) {
                (exit::USAGE, _) => "error",
                (_, Some(word)) => word,
                _ => "failed",
            };
            Outcome {
                status: word.to_string(),
                code,
                error: Some(format!("{e:#}")),
            }
        }
    };
    output::step_summary(&markdown(mode, &branch, &outcome, &report));
    if ctx.format == Format::Json {
        output::json(&json_report(mode, &branch, g, &outcome, &report));
        return match result {
            Ok(_) => Ok(()),
            Err(e) => {
                output::error(&format!("{e:#}"));
                Err(exit::silent(outcome.code))
            }
        };
    }
    result.map(|_| ())
}

/// The Actions step summary: the outcome and the differences found.
fn markdown(mode: Mode, branch: &str, outcome: &Outcome, report: &Report) -> String {
    let mut md = format!(
        "### protect-main ({}) on `{branch}`: {}\n\n",
        mode.name(),
        outcome.status
    );
    if !report.differences.is_empty() {
        md.push_str("| setting | GitHub | policy |\n|---|---|---|\n");
        for d in &report.differences {
            md.push_str(&format!(
                "| `{}` | `{}` | `{}` |\n",
                d.field,
                show(d.live.as_ref()),
                show(Some(&d.desired))
            ));
        }
    }
    if !report.rulesets.is_empty() {
        md.push_str("\nRuleset rules on the branch (protect-main manages classic protection only):\n\n| rule | source | relation | detail |\n|---|---|---|---|\n");
        for f in &report.rulesets {
            md.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                f.rule, f.source, f.kind, f.detail
            ));
        }
    }
    md
}

/// The `--format json` report.
fn json_report(
    mode: Mode,
    branch: &str,
    g: &crate::plumbing::policy::Github,
    outcome: &Outcome,
    report: &Report,
) -> Value {
    let fields = desired_fields(g);
    let live = report.live_repository.as_ref().map(|repo| {
        let protection = report.live_protection.as_ref().and_then(|p| p.as_ref());
        let mut out = serde_json::Map::new();
        for f in &fields {
            out.insert(
                f.label(),
                live_value(f, repo, protection).unwrap_or(Value::Null),
            );
        }
        json!({ "protected": report.live_protection.as_ref().map(Option::is_some), "fields": out })
    });
    json!({
        "command": "protect-main",
        "mode": mode.name(),
        "repository": report.repository,
        "branch": branch,
        "status": outcome.status,
        "exit_code": outcome.code,
        "error": outcome.error,
        "checks": report.checks,
        "desired": { "repository": merge_policy_body(), "protection": protection_body(g) },
        "live": live,
        "differences": report.differences,
        "actions": report.actions,
        "verification": report.verification,
        "rulesets": report.rulesets,
    })
}
