//! What deploy, verify-deploy and rollback print: plans (dry runs),
//! refusals, and the report of a rollout.

use serde_json::json;

use super::decide::{status_word, word};
use super::facts::unrecorded;
use super::rollout::{Done, Rollout};
use super::verify::{verification_actions, VerifyOutcome};
use super::Target;
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Environment;
use crate::plumbing::{exit, process, Ctx};
use crate::release::ledger::{Action, Entry};

pub(super) fn rollout_actions(ctx: &Ctx, r: &Rollout<'_>) -> Vec<String> {
    let env = r.environment;
    let remote = &ctx.policy.policy.git.remote;
    let mut actions = vec![
        format!("take the lock of {env}: .git/xtask/locks/{env}.json, and refs/xtask/locks/{env} on {remote} (refused while another run holds it)"),
        "reclaim the worktrees of killed runs in .git/xtask/deploy-worktrees/ (stopping what their steps left running)".to_string(),
        format!("append a started {} entry for {} in {env} to refs/notes/deployments", word(&r.action), r.target.label()),
        format!(
            "git worktree add --detach .git/xtask/deploy-worktrees/<run> {}",
            r.target.sha
        ),
    ];
    for (i, step) in r.steps.iter().enumerate() {
        actions.push(format!(
            "run {} step {}/{} {}: {} (in <worktree>/{}, timeout {})",
            word(&r.action),
            i + 1,
            r.steps.len(),
            step.name,
            process::display(&step.argv),
            step.cwd.as_deref().unwrap_or("."),
            output::duration(step.timeout())
        ));
    }
    actions.push(format!(
        "append a {} entry for {} in {} to refs/notes/deployments",
        word(&r.action),
        r.target.label(),
        r.environment
    ));
    actions.extend(verification_actions(r.policy, &r.target));
    actions.push(format!(
        "append a verify entry for {} in {} to refs/notes/deployments",
        r.target.label(),
        r.environment
    ));
    actions.push("git worktree remove .git/xtask/deploy-worktrees/<run>".to_string());
    if r.push {
        actions.push(format!(
            "git push {} refs/notes/deployments",
            ctx.policy.policy.git.remote
        ));
    }
    actions.push(format!("release the lock of {env}"));
    actions
}

pub(super) fn print_plan(ctx: &Ctx, r: &Rollout<'_>) -> anyhow::Result<()> {
    let mut passed = Vec::new();
    if let Some(g) = &r.gate {
        passed.push(format!(
            "release-gate record of {} passed (finished {})",
            r.target.sha, g.finished_at
        ));
    }
    if r.policy.production {
        passed.push(format!(
            "{} is release tag {}",
            r.target.sha,
            r.target.tag.as_deref().unwrap_or("?")
        ));
    }
    if let Some(req) = &r.policy.requires_verified_in {
        passed.push(format!("{} passed verification in {req}", r.target.sha));
    }
    if let Some(chosen) = &r.chosen {
        passed.push(chosen.clone());
    }
    if let (Action::Rollback, Some(from)) = (&r.action, &r.from_sha) {
        passed.push(format!(
            "rolling back from {from}; reason: {}",
            r.reason.as_deref().unwrap_or("(none given)")
        ));
    }
    print_actions(
        ctx,
        r.command,
        r.environment,
        &r.target,
        &passed,
        &rollout_actions(ctx, r),
    )
}

pub(super) fn print_actions(
    ctx: &Ctx,
    command: &str,
    env: &str,
    target: &Target,
    checks: &[String],
    actions: &[String],
) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": command, "environment": env, "sha": target.sha, "tag": target.tag,
            "status": "planned", "dry_run": true, "checks_passed": checks, "actions": actions,
        })),
        Format::Human => {
            output::say(&format!(
                "{} {env}: {} (dry run: nothing is changed)",
                output::bold(command),
                target.label()
            ));
            for c in checks {
                output::say(&format!("  {} {c}", output::green("ok")));
            }
            output::say("  would:");
            for (i, a) in actions.iter().enumerate() {
                output::say(&format!("  {:>3}. {a}", i + 1));
            }
        }
    }
    Ok(())
}

pub(super) fn refuse(
    ctx: &Ctx,
    command: &str,
    env: &str,
    target: Option<&Target>,
    problems: &[String],
) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": command, "environment": env, "sha": target.map(|t| &t.sha), "tag": target.and_then(|t| t.tag.clone()),
            "status": "refused", "problems": problems,
        })),
        Format::Human => {
            let what = target.map(|t| t.label()).unwrap_or_default();
            output::error(&format!(
                "{command} {env} {what} refused ({} problem{}); nothing was changed:",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            ));
            for p in problems {
                output::say(&format!("  - {p}"));
            }
        }
    }
    Err(exit::silent(exit::FAILED))
}

/// The report of a finished rollout: JSON, or the failure and the advice.
pub(super) fn rollout_report(
    ctx: &Ctx,
    r: &Rollout<'_>,
    done: &Done,
    advice: Option<&(String, String)>,
) {
    let interrupted = process::interrupted().is_some();
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": r.command, "environment": r.environment, "sha": r.target.sha, "tag": r.target.tag,
            "status": status_word(done.passed()), "dry_run": false,
            "reason": r.reason, "from_sha": r.from_sha, "target_chosen": r.chosen,
            "steps": done.steps, "verification": done.outcome.as_ref().map(VerifyOutcome::to_json),
            "ledger": done.written, "pushed": done.pushed, "ledger_error": done.ledger_error,
            "rollback_command": advice.map(|(command, _)| command),
        })),
        Format::Human => {
            if let Some(why) = &done.ledger_error {
                output::error(&unrecorded(&format!("the {}", r.command), why));
            }
            if let Some(why) = &done.failure {
                output::error(&format!(
                    "{} {} of {} {}: {why}; recorded in refs/notes/deployments",
                    r.command,
                    r.environment,
                    r.target.label(),
                    if interrupted { "interrupted" } else { "failed" }
                ));
                if let Some((command, intro)) = advice {
                    output::say(&format!(
                        "What runs in {} now is uncertain. {intro}\n  {command}",
                        r.environment
                    ));
                }
            } else if interrupted && done.outcome.is_none() {
                output::error(&format!(
                    "{} {} of {} interrupted after its steps, before the verification; recorded in refs/notes/deployments\nverify what runs there with:\n  cargo xtask verify-deploy {}",
                    r.command,
                    r.environment,
                    r.target.label(),
                    r.environment
                ));
            }
        }
    }
}

/// A rollout that started and recorded no outcome, in words.
pub(super) fn unfinished(started: &Entry) -> String {
    format!(
        "the {} of {} started at {} by {} recorded no outcome (the run was killed or lost){}",
        word(&started.action),
        started.sha,
        started.time,
        started.operator,
        started
            .detail
            .as_deref()
            .map(|d| format!("; {d}"))
            .unwrap_or_default()
    )
}

/// verify-deploy's answer when what runs in `env` is unknown: nothing is
/// verified (a pass would vouch for a SHA that may not run there), exit 1.
pub(super) fn unknown(ctx: &Ctx, command: &str, env: &str, started: &Entry) -> anyhow::Result<()> {
    let why = format!(
        "what runs in {env} is unknown: {}; deploy or roll back to resolve it (`cargo xtask deploy {env} --tag vX.Y.Z` or `cargo xtask rollback {env}`)",
        unfinished(started)
    );
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": command, "environment": env, "sha": started.sha, "tag": started.tag,
            "status": "unknown", "started": started, "problems": [why],
        })),
        Format::Human => output::error(&why),
    }
    Err(exit::silent(exit::FAILED))
}

/// verify-deploy's dry run: what it would check and record.
pub(super) fn verify_plan(
    ctx: &Ctx,
    environment: &Environment,
    name: &str,
    target: &Target,
    push: bool,
) -> anyhow::Result<()> {
    let mut all = verification_actions(environment, target);
    all.push(format!(
        "append a verify entry for {} in {name} to refs/notes/deployments",
        target.label()
    ));
    if push {
        all.push(format!(
            "git push {} refs/notes/deployments",
            ctx.policy.policy.git.remote
        ));
    }
    print_actions(ctx, "verify-deploy", name, target, &[], &all)
}
