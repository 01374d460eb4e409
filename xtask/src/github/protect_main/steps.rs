//! Steps 1 to 4 against GitHub: the required checks and the workflow jobs
//! that produce them (step 1, before any request), the live state and its
//! differences (step 2), the writes (step 3), the read-back (step 4).

use serde_json::{json, Value};

use super::inputs::read_workflows;
use super::plan::{
    contexts, desired_fields, differences, live_value, merge_policy_body, protection_body,
    ruleset_findings, show, Diff, Field, Scope,
};
use super::{Mode, Report};
use crate::github::client::{self as github, Client};
use crate::github::workflow;
use crate::plumbing::output;
use crate::plumbing::policy::Github;
use crate::plumbing::{exit, git, Ctx};

/// Where the settings live on GitHub.
struct Target {
    repo: String,
    repo_path: String,
    protection_path: String,
}

/// Steps 1 to 4; `Ok` carries the final status word.
pub(super) fn steps(
    ctx: &Ctx,
    mode: Mode,
    branch: &str,
    g: &Github,
    report: &mut Report,
) -> anyhow::Result<&'static str> {
    output::say(&output::bold(&format!(
        "protect-main ({}): branch {branch}",
        mode.name()
    )));
    required_checks_are_produced(ctx, branch, g, report)?;
    let (client, target) = connect(ctx, g, branch, report)?;

    // Step 2: the live state and the difference.
    let fields = desired_fields(g);
    let diffs = compare(&client, &target, branch, g, &fields, report)?;
    let planned: Vec<(&str, &String, Value)> = [
        diffs
            .iter()
            .any(|d| d.field.starts_with("repository."))
            .then(|| ("PATCH", &target.repo_path, merge_policy_body())),
        diffs
            .iter()
            .any(|d| d.field.starts_with("protection."))
            .then(|| ("PUT", &target.protection_path, protection_body(g))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(status) = without_writing(mode, &target.repo, branch, g, &diffs, &planned, report)?
    {
        return Ok(status);
    }
    let done = apply(&client, &planned, report)?;
    verify(&client, &target, &fields, &done, report)?;
    output::say(&format!(
        "  {} all {} settings read back as sent",
        output::green("verified"),
        fields.len()
    ));
    summary(&target.repo, branch, g);
    Ok("applied")
}

/// Step 1: every required check comes from a job that runs on pull
/// requests to the branch; refused before any request otherwise.
fn required_checks_are_produced(
    ctx: &Ctx,
    branch: &str,
    g: &Github,
    report: &mut Report,
) -> anyhow::Result<()> {
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
    if missing.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "refused before any request to GitHub: {} of [github] required-checks in {} no workflow produces on pull requests to `{branch}`:",
        missing.len(),
        ctx.policy.path.display()
    );
    for m in &missing {
        msg.push_str(&format!("\n  {m}"));
    }
    // A near miss is most likely a typo in the policy: name the fix.
    let mut fixes: Vec<String> = missing
        .iter()
        .filter_map(|m| {
            let near = m.did_you_mean.as_ref()?;
            Some(format!(
                "write `{near}` for `{}` in [github] required-checks",
                m.check
            ))
        })
        .collect();
    let names: Vec<String> = missing
        .iter()
        .filter(|m| m.did_you_mean.is_none())
        .map(|m| format!("`{}`", m.check))
        .collect();
    if !names.is_empty() {
        fixes.push(format!("add a job named {} to a workflow in .github/workflows/ that runs `on: pull_request` for `{branch}` (no paths filter), or remove it from [github] required-checks", names.join(", ")));
    }
    msg.push_str(&format!(
        "\nRequiring it would make every pull request to `{branch}` wait for it forever, so none could merge.\nFix: {}.",
        fixes.join("; ")
    ));
    report.failure = Some("refused");
    Err(exit::failed(msg))
}

/// Who and where: the repository, the token, the paths of the settings.
fn connect(
    ctx: &Ctx,
    g: &Github,
    branch: &str,
    report: &mut Report,
) -> anyhow::Result<(Client, Target)> {
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
    Ok((
        client,
        Target {
            repo,
            repo_path,
            protection_path,
        },
    ))
}

/// Step 2: reads the live state, shows how it differs from the policy.
fn compare(
    client: &Client,
    target: &Target,
    branch: &str,
    g: &Github,
    fields: &[Field],
    report: &mut Report,
) -> anyhow::Result<Vec<Diff>> {
    let repo = &target.repo;
    let (live_repo, live_prot) =
        read_live(client, &target.repo_path, &target.protection_path, &[])?;
    report.live_repository = Some(live_repo.clone());
    report.live_protection = Some(live_prot.clone());
    let diffs = differences(fields, &live_repo, live_prot.as_ref());
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
    show_rulesets(client, branch, g, report)?;
    Ok(diffs)
}

/// The ruleset rules on the branch: shown, with how each relates to the
/// policy (protect-main manages classic protection only; GitHub applies both).
fn show_rulesets(
    client: &Client,
    branch: &str,
    g: &Github,
    report: &mut Report,
) -> anyhow::Result<()> {
    let rules = client.branch_rules(branch)?;
    let findings = ruleset_findings(g, &rules);
    if findings.is_empty() {
        output::say(&format!("  no ruleset rules apply to {branch} (protect-main manages classic branch protection only)"));
    } else {
        output::say(&format!(
            "  {} ruleset rule(s) also apply to {branch}; protect-main manages classic branch protection only, and GitHub applies both:",
            rules.len()
        ));
        for f in &findings {
            let word = match f.kind {
                "conflict" => output::yellow("conflict"),
                other => other.to_string(),
            };
            output::say(&format!(
                "    {word} {} ({}): {}",
                f.rule, f.source, f.detail
            ));
        }
        for f in findings.iter().filter(|f| f.kind == "conflict") {
            output::warning(&format!(
                "{} ({}) {}: change the ruleset (Settings → Rules) or the policy",
                f.rule, f.source, f.detail
            ));
        }
    }
    report.rulesets = findings;
    Ok(())
}

/// The modes that end after step 2: a dry run, a check, an apply with
/// nothing to write. `Ok(None)`: go on and write.
fn without_writing(
    mode: Mode,
    repo: &str,
    branch: &str,
    g: &Github,
    diffs: &[Diff],
    planned: &[(&str, &String, Value)],
    report: &mut Report,
) -> anyhow::Result<Option<&'static str>> {
    match mode {
        Mode::DryRun => {
            for (method, path, body) in planned {
                output::say(&format!("would send {method} {path} {body}"));
                report.actions.push(
                    json!({ "method": method, "path": path, "body": body, "result": "planned" }),
                );
            }
            output::say(&format!(
                "dry run: {} difference(s), nothing written; `cargo xtask protect-main` applies them",
                diffs.len()
            ));
            Ok(Some("planned"))
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
            Err(exit::failed(format!(
                "{repo}: {} setting(s) drifted from the policy:\n{}\nRun `cargo xtask protect-main` (with an admin token) to apply the policy.",
                diffs.len(),
                list.join("\n")
            )))
        }
        Mode::Check => {
            report.verification = json!({ "status": "verified", "source": "step 2" });
            output::say(&format!(
                "{} {repo}: {branch} protection and merge policy match the policy",
                output::green("ok")
            ));
            Ok(Some("passed"))
        }
        Mode::Apply if diffs.is_empty() => {
            report.verification =
                json!({ "status": "verified", "source": "step 2", "not_applied": [] });
            output::say(&format!(
                "{} already compliant: nothing to write",
                output::green("ok")
            ));
            summary(repo, branch, g);
            Ok(Some("passed"))
        }
        Mode::Apply => Ok(None),
    }
}

/// Step 3: apply, merge policy first (linear history needs squash or
/// rebase). Returns what was written, for later messages.
fn apply(
    client: &Client,
    planned: &[(&str, &String, Value)],
    report: &mut Report,
) -> anyhow::Result<Vec<String>> {
    output::say("step 3: apply");
    let mut done: Vec<String> = Vec::new();
    for (method, path, body) in planned {
        let what = if *method == "PATCH" {
            "the merge policy"
        } else {
            "the protection"
        };
        let outcome = send(client, method, path, body);
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
    Ok(done)
}

/// Step 4: read back and compare every desired field; a field GitHub
/// accepted but did not apply fails by name.
fn verify(
    client: &Client,
    target: &Target,
    fields: &[Field],
    done: &[String],
    report: &mut Report,
) -> anyhow::Result<()> {
    output::say("step 4: verify");
    let (after_repo, after_prot) =
        read_live(client, &target.repo_path, &target.protection_path, done)
            .inspect_err(|_| report.failure = Some("unverified"))?;
    report.live_repository = Some(after_repo.clone());
    report.live_protection = Some(after_prot.clone());
    let left = differences(fields, &after_repo, after_prot.as_ref());
    report.verification = json!({ "status": if left.is_empty() { "verified" } else { "failed" }, "source": "read back", "not_applied": left });
    if left.is_empty() {
        return Ok(());
    }
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
    Err(exit::failed(format!(
        "GitHub accepted the request but did not apply {} setting(s):\n{}\nThe rest was applied. Check the repository's plan and rulesets (Settings → Rules), then run `cargo xtask protect-main --check`.",
        left.len(),
        list.join("\n")
    )))
}

/// GET the repository and the protection (`None`: the branch is not
/// protected). `done` names what was already written, for the message.
pub(super) fn read_live(
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
