//! A rollout (deploy or rollback): a clean worktree of the revision, the
//! policy's steps, the verification, and the ledger entries that record them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use xshell::Shell;

use super::decide::{rollback_advice, word, VERIFICATION_FAILED};
use super::facts::{push_recorded, record};
use super::render;
use super::verify::{report_verification, verify, VerifyOutcome};
use super::Target;
use crate::gates::record::GateRecord;
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{Environment, Step};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::{exit, git, Ctx};
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
    pub(super) gate: Option<GateRecord>,
    /// Rollbacks: why this target, with the ledger's evidence.
    pub(super) chosen: Option<String>,
}

/// A detached worktree of one revision in a temporary directory, removed
/// when dropped (also when a step failed or the tool was interrupted).
pub(super) struct Worktree {
    pub(super) root: PathBuf,
    pub(super) path: PathBuf,
}

impl Worktree {
    fn path_for(env: &str, sha: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        std::env::temp_dir().join(format!(
            "xtask-deploy-{env}-{}-{}-{nanos}",
            &sha[..sha.len().min(12)],
            std::process::id()
        ))
    }

    fn add(sh: &Shell, root: &Path, path: PathBuf, sha: &str) -> anyhow::Result<Worktree> {
        // Hooks of the user's repository have no business in a deployment checkout.
        let at = path.to_string_lossy();
        git::run(
            sh,
            &[
                "-c",
                "core.hooksPath=/dev/null",
                "worktree",
                "add",
                "--quiet",
                "--detach",
                &at,
                sha,
            ],
        )
        .map_err(|e| {
            exit::failed(format!(
                "cannot check out {sha} into a clean worktree at {}: {e:#}",
                path.display()
            ))
        })?;
        Ok(Worktree {
            root: root.to_path_buf(),
            path,
        })
    }
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let Ok(sh) = git::shell(&self.root) else {
            return;
        };
        let at = self.path.to_string_lossy();
        let removed = git::answer(&sh, &["worktree", "remove", "--force", "--force", &at])
            .is_ok_and(|a| a.ok());
        if !removed {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = git::answer(&sh, &["worktree", "prune"]);
        }
    }
}

pub(super) fn step_env(r: &Rollout<'_>, step: &Step) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("XTASK_DEPLOY_ENVIRONMENT".into(), r.environment.to_string()),
        ("XTASK_DEPLOY_SHA".into(), r.target.sha.clone()),
        (
            "XTASK_DEPLOY_TAG".into(),
            r.target.tag.clone().unwrap_or_default(),
        ),
        ("XTASK_DEPLOY_ACTION".into(), word(&r.action).into()),
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
                env: step_env(r, step),
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
    let path = Worktree::path_for(r.environment, &r.target.sha);
    let worktree = Worktree::add(sh, &ctx.root, path, &r.target.sha)?;
    output::say(&format!(
        "  clean worktree of {} at {}",
        r.target.sha,
        worktree.path.display()
    ));
    let (steps, failure) = run_steps(r, &worktree);
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
    let mut written = Vec::new();
    let mut ledger_error = None;
    record(sh, rolled, &mut written, &mut ledger_error);
    // A rollout that cannot be recorded is not verified: nothing could record it.
    let outcome = if failure.is_none() && ledger_error.is_none() && process::interrupted().is_none()
    {
        Some(verify_and_record(
            ctx,
            sh,
            r,
            &mut written,
            &mut ledger_error,
        )?)
    } else {
        None
    };
    drop(worktree);
    let pushed = push_recorded(ctx, sh, r.push, &mut ledger_error);
    let done = Done {
        steps,
        failure,
        outcome,
        written,
        pushed,
        ledger_error,
    };
    let verified = done.failure.is_none() && done.outcome.as_ref().is_some_and(|o| o.passed);
    let advice = if done.passed() || verified {
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
    render::rollout_report(ctx, r, &done, advice.as_ref());
    if done.passed() {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}
