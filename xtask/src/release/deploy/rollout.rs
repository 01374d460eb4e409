//! A rollout (deploy or rollback): a clean worktree of the revision, the
//! policy's steps, the verification, and the ledger entries that record them.

use std::time::Duration;

use serde::Serialize;
use xshell::Shell;

use super::decide::{rollback_advice, word, VERIFICATION_FAILED};
use super::facts::{push_recorded, record};
use super::lock::{self, Lock};
use super::render;
use super::verify::{deadline_of, report_verification, verify, VerifyOutcome};
use super::worktree::{self, Worktree};
use super::Target;
use crate::gates::record::GateRecord;
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{Environment, Step};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::{exit, Ctx};
use crate::release::ledger::{self, Action, Entry};

pub(super) struct Rollout<'a> {
    pub(super) command: &'static str,
    pub(super) action: Action,
    pub(super) environment: &'a str,
    pub(super) policy: &'a Environment,
    pub(super) target: Target,
    pub(super) steps: Vec<Step>,
    pub(super) reason: Option<String>,
    pub(super) from_sha: Option<String>,
    pub(super) push: bool,
    pub(super) break_lock: bool,
    pub(super) gate: Option<GateRecord>,
    /// Rollbacks: why this target, with the ledger's evidence.
    pub(super) chosen: Option<String>,
}

pub(super) fn step_env(r: &Rollout<'_>, step: &Step, run: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("XTASK_DEPLOY_ENVIRONMENT".into(), r.environment.to_string()),
        ("XTASK_DEPLOY_SHA".into(), r.target.sha.clone()),
        (
            "XTASK_DEPLOY_TAG".into(),
            r.target.tag.clone().unwrap_or_default(),
        ),
        ("XTASK_DEPLOY_ACTION".into(), word(&r.action).into()),
        (worktree::RUN_VAR.into(), run.to_string()),
    ];
    env.extend(step.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

#[allow(clippy::too_many_arguments)]
pub(super) fn new_entry(
    sh: &Shell,
    target: &Target,
    env: &str,
    action: Action,
    passed: bool,
    reason: Option<String>,
    from_sha: Option<String>,
    detail: Option<String>,
) -> Entry {
    Entry {
        sha: target.sha.clone(),
        environment: env.to_string(),
        action,
        result: if passed { "passed" } else { "failed" }.to_string(),
        time: ledger::now(),
        operator: ledger::operator(sh),
        tag: target.tag.clone(),
        reason,
        from_sha,
        detail,
    }
}

#[derive(Serialize)]
pub(super) struct StepReport {
    name: String,
    command: String,
    status: String,
    duration_ms: u64,
    detail: Option<String>,
}

/// Runs `r`'s steps in order in `worktree`, streaming their output, until
/// one fails or the tool is interrupted: the reports and the first failure.
fn run_steps(r: &Rollout<'_>, worktree: &Worktree) -> (Vec<StepReport>, Option<String>) {
    let verb = word(&r.action);
    let mut steps = Vec::new();
    for (i, step) in r.steps.iter().enumerate() {
        let shown = process::display(&step.argv);
        output::say(&format!(
            "  {verb} {}/{} {}: {shown}",
            i + 1,
            r.steps.len(),
            step.name
        ));
        let cwd = worktree.path.join(step.cwd.as_deref().unwrap_or("."));
        let done = process::run(
            &Spec {
                argv: &step.argv,
                cwd: &cwd,
                env: step_env(r, step, &worktree.run),
                timeout: step.timeout(),
            },
            Sink::Stream,
        );
        let ok = done.outcome == Outcome::Passed;
        let detail = (!ok).then(|| {
            format!(
                "{verb} step {} ({shown}) {}",
                step.name,
                done.outcome.describe()
            )
        });
        let word = match done.outcome {
            Outcome::Passed => "passed",
            Outcome::Interrupted => "interrupted",
            _ => "failed",
        };
        let status = if ok {
            output::green(word)
        } else {
            output::red(word)
        };
        output::say(&format!(
            "  {status} {} in {}",
            step.name,
            output::duration(done.duration)
        ));
        steps.push(StepReport {
            name: step.name.clone(),
            command: shown,
            status: word.into(),
            duration_ms: done.duration.as_millis() as u64,
            detail: detail.clone(),
        });
        if !ok {
            return (steps, detail);
        }
    }
    (steps, None)
}

/// Verifies the rolled-out target and records the result in the ledger.
fn verify_and_record(
    ctx: &Ctx,
    sh: &Shell,
    r: &Rollout<'_>,
    written: &mut Vec<Entry>,
    ledger_error: &mut Option<String>,
) -> anyhow::Result<VerifyOutcome> {
    let outcome = verify(ctx, r.policy, &r.target);
    let entry = new_entry(
        sh,
        &r.target,
        r.environment,
        Action::Verify,
        outcome.passed,
        None,
        None,
        outcome.detail(),
    );
    record(sh, entry, written, ledger_error);
    if ctx.format == Format::Human {
        let advice = rollback_advice(
            &ledger::all_entries(sh)?,
            r.environment,
            VERIFICATION_FAILED,
        );
        report_verification(r.environment, &r.target, &outcome, &advice);
    }
    Ok(outcome)
}

/// What a finished rollout did, for its report.
pub(super) struct Done {
    pub(super) steps: Vec<StepReport>,
    /// The step that failed (or was interrupted), if one did.
    pub(super) failure: Option<String>,
    /// The verification, when the steps all passed and it ran.
    pub(super) outcome: Option<VerifyOutcome>,
    pub(super) written: Vec<Entry>,
    pub(super) pushed: bool,
    /// Why an entry could not be written (locally, or pushed with --push).
    pub(super) ledger_error: Option<String>,
}

impl Done {
    pub(super) fn passed(&self) -> bool {
        self.failure.is_none()
            && self.ledger_error.is_none()
            && self.outcome.as_ref().is_some_and(|o| o.passed)
    }
}

/// The environment's deploy deadline: the longest a run may hold its lock
/// (every step's timeout, then the verification's deadline).
fn deadline(r: &Rollout<'_>) -> Duration {
    r.steps.iter().map(Step::timeout).sum::<Duration>() + deadline_of(r.policy)
}

/// Takes the environment's lock (refusing, exit 1, when another run holds
/// it) and reclaims what killed runs left: what was taken over, in words.
fn begin(ctx: &Ctx, sh: &Shell, r: &Rollout<'_>) -> anyhow::Result<(Lock, Vec<String>)> {
    let remote = &ctx.policy.policy.git.remote;
    let remote = ledger::has_remote(sh, remote).then_some(remote.as_str());
    let holder = lock::holder(sh, r.environment, r.command, &r.target.sha);
    let lock = lock::acquire(sh, &ctx.root, remote, &holder, deadline(r), r.break_lock)?;
    let mut notes = lock.notes.clone();
    notes.extend(worktree::reclaim(sh, &ctx.root)?);
    for note in &notes {
        output::warning(note);
    }
    Ok((lock, notes))
}

/// The `started` entry written before the first step, so that a run killed
/// on the way leaves its environment unknown, never verified.
fn started_entry(sh: &Shell, r: &Rollout<'_>, notes: &[String]) -> Entry {
    let detail = (!notes.is_empty()).then(|| notes.join("; "));
    let mut entry = new_entry(
        sh,
        &r.target,
        r.environment,
        r.action.clone(),
        false,
        r.reason.clone(),
        None,
        detail,
    );
    entry.result = ledger::STARTED.to_string();
    entry
}

/// A checkout of the target, its steps, its verification, its ledger entries.
pub(super) fn execute(ctx: &Ctx, sh: &Shell, r: &Rollout<'_>) -> anyhow::Result<()> {
    process::install_signal_handlers();
    output::say(&format!(
        "{} {}: {}",
        output::bold(r.command),
        r.environment,
        r.target.label()
    ));
    if let Some(chosen) = &r.chosen {
        output::say(&format!("  {chosen}"));
    }
    let (lock, notes) = match begin(ctx, sh, r) {
        Ok(taken) => taken,
        Err(e) if exit::code_of(&e) == exit::FAILED => {
            return render::refuse(
                ctx,
                r.command,
                r.environment,
                Some(&r.target),
                &[format!("{e:#}")],
            )
        }
        Err(e) => return Err(e),
    };
    let mut written = Vec::new();
    let mut ledger_error = None;
    record(
        sh,
        started_entry(sh, r, &notes),
        &mut written,
        &mut ledger_error,
    );
    let (mut steps, mut failure, mut outcome) = (Vec::new(), None, None);
    if ledger_error.is_none() {
        match Worktree::add(sh, &ctx.root, r.environment, &r.target.sha) {
            Ok(worktree) => {
                output::say(&format!(
                    "  clean worktree of {} at {}",
                    r.target.sha,
                    worktree.path.display()
                ));
                (steps, failure) = run_steps(r, &worktree);
            }
            Err(e) => failure = Some(format!("{e:#}")),
        }
        let rolled = new_entry(
            sh,
            &r.target,
            r.environment,
            r.action.clone(),
            failure.is_none(),
            r.reason.clone(),
            r.from_sha.clone().filter(|_| r.action == Action::Rollback),
            failure.clone(),
        );
        record(sh, rolled, &mut written, &mut ledger_error);
        // A rollout that cannot be recorded is not verified: nothing could record it.
        if failure.is_none() && ledger_error.is_none() && process::interrupted().is_none() {
            outcome = Some(verify_and_record(
                ctx,
                sh,
                r,
                &mut written,
                &mut ledger_error,
            )?);
        }
    }
    let pushed = push_recorded(ctx, sh, r.push, &mut ledger_error);
    drop(lock);
    let done = Done {
        steps,
        failure,
        outcome,
        written,
        pushed,
        ledger_error,
    };
    finish(ctx, sh, r, &done)
}

/// Reports `done` (with the rollback to advise when it failed) and exits.
fn finish(ctx: &Ctx, sh: &Shell, r: &Rollout<'_>, done: &Done) -> anyhow::Result<()> {
    let verified = done.failure.is_none() && done.outcome.as_ref().is_some_and(|o| o.passed);
    // Nothing ran (the started entry or the checkout failed): nothing to roll back.
    let advice = if done.passed() || verified || done.steps.is_empty() {
        None
    } else {
        let why = match &done.failure {
            Some(_) if process::interrupted().is_some() => format!("{} interrupted", r.command),
            Some(_) => format!("{} step failed", r.command),
            None => VERIFICATION_FAILED.to_string(),
        };
        Some(rollback_advice(
            &ledger::all_entries(sh)?,
            r.environment,
            &why,
        ))
    };
    render::rollout_report(ctx, r, done, advice.as_ref());
    if done.passed() {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}
