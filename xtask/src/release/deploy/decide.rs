//! The decisions of deploy, verify-deploy and rollback, pure functions of
//! the ledger's entries and the gate record: what runs in an environment,
//! its last known good, whether a SHA may go there, which rollback to advise.

use super::Target;
use crate::gates::record::GateRecord;
use crate::plumbing::policy::Environment;
use crate::plumbing::process;
use crate::release::ledger::{Action, Entry};

pub(super) fn is_deployment(e: &Entry, env: &str) -> bool {
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
    match target.tag.as_deref() {
        _ if !env.production => {}
        None => problems.push(format!(
            "{sha} is not the commit of a release tag: {env_name} is production and takes only releases (`cargo xtask release-tag`, then `cargo xtask deploy {env_name} --tag vX.Y.Z`)"
        )),
        Some(tag) if crate::release::version::parse(tag).is_none() => problems.push(format!(
            "{tag} is a pre-release: {env_name} is production and takes only releases (tag the release with `cargo xtask release-tag`, then `cargo xtask deploy {env_name} --tag vX.Y.Z`)"
        )),
        Some(_) => {}
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
pub(super) fn status_word(passed: bool) -> &'static str {
    if process::interrupted().is_some() {
        "interrupted"
    } else if passed {
        "passed"
    } else {
        "failed"
    }
}

pub(super) fn word(action: &Action) -> &'static str {
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

pub(super) const VERIFICATION_FAILED: &str = "post-deploy verification failed";

#[cfg(test)]
mod tests {
    use super::super::tests::{entry, env, passed_gate, target, SHA};
    use super::*;

    #[test]
    fn production_refuses_a_pre_release_that_staging_takes() {
        let prod = env(true, Some("staging"));
        let gate = passed_gate();
        let rc = vec![entry(
            SHA,
            "staging",
            Action::Verify,
            true,
            Some("v1.1.0-rc.1"),
            "1",
        )];
        let p = admission(
            "prod",
            &prod,
            &target(Some("v1.1.0-rc.1")),
            Some(&gate),
            &rc,
        );
        assert!(
            p.len() == 1 && p[0].contains("v1.1.0-rc.1 is a pre-release"),
            "{p:?}"
        );
        let staging = env(false, None);
        assert!(admission(
            "staging",
            &staging,
            &target(Some("v1.1.0-rc.1")),
            Some(&gate),
            &[]
        )
        .is_empty());
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
}
