//! `deploy`, `verify-deploy` and `rollback`: the runbook's rollout,
//! post-deploy verification and rollback, promoting one commit SHA through
//! the policy's environments and proving it with the deployment ledger
//! (`refs/notes/deployments`) and the gate record (`refs/notes/release-gate`).
//!
//! Deploy steps never run in the user's working tree: each rollout checks out
//! the exact revision into a fresh detached worktree in a temporary
//! directory, which is removed afterwards, also on failure. Every decision
//! (may this SHA go to this environment, which revision is the last known
//! good, did a response pass) is a pure function of gathered facts.

use serde::Serialize;
use serde_json::json;

mod decide;
mod facts;
mod input;
mod lock;
mod render;
mod rollout;
mod verify;
mod worktree;

use crate::gates::record;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, process, Ctx};
use crate::release::ledger::{self, Action};
pub use decide::{admission, current_deployment, last_known_good};
use decide::{is_deployment, rollback_advice, status_word, word, VERIFICATION_FAILED};
use facts::{push_recorded, record, resolve_rev, resolve_tag, sync_records, unrecorded};
use input::{env_name, environment, require_curl, validate_reason, validate_tag};
use render::{print_plan, refuse};
use rollout::{execute, new_entry, Rollout};
use verify::{report_verification, verify};

#[derive(clap::Args, Debug)]
pub struct DeployFlags {
    /// The environment (a `[deploy.environments.<name>]` of the policy) [env: DEPLOY_ENV].
    #[arg(value_name = "ENV")]
    pub env: Option<String>,
    /// Deploy this release tag (vX.Y.Z) [env: DEPLOY_TAG].
    #[arg(long, value_name = "vX.Y.Z", conflicts_with = "sha")]
    pub tag: Option<String>,
    /// Deploy this commit [env: DEPLOY_SHA; default: HEAD].
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// Also push the ledger (refs/notes/deployments) to the remote.
    #[arg(long)]
    pub push: bool,
    /// Take over the environment's lock from a run on another host that is
    /// older than the deploy deadline (recorded in the ledger).
    #[arg(long)]
    pub break_lock: bool,
    /// Run every read-only check and print every action, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args, Debug)]
pub struct VerifyFlags {
    /// The environment [env: DEPLOY_ENV].
    #[arg(value_name = "ENV")]
    pub env: Option<String>,
    /// Also push the ledger (refs/notes/deployments) to the remote.
    #[arg(long)]
    pub push: bool,
    /// Print what would be checked, check nothing, record nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::Args, Debug)]
pub struct RollbackFlags {
    /// The environment [env: DEPLOY_ENV].
    #[arg(value_name = "ENV")]
    pub env: Option<String>,
    /// The release tag to roll back to [env: ROLLBACK_TO; default: the last tag verified in ENV before the current deployment].
    #[arg(long, value_name = "vX.Y.Z")]
    pub to: Option<String>,
    /// Why, for the ledger [env: ROLLBACK_REASON].
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Also push the ledger (refs/notes/deployments) to the remote.
    #[arg(long)]
    pub push: bool,
    /// Take over the environment's lock from a run on another host that is
    /// older than the deploy deadline (recorded in the ledger).
    #[arg(long)]
    pub break_lock: bool,
    /// Run every read-only check and print every action, change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The revision to roll out: a commit and its release tag, if it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Target {
    pub sha: String,
    pub tag: Option<String>,
}

impl Target {
    fn label(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{tag} ({})", short(&self.sha)),
            None => short(&self.sha).to_string(),
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

// ---------------------------------------------------------------------------
// Commands

pub fn deploy(ctx: &Ctx, flags: &DeployFlags) -> anyhow::Result<()> {
    let name = env_name(flags.env.as_deref())?;
    let environment = environment(ctx, &name)?;
    let tag = flags
        .tag
        .clone()
        .or_else(|| crate::plumbing::env::var("DEPLOY_TAG"));
    let sha = flags
        .sha
        .clone()
        .or_else(|| crate::plumbing::env::var("DEPLOY_SHA"));
    if tag.is_some() && sha.is_some() {
        return Err(exit::usage(
            "give either --tag or --sha (DEPLOY_TAG or DEPLOY_SHA), not both",
        ));
    }
    if let Some(tag) = &tag {
        validate_tag(tag)?;
    }
    require_curl(environment)?;
    let sh = git::shell(&ctx.root)?;
    sync_records(ctx, &sh)?;
    let target = match (&tag, &sha) {
        (Some(tag), _) => resolve_tag(&sh, tag)?,
        (None, Some(rev)) => resolve_rev(&sh, rev)?,
        (None, None) => resolve_rev(&sh, "HEAD")?,
    };
    let entries = ledger::all_entries(&sh)?;
    warn_unknown(&entries, &name);
    let gate = record::latest_record(&sh, &target.sha)?;
    let mut problems = admission(&name, environment, &target, gate.as_ref(), &entries);
    problems.extend(isolation_problem(ctx, gate.as_ref()));
    if !problems.is_empty() {
        return refuse(ctx, "deploy", &name, Some(&target), &problems);
    }
    let rollout = Rollout {
        command: "deploy",
        action: Action::Deploy,
        environment: &name,
        policy: environment,
        target,
        steps: environment.steps.clone(),
        reason: None,
        from_sha: entries
            .iter()
            .rev()
            .find(|e| is_deployment(e, &name))
            .map(|e| e.sha.clone()),
        push: flags.push,
        break_lock: flags.break_lock,
        gate,
        chosen: None,
    };
    if flags.dry_run {
        return print_plan(ctx, &rollout);
    }
    execute(ctx, &sh, &rollout)
}

pub fn verify_deploy(ctx: &Ctx, flags: &VerifyFlags) -> anyhow::Result<()> {
    let name = env_name(flags.env.as_deref())?;
    let environment = environment(ctx, &name)?;
    require_curl(environment)?;
    let sh = git::shell(&ctx.root)?;
    sync_records(ctx, &sh)?;
    let entries = ledger::all_entries(&sh)?;
    let Some(current) = current_deployment(&entries, &name) else {
        return Err(exit::failed(format!(
            "the ledger (refs/notes/deployments) records no deployment to {name}: deploy first with `cargo xtask deploy {name} --tag vX.Y.Z`"
        )));
    };
    if let Some(started) = ledger::unfinished_rollout(&entries, &name) {
        return render::unknown(ctx, "verify-deploy", &name, started);
    }
    let target = Target {
        sha: current.sha.clone(),
        tag: current.tag.clone(),
    };
    if flags.dry_run {
        return render::verify_plan(ctx, environment, &name, &target, flags.push);
    }
    output::say(&format!(
        "{} {name}: {} (deployed {} by {}, {})",
        output::bold("verify-deploy"),
        target.label(),
        current.time,
        current.operator,
        word(&current.action)
    ));
    process::install_signal_handlers();
    let outcome = verify(ctx, environment, &target);
    let entry = new_entry(
        &sh,
        &target,
        &name,
        Action::Verify,
        outcome.passed,
        None,
        None,
        outcome.detail(),
    );
    let mut written = Vec::new();
    let mut ledger_error = None;
    record(&sh, entry, &mut written, &mut ledger_error);
    let advice = rollback_advice(&entries, &name, VERIFICATION_FAILED);
    if ctx.format == Format::Human {
        report_verification(&name, &target, &outcome, &advice);
    }
    let pushed = push_recorded(ctx, &sh, flags.push, &mut ledger_error);
    let passed = outcome.passed && ledger_error.is_none();
    let rollback = (!outcome.passed).then_some(advice.0);
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "verify-deploy", "environment": name, "sha": target.sha, "tag": target.tag,
            "status": status_word(passed), "dry_run": false,
            "verification": outcome.to_json(), "ledger": written, "pushed": pushed,
            "ledger_error": ledger_error, "rollback_command": rollback,
        })),
        Format::Human => {
            if let Some(why) = &ledger_error {
                output::error(&unrecorded("the verification", why));
            }
        }
    }
    if passed {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}

pub fn rollback(ctx: &Ctx, flags: &RollbackFlags) -> anyhow::Result<()> {
    let name = env_name(flags.env.as_deref())?;
    let environment = environment(ctx, &name)?;
    let to = flags
        .to
        .clone()
        .or_else(|| crate::plumbing::env::var("ROLLBACK_TO"));
    let reason = flags
        .reason
        .clone()
        .or_else(|| crate::plumbing::env::var("ROLLBACK_REASON"));
    if let Some(tag) = &to {
        validate_tag(tag)?;
    }
    if let Some(reason) = &reason {
        validate_reason(reason)?;
    }
    require_curl(environment)?;
    let sh = git::shell(&ctx.root)?;
    sync_records(ctx, &sh)?;
    let entries = ledger::all_entries(&sh)?;
    let Some(current) = current_deployment(&entries, &name) else {
        return Err(exit::failed(format!(
            "the ledger (refs/notes/deployments) records no deployment to {name}: there is nothing to roll back from"
        )));
    };
    warn_unknown(&entries, &name);
    let (target, chosen) = rollback_target(&sh, &entries, &name, to.as_deref(), current)?;
    let gate = record::latest_record(&sh, &target.sha)?;
    let mut problems = admission(&name, environment, &target, gate.as_ref(), &entries);
    problems.extend(isolation_problem(ctx, gate.as_ref()));
    if target.sha == current.sha {
        problems.insert(0, format!("{} is what {name} runs already (the current deployment, {}): pick another revision with --to", target.label(), current.time));
    }
    if !problems.is_empty() {
        return refuse(ctx, "rollback", &name, Some(&target), &problems);
    }
    let rollout = Rollout {
        command: "rollback",
        action: Action::Rollback,
        environment: &name,
        policy: environment,
        steps: environment
            .rollback_steps
            .clone()
            .unwrap_or_else(|| environment.steps.clone()),
        target,
        reason,
        from_sha: Some(current.sha.clone()),
        push: flags.push,
        break_lock: flags.break_lock,
        gate,
        chosen: Some(chosen),
    };
    if flags.dry_run {
        return print_plan(ctx, &rollout);
    }
    execute(ctx, &sh, &rollout)
}

/// Says that what runs in `env` is unknown, when a rollout there never
/// recorded its outcome; the run about to start resolves it.
fn warn_unknown(entries: &[ledger::Entry], env: &str) {
    if let Some(started) = ledger::unfinished_rollout(entries, env) {
        output::warning(&format!(
            "what runs in {env} is unknown: {}",
            render::unfinished(started)
        ));
    }
}

/// The revision a rollback goes to, and why: `--to`, else the last known
/// good of `env`, whose tag must still name the SHA that was verified.
/// `[release] require-isolated-gate`: a gate record made outside an
/// isolated worktree does not admit its SHA (None when there is no record:
/// admission already says so).
fn isolation_problem(ctx: &Ctx, gate: Option<&record::GateRecord>) -> Option<String> {
    let required = ctx.policy.policy.release.require_isolated_gate;
    record::admit_isolation(gate?, required).err()
}

fn rollback_target(
    sh: &xshell::Shell,
    entries: &[ledger::Entry],
    name: &str,
    to: Option<&str>,
    current: &ledger::Entry,
) -> anyhow::Result<(Target, String)> {
    let current_label = Target {
        sha: current.sha.clone(),
        tag: current.tag.clone(),
    }
    .label();
    if let Some(tag) = to {
        return Ok((
            resolve_tag(sh, tag)?,
            format!("target {tag} given with --to"),
        ));
    }
    let Some(good) = last_known_good(entries, name) else {
        return Err(exit::failed(format!(
            "the ledger has no release tag verified in {name} before the current deployment ({current_label}): pass the revision with `cargo xtask rollback {name} --to vX.Y.Z --reason \"…\"`"
        )));
    };
    let tag = good.tag.clone().unwrap_or_default();
    let resolved = resolve_tag(sh, &tag)?;
    if resolved.sha != good.sha {
        return Err(exit::failed(format!(
            "the last known good of {name} is {tag} at {} (verified {}), but the tag now points at {}: pass --to TAG explicitly",
            good.sha, good.time, resolved.sha
        )));
    }
    let chosen = format!(
        "last known good: {tag} passed verification in {name} at {} (by {}), before the current deployment of {current_label} at {}",
        good.time, good.operator, current.time
    );
    Ok((resolved, chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::record::GateRecord;
    use crate::plumbing::policy::{self, Environment, HttpCheck, Step};
    use crate::release::ledger::Entry;

    pub(super) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    /// Also used by `verify`'s tests.
    pub(super) fn target(tag: Option<&str>) -> Target {
        Target {
            sha: SHA.into(),
            tag: tag.map(str::to_string),
        }
    }

    pub(super) fn entry(
        sha: &str,
        env: &str,
        action: Action,
        passed: bool,
        tag: Option<&str>,
        time: &str,
    ) -> Entry {
        Entry {
            sha: sha.into(),
            environment: env.into(),
            action,
            result: if passed { "passed" } else { "failed" }.into(),
            time: time.into(),
            operator: "t".into(),
            tag: tag.map(str::to_string),
            reason: None,
            from_sha: None,
            detail: None,
        }
    }

    pub(super) fn env(production: bool, requires: Option<&str>) -> Environment {
        Environment {
            production,
            requires_verified_in: requires.map(str::to_string),
            steps: vec![Step {
                name: "up".into(),
                argv: vec!["true".into()],
                ..Step::default()
            }],
            rollback_steps: None,
            verify: policy::Verify {
                checks: vec![HttpCheck {
                    name: "health".into(),
                    url: "http://127.0.0.1:1/health".into(),
                    ..HttpCheck::default()
                }],
                ..policy::Verify::default()
            },
        }
    }

    pub(super) fn passed_gate() -> GateRecord {
        serde_json::from_value(json!({
            "sha": SHA, "tree": "t", "status": "passed", "started_at": "a", "finished_at": "b",
            "steps": [], "bypasses": [], "database": null, "tool": "xtask"
        }))
        .unwrap()
    }

    #[test]
    fn the_latest_gate_record_is_chosen_by_time_not_line_order() {
        let record = |status: &str, finished: &str| {
            let mut r = passed_gate();
            r.status = status.into();
            r.finished_at = finished.into();
            r
        };
        let sorted = vec![
            record("failed", "2026-01-02T10:00:00.5Z"),
            record("passed", "2026-01-02T09:00:00Z"),
        ];
        assert_eq!(
            crate::gates::record::latest_by_time(sorted).unwrap().status,
            "failed"
        );
        let tie = vec![
            record("passed", "2026-01-02T09:00:00Z"),
            record("failed", "2026-01-02T09:00:00Z"),
        ];
        assert_eq!(
            crate::gates::record::latest_by_time(tie).unwrap().status,
            "failed"
        );
        assert!(crate::gates::record::latest_by_time(Vec::new()).is_none());
    }
}
