//! Auto-merge: whether GitHub's refusal of a direct merge is one that
//! auto-merge waits out (pure), enabling it through GraphQL, and waiting
//! for GitHub to merge.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::pr::get_pull;
use super::Finish;
use crate::github::client as github;
use crate::plumbing::exit;
use crate::plumbing::output::{self, Format};
use crate::task::preflight::short;

/// Whether a 405 from the REST merge (after the required checks were seen
/// green) is one that auto-merge waits out: main's protection still waits
/// for something that may yet happen — an approving or code-owner review, a
/// required status check that is expected or in progress (e.g. one required
/// by a ruleset), a merge queue, or a generic "not mergeable" while GitHub
/// calls the PR `blocked`. Never when the message speaks of a failure,
/// conflicts, a merge method that is not allowed or a draft, nor when GitHub
/// calls the PR `dirty` (conflicts), `behind` (to be updated first: auto-merge
/// does not update it) or `draft`. Returns what it waits for.
pub(super) fn auto_merge_applies(
    message: &str,
    mergeable_state: Option<&str>,
) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let never = [
        "fail",
        "conflict",
        "not allowed",
        "draft",
        "out of date",
        "up to date",
        "behind",
    ];
    if never.iter().any(|w| m.contains(w))
        || matches!(mergeable_state, Some("dirty" | "behind" | "draft"))
    {
        return None;
    }
    if m.contains("merge queue") {
        Some("the merge queue")
    } else if m.contains("review") {
        Some("the required reviews")
    } else if m.contains("required status check") {
        Some("required status checks that are not complete yet")
    } else if m.contains("base branch policy")
        || m.contains("auto-merge")
        || m.contains("auto merge")
    {
        Some("the base branch's requirements")
    } else if m.contains("not mergeable") && mergeable_state == Some("blocked") {
        Some("the base branch's requirements (GitHub calls the PR blocked)")
    } else {
        None
    }
}

const ENABLE_AUTO_MERGE: &str = "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, $expectedHeadOid: GitObjectID!) { enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, mergeMethod: $mergeMethod, expectedHeadOid: $expectedHeadOid}) { pullRequest { number autoMergeRequest { enabledAt mergeMethod } } } }";

/// Enables squash auto-merge on the PR for exactly `head` (GitHub's GraphQL
/// `enablePullRequestAutoMerge`; REST has no such endpoint). Already enabled
/// with squash (a rerun): left as it is.
pub(super) fn enable_auto_merge(
    f: &mut Finish,
    client: &github::Client,
    pr: &Value,
    number: u64,
    head: &str,
    waits_for: &str,
) -> anyhow::Result<()> {
    if pr
        .pointer("/auto_merge/merge_method")
        .and_then(Value::as_str)
        == Some("squash")
    {
        f.say(format!(
            "auto-merge (squash) is already enabled on PR #{number}; GitHub merges it once main's requirements are met (it waits for {waits_for})"
        ));
        return Ok(());
    }
    let node_id = pr["node_id"].as_str().unwrap_or_default();
    if node_id.is_empty() {
        return Err(exit::failed(format!(
            "GitHub names no node_id for PR #{number}, so auto-merge cannot be enabled; nothing was changed"
        )));
    }
    let variables = json!({
        "pullRequestId": node_id,
        "mergeMethod": "SQUASH",
        "expectedHeadOid": head,
    });
    match client.graphql(ENABLE_AUTO_MERGE, variables) {
        Ok(_) => {}
        Err(e) => {
            let Some(errors) = e.downcast_ref::<github::GraphqlErrors>() else {
                return Err(e);
            };
            return Err(exit::failed(format!(
                "GitHub did not enable auto-merge on PR #{number}: {errors}\nThe PR waits for {waits_for}, which a direct merge cannot skip. Nothing was changed locally; the PR stays open.\nfix: allow auto-merge in the repository's settings (gh repo edit --enable-auto-merge), then rerun cargo xtask task-finish --merge; or merge the PR on GitHub once its requirements are met and run cargo xtask task-finish"
            )));
        }
    }
    f.say(format!(
        "enabled auto-merge (squash) on PR #{number} for head {}: GitHub merges it once main's requirements are met (it waits for {waits_for})",
        short(head)
    ));
    Ok(())
}

/// Polls the PR until GitHub's auto-merge has merged it.
pub(super) fn wait_for_auto_merge(
    f: &mut Finish,
    client: &github::Client,
    number: u64,
    url: &str,
    refused: &str,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let pr = get_pull(client, number)?;
        if pr["merged"] == true {
            f.say(format!("auto-merge merged PR #{number}"));
            return Ok(());
        }
        if pr["state"] != "open" {
            return Err(exit::failed(format!(
                "PR #{number} {url} was closed without merging while auto-merge was waiting; nothing was changed locally: reopen it (gh pr reopen {number}) and rerun cargo xtask task-finish --merge"
            )));
        }
        if !pr["auto_merge"].is_object() {
            return Err(exit::failed(format!(
                "auto-merge is no longer enabled on PR #{number} {url} (disabled by hand, or by a push of someone without write access); nothing was merged or changed locally: rerun cargo xtask task-finish --merge"
            )));
        }
        if started.elapsed() + poll > timeout {
            return Err(exit::failed(format!(
                "PR #{number} {url} was not merged within {}: auto-merge stays enabled on GitHub, which merges it once main's requirements are met (it refused the direct merge: {refused}). Nothing was changed locally.\nfix: once it is merged, run cargo xtask task-finish; or wait longer: cargo xtask task-finish --merge --checks-timeout 1h; to cancel the auto-merge: gh pr merge {number} --disable-auto",
                output::duration(timeout)
            )));
        }
        if f.ctx.format == Format::Human {
            output::say(&format!(
                "  waiting for GitHub's auto-merge of PR #{number} (mergeable state: {})",
                pr["mergeable_state"].as_str().unwrap_or("unknown")
            ));
        }
        std::thread::sleep(poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_merge_is_enabled_only_for_refusals_it_waits_out() {
        let check = |message: &str, state: Option<&str>, applies: bool| {
            assert_eq!(
                auto_merge_applies(message, state).is_some(),
                applies,
                "{message:?} {state:?}"
            );
        };
        let review = "At least 1 approving review is required by reviewers with write access.";
        check(review, Some("blocked"), true);
        check(review, None, true);
        check("Waiting on code owner review from @acme/core.", None, true);
        check("Required status check \"e2e\" is expected.", None, true);
        check("Required status check \"e2e\" is in progress.", None, true);
        check(
            "Repository rule violations found\n\nChanges must be made through the merge queue",
            None,
            true,
        );
        check("Base branch policy prohibits the merge", None, true);
        check("Pull Request is not mergeable", Some("blocked"), true);
        // Failures, conflicts, settings, and what waiting does not fix.
        check("Required status check \"e2e\" is failing.", None, false);
        check(
            "2 of 3 required status checks have failed.",
            Some("blocked"),
            false,
        );
        check("Pull Request is not mergeable", Some("dirty"), false);
        check("Pull Request is not mergeable", Some("unknown"), false);
        check("Pull Request is not mergeable", None, false);
        check("Pull Request has merge conflicts", None, false);
        check(
            "Squash merges are not allowed on this repository.",
            None,
            false,
        );
        check(
            "Head branch is out of date. Review and try the merge again.",
            None,
            false,
        );
        check(review, Some("behind"), false);
        check(review, Some("dirty"), false);
        check("Something else entirely", Some("blocked"), false);
    }
}
