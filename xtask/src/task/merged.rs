//! "Is this task branch merged?", aware of how the runbook merges: squash
//! merges (one commit on main, "Subject (#12)"), rebase merges and
//! cherry-picks leave the branch's own commits unreachable from main, yet its
//! changes are there. A branch counts as merged when its tip is an ancestor
//! of main, when every commit of it has a patch-equivalent on main
//! (`git cherry`), or when a commit on main since the merge base carries the
//! branch's combined change (`git patch-id` of `git diff <base> <commit>`)
//! with nothing after it on the branch. Anything else is open work, with
//! the commits that are not on main as evidence.
//!
//! [`gather`] asks git; [`decide`] is pure. task-preflight uses it for the
//! remote task branches when it has no GitHub access; task-finish can call
//! [`is_merged`] for its "already finished" question.

use std::collections::BTreeMap;

use serde::Serialize;
use xshell::Shell;

use crate::plumbing::git;

/// What git says about a branch tip against the main branch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// The tip is reachable from main.
    pub ancestor: bool,
    /// The branch's commits since the merge base, oldest first, each with
    /// whether `git cherry` found a patch-equivalent commit on main.
    pub commits: Vec<(String, bool)>,
    /// Per branch commit (same order): the main commit whose change equals
    /// the branch's combined change from the merge base up to that commit.
    pub squashed_into: Vec<Option<String>>,
}

/// How a branch was found merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "how")]
pub enum Merged {
    /// Its tip is on main (a merge commit or a fast-forward).
    Ancestor,
    /// Every commit has a patch-equivalent on main (rebase merge, cherry-picks).
    PatchEquivalent,
    /// One commit on main carries the branch's whole change (squash merge).
    Squash { commit: String },
}

/// The verdict on one branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Merged(Merged),
    /// Open work: the commits whose change is not on main, oldest first.
    Open {
        unmerged: Vec<String>,
    },
}

/// The verdict from the facts (pure).
pub fn decide(f: &Facts) -> Verdict {
    if f.ancestor {
        return Verdict::Merged(Merged::Ancestor);
    }
    if f.commits.is_empty() {
        // Not an ancestor but nothing since the merge base: cannot happen
        // for a present commit; said open rather than guessed merged.
        return Verdict::Open {
            unmerged: Vec::new(),
        };
    }
    if f.commits.iter().all(|(_, on_main)| *on_main) {
        return Verdict::Merged(Merged::PatchEquivalent);
    }
    // The latest commit whose combined change is a commit on main: the
    // squash merge; what follows it on the branch is still open.
    let last_squash = f
        .squashed_into
        .iter()
        .enumerate()
        .rev()
        .find_map(|(i, s)| s.as_ref().map(|c| (i, c.clone())));
    let after = last_squash.as_ref().map_or(0, |(i, _)| i + 1);
    let unmerged: Vec<String> = f.commits[after..]
        .iter()
        .filter(|(_, on_main)| !on_main)
        .map(|(sha, _)| sha.clone())
        .collect();
    match (last_squash, unmerged.is_empty()) {
        (Some((_, commit)), true) => Verdict::Merged(Merged::Squash { commit }),
        _ => Verdict::Open { unmerged },
    }
}

/// Asks git about `tip` (a commit present locally) against `main` (a ref).
pub fn gather(sh: &Shell, tip: &str, main: &str) -> anyhow::Result<Facts> {
    let mut facts = Facts::default();
    if git::test(sh, &["merge-base", "--is-ancestor", tip, main])? {
        facts.ancestor = true;
        return Ok(facts);
    }
    let Some(base) = git::read_if_ok(sh, &["merge-base", main, tip])? else {
        // Unrelated histories: every commit is open work.
        let log = git::read(sh, &["rev-list", "--reverse", tip])?;
        facts.commits = log.lines().map(|c| (c.to_string(), false)).collect();
        facts.squashed_into = vec![None; facts.commits.len()];
        return Ok(facts);
    };
    let base = base.trim().to_string();
    // `git cherry MAIN TIP BASE`: "+ sha" not on main, "- sha" equivalent on main.
    let cherry = git::read(sh, &["cherry", main, tip, &base])?;
    facts.commits = cherry
        .lines()
        .filter_map(|l| {
            let (mark, sha) = l.split_once(' ')?;
            Some((sha.trim().to_string(), mark == "-"))
        })
        .collect();
    let on_main = main_patch_ids(sh, &base, main)?;
    for (sha, _) in &facts.commits {
        facts
            .squashed_into
            .push(combined_patch_id(sh, &base, sha)?.and_then(|id| on_main.get(&id).cloned()));
    }
    Ok(facts)
}

/// Whether `tip` is merged into `main`, with the verdict (gather + decide).
pub fn is_merged(sh: &Shell, tip: &str, main: &str) -> anyhow::Result<Verdict> {
    Ok(decide(&gather(sh, tip, main)?))
}

/// Whether the commit `sha` is in the local object store.
fn present(sh: &Shell, sha: &str) -> bool {
    let spec = format!("{sha}^{{commit}}");
    git::answer(sh, &["cat-file", "-e", &spec]).is_ok_and(|a| a.ok())
}

/// The verdict on each remote branch tip (`(branch, sha)` from
/// `git ls-remote`) against `main`; tips missing locally are fetched first
/// (objects only: no ref, not even FETCH_HEAD, is written).
pub fn remote_tips(
    sh: &Shell,
    remote: &str,
    tips: &[(String, String)],
    main: &str,
) -> anyhow::Result<Vec<Verdict>> {
    let missing: Vec<String> = tips
        .iter()
        .filter(|(_, sha)| !present(sh, sha))
        .map(|(branch, _)| format!("refs/heads/{branch}"))
        .collect();
    if !missing.is_empty() {
        let mut args = vec![
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            // No remote-tracking branch is updated either.
            "--refmap=",
            remote,
        ];
        args.extend(missing.iter().map(String::as_str));
        git::run(sh, &args)?;
    }
    tips.iter()
        .map(|(_, sha)| is_merged(sh, sha, main))
        .collect()
}

/// `patch-id -> commit` for every non-merge commit on main since `base`.
fn main_patch_ids(sh: &Shell, base: &str, main: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let range = format!("{base}..{main}");
    let log = git::read(
        sh,
        &[
            "log",
            "--no-merges",
            "-p",
            "--no-color",
            "--format=commit %H",
            &range,
        ],
    )?;
    let ids = patch_ids(sh, &log)?;
    Ok(ids.into_iter().collect())
}

/// The patch-id of `git diff BASE COMMIT`: the branch's change up to `commit`.
fn combined_patch_id(sh: &Shell, base: &str, commit: &str) -> anyhow::Result<Option<String>> {
    let diff = git::read(sh, &["diff", "--no-color", base, commit])?;
    if diff.is_empty() {
        return Ok(None);
    }
    Ok(patch_ids(sh, &format!("{diff}\n"))?
        .into_iter()
        .next()
        .map(|(id, _)| id))
}

/// `(patch-id, commit)` pairs of a patch stream, through `git patch-id --stable`.
fn patch_ids(sh: &Shell, patches: &str) -> anyhow::Result<Vec<(String, String)>> {
    if patches.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut input = patches.to_string();
    if !input.ends_with('\n') {
        input.push('\n');
    }
    let out = git::answer_with(sh, &["patch-id", "--stable"], Some(&input))?.checked()?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| {
            let (id, commit) = l.split_once(' ')?;
            Some((id.to_string(), commit.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(commits: &[(&str, bool)], squashed: &[Option<&str>]) -> Facts {
        Facts {
            ancestor: false,
            commits: commits.iter().map(|(s, m)| (s.to_string(), *m)).collect(),
            squashed_into: squashed.iter().map(|s| s.map(str::to_string)).collect(),
        }
    }

    #[test]
    fn ancestors_and_patch_equivalents_are_merged() {
        let f = Facts {
            ancestor: true,
            ..Facts::default()
        };
        assert_eq!(decide(&f), Verdict::Merged(Merged::Ancestor));
        let f = facts(&[("a", true), ("b", true)], &[None, None]);
        assert_eq!(decide(&f), Verdict::Merged(Merged::PatchEquivalent));
    }

    #[test]
    fn a_squash_of_the_whole_branch_is_merged_and_work_after_it_is_open() {
        let f = facts(&[("a", false), ("b", false)], &[None, Some("s")]);
        assert_eq!(
            decide(&f),
            Verdict::Merged(Merged::Squash { commit: "s".into() })
        );
        let f = facts(
            &[("a", false), ("b", false), ("c", false)],
            &[None, Some("s"), None],
        );
        assert_eq!(
            decide(&f),
            Verdict::Open {
                unmerged: vec!["c".into()]
            }
        );
        // Work after the squash that was itself cherry-picked to main is merged.
        let f = facts(&[("a", false), ("c", true)], &[Some("s"), None]);
        assert!(matches!(decide(&f), Verdict::Merged(_)));
    }

    #[test]
    fn unmerged_commits_are_the_evidence() {
        let f = facts(&[("a", true), ("b", false)], &[None, None]);
        assert_eq!(
            decide(&f),
            Verdict::Open {
                unmerged: vec!["b".into()]
            }
        );
        assert!(matches!(decide(&facts(&[], &[])), Verdict::Open { .. }));
    }
}
