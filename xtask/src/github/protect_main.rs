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

use crate::github::workflow;

use serde_json::{json, Value};

use crate::github::client::{self as github, Client};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Github;
use crate::plumbing::{exit, git, Ctx};

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

/// GitHub's largest accepted `required_approving_review_count`.
const MAX_REVIEWS: u32 = 6;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Repository,
    Protection,
}

/// One desired setting, named after where GitHub's GET answer holds it.
#[derive(Clone, Debug)]
struct Field {
    scope: Scope,
    name: &'static str,
    desired: Value,
}

impl Field {
    fn label(&self) -> String {
        match self.scope {
            Scope::Repository => format!("repository.{}", self.name),
            Scope::Protection => format!("protection.{}", self.name),
        }
    }
}

/// The settings GitHub reports as `{"enabled": bool}` in a protection GET.
const ENABLED_FIELDS: [&str; 7] = [
    "required_linear_history",
    "allow_force_pushes",
    "allow_deletions",
    "block_creations",
    "required_conversation_resolution",
    "lock_branch",
    "allow_fork_syncing",
];

/// The required checks, de-duplicated and sorted (GitHub keeps no order).
fn contexts(g: &Github) -> Vec<String> {
    let mut list = g.required_checks.clone();
    list.sort();
    list.dedup();
    list
}

/// The merge policy (PATCH /repos/{repo}).
fn merge_policy_body() -> Value {
    json!({
        "allow_merge_commit": false,
        "allow_squash_merge": true,
        "allow_rebase_merge": true,
        "delete_branch_on_merge": true,
    })
}

/// The protection (PUT …/protection): every key GitHub requires
/// (`required_status_checks`, `enforce_admins`,
/// `required_pull_request_reviews`, `restrictions`) and every optional one
/// we enforce, explicitly, so nothing is left to GitHub's defaults.
fn protection_body(g: &Github) -> Value {
    json!({
        "required_status_checks": { "strict": true, "contexts": contexts(g) },
        "enforce_admins": true,
        "required_pull_request_reviews": {
            "dismiss_stale_reviews": g.dismiss_stale_reviews,
            "require_code_owner_reviews": g.require_code_owner_reviews,
            "required_approving_review_count": g.required_approving_review_count,
            "require_last_push_approval": g.require_last_push_approval,
        },
        "restrictions": null,
        "required_linear_history": true,
        "allow_force_pushes": false,
        "allow_deletions": false,
        "block_creations": false,
        "required_conversation_resolution": g.required_conversation_resolution,
        "lock_branch": false,
        "allow_fork_syncing": false,
    })
}

/// Every desired field, for comparison with GitHub's GET answers.
fn desired_fields(g: &Github) -> Vec<Field> {
    let mut fields = Vec::new();
    let repo = merge_policy_body();
    for name in [
        "allow_merge_commit",
        "allow_squash_merge",
        "allow_rebase_merge",
        "delete_branch_on_merge",
    ] {
        fields.push(Field {
            scope: Scope::Repository,
            name,
            desired: repo[name].clone(),
        });
    }
    let put = protection_body(g);
    let p = |name, desired| Field {
        scope: Scope::Protection,
        name,
        desired,
    };
    fields.push(p("required_status_checks.strict", json!(true)));
    fields.push(p("required_status_checks.contexts", json!(contexts(g))));
    fields.push(p("enforce_admins", json!(true)));
    for name in [
        "required_approving_review_count",
        "dismiss_stale_reviews",
        "require_code_owner_reviews",
        "require_last_push_approval",
    ] {
        let full = match name {
            "required_approving_review_count" => {
                "required_pull_request_reviews.required_approving_review_count"
            }
            "dismiss_stale_reviews" => "required_pull_request_reviews.dismiss_stale_reviews",
            "require_code_owner_reviews" => {
                "required_pull_request_reviews.require_code_owner_reviews"
            }
            _ => "required_pull_request_reviews.require_last_push_approval",
        };
        fields.push(p(full, put["required_pull_request_reviews"][name].clone()));
    }
    for name in ENABLED_FIELDS {
        fields.push(p(name, put[name].clone()));
    }
    fields.push(p("restrictions", Value::Null));
    fields
}

/// The live value of a field, from GitHub's GET shapes (`None`: GitHub's
/// answer does not have it, e.g. the branch is unprotected).
fn live_value(field: &Field, repo: &Value, protection: Option<&Value>) -> Option<Value> {
    if field.scope == Scope::Repository {
        return repo.get(field.name).filter(|v| v.is_boolean()).cloned();
    }
    let p = protection?;
    match field.name {
        "restrictions" => Some(match p.get("restrictions") {
            None | Some(Value::Null) => Value::Null,
            Some(r) => {
                let names = |key: &str, id: &str| -> Vec<Value> {
                    r.get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.get(id).cloned())
                        .collect()
                };
                json!({ "users": names("users", "login"), "teams": names("teams", "slug"), "apps": names("apps", "slug") })
            }
        }),
        "required_status_checks.strict" => p
            .pointer("/required_status_checks/strict")
            .filter(|v| v.is_boolean())
            .cloned(),
        "required_status_checks.contexts" => {
            let rsc = p.get("required_status_checks")?;
            let mut names: Vec<String> = match rsc.get("contexts").and_then(Value::as_array) {
                Some(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                None => rsc
                    .get("checks")?
                    .as_array()?
                    .iter()
                    .filter_map(|c| c.get("context").and_then(Value::as_str).map(str::to_string))
                    .collect(),
            };
            names.sort();
            names.dedup();
            Some(json!(names))
        }
        "enforce_admins" => p
            .pointer("/enforce_admins/enabled")
            .filter(|v| v.is_boolean())
            .cloned(),
        name if name.starts_with("required_pull_request_reviews.") => {
            let pointer = format!("/{}", name.replace('.', "/"));
            p.pointer(&pointer).filter(|v| !v.is_null()).cloned()
        }
        name => p
            .get(name)
            .and_then(|v| v.get("enabled"))
            .filter(|v| v.is_boolean())
            .cloned(),
    }
}

/// A desired field and what GitHub reports.
#[derive(Clone, Debug, serde::Serialize)]
struct Diff {
    field: String,
    desired: Value,
    live: Option<Value>,
}

fn differences(fields: &[Field], repo: &Value, protection: Option<&Value>) -> Vec<Diff> {
    fields
        .iter()
        .filter_map(|f| {
            let live = live_value(f, repo, protection);
            (live.as_ref() != Some(&f.desired)).then(|| Diff {
                field: f.label(),
                desired: f.desired.clone(),
                live,
            })
        })
        .collect()
}

fn show(v: Option<&Value>) -> String {
    match v {
        None => "(not set)".to_string(),
        Some(Value::Null) => "none".to_string(),
        Some(v) => v.to_string(),
    }
}

/// A branch name as given: it becomes part of a URL, so only git's safe
/// ref characters, and nothing git itself would refuse.
fn validate_branch(branch: &str, whence: &str) -> anyhow::Result<()> {
    let ok = !branch.is_empty()
        && branch.len() <= 255
        && branch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
        && !branch.starts_with(['-', '/', '.'])
        && !branch.ends_with(['/', '.'])
        && !branch.ends_with(".lock")
        && !branch.contains("..")
        && !branch.contains("//")
        && !branch.contains("/.");
    if ok {
        Ok(())
    } else {
        Err(exit::usage(format!(
            "{whence} {branch:?} is not a branch name this command accepts (letters, digits, `.`, `_`, `-`, `/`; no `..`, no leading `-`): e.g. --branch main"
        )))
    }
}

/// The policy's desired state, checked before anything happens.
fn validate_policy(ctx: &Ctx, g: &Github) -> anyhow::Result<()> {
    let file = ctx.policy.path.display();
    let mut problems = Vec::new();
    if g.required_checks.is_empty() {
        let whence = if ctx.policy.from_file {
            format!("{file}")
        } else {
            format!("{file} (absent: built-in defaults)")
        };
        return Err(exit::usage(format!(
            "{whence}: [github] required-checks is empty: protect-main needs the status checks that must pass before merging, e.g. required-checks = [\"check\", \"test\"] (job names from .github/workflows; see docs/POLICY.md, `github.required-checks`)"
        )));
    }
    for name in &g.required_checks {
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            problems.push(format!("{file}: [github] required-checks has {name:?}: a check name is a job name, without surrounding spaces"));
        }
    }
    if g.required_approving_review_count > MAX_REVIEWS {
        problems.push(format!(
            "{file}: [github] required-approving-review-count = {} but GitHub accepts 0 to {MAX_REVIEWS}",
            g.required_approving_review_count
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(exit::usage(problems.join("\n")))
    }
}

/// `.github/workflows/*.yml` and `*.yaml`, sorted, as (relative path, text).
fn read_workflows(root: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let dir = root.join(".github/workflows");
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => {
            return Err(exit::usage(format!(
                "{}: cannot list the workflows: {e}",
                dir.display()
            )))
        }
    };
    for entry in entries {
        let path = entry?.path();
        let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
        if !is_yaml || !path.is_file() {
            continue;
        }
        let rel = format!(
            ".github/workflows/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => files.push((rel, text)),
                Err(_) => {
                    return Err(exit::usage(format!(
                        "{rel} is not UTF-8 text, so neither GitHub nor protect-main can read it"
                    )))
                }
            },
            Err(e) => return Err(exit::usage(format!("{rel}: cannot read it: {e}"))),
        }
    }
    files.sort();
    Ok(files)
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
    /// The status word of a failure: `refused`, `drift`,
    /// `partially-applied`, `not-applied` (else `failed`, or `error` for exit 2).
    failure: Option<&'static str>,
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
            validate_branch(b, "--branch")?;
            b.clone()
        }
        None => {
            validate_branch(&policy.git.main_branch, "[git] main-branch")?;
            policy.git.main_branch.clone()
        }
    };
    validate_policy(ctx, g)?;

    let mut report = Report {
        verification: json!({ "status": "not run" }),
        ..Report::default()
    };
    let result = steps(ctx, mode, &branch, g, &mut report);
    let (status, code, error) = match &result {
        Ok(status) => (status.to_string(), exit::OK, None),
        Err(e) => {
            let code = exit::code_of(e);
            let word = match (code, report.failure) {
                (exit::USAGE, _) => "error",
                (_, Some(word)) => word,
                _ => "failed",
            };
            (word.to_string(), code, Some(format!("{e:#}")))
        }
    };
    let mut md = format!(
        "### protect-main ({}) on `{branch}`: {status}\n\n",
        mode.name()
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
    output::step_summary(&md);
    if ctx.format == Format::Json {
        let fields = desired_fields(g);
        let live = report.live_repository.as_ref().map(|repo| {
            let protection = report.live_protection.as_ref().and_then(|p| p.as_ref());
            let mut out = serde_json::Map::new();
            for f in &fields {
                out.insert(f.label(), live_value(f, repo, protection).unwrap_or(Value::Null));
            }
            json!({ "protected": report.live_protection.as_ref().map(Option::is_some), "fields": out })
        });
        output::json(&json!({
            "command": "protect-main",
            "mode": mode.name(),
            "repository": report.repository,
            "branch": branch,
            "status": status,
            "exit_code": code,
            "error": error,
            "checks": report.checks,
            "desired": { "repository": merge_policy_body(), "protection": protection_body(g) },
            "live": live,
            "differences": report.differences,
            "actions": report.actions,
            "verification": report.verification,
        }));
        return match result {
            Ok(_) => Ok(()),
            Err(e) => {
                output::error(&format!("{e:#}"));
                Err(exit::silent(code))
            }
        };
    }
    result.map(|_| ())
}

/// Steps 1 to 4; `Ok` carries the final status word.
fn steps(
    ctx: &Ctx,
    mode: Mode,
    branch: &str,
    g: &Github,
    report: &mut Report,
) -> anyhow::Result<&'static str> {
    // Step 1: every required check comes from a job that runs on pull requests.
    output::say(&output::bold(&format!(
        "protect-main ({}): branch {branch}",
        mode.name()
    )));
    let files = read_workflows(&ctx.root)?;
    let findings = workflow::check_required(&files, branch, &g.required_checks);
    for u in &findings.unreadable {
        output::warning(&format!("this reader cannot read {u}"));
    }
    output::say("step 1: required checks and the workflow jobs that produce them on pull requests");
    for p in &findings.produced {
        output::say(&format!(
            "  {} {}  ← {} job `{}`",
            output::green("ok"),
            p.check,
            p.workflow,
            p.job
        ));
    }
    for p in findings.produced.iter().filter(|p| p.conditional) {
        output::warning(&format!(
            "{} job `{}` has an `if:` condition: when it skips, GitHub counts the required check `{}` as passed",
            p.workflow, p.job, p.check
        ));
    }
    let missing = findings.missing.clone();
    report.checks = Some(findings);
    if !missing.is_empty() {
        let mut msg = format!(
            "refused before any request to GitHub: {} of [github] required-checks in {} no workflow produces on pull requests to `{branch}`:",
            missing.len(),
            ctx.policy.path.display()
        );
        for m in &missing {
            msg.push_str(&format!("\n  {m}"));
        }
        let names: Vec<&str> = missing.iter().map(|m| m.check.as_str()).collect();
        msg.push_str(&format!(
            "\nRequiring it would make every pull request to `{branch}` wait for it forever, so none could merge.\nFix: add a job named {} to a workflow in .github/workflows/ that runs `on: pull_request` for `{branch}` (no paths filter), or remove it from [github] required-checks.",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        ));
        report.failure = Some("refused");
        return Err(exit::failed(msg));
    }

    // Who and where.
    let sh = git::shell(&ctx.root)?;
    let repo = github::repository(&sh, g.repository.as_deref(), &ctx.policy.policy.git.remote)?.ok_or_else(|| {
        exit::usage("no GitHub repository: set [github] repository = \"owner/name\" in the policy, or GITHUB_REPOSITORY, or a github.com origin")
    })?;
    report.repository = Some(repo.clone());
    let token = github::token()?.ok_or_else(|| {
        exit::usage("no GitHub token: set GH_TOKEN_FILE (or GH_TOKEN / GITHUB_TOKEN) to a token with admin rights on the repository, or run `gh auth login`")
    })?;
    let client = Client::new(repo.clone(), token);
    let repo_path = format!("/repos/{}", client.repo);
    let protection_path = format!("{repo_path}/branches/{branch}/protection");

    // Step 2: the live state and the difference.
    let fields = desired_fields(g);
    let (live_repo, live_prot) = read_live(&client, &repo_path, &protection_path, &[])?;
    report.live_repository = Some(live_repo.clone());
    report.live_protection = Some(live_prot.clone());
    let diffs = differences(&fields, &live_repo, live_prot.as_ref());
    report.differences = diffs.clone();
    let state = if live_prot.is_some() {
        "protected"
    } else {
        "NOT protected"
    };
    output::say(&format!(
        "step 2: live state of {repo} (branch {branch} is {state}) against the policy"
    ));
    for d in &diffs {
        output::say(&format!(
            "  {} {}: {} → {}",
            output::yellow("differs"),
            d.field,
            show(d.live.as_ref()),
            show(Some(&d.desired))
        ));
    }
    let hidden = fields
        .iter()
        .filter(|f| f.scope == Scope::Repository)
        .all(|f| live_value(f, &live_repo, None).is_none());
    if hidden {
        output::warning(&format!(
            "GitHub's answer for {repo} has none of the merge settings (allow_merge_commit, …): it shows them only to tokens with admin rights on the repository"
        ));
    }
    if diffs.is_empty() {
        output::say(&format!(
            "  {} all {} settings match",
            output::green("ok"),
            fields.len()
        ));
    }
    let repo_differs = diffs.iter().any(|d| d.field.starts_with("repository."));
    let prot_differs = diffs.iter().any(|d| d.field.starts_with("protection."));
    let planned: Vec<(&str, &String, Value)> = [
        repo_differs.then(|| ("PATCH", &repo_path, merge_policy_body())),
        prot_differs.then(|| ("PUT", &protection_path, protection_body(g))),
    ]
    .into_iter()
    .flatten()
    .collect();

    match mode {
        Mode::DryRun => {
            for (method, path, body) in &planned {
                output::say(&format!("would send {method} {path} {body}"));
                report.actions.push(
                    json!({ "method": method, "path": path, "body": body, "result": "planned" }),
                );
            }
            output::say(&format!(
                "dry run: {} difference(s), nothing written; `cargo xtask protect-main` applies them",
                diffs.len()
            ));
            return Ok("planned");
        }
        Mode::Check if !diffs.is_empty() => {
            let list: Vec<String> = diffs
                .iter()
                .map(|d| {
                    format!(
                        "  {}: GitHub has {}, the policy wants {}",
                        d.field,
                        show(d.live.as_ref()),
                        show(Some(&d.desired))
                    )
                })
                .collect();
            report.failure = Some("drift");
            return Err(exit::failed(format!(
                "{repo}: {} setting(s) drifted from the policy:\n{}\nRun `cargo xtask protect-main` (with an admin token) to apply the policy.",
                diffs.len(),
                list.join("\n")
            )));
        }
        Mode::Check => {
            report.verification = json!({ "status": "verified", "source": "step 2" });
            output::say(&format!(
                "{} {repo}: {branch} protection and merge policy match the policy",
                output::green("ok")
            ));
            return Ok("passed");
        }
        Mode::Apply if diffs.is_empty() => {
            report.verification =
                json!({ "status": "verified", "source": "step 2", "not_applied": [] });
            output::say(&format!(
                "{} already compliant: nothing to write",
                output::green("ok")
            ));
            summary(&repo, branch, g);
            return Ok("passed");
        }
        Mode::Apply => {}
    }

    // Step 3: apply, merge policy first (linear history needs squash or rebase).
    output::say("step 3: apply");
    let mut done: Vec<String> = Vec::new();
    for (method, path, body) in &planned {
        let what = if *method == "PATCH" {
            "the merge policy"
        } else {
            "the protection"
        };
        let outcome = send(&client, method, path, body);
        let status = outcome.as_ref().ok().copied();
        report.actions.push(json!({
            "method": method, "path": path, "body": body,
            "status": status, "result": if outcome.is_ok() { "accepted" } else { "failed" },
        }));
        if let Err(e) = outcome {
            let state = if done.is_empty() {
                "Nothing was changed.".to_string()
            } else {
                report.failure = Some("partially-applied");
                format!(
                    "PARTIALLY APPLIED: {} was updated, {what} was NOT.",
                    done.join(" and ")
                )
            };
            return Err(exit::failed(format!("{e:#}\n{state}")));
        }
        output::say(&format!(
            "  {} {method} {path} ({what})",
            output::green("accepted")
        ));
        done.push(what.to_string());
    }

    // Step 4: read back and compare every desired field.
    output::say("step 4: verify");
    let (after_repo, after_prot) = read_live(&client, &repo_path, &protection_path, &done)
        .inspect_err(|_| report.failure = Some("unverified"))?;
    report.live_repository = Some(after_repo.clone());
    report.live_protection = Some(after_prot.clone());
    let left = differences(&fields, &after_repo, after_prot.as_ref());
    report.verification = json!({ "status": if left.is_empty() { "verified" } else { "failed" }, "source": "read back", "not_applied": left });
    if !left.is_empty() {
        report.failure = Some("not-applied");
        let list: Vec<String> = left
            .iter()
            .map(|d| {
                format!(
                    "  {}: sent {}, GitHub reports {}",
                    d.field,
                    show(Some(&d.desired)),
                    show(d.live.as_ref())
                )
            })
            .collect();
        return Err(exit::failed(format!(
            "GitHub accepted the request but did not apply {} setting(s):\n{}\nThe rest was applied. Check the repository's plan and rulesets (Settings → Rules), then run `cargo xtask protect-main --check`.",
            left.len(),
            list.join("\n")
        )));
    }
    output::say(&format!(
        "  {} all {} settings read back as sent",
        output::green("verified"),
        fields.len()
    ));
    summary(&repo, branch, g);
    Ok("applied")
}

/// GET the repository and the protection (`None`: the branch is not
/// protected). `done` names what was already written, for the message.
fn read_live(
    client: &Client,
    repo_path: &str,
    protection_path: &str,
    done: &[String],
) -> anyhow::Result<(Value, Option<Value>)> {
    let partial = |e: anyhow::Error| {
        if done.is_empty() {
            e
        } else {
            exit::failed(format!("{e:#}\n{} was applied but could not be verified: run `cargo xtask protect-main --check`.", done.join(" and ")))
        }
    };
    let resp = client.request("GET", repo_path, None).map_err(partial)?;
    if resp.status != 200 {
        return Err(partial(github::http_error(&resp, "GET", repo_path)));
    }
    let repo = resp.body;
    let resp = client
        .request("GET", protection_path, None)
        .map_err(partial)?;
    let protection = match resp.status {
        200 => Some(resp.body),
        // GitHub answers 404 both for "not protected" and for an unknown
        // branch; only its own words mean "not protected".
        404 if resp.message() == "Branch not protected" => None,
        _ => return Err(partial(github::http_error(&resp, "GET", protection_path))),
    };
    Ok((repo, protection))
}

/// One write; `Ok(status)` only for 200.
fn send(client: &Client, method: &str, path: &str, body: &Value) -> anyhow::Result<u16> {
    let resp = client.request(method, path, Some(body))?;
    if resp.status == 200 {
        Ok(resp.status)
    } else {
        Err(github::http_error(&resp, method, path))
    }
}

fn summary(repo: &str, branch: &str, g: &Github) {
    output::say(&format!(
        "{repo}: `{branch}` is protected: pull requests required ({} approving review(s){}), checks {} must pass on an up-to-date branch, admins included, linear history, no force pushes or deletions; merge commits off, squash and rebase on, merged branches deleted.",
        g.required_approving_review_count,
        if g.required_conversation_resolution { ", conversations resolved" } else { "" },
        contexts(g).join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Github {
        Github {
            required_checks: vec!["test".into(), "check".into(), "test".into()],
            ..Github::default()
        }
    }

    /// GitHub's GET answer for a branch protected exactly as `protection_body`.
    fn get_shape(g: &Github) -> Value {
        json!({
            "url": "https://api.github.com/repos/o/r/branches/main/protection",
            "required_status_checks": {
                "strict": true, "contexts": contexts(g),
                "checks": contexts(g).iter().map(|c| json!({"context": c, "app_id": null})).collect::<Vec<_>>(),
            },
            "required_pull_request_reviews": {
                "dismiss_stale_reviews": false, "require_code_owner_reviews": false,
                "required_approving_review_count": 0, "require_last_push_approval": false,
            },
            "enforce_admins": { "url": "x", "enabled": true },
            "required_linear_history": { "enabled": true },
            "allow_force_pushes": { "enabled": false },
            "allow_deletions": { "enabled": false },
            "block_creations": { "enabled": false },
            "required_conversation_resolution": { "enabled": true },
            "lock_branch": { "enabled": false },
            "allow_fork_syncing": { "enabled": false },
            "required_signatures": { "enabled": false },
        })
    }

    fn compliant_repo() -> Value {
        json!({ "allow_merge_commit": false, "allow_squash_merge": true, "allow_rebase_merge": true, "delete_branch_on_merge": true })
    }

    #[track_caller]
    fn check(repo: Value, protection: Option<Value>, expected: &[&str]) {
        let g = policy();
        let diffs = differences(&desired_fields(&g), &repo, protection.as_ref());
        let names: Vec<&str> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_compliant_state_has_no_differences() {
        check(compliant_repo(), Some(get_shape(&policy())), &[]);
    }

    #[test]
    fn an_unprotected_branch_differs_in_every_protection_field() {
        let diffs = differences(&desired_fields(&policy()), &compliant_repo(), None);
        assert_eq!(diffs.len(), desired_fields(&policy()).len() - 4);
        assert!(diffs
            .iter()
            .all(|d| d.field.starts_with("protection.") && d.live.is_none()));
    }

    #[test]
    fn fields_are_read_from_the_get_shape() {
        let mut p = get_shape(&policy());
        p["enforce_admins"]["enabled"] = json!(false);
        p["required_status_checks"]["contexts"] = json!(["check"]);
        p["required_pull_request_reviews"]["required_approving_review_count"] = json!(1);
        p["allow_force_pushes"] = json!({ "enabled": true });
        p["restrictions"] = json!({ "users": [{ "login": "bot" }], "teams": [], "apps": [] });
        let mut repo = compliant_repo();
        repo["allow_merge_commit"] = json!(true);
        repo.as_object_mut()
            .unwrap()
            .remove("delete_branch_on_merge");
        check(
            repo,
            Some(p),
            &[
                "repository.allow_merge_commit",
                "repository.delete_branch_on_merge",
                "protection.required_status_checks.contexts",
                "protection.enforce_admins",
                "protection.required_pull_request_reviews.required_approving_review_count",
                "protection.allow_force_pushes",
                "protection.restrictions",
            ],
        );
    }

    #[test]
    fn checks_are_read_when_contexts_are_absent_and_order_does_not_matter() {
        let mut p = get_shape(&policy());
        p["required_status_checks"]
            .as_object_mut()
            .unwrap()
            .remove("contexts");
        p["required_status_checks"]["checks"] = json!([{ "context": "test", "app_id": 15368 }, { "context": "check", "app_id": 15368 }]);
        check(compliant_repo(), Some(p), &[]);
    }

    #[test]
    fn the_put_body_sends_every_required_key_explicitly() {
        let body = protection_body(&policy());
        for key in [
            "required_status_checks",
            "enforce_admins",
            "required_pull_request_reviews",
            "restrictions",
        ] {
            assert!(body.get(key).is_some(), "{key}");
        }
        assert_eq!(
            body["required_status_checks"],
            json!({ "strict": true, "contexts": ["check", "test"] })
        );
        assert_eq!(body["restrictions"], Value::Null);
    }

    #[test]
    fn branch_names_are_validated_before_use() {
        for ok in ["main", "release/1.x", "trunk_2"] {
            validate_branch(ok, "--branch").unwrap();
        }
        for bad in [
            "", "-x", "a..b", "a b", "a/", "/a", "a//b", "x.lock", "a?b", "a%2F", ".hidden",
            "a/.b", "main\n",
        ] {
            assert!(validate_branch(bad, "--branch").is_err(), "{bad:?}");
        }
    }

    /// Step 1 passes on this repository's own workflows and policy.
    #[test]
    fn this_repository_produces_its_own_required_checks() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let policy = crate::plumbing::policy::load(&root.join("xtask.toml"))
            .unwrap()
            .policy;
        assert!(
            !policy.github.required_checks.is_empty(),
            "xtask.toml [github] lists no required checks"
        );
        let files = read_workflows(&root).unwrap();
        let findings = workflow::check_required(
            &files,
            &policy.git.main_branch,
            &policy.github.required_checks,
        );
        assert!(findings.missing.is_empty(), "{:#?}", findings.missing);
        assert!(findings.unreadable.is_empty(), "{:#?}", findings.unreadable);
        assert_eq!(findings.produced.len(), policy.github.required_checks.len());
    }
}
