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

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use xshell::{cmd, Shell};

mod verify;

use crate::gates::record::{self, GateRecord};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{self, Environment, Step};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::{exit, git, Ctx};
use crate::release::ledger::{self, Action, Entry};
use verify::{report_verification, verification_actions, verify, VerifyOutcome};

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
    let gate = record::latest_record(&sh, &target.sha)?;
    let problems = admission(&name, environment, &target, gate.as_ref(), &entries);
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
    let target = Target {
        sha: current.sha.clone(),
        tag: current.tag.clone(),
    };
    let actions = verification_actions(environment, &target);
    if flags.dry_run {
        let mut all = actions;
        all.push(format!(
            "append a verify entry for {} in {name} to refs/notes/deployments",
            target.label()
        ));
        if flags.push {
            all.push(format!(
                "git push {} refs/notes/deployments",
                ctx.policy.policy.git.remote
            ));
        }
        return print_actions(ctx, "verify-deploy", &name, &target, &[], &all);
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
    ledger::append(&sh, &entry)?;
    let advice = rollback_advice(&entries, &name, VERIFICATION_FAILED);
    if ctx.format == Format::Human {
        report_verification(&name, &target, &outcome, &advice);
    }
    let pushed = push_if(ctx, &sh, flags.push)?;
    let rollback = (!outcome.passed).then_some(advice.0);
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "verify-deploy", "environment": name, "sha": target.sha, "tag": target.tag,
            "status": status_word(outcome.passed), "dry_run": false,
            "verification": outcome.to_json(), "ledger": [entry], "pushed": pushed, "rollback_command": rollback,
        })),
        Format::Human => {}
    }
    if outcome.passed {
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
    let mut chosen = format!(
        "target {} given with --to",
        to.as_deref().unwrap_or_default()
    );
    let target = match &to {
        Some(tag) => resolve_tag(&sh, tag)?,
        None => match last_known_good(&entries, &name) {
            Some(good) => {
                let tag = good.tag.clone().unwrap_or_default();
                let resolved = resolve_tag(&sh, &tag)?;
                if resolved.sha != good.sha {
                    return Err(exit::failed(format!(
                        "the last known good of {name} is {tag} at {} (verified {}), but the tag now points at {}: pass --to TAG explicitly",
                        good.sha, good.time, resolved.sha
                    )));
                }
                chosen = format!(
                    "last known good: {tag} passed verification in {name} at {} (by {}), before the current deployment of {} at {}",
                    good.time,
                    good.operator,
                    Target { sha: current.sha.clone(), tag: current.tag.clone() }.label(),
                    current.time
                );
                resolved
            }
            None => {
                return Err(exit::failed(format!(
                    "the ledger has no release tag verified in {name} before the current deployment ({}): pass the revision with `cargo xtask rollback {name} --to vX.Y.Z --reason \"…\"`",
                    Target { sha: current.sha.clone(), tag: current.tag.clone() }.label()
                )))
            }
        },
    };
    let gate = record::latest_record(&sh, &target.sha)?;
    let mut problems = admission(&name, environment, &target, gate.as_ref(), &entries);
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
        gate,
        chosen: Some(chosen),
    };
    if flags.dry_run {
        return print_plan(ctx, &rollout);
    }
    execute(ctx, &sh, &rollout)
}

// ---------------------------------------------------------------------------
// Policy and input validation

/// The environment name from the argument or `DEPLOY_ENV` (the make shim).
fn env_name(arg: Option<&str>) -> anyhow::Result<String> {
    let name = arg
        .map(str::to_string)
        .or_else(|| crate::plumbing::env::var("DEPLOY_ENV"));
    let Some(name) = name else {
        return Err(exit::usage(
            "name the environment: `cargo xtask deploy staging` (or make … DEPLOY_ENV=staging)",
        ));
    };
    if !valid_env_name(&name) {
        return Err(exit::usage(format!(
            "{name:?} is not an environment name (lower-case letters, digits, `-`, `_`)"
        )));
    }
    Ok(name)
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The environment `name` of a valid `[deploy]` section.
fn environment<'a>(ctx: &'a Ctx, name: &str) -> anyhow::Result<&'a Environment> {
    let deploy = &ctx.policy.policy.deploy;
    if deploy.environments.is_empty() {
        return Err(ctx.policy.missing("deploy.environments.<name>"));
    }
    let problems = validate_policy(deploy);
    if !problems.is_empty() {
        let path = ctx.policy.path.display();
        return Err(exit::usage(
            problems
                .iter()
                .map(|p| format!("{path}: {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ));
    }
    deploy.environments.get(name).ok_or_else(|| {
        let known: Vec<&str> = deploy.environments.keys().map(String::as_str).collect();
        exit::usage(format!(
            "{name:?} is not an environment of {}: known are {} (add [deploy.environments.{name}] to deploy there)",
            ctx.policy.path.display(),
            known.join(", ")
        ))
    })
}

/// Everything wrong with a `[deploy]` section, all at once.
pub fn validate_policy(deploy: &policy::Deploy) -> Vec<String> {
    let mut problems = Vec::new();
    let check_steps = |problems: &mut Vec<String>, at: &str, steps: &[Step], required: bool| {
        if required && steps.is_empty() {
            problems.push(format!("{at}: needs at least one step"));
        }
        for (i, step) in steps.iter().enumerate() {
            if step.name.trim().is_empty() {
                problems.push(format!("{at}[{i}]: name is empty"));
            }
            if step.argv.first().is_none_or(|p| p.trim().is_empty()) {
                problems.push(format!(
                    "{at}[{i}] ({}): argv must name a program",
                    step.name
                ));
            }
            if let Some(t) = &step.timeout {
                if let Err(e) = policy::parse_duration(t) {
                    problems.push(format!("{at}[{i}] ({}): timeout {e}", step.name));
                }
            }
            if let Some(cwd) = &step.cwd {
                if Path::new(cwd).is_absolute() || cwd.split('/').any(|c| c == "..") {
                    problems.push(format!(
                        "{at}[{i}] ({}): cwd {cwd:?} must be a relative path inside the repository",
                        step.name
                    ));
                }
            }
        }
    };
    for (name, env) in &deploy.environments {
        let at = format!("deploy.environments.{name}");
        if !valid_env_name(name) {
            problems.push(format!(
                "{at}: the name must be lower-case letters, digits, `-` or `_`"
            ));
        }
        check_steps(&mut problems, &format!("{at}.steps"), &env.steps, true);
        if let Some(steps) = &env.rollback_steps {
            check_steps(&mut problems, &format!("{at}.rollback-steps"), steps, true);
        }
        match &env.requires_verified_in {
            Some(req) if req == name => problems.push(format!("{at}.requires-verified-in: an environment cannot require itself")),
            Some(req) if !deploy.environments.contains_key(req) => {
                problems.push(format!("{at}.requires-verified-in: no environment named {req:?}"))
            }
            None if env.production => problems.push(format!(
                "{at}: a production environment must name the environment that verifies a SHA first (requires-verified-in = \"staging\")"
            )),
            _ => {}
        }
        let v = &env.verify;
        if v.checks.is_empty() && v.commands.is_empty() {
            problems.push(format!("{at}.verify: needs at least one check or command (a verification that checks nothing proves nothing)"));
        }
        for (key, value) in [("deadline", &v.deadline), ("backoff", &v.backoff)] {
            if let Some(text) = value {
                if let Err(e) = policy::parse_duration(text) {
                    problems.push(format!("{at}.verify.{key}: {e}"));
                }
            }
        }
        let mut seen = Vec::new();
        for (i, check) in v.checks.iter().enumerate() {
            let at = format!("{at}.verify.checks[{i}]");
            if check.name.trim().is_empty() {
                problems.push(format!("{at}: name is empty"));
            } else if seen.contains(&&check.name) {
                problems.push(format!("{at}: the name {:?} is used twice", check.name));
            }
            seen.push(&check.name);
            if let Err(e) = validate_url(&check.url) {
                problems.push(format!("{at} ({}): {e}", check.name));
            }
            if let Some(status) = check.status {
                if !(100..=599).contains(&status) {
                    problems.push(format!(
                        "{at} ({}): status {status} is not an HTTP status",
                        check.name
                    ));
                }
            }
            if check
                .version_field
                .as_deref()
                .is_some_and(|f| f.is_empty() || f.split('.').any(str::is_empty))
            {
                problems.push(format!(
                    "{at} ({}): version-field must be a field name or a dotted path",
                    check.name
                ));
            }
            if check.version_header.as_deref().is_some_and(|h| {
                h.is_empty()
                    || !h
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            }) {
                problems.push(format!(
                    "{at} ({}): version-header must be a header name",
                    check.name
                ));
            }
        }
        check_steps(
            &mut problems,
            &format!("{at}.verify.commands"),
            &v.commands,
            false,
        );
    }
    problems
}

/// A URL that goes to curl: http(s) only, no whitespace or control
/// characters (so it can never be taken for an option).
fn validate_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        None => Err(format!("url {url:?} must start with http:// or https://")),
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            Err(format!("url {url:?} has no host"))
        }
        Some(rest) if rest.split(['/', '?', '#']).next().is_some_and(|a| a.contains('@')) => Err(format!(
            "url {url:?} carries credentials, which would be visible in curl's argv: use an endpoint that needs none"
        )),
        Some(_) if url.chars().any(|c| c.is_whitespace() || c.is_control()) => Err(format!(
            "url {url:?} contains whitespace or control characters"
        )),
        Some(_) => Ok(()),
    }
}

/// `vX.Y.Z`, nothing else.
fn validate_tag(tag: &str) -> anyhow::Result<()> {
    if crate::release::version::parse(tag).is_some() {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "{tag:?} is not a release tag: use vMAJOR.MINOR.PATCH, e.g. v1.4.0"
        )))
    }
}

fn validate_reason(reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() || reason.len() > 500 || reason.chars().any(|c| c.is_control()) {
        return Err(exit::usage(
            "--reason must be one line of text, at most 500 characters",
        ));
    }
    Ok(())
}

fn require_curl(environment: &Environment) -> anyhow::Result<()> {
    if environment.verify.checks.is_empty() {
        return Ok(());
    }
    let argv = vec!["curl".to_string(), "--version".to_string()];
    let done = process::run(
        &Spec {
            argv: &argv,
            cwd: Path::new("/"),
            env: Vec::new(),
            timeout: Duration::from_secs(10),
        },
        Sink::Capture,
    );
    match done.outcome {
        Outcome::Passed => Ok(()),
        other => Err(exit::usage(format!(
            "curl is required for the HTTP checks of the verification: {} (install it: apt-get install curl)",
            other.describe()
        ))),
    }
}

// ---------------------------------------------------------------------------
// Git facts

/// Fetches the gate records and the ledger from the remote, so the decisions
/// see what other operators recorded.
fn sync_records(ctx: &Ctx, sh: &Shell) -> anyhow::Result<()> {
    let remote = &ctx.policy.policy.git.remote;
    if !ledger::has_remote(sh, remote) {
        output::warning(&format!(
            "no remote {remote:?}: the ledger and gate records are local only (add the remote to share them)"
        ));
        return Ok(());
    }
    ledger::fetch_notes(sh, remote, record::NOTES_REF)?;
    ledger::fetch_notes(sh, remote, ledger::NOTES_REF)?;
    Ok(())
}

fn push_if(ctx: &Ctx, sh: &Shell, push: bool) -> anyhow::Result<bool> {
    if !push {
        return Ok(false);
    }
    let remote = &ctx.policy.policy.git.remote;
    ledger::push_notes(sh, remote, ledger::NOTES_REF)?;
    output::say(&format!(
        "pushed refs/notes/{} to {remote}",
        ledger::NOTES_REF
    ));
    Ok(true)
}

fn resolve_tag(sh: &Shell, tag: &str) -> anyhow::Result<Target> {
    validate_tag(tag)?;
    let full = format!("refs/tags/{tag}");
    match git::resolve_commit(sh, &full)? {
        Some(sha) => Ok(Target { sha, tag: Some(tag.to_string()) }),
        None => Err(exit::usage(format!("there is no tag {tag} here: `git fetch --tags` or create it with `cargo xtask release-tag`"))),
    }
}

fn resolve_rev(sh: &Shell, rev: &str) -> anyhow::Result<Target> {
    let Some(sha) = git::resolve_commit(sh, rev)? else {
        return Err(exit::usage(format!(
            "{rev} does not name a commit here (git fetch, then retry)"
        )));
    };
    let tag = release_tag_of(sh, &sha)?;
    Ok(Target { sha, tag })
}

/// The highest `vX.Y.Z` tag on `sha`, if any.
fn release_tag_of(sh: &Shell, sha: &str) -> anyhow::Result<Option<String>> {
    let out = cmd!(sh, "git tag --points-at {sha} --list v*")
        .quiet()
        .read()?;
    Ok(out
        .lines()
        .filter_map(|t| crate::release::version::parse(t.trim()).map(|v| (v, t.trim().to_string())))
        .max()
        .map(|(_, t)| t))
}

// ---------------------------------------------------------------------------
// Decisions (pure)

fn is_deployment(e: &Entry, env: &str) -> bool {
    e.environment == env && matches!(e.action, Action::Deploy | Action::Rollback)
}

/// What runs in `env`: the last deploy or rollback recorded for it.
pub fn current_deployment<'a>(entries: &'a [Entry], env: &str) -> Option<&'a Entry> {
    entries.iter().rev().find(|e| is_deployment(e, env))
}

/// The last known good of `env`: the most recent passing verification of a
/// release tag in `env` recorded before the current deployment, of another
/// revision than the current one, and not rolled back away from since (a
/// rollback from a revision says it was not good after all; release-notes
/// judges the same way). `entries` are in time order.
pub fn last_known_good<'a>(entries: &'a [Entry], env: &str) -> Option<&'a Entry> {
    let current = entries.iter().rposition(|e| is_deployment(e, env))?;
    let current_sha = &entries[current].sha;
    let rolled_back_from = |pass: &Entry| {
        entries.iter().any(|e| {
            e.environment == env
                && e.action == Action::Rollback
                && e.from_sha.as_deref() == Some(pass.sha.as_str())
                && e.time > pass.time
        })
    };
    entries[..current].iter().rev().find(|e| {
        e.environment == env
            && e.action == Action::Verify
            && e.passed()
            && e.tag.is_some()
            && &e.sha != current_sha
            && !rolled_back_from(e)
    })
}

/// Why `target` may not go to `env` (empty: it may). Every reason, not the first.
pub fn admission(
    env_name: &str,
    env: &Environment,
    target: &Target,
    gate: Option<&GateRecord>,
    entries: &[Entry],
) -> Vec<String> {
    let sha = &target.sha;
    let mut problems = Vec::new();
    match gate {
        None => problems.push(format!(
            "{sha} has no release-gate record: run the gate on a clean checkout of it (`git switch --detach {sha} && cargo xtask release-gate`), then `cargo xtask gate-status {sha}`"
        )),
        Some(r) if !r.passed() => problems.push(format!(
            "the latest release-gate record of {sha} says {} (finished {}): fix the failure and rerun `cargo xtask release-gate` on it",
            r.status, r.finished_at
        )),
        Some(_) => {}
    }
    if env.production && target.tag.is_none() {
        problems.push(format!(
            "{sha} is not the commit of a release tag: {env_name} is production and takes only releases (`cargo xtask release-tag`, then `cargo xtask deploy {env_name} --tag vX.Y.Z`)"
        ));
    }
    if let Some(required) = &env.requires_verified_in {
        // The latest verification there decides: a later failure of the
        // same SHA withdraws an earlier pass.
        let latest = entries
            .iter()
            .rev()
            .find(|e| &e.environment == required && e.action == Action::Verify && &e.sha == sha);
        if !latest.is_some_and(Entry::passed) {
            let evidence = match entries
                .iter()
                .rev()
                .find(|e| &e.environment == required && &e.sha == sha)
            {
                Some(e) => format!(
                    "its last {required} entry is a {} that {} at {}",
                    word(&e.action),
                    e.result,
                    e.time
                ),
                None => format!("the ledger has no {required} entry for it"),
            };
            let how = match &target.tag {
                Some(tag) => format!("cargo xtask deploy {required} --tag {tag}"),
                None => format!("cargo xtask deploy {required} --sha {sha}"),
            };
            problems.push(format!(
                "{sha} has no passing verification in {required}, which {env_name} requires ({evidence}): deploy and verify it there first with `{how}` (or `cargo xtask verify-deploy {required}` while it runs there)"
            ));
        }
    }
    problems
}

/// A run's status for reports: `interrupted` when the tool was interrupted
/// (Ctrl-C, as the gates say), else `passed` or `failed`.
fn status_word(passed: bool) -> &'static str {
    if process::interrupted().is_some() {
        "interrupted"
    } else if passed {
        "passed"
    } else {
        "failed"
    }
}

fn word(action: &Action) -> &'static str {
    match action {
        Action::Deploy => "deploy",
        Action::Verify => "verify",
        Action::Rollback => "rollback",
    }
}

/// The rollback to suggest after a failure in `env`: the command, and the
/// line that introduces it. `why` becomes its recorded reason, so it names
/// what actually failed. Without a last known good (nothing was verified in
/// `env` before this deployment, e.g. its first deploy failed), a plain
/// `rollback ENV` would refuse, so the command names a release with `--to`.
/// `entries` are the ledger's, in time order.
pub(super) fn rollback_advice(entries: &[Entry], env: &str, why: &str) -> (String, String) {
    match last_known_good(entries, env) {
        Some(good) => (
            format!("cargo xtask rollback {env} --reason \"{why}\""),
            format!(
                "Roll back to the last known good ({}) with:",
                good.tag.as_deref().unwrap_or(&good.sha)
            ),
        ),
        None => (
            format!("cargo xtask rollback {env} --to vX.Y.Z --reason \"{why}\""),
            format!(
                "There is no last known good to roll back to: no release tag was verified in {env} before this deployment. To run an earlier release there, name it:"
            ),
        ),
    }
}

const VERIFICATION_FAILED: &str = "post-deploy verification failed";

// ---------------------------------------------------------------------------
// Rollout: worktree, steps, verification, records

struct Rollout<'a> {
    command: &'static str,
    action: Action,
    environment: &'a str,
    policy: &'a Environment,
    target: Target,
    steps: Vec<Step>,
    reason: Option<String>,
    from_sha: Option<String>,
    push: bool,
    gate: Option<GateRecord>,
    /// Rollbacks: why this target, with the ledger's evidence.
    chosen: Option<String>,
}

/// A detached worktree of one revision in a temporary directory, removed
/// when dropped (also when a step failed or the tool was interrupted).
struct Worktree {
    root: PathBuf,
    path: PathBuf,
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
        cmd!(
            sh,
            "git -c core.hooksPath=/dev/null worktree add --quiet --detach {path} {sha}"
        )
        .quiet()
        .run()
        .map_err(|e| {
            exit::failed(format!(
                "cannot check out {sha} into a clean worktree at {}: {e}",
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
        let removed = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(&self.path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !removed {
            let _ = std::fs::remove_dir_all(&self.path);
            let _ = std::process::Command::new("git")
                .arg("-C")
                .arg(&self.root)
                .args(["worktree", "prune"])
                .status();
        }
    }
}

fn step_env(r: &Rollout<'_>, step: &Step) -> Vec<(String, String)> {
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

fn rollout_actions(ctx: &Ctx, r: &Rollout<'_>) -> Vec<String> {
    let mut actions = vec![format!(
        "git worktree add --detach <temporary directory> {}",
        r.target.sha
    )];
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
    actions.push("git worktree remove <temporary directory>".to_string());
    if r.push {
        actions.push(format!(
            "git push {} refs/notes/deployments",
            ctx.policy.policy.git.remote
        ));
    }
    actions
}

fn print_plan(ctx: &Ctx, r: &Rollout<'_>) -> anyhow::Result<()> {
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

fn print_actions(
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

fn refuse(
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

#[allow(clippy::too_many_arguments)]
fn new_entry(
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
struct StepReport {
    name: String,
    command: String,
    status: String,
    duration_ms: u64,
    detail: Option<String>,
}

fn execute(ctx: &Ctx, sh: &Shell, r: &Rollout<'_>) -> anyhow::Result<()> {
    process::install_signal_handlers();
    let verb = word(&r.action);
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

    let mut steps = Vec::new();
    let mut failure = None;
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
            failure = detail;
            break;
        }
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
    ledger::append(sh, &rolled)?;
    let mut written = vec![rolled];

    let outcome = if failure.is_none() && process::interrupted().is_none() {
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
        ledger::append(sh, &entry)?;
        written.push(entry);
        if ctx.format == Format::Human {
            let advice = rollback_advice(
                &ledger::all_entries(sh)?,
                r.environment,
                VERIFICATION_FAILED,
            );
            report_verification(r.environment, &r.target, &outcome, &advice);
        }
        Some(outcome)
    } else {
        None
    };
    drop(worktree);
    let pushed = push_if(ctx, sh, r.push)?;
    let passed = failure.is_none() && outcome.as_ref().is_some_and(|o| o.passed);
    let interrupted = process::interrupted().is_some();
    let rollback_reason = match &failure {
        Some(_) if interrupted => format!("{} interrupted", r.command),
        Some(_) => format!("{} step failed", r.command),
        None => VERIFICATION_FAILED.to_string(),
    };
    let advice = if passed {
        None
    } else {
        Some(rollback_advice(
            &ledger::all_entries(sh)?,
            r.environment,
            &rollback_reason,
        ))
    };
    let rollback = advice.as_ref().map(|(command, _)| command.clone());
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": r.command, "environment": r.environment, "sha": r.target.sha, "tag": r.target.tag,
            "status": status_word(passed), "dry_run": false,
            "reason": r.reason, "from_sha": r.from_sha, "target_chosen": r.chosen,
            "steps": steps, "verification": outcome.as_ref().map(VerifyOutcome::to_json),
            "ledger": written, "pushed": pushed, "rollback_command": rollback,
        })),
        Format::Human => {
            if let Some(why) = &failure {
                output::error(&format!(
                    "{} {} of {} {}: {why}; recorded in refs/notes/deployments",
                    r.command,
                    r.environment,
                    r.target.label(),
                    if interrupted { "interrupted" } else { "failed" }
                ));
                if let Some((command, intro)) = &advice {
                    output::say(&format!(
                        "What runs in {} now is uncertain. {intro}\n  {command}",
                        r.environment
                    ));
                }
            } else if interrupted && outcome.is_none() {
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
    if passed {
        Ok(())
    } else {
        Err(exit::silent(exit::FAILED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::policy::HttpCheck;

    pub(super) const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    /// Also used by `verify`'s tests.
    pub(super) fn target(tag: Option<&str>) -> Target {
        Target {
            sha: SHA.into(),
            tag: tag.map(str::to_string),
        }
    }

    fn entry(
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

    fn env(production: bool, requires: Option<&str>) -> Environment {
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

    fn passed_gate() -> GateRecord {
        serde_json::from_value(json!({
            "sha": SHA, "tree": "t", "status": "passed", "started_at": "a", "finished_at": "b",
            "steps": [], "bypasses": [], "database": null, "tool": "xtask"
        }))
        .unwrap()
    }

    #[test]
    fn production_needs_a_gate_record_a_tag_and_a_staging_verification() {
        let prod = env(true, Some("staging"));
        let gate = passed_gate();
        let verified = vec![entry(
            SHA,
            "staging",
            Action::Verify,
            true,
            Some("v1.0.0"),
            "1",
        )];
        assert!(admission(
            "prod",
            &prod,
            &target(Some("v1.0.0")),
            Some(&gate),
            &verified
        )
        .is_empty());
        let none = admission("prod", &prod, &target(None), None, &[]);
        assert_eq!(none.len(), 3, "{none:?}");
        assert!(none[0].contains("no release-gate record"));
        assert!(none[1].contains("not the commit of a release tag"));
        assert!(
            none[2].contains("no passing verification in staging")
                && none[2].contains("no staging entry")
        );
        let failed = vec![entry(
            SHA,
            "staging",
            Action::Verify,
            false,
            Some("v1.0.0"),
            "1",
        )];
        let p = admission("prod", &prod, &target(Some("v1.0.0")), Some(&gate), &failed);
        assert!(p.len() == 1 && p[0].contains("verify that failed"), "{p:?}");
        let withdrawn = vec![
            entry(SHA, "staging", Action::Verify, true, Some("v1.0.0"), "1"),
            entry(SHA, "staging", Action::Verify, false, Some("v1.0.0"), "2"),
        ];
        let p = admission(
            "prod",
            &prod,
            &target(Some("v1.0.0")),
            Some(&gate),
            &withdrawn,
        );
        assert!(
            p.len() == 1 && p[0].contains("verify that failed at 2"),
            "{p:?}"
        );
        let other_env = vec![entry(SHA, "qa", Action::Verify, true, None, "1")];
        assert_eq!(
            admission(
                "prod",
                &prod,
                &target(Some("v1.0.0")),
                Some(&gate),
                &other_env
            )
            .len(),
            1
        );
        assert!(admission(
            "staging",
            &env(false, None),
            &target(None),
            Some(&gate),
            &[]
        )
        .is_empty());
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

    #[test]
    fn the_rollback_suggested_names_a_release_when_there_is_no_last_known_good() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        // The first deploy to staging failed its verification: nothing was
        // ever verified there, so a plain `rollback staging` would refuse.
        let mut entries = vec![
            entry(&a, "staging", Action::Deploy, true, Some("v1.0.0"), "1"),
            entry(&a, "staging", Action::Verify, false, Some("v1.0.0"), "2"),
        ];
        let (command, intro) =
            rollback_advice(&entries, "staging", "post-deploy verification failed");
        assert_eq!(
            command,
            "cargo xtask rollback staging --to vX.Y.Z --reason \"post-deploy verification failed\""
        );
        assert!(intro.starts_with("There is no last known good to roll back to: no release tag was verified in staging before this deployment"), "{intro}");
        // A verified release in another environment does not count.
        entries.insert(
            0,
            entry(&b, "prod", Action::Verify, true, Some("v0.9.0"), "0"),
        );
        assert!(rollback_advice(&entries, "staging", "x")
            .0
            .contains("--to vX.Y.Z"));
        // Once a release was verified there, the plain command finds it.
        entries.push(entry(
            &b,
            "staging",
            Action::Deploy,
            true,
            Some("v1.1.0"),
            "3",
        ));
        entries.push(entry(
            &b,
            "staging",
            Action::Verify,
            true,
            Some("v1.1.0"),
            "4",
        ));
        entries.push(entry(
            &a,
            "staging",
            Action::Deploy,
            false,
            Some("v1.0.0"),
            "5",
        ));
        let (command, intro) = rollback_advice(&entries, "staging", "deploy step failed");
        assert_eq!(
            command,
            "cargo xtask rollback staging --reason \"deploy step failed\""
        );
        assert_eq!(intro, "Roll back to the last known good (v1.1.0) with:");
    }

    #[test]
    fn the_last_known_good_is_the_last_verified_tag_before_the_current_deployment() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let entries = vec![
            entry(&a, "staging", Action::Deploy, true, Some("v1.0.0"), "1"),
            entry(&a, "staging", Action::Verify, true, Some("v1.0.0"), "2"),
            entry(&a, "prod", Action::Verify, true, Some("v1.0.0"), "2"),
            entry(&b, "staging", Action::Deploy, true, Some("v1.1.0"), "3"),
            entry(&b, "staging", Action::Verify, false, Some("v1.1.0"), "4"),
            entry(&c, "staging", Action::Deploy, true, Some("v1.2.0"), "5"),
            entry(&c, "staging", Action::Verify, true, Some("v1.2.0"), "6"),
        ];
        assert_eq!(current_deployment(&entries, "staging").unwrap().sha, c);
        assert_eq!(last_known_good(&entries, "staging").unwrap().sha, a);
        // Rolled back from c to a: c passed its verification, but the rollback
        // away from it says it was not good; a is what runs. Nothing is left.
        let mut later = entries.clone();
        let mut rollback = entry(&a, "staging", Action::Rollback, true, Some("v1.0.0"), "7");
        rollback.from_sha = Some(c.clone());
        later.push(rollback);
        later.push(entry(
            &a,
            "staging",
            Action::Verify,
            true,
            Some("v1.0.0"),
            "8",
        ));
        assert!(last_known_good(&later, "staging").is_none());
        // Then d goes out: the last known good is a again, never c.
        let d = "d".repeat(40);
        later.push(entry(
            &d,
            "staging",
            Action::Deploy,
            true,
            Some("v1.3.0"),
            "9",
        ));
        assert_eq!(last_known_good(&later, "staging").unwrap().sha, a);
        assert!(last_known_good(&entries[..2], "staging").is_none());
        assert!(last_known_good(&entries, "dev").is_none());
    }

    #[test]
    fn the_deploy_section_is_validated_completely() {
        let mut deploy = policy::Deploy::default();
        let mut prod = env(true, None);
        prod.verify.checks[0].url = "ftp://x".into();
        prod.verify.deadline = Some("0s".into());
        let mut empty = env(false, Some("nowhere"));
        empty.steps.clear();
        empty.verify.checks.clear();
        deploy.environments.insert("prod".into(), prod);
        deploy.environments.insert("Bad Name".into(), empty);
        let problems = validate_policy(&deploy).join("\n");
        for expected in [
            "deploy.environments.prod: a production environment must name",
            "deploy.environments.prod.verify.checks[0] (health): url \"ftp://x\"",
            "deploy.environments.prod.verify.deadline",
            "deploy.environments.Bad Name: the name must be",
            "deploy.environments.Bad Name.steps: needs at least one step",
            "requires-verified-in: no environment named \"nowhere\"",
            "needs at least one check or command",
        ] {
            assert!(
                problems.contains(expected),
                "{expected:?} not in:\n{problems}"
            );
        }
    }

    #[test]
    fn inputs_that_become_refs_or_urls_are_refused() {
        for bad in ["1.2.3", "v1.2", "v1.2.3-rc.1", "v1.2.3;x", "--v1.2.3"] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
        assert!(validate_tag("v10.0.1").is_ok());
        for bad in ["Staging", "-x", "a b", "../x", ""] {
            assert!(!valid_env_name(bad), "{bad}");
        }
        for bad in [
            "http://",
            "file:///etc/passwd",
            "-K/etc/x",
            "http://a b",
            "http:///x",
            "https://u:p@host/x",
        ] {
            assert!(validate_url(bad).is_err(), "{bad}");
        }
        assert!(validate_reason("bad\nreason").is_err());
    }
}
