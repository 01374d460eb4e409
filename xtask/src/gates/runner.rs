//! The gate runner shared by `check`, `test`, `audit-eval` and
//! `release-gate`: a plan of steps run in order that stops at the first
//! failure, with a summary, a JSON report and GitHub Actions annotations.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::plumbing::env::Bypass;
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{Gate, Loaded, Step};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::{exit, Ctx};

/// Flags of `check`, `test` and `audit-eval`.
#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Print every step and command, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only the step with this name (and the gate's preparation).
    #[arg(long, value_name = "NAME")]
    pub step: Option<String>,
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub struct Planned {
    /// The gate it belongs to (`prepare`, `check`, `docs-freshness` …).
    pub gate: String,
    pub name: String,
    pub step: Step,
    /// The command as shown to people (the runner may run something else,
    /// e.g. this very binary for `cargo xtask docs-freshness`).
    pub shown: String,
    /// How to run this step alone.
    pub rerun: String,
    /// Environment that is not part of the policy (secrets): passed to the
    /// child, never displayed.
    pub hidden_env: Vec<(String, String)>,
    /// Why the step will not run, when a flag turns it off.
    pub skip: Option<String>,
    /// What a dry run lacks that the step needs to run (a database URL).
    pub needs: Option<String>,
}

impl Planned {
    pub fn id(&self) -> String {
        if self.gate == self.name {
            self.name.clone()
        } else {
            format!("{}/{}", self.gate, self.name)
        }
    }
}

/// A whole run to make: what the report calls `command`.
pub struct Plan {
    pub command: String,
    pub steps: Vec<Planned>,
    pub bypasses: Vec<Bypass>,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    NotRun,
    Interrupted,
}

impl Status {
    pub fn word(&self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::NotRun => "not run",
            Status::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub gate: String,
    pub name: String,
    pub command: String,
    pub status: Status,
    /// `exit`, `signal`, `timeout`, `not_started` or `interrupted` for a failure.
    pub failure: Option<&'static str>,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub status: Status,
    pub steps: Vec<StepReport>,
    pub bypasses: Vec<Bypass>,
    pub failed_step: Option<String>,
    pub rerun: Option<String>,
    pub duration_ms: u64,
}

impl Report {
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Passed => exit::OK,
            Status::Interrupted => exit::INTERRUPTED,
            _ => exit::FAILED,
        }
    }
}

/// The steps of the gate `name` from the policy, preparation first.
pub fn plan_gate(policy: &Loaded, name: &str, only: Option<&str>) -> anyhow::Result<Vec<Planned>> {
    let gate = policy.gate(name)?;
    let mut steps = prepare_steps(policy, &gate.prepare, &mut Vec::new());
    steps.extend(own_steps(name, gate, only)?);
    Ok(steps)
}

/// The gate's own steps (no preparation); `only` picks one by name.
pub fn own_steps(name: &str, gate: &Gate, only: Option<&str>) -> anyhow::Result<Vec<Planned>> {
    let chosen: Vec<&Step> = gate
        .steps
        .iter()
        .filter(|s| only.is_none_or(|o| s.name == o))
        .collect();
    if let (Some(only), true) = (only, chosen.is_empty()) {
        let names: Vec<&str> = gate.steps.iter().map(|s| s.name.as_str()).collect();
        return Err(exit::usage(format!(
            "gate {name} has no step named {only:?}; its steps: {}",
            names.join(", ")
        )));
    }
    Ok(chosen
        .into_iter()
        .map(|step| Planned {
            gate: name.to_string(),
            name: step.name.clone(),
            step: step.clone(),
            shown: process::display(&step.argv),
            rerun: format!("cargo xtask {name} --step {}", quote_name(&step.name)),
            hidden_env: Vec::new(),
            skip: None,
            needs: None,
        })
        .collect())
}

/// The preparation lists `names`, each run once per plan (`done` remembers).
pub fn prepare_steps(policy: &Loaded, names: &[String], done: &mut Vec<String>) -> Vec<Planned> {
    let mut steps = Vec::new();
    for list in names {
        if done.contains(list) {
            continue;
        }
        done.push(list.clone());
        for step in policy.policy.prepare.get(list).into_iter().flatten() {
            steps.push(Planned {
                gate: format!("prepare/{list}"),
                name: step.name.clone(),
                step: step.clone(),
                shown: process::display(&step.argv),
                rerun: process::display(&step.argv),
                hidden_env: Vec::new(),
                skip: None,
                needs: None,
            });
        }
    }
    steps
}

fn quote_name(name: &str) -> String {
    process::display(&[name.to_string()])
}

/// `check`, `test`, `audit-eval`: the policy's gate of that name.
pub fn run_named(ctx: &Ctx, name: &str, flags: &Flags) -> anyhow::Result<()> {
    let steps = plan_gate(&ctx.policy, name, flags.step.as_deref())?;
    let plan = Plan {
        command: name.to_string(),
        steps,
        bypasses: Vec::new(),
    };
    if flags.dry_run {
        print_plan(ctx, &plan);
        return Ok(());
    }
    let report = execute(ctx, &plan);
    finish(ctx, &report, None)
}

/// Prints the plan: every step and command, with the reason a step would be skipped.
pub fn print_plan(ctx: &Ctx, plan: &Plan) {
    match ctx.format {
        Format::Json => {
            let steps: Vec<_> = plan
                .steps
                .iter()
                .map(|p| {
                    json!({
                        "gate": p.gate, "name": p.name, "command": p.shown,
                        "cwd": p.step.cwd, "timeout_secs": p.step.timeout().as_secs(),
                        "status": if p.skip.is_some() { "skipped" } else { "planned" },
                        "reason": p.skip,
                        "required_to_run": p.needs,
                    })
                })
                .collect();
            output::json(&json!({
                "command": plan.command, "status": "planned", "dry_run": true,
                "steps": steps, "bypasses": plan.bypasses,
            }));
        }
        Format::Human => {
            output::say(&format!(
                "{} (dry run: nothing is run)",
                output::bold(&plan.command)
            ));
            let width = plan.steps.iter().map(|p| p.id().len()).max().unwrap_or(0);
            for (i, p) in plan.steps.iter().enumerate() {
                let mut line = format!("  {:>2}. {:<width$}  {}", i + 1, p.id(), p.shown);
                if let Some(cwd) = &p.step.cwd {
                    line.push_str(&format!("   (in {cwd})"));
                }
                if let Some(why) = &p.skip {
                    line.push_str(&format!("   [skipped: {why}]"));
                }
                if let Some(needs) = &p.needs {
                    line.push_str(&format!("   [required to run: {needs}]"));
                }
                output::say(&line);
            }
            for b in &plan.bypasses {
                b.warn();
            }
        }
    }
}

/// Runs the plan in order and stops at the first failure.
pub fn execute(ctx: &Ctx, plan: &Plan) -> Report {
    process::install_signal_handlers();
    let start = Instant::now();
    for b in &plan.bypasses {
        b.warn();
    }
    let mut steps = Vec::new();
    let mut stopped: Option<Stop> = None;
    for p in &plan.steps {
        let mut report = StepReport {
            gate: p.gate.clone(),
            name: p.name.clone(),
            command: p.shown.clone(),
            status: Status::NotRun,
            failure: None,
            exit_code: None,
            duration_ms: 0,
            reason: None,
        };
        if let Some(why) = &p.skip {
            report.status = Status::Skipped;
            report.reason = Some(why.clone());
            if ctx.format == Format::Human {
                output::say(&format!("--> {} skipped: {why}", p.id()));
            }
        } else if stopped.is_some() {
            report.reason = Some("an earlier step failed".to_string());
        } else {
            stopped = run_one(ctx, plan, p, &mut report);
        }
        steps.push(report);
    }
    let (status, failed_step, rerun) = match stopped {
        None => (Status::Passed, None, None),
        Some(Stop {
            id,
            rerun,
            interrupted: true,
        }) => (Status::Interrupted, Some(id), Some(rerun)),
        Some(Stop { id, rerun, .. }) => (Status::Failed, Some(id), Some(rerun)),
    };
    Report {
        command: plan.command.clone(),
        status,
        steps,
        bypasses: plan.bypasses.clone(),
        failed_step,
        rerun,
        duration_ms: start.elapsed().as_millis() as u64,
    }
}

/// Where and how a plan stopped.
struct Stop {
    id: String,
    rerun: String,
    interrupted: bool,
}

/// Runs one step, fills its report and says how it went; `Some` when the
/// plan must stop here.
fn run_one(ctx: &Ctx, plan: &Plan, p: &Planned, report: &mut StepReport) -> Option<Stop> {
    output::say(&format!("{} {}: {}", output::bold("==>"), p.id(), p.shown));
    let finished = run_step(&ctx.root, p);
    report.duration_ms = finished.duration.as_millis() as u64;
    report.exit_code = finished.outcome.exit_code();
    let took = output::duration(finished.duration);
    let outcome = &finished.outcome;
    if *outcome == Outcome::Passed {
        report.status = Status::Passed;
        output::say(&format!(
            "{} {} passed in {took}",
            output::green("<=="),
            p.id()
        ));
        return None;
    }
    let interrupted = *outcome == Outcome::Interrupted;
    report.status = if interrupted {
        Status::Interrupted
    } else {
        Status::Failed
    };
    report.failure = Some(outcome.kind());
    report.reason = Some(outcome.describe());
    let message = format!(
        "{} {}: {} after {took}",
        p.id(),
        outcome.describe(),
        p.shown
    );
    output::say(&format!("{} {message}", output::red("<== failed:")));
    if !interrupted {
        output::annotate(
            "error",
            None,
            None,
            &format!("{} step {message}", plan.command),
        );
    }
    Some(Stop {
        id: p.id(),
        rerun: p.rerun.clone(),
        interrupted,
    })
}

fn run_step(root: &Path, p: &Planned) -> process::Finished {
    let cwd = match &p.step.cwd {
        Some(dir) => root.join(dir),
        None => root.to_path_buf(),
    };
    let mut env: Vec<(String, String)> = p
        .step
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    env.extend(p.hidden_env.iter().cloned());
    let spec = Spec {
        argv: &p.step.argv,
        cwd: &cwd,
        env,
        timeout: p.step.timeout(),
    };
    process::run(&spec, Sink::Stream)
}

/// Prints the summary (human) or the report (JSON), writes the GitHub step
/// summary, and turns the result into the exit code. `extra` is merged into
/// the JSON report (release-gate adds its record).
pub fn finish(ctx: &Ctx, report: &Report, extra: Option<serde_json::Value>) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => {
            let mut value = serde_json::to_value(report).unwrap_or_default();
            if let (Some(obj), Some(serde_json::Value::Object(more))) =
                (value.as_object_mut(), extra)
            {
                obj.extend(more);
            }
            output::json(&value);
        }
        Format::Human => output::say(&summary_text(report)),
    }
    output::step_summary(&summary_markdown(report));
    match report.exit_code() {
        exit::OK => Ok(()),
        code => Err(exit::silent(code)),
    }
}

fn summary_text(report: &Report) -> String {
    let mut lines = vec![
        String::new(),
        output::bold(&format!("Summary: {}", report.command)),
    ];
    let width = report
        .steps
        .iter()
        .map(|s| id_of(s).len())
        .max()
        .unwrap_or(0);
    for s in &report.steps {
        let word = match s.status {
            Status::Passed => output::green("passed"),
            Status::Failed | Status::Interrupted => output::red(s.status.word()),
            _ => output::yellow(s.status.word()),
        };
        let pad = " ".repeat(11usize.saturating_sub(s.status.word().len()));
        let took = if matches!(
            s.status,
            Status::Passed | Status::Failed | Status::Interrupted
        ) {
            output::duration(Duration::from_millis(s.duration_ms))
        } else {
            String::new()
        };
        let mut line = format!("  {word}{pad} {:<width$}  {took:>7}", id_of(s));
        if let (Some(reason), false) = (&s.reason, s.status == Status::Passed) {
            line.push_str(&format!("  {reason}"));
        }
        lines.push(line);
    }
    for b in &report.bypasses {
        lines.push(format!(
            "  {} {}={} ({})",
            output::yellow("bypass"),
            b.variable,
            b.value,
            b.effect
        ));
    }
    let total = output::duration(Duration::from_millis(report.duration_ms));
    match (&report.status, &report.failed_step) {
        (Status::Passed, _) => lines.push(output::green(&format!(
            "{} passed in {total}.",
            report.command
        ))),
        (Status::Interrupted, _) => {
            lines.push(output::red(&format!("{} interrupted.", report.command)))
        }
        (_, Some(step)) => {
            lines.push(output::red(&format!(
                "{} failed at {step}.",
                report.command
            )));
            if let Some(rerun) = &report.rerun {
                lines.push(format!("Rerun that step alone: {rerun}"));
            }
        }
        _ => lines.push(output::red(&format!("{} failed.", report.command))),
    }
    lines.join("\n")
}

fn id_of(s: &StepReport) -> String {
    if s.gate == s.name {
        s.name.clone()
    } else {
        format!("{}/{}", s.gate, s.name)
    }
}

fn summary_markdown(report: &Report) -> String {
    let mut md = format!(
        "### {}: {}\n\n| step | status | duration | detail |\n|---|---|---|---|\n",
        report.command,
        report.status.word()
    );
    for s in &report.steps {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            id_of(s),
            s.status.word(),
            output::duration(Duration::from_millis(s.duration_ms)),
            s.reason.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    for b in &report.bypasses {
        md.push_str(&format!(
            "\nBypass used: `{}={}` ({})\n",
            b.variable, b.value, b.effect
        ));
    }
    md.push('\n');
    md
}
