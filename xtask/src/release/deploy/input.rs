//! What deploy, verify-deploy and rollback accept before anything happens:
//! the environment name, the `[deploy]` section (validated completely),
//! tags, reasons, URLs, and curl for the HTTP checks.

use std::path::Path;
use std::time::Duration;

use crate::plumbing::policy::{self, Environment, Step};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::{exit, Ctx};

/// The environment name from the argument or `DEPLOY_ENV` (the make shim).
pub(super) fn env_name(arg: Option<&str>) -> anyhow::Result<String> {
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

pub(super) fn valid_env_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The environment `name` of a valid `[deploy]` section.
pub(super) fn environment<'a>(ctx: &'a Ctx, name: &str) -> anyhow::Result<&'a Environment> {
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
        check_http_checks(&mut problems, &at, &v.checks);
        check_steps(
            &mut problems,
            &format!("{at}.verify.commands"),
            &v.commands,
            false,
        );
    }
    problems
}

/// The problems of an environment's HTTP checks (`at` is its policy path).
fn check_http_checks(problems: &mut Vec<String>, at: &str, checks: &[policy::HttpCheck]) {
    let mut seen = Vec::new();
    for (i, check) in checks.iter().enumerate() {
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
}

/// The problems of a list of steps (`at` is its policy path); `required`:
/// the list may not be empty.
fn check_steps(problems: &mut Vec<String>, at: &str, steps: &[Step], required: bool) {
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
}

/// A URL that goes to curl: http(s) only, no whitespace or control
/// characters (so it can never be taken for an option).
pub(super) fn validate_url(url: &str) -> Result<(), String> {
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

/// A release tag as release-tag makes them: `vX.Y.Z`, or a pre-release
/// `vX.Y.Z-PRE` (which production refuses, see `decide::admission`).
pub(super) fn validate_tag(tag: &str) -> anyhow::Result<()> {
    if crate::release::version::parse_tag(tag).is_some() {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "{tag:?} is not a release tag: use vMAJOR.MINOR.PATCH, e.g. v1.4.0 (or a pre-release, e.g. v1.4.0-rc.1, outside production)"
        )))
    }
}

pub(super) fn validate_reason(reason: &str) -> anyhow::Result<()> {
    if reason.trim().is_empty() || reason.len() > 500 || reason.chars().any(|c| c.is_control()) {
        return Err(exit::usage(
            "--reason must be one line of text, at most 500 characters",
        ));
    }
    Ok(())
}

pub(super) fn require_curl(environment: &Environment) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::super::tests::env;
    use super::*;

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
        for bad in [
            "1.2.3",
            "v1.2",
            "v1.2.3+b1",
            "v1.2.3-",
            "v1.2.3;x",
            "--v1.2.3",
        ] {
            assert!(validate_tag(bad).is_err(), "{bad}");
        }
        assert!(validate_tag("v10.0.1").is_ok());
        assert!(validate_tag("v1.2.3-rc.1").is_ok());
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
