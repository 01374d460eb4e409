//! What the release notes say, as data, and the pure decisions over it:
//! a commit's tasks, alembic ids, env and policy changes, the last known
//! good release, the downgrade target. No I/O here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::plumbing::env::Bypass;
use crate::release::ledger::{self, Action, Entry};
use crate::release::version::Tag;
use crate::task::id as task_id;

/// Everything the notes say, as found in the repository and its records.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Facts {
    pub title: String,
    /// A draft for review (release-notes) rather than a tag's message.
    pub draft: bool,
    pub head: String,
    /// The end point the user named (`--until`), when not HEAD.
    pub until: Option<String>,
    pub since: Option<TagRef>,
    pub commits: Vec<Commit>,
    /// Task titles from the task ledger at the release commit, by id.
    pub task_titles: BTreeMap<String, String>,
    pub migrations_dir: String,
    pub migrations_added: Vec<Migration>,
    /// Existing migrations modified or deleted (`M path`, `D path`).
    pub migrations_changed: Vec<String>,
    pub env_changes: Vec<EnvChange>,
    pub policy_file: String,
    pub policy_changes: Vec<String>,
    pub gate: Option<GateFacts>,
    pub production_environment: String,
    /// Production's state is unknown: its latest ledger entry is a deploy
    /// or rollback that started and recorded no outcome (a crash).
    pub production_unknown: Option<Unfinished>,
    /// The highest release tag that is an ancestor of the release, proven
    /// or not: named only as the previous tag, never as a rollback target.
    pub previous_tag: Option<TagRef>,
    /// The highest ancestor release tag the ledger proves verified in
    /// production; nothing else is ever named as last known good.
    pub last_known_good: Option<KnownGood>,
    pub rollback_migrations: Vec<Migration>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TagRef {
    pub name: String,
    pub sha: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Commit {
    pub sha: String,
    pub subject: String,
    /// The task ids of the commit: its Primary-Task lines, else its subject.
    pub tasks: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Migration {
    pub path: String,
    pub revision: Option<String>,
    pub down_revision: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct EnvChange {
    pub file: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct GateFacts {
    pub status: String,
    pub finished_at: String,
    pub bypasses: Vec<Bypass>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Unfinished {
    pub sha: String,
    pub action: String,
    pub time: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct KnownGood {
    pub tag: String,
    pub sha: String,
    /// Always `verified`: a passing verification in production is in the
    /// ledger (an unproven previous tag is `Facts::previous_tag`).
    pub basis: String,
    pub verified_at: Option<String>,
}

/// The task ids of a commit, from the first source that names one: its
/// `Primary-Task:` trailers, its subject, a body line that is only a task
/// id (`TASK-163`), the branch of the pull request that merged it.
pub fn commit_tasks(
    task_policy: &crate::plumbing::policy::Task,
    subject: &str,
    body: &str,
    branch: Option<&str>,
) -> Vec<String> {
    let primary: Vec<String> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Primary-Task:"))
        .flat_map(|rest| task_id::ids_in_text(task_policy, rest))
        .collect();
    if !primary.is_empty() {
        return primary;
    }
    let in_subject = task_id::ids_in_text(task_policy, subject);
    if !in_subject.is_empty() {
        return in_subject;
    }
    let bare: Vec<String> = body
        .lines()
        .map(str::trim)
        .filter(|l| {
            let ids = task_id::ids_in_text(task_policy, l);
            ids.len() == 1 && l.eq_ignore_ascii_case(&ids[0])
        })
        .flat_map(|l| task_id::ids_in_text(task_policy, l))
        .collect();
    if !bare.is_empty() {
        return bare;
    }
    branch
        .and_then(|b| task_id::task_of_branch(task_policy, b))
        .into_iter()
        .collect()
}

/// The branch a merge commit's subject names: GitHub's `Merge pull request
/// #12 from owner/BRANCH`, git's `Merge branch 'BRANCH'`.
pub fn merged_branch(subject: &str) -> Option<&str> {
    if let Some(rest) = subject.strip_prefix("Merge pull request #") {
        let (_, from) = rest.split_once(" from ")?;
        let name = from.split_whitespace().next()?;
        return Some(name.split_once('/').map_or(name, |(_, b)| b));
    }
    let rest = subject.strip_prefix("Merge branch '")?;
    rest.split_once('\'').map(|(b, _)| b)
}

/// Task titles from the task ledger files (`(path, text)`): a task line
/// (the policy's `[task] ledger-task-line`, as task-start reads the ledger;
/// done or not) gives its task's title, the rest of the line after the id
/// and a separator (`:`, `-`, `—`, `|`); the first such line wins. A line
/// that merely mentions an id is no task line. A pattern that does not
/// compile gives no titles (task-start reports the policy error).
pub fn task_titles(
    task_policy: &crate::plumbing::policy::Task,
    files: &[(String, String)],
) -> BTreeMap<String, String> {
    let mut titles = BTreeMap::new();
    let Ok(line_re) = task_policy.task_line_regex(&task_policy.any_id_pattern()) else {
        return titles;
    };
    // A done task's mark (`✅`) is no part of its title.
    let done_re = task_policy.done_regex().ok();
    for (_, text) in files {
        for line in text.lines() {
            let Some(m) = line_re.captures(line).and_then(|c| c.name("id")) else {
                continue;
            };
            let Ok(id) = task_id::normalize_id(task_policy, m.as_str()) else {
                continue;
            };
            let rest = &line[m.end()..];
            let rest = match &done_re {
                Some(re) => re.replace_all(rest, ""),
                None => rest.into(),
            };
            let title = rest
                .trim_start_matches([':', '-', '|', ' ', '\t', '—', '*', '`', '_', '~'])
                .trim_end_matches(['|', ' ', '\t', '*', '`', '_', '~'])
                .trim();
            if !title.is_empty() && !titles.contains_key(&id) {
                titles.insert(id, title.chars().take(200).collect());
            }
        }
    }
    titles
}

/// The deploy or rollback on `env` that started and recorded no outcome,
/// when it is the environment's latest (the ledger's own rule,
/// [`ledger::unfinished_rollout`]; `entries` in time order).
pub fn unfinished(entries: &[Entry], env: &str) -> Option<Unfinished> {
    let e = ledger::unfinished_rollout(entries, env)?;
    Some(Unfinished {
        sha: e.sha.clone(),
        action: format!("{:?}", e.action).to_ascii_lowercase(),
        time: e.time.clone(),
    })
}

/// An alembic script's `revision` and `down_revision` (`None` for the first).
pub fn alembic_ids(text: &str) -> (Option<String>, Option<String>) {
    let rev = regex_lite::Regex::new(r#"(?m)^revision\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]"#)
        .expect("valid regex");
    let down = regex_lite::Regex::new(r#"(?m)^down_revision\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]"#)
        .expect("valid regex");
    let grab = |re: &regex_lite::Regex| re.captures(text).map(|c| c[1].to_string());
    (grab(&rev), grab(&down))
}

/// The variable names an env example file defines (comments and blank lines skipped).
pub fn env_keys(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.strip_prefix("export ").unwrap_or(l))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .filter(|k| {
            k.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// The policy keys added, removed and changed, as `added key`, … lines.
pub fn policy_diff(before: Option<&str>, after: Option<&str>) -> Vec<String> {
    if before == after {
        return Vec::new();
    }
    match (before, after) {
        (None, Some(_)) => return vec!["the policy file is new in this release".into()],
        (Some(_), None) => {
            return vec!["**the policy file was deleted**: the built-in defaults apply".into()]
        }
        _ => {}
    }
    let flat = |text: Option<&str>| -> Result<BTreeMap<String, String>, ()> {
        let mut out = BTreeMap::new();
        if let Some(text) = text {
            let value: toml::Value = toml::from_str(text).map_err(|_| ())?;
            flatten(&value, "", &mut out);
        }
        Ok(out)
    };
    let (Ok(b), Ok(a)) = (flat(before), flat(after)) else {
        return vec![
            "changed (the file does not parse at one of the two revisions; review the diff)".into(),
        ];
    };
    let mut lines = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            None => lines.push(format!("added `{k}`")),
            Some(old) if old != v => lines.push(format!("changed `{k}`")),
            _ => {}
        }
    }
    lines.extend(
        b.keys()
            .filter(|k| !a.contains_key(*k))
            .map(|k| format!("removed `{k}`")),
    );
    if lines.is_empty() {
        lines.push("reformatted (no key changed)".into());
    }
    lines
}

/// Tables become dotted keys; arrays and values are compared whole.
fn flatten(value: &toml::Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &key, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The most recent (highest) of `tags` (the caller passes only ancestors
/// of the release) with a passing verification in `prod` in the ledger, not
/// rolled back from afterwards; `None` when the ledger proves none.
pub fn last_known_good(tags: &[Tag], entries: &[Entry], prod: &str) -> Option<KnownGood> {
    let verified = |t: &Tag| -> Option<String> {
        let pass = entries
            .iter()
            .filter(|e| {
                e.sha == t.sha && e.environment == prod && e.action == Action::Verify && e.passed()
            })
            .map(|e| e.time.clone())
            .max()?;
        let rolled_back_later = entries.iter().any(|e| {
            e.environment == prod
                && e.action == Action::Rollback
                && e.from_sha.as_deref() == Some(t.sha.as_str())
                && e.time > pass
        });
        (!rolled_back_later).then_some(pass)
    };
    let mut sorted: Vec<&Tag> = tags.iter().collect();
    sorted.sort_by(|a, b| b.version.cmp(&a.version));
    let (t, at) = sorted.iter().find_map(|t| verified(t).map(|at| (*t, at)))?;
    Some(KnownGood {
        tag: t.name.clone(),
        sha: t.sha.clone(),
        basis: "verified".into(),
        verified_at: Some(at),
    })
}

/// The alembic revision to downgrade to, to undo `added`: the down revision
/// of the one migration whose parent is not among them (`base` for none).
pub(super) fn downgrade_target(added: &[Migration]) -> Option<String> {
    let revisions: BTreeSet<&str> = added.iter().filter_map(|m| m.revision.as_deref()).collect();
    if revisions.len() != added.len() {
        return None;
    }
    let roots: Vec<&Migration> = added
        .iter()
        .filter(|m| {
            !m.down_revision
                .as_deref()
                .is_some_and(|d| revisions.contains(d))
        })
        .collect();
    match roots.as_slice() {
        [only] => Some(only.down_revision.clone().unwrap_or_else(|| "base".into())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::policy::Task;
    use crate::release::version;

    fn entry(
        sha: &str,
        env: &str,
        action: Action,
        result: &str,
        time: &str,
        from: Option<&str>,
    ) -> Entry {
        Entry {
            sha: sha.into(),
            environment: env.into(),
            action,
            result: result.into(),
            time: time.into(),
            operator: "op".into(),
            tag: None,
            reason: None,
            from_sha: from.map(str::to_string),
            detail: None,
        }
    }

    fn tag(name: &str, sha: &str) -> Tag {
        Tag {
            name: name.into(),
            version: version::parse(name).unwrap(),
            sha: sha.into(),
        }
    }

    fn check_lkg(entries: &[Entry], expected: Option<(&str, &str)>) {
        let list = [tag("v1.0.0", "a"), tag("v1.1.0", "b"), tag("v1.2.0", "c")];
        let got = last_known_good(&list, entries, "prod");
        assert_eq!(
            got.as_ref().map(|k| (k.tag.as_str(), k.basis.as_str())),
            expected,
            "{got:?}"
        );
    }

    #[test]
    fn last_known_good_is_proven_by_the_ledger() {
        check_lkg(&[], None);
        let t = "2026-01-01T00:00:00Z";
        check_lkg(
            &[entry("b", "prod", Action::Verify, "passed", t, None)],
            Some(("v1.1.0", "verified")),
        );
        // Staging verifications, failed verifications and deploys do not count.
        check_lkg(
            &[
                entry("c", "staging", Action::Verify, "passed", t, None),
                entry("c", "prod", Action::Verify, "failed", t, None),
                entry("c", "prod", Action::Deploy, "passed", t, None),
                entry("a", "prod", Action::Verify, "passed", t, None),
            ],
            Some(("v1.0.0", "verified")),
        );
        // A later rollback away from a verified tag un-proves it.
        check_lkg(
            &[
                entry(
                    "b",
                    "prod",
                    Action::Verify,
                    "passed",
                    "2026-01-01T00:00:00Z",
                    None,
                ),
                entry(
                    "a",
                    "prod",
                    Action::Rollback,
                    "passed",
                    "2026-01-02T00:00:00Z",
                    Some("b"),
                ),
                entry(
                    "a",
                    "prod",
                    Action::Verify,
                    "passed",
                    "2026-01-02T00:00:01Z",
                    None,
                ),
            ],
            Some(("v1.0.0", "verified")),
        );
        assert_eq!(last_known_good(&[], &[], "prod"), None);
    }

    #[test]
    fn tasks_come_from_primary_task_lines_then_subjects() {
        let t = Task::default();
        assert_eq!(commit_tasks(&t, "TASK-101: fix", "", None), ["TASK-101"]);
        assert_eq!(
            commit_tasks(&t, "TASK-101: fix", "body\nPrimary-Task: TASK-202\n", None),
            ["TASK-202"]
        );
        assert!(commit_tasks(&t, "fix typo", "", None).is_empty());
        // A bare id line in the body (Horadus), not an id mentioned in passing.
        assert_eq!(
            commit_tasks(&t, "Fix the parser (#12)", "Details.\n\nTASK-163\n", None),
            ["TASK-163"]
        );
        assert!(commit_tasks(&t, "Fix", "see TASK-163 for more", None).is_empty());
        // The merged branch, last.
        assert_eq!(
            commit_tasks(&t, "Fix", "", Some("task-271-ledger")),
            ["TASK-271"]
        );
        assert_eq!(
            commit_tasks(&t, "TASK-101: fix", "", Some("task-271-ledger")),
            ["TASK-101"]
        );
        assert!(commit_tasks(&t, "Fix", "", Some("feature/x")).is_empty());
        assert_eq!(
            merged_branch("Merge pull request #12 from acme/task-271-ledger"),
            Some("task-271-ledger")
        );
        assert_eq!(
            merged_branch("Merge branch 'task-3-x' into main"),
            Some("task-3-x")
        );
        assert_eq!(merged_branch("Fix (#12)"), None);
    }

    #[test]
    fn task_titles_come_from_task_lines_of_the_ledger() {
        let t = Task::default();
        let files = [
            (
                "tasks/BACKLOG.md",
                "# Backlog\n\nNext available task IDs start at `TASK-371`\n- [ ] TASK-163: Parse feeds faster\n### TASK-164 — Ledger titles\n- [x] TASK-165: Done already\n",
            ),
            ("tasks/DONE.md", "- TASK-163: a later duplicate\n- TASK-170\n"),
        ];
        let titles = |t: &Task, files: &[(&str, &str)]| {
            let files: Vec<(String, String)> = files
                .iter()
                .map(|(f, text)| (f.to_string(), text.to_string()))
                .collect();
            task_titles(t, &files)
        };
        let expect = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(id, title)| (id.to_string(), title.to_string()))
                .collect()
        };
        // Neither a mention (TASK-371) nor a task line without a title
        // (TASK-170) gives a title; the first task line of an id wins.
        assert_eq!(
            titles(&t, &files),
            expect(&[
                ("TASK-163", "Parse feeds faster"),
                ("TASK-164", "Ledger titles"),
                ("TASK-165", "Done already"),
            ])
        );
        // A task-line pattern with groups of its own (Horadus's two ledgers).
        let horadus = Task {
            ledger_task_line: Some("^(### |- ){ID}:".into()),
            ..Task::default()
        };
        assert_eq!(
            titles(
                &horadus,
                &[
                    ("tasks/BACKLOG.md", "### TASK-363: Add eval suites\n"),
                    ("tasks/COMPLETED.md", "- TASK-208: Restrict API docs ✅\n"),
                ]
            ),
            expect(&[
                ("TASK-208", "Restrict API docs"),
                ("TASK-363", "Add eval suites"),
            ])
        );
    }

    #[test]
    fn a_started_entry_without_outcome_leaves_the_environment_unknown() {
        let t = |s: &str| format!("2026-01-0{s}T00:00:00Z");
        let ok = entry("a", "prod", Action::Verify, "passed", &t("1"), None);
        let started = entry("b", "prod", Action::Deploy, "started", &t("2"), None);
        assert_eq!(unfinished(std::slice::from_ref(&ok), "prod"), None);
        let u = unfinished(&[ok.clone(), started.clone()], "prod").unwrap();
        assert_eq!((u.sha.as_str(), u.action.as_str()), ("b", "deploy"));
        // An outcome after the start: known again.
        let done = entry("b", "prod", Action::Deploy, "failed", &t("3"), None);
        assert_eq!(
            unfinished(&[ok.clone(), started.clone(), done], "prod"),
            None
        );
        assert_eq!(unfinished(std::slice::from_ref(&started), "staging"), None);
        // A started entry is never a verification.
        let tags = [tag("v1.0.0", "b")];
        assert_eq!(last_known_good(&tags, &[started], "prod"), None);
    }

    #[test]
    fn alembic_revisions_are_read_in_both_template_styles() {
        let old = "revision = 'abc1'\ndown_revision = 'abc0'\n";
        assert_eq!(alembic_ids(old), (Some("abc1".into()), Some("abc0".into())));
        let new = "revision: str = \"b2\"\ndown_revision: Union[str, None] = None\n";
        assert_eq!(alembic_ids(new), (Some("b2".into()), None));
    }

    #[test]
    fn the_downgrade_target_is_the_parent_of_the_chain() {
        let m = |r: &str, d: Option<&str>| Migration {
            path: r.into(),
            revision: Some(r.into()),
            down_revision: d.map(str::to_string),
        };
        assert_eq!(
            downgrade_target(&[m("b", Some("a")), m("c", Some("b"))]).as_deref(),
            Some("a")
        );
        assert_eq!(downgrade_target(&[m("a", None)]).as_deref(), Some("base"));
        assert_eq!(
            downgrade_target(&[m("b", Some("a")), m("c", Some("x"))]),
            None
        );
    }

    #[test]
    fn env_and_policy_changes_are_named() {
        let keys = env_keys("# X=1\nA=1\nexport B=2\n\nnot a var\nC_1=\n");
        assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["A", "B", "C_1"]);
        let diff = policy_diff(
            Some("[git]\nremote = \"origin\"\n"),
            Some("[git]\nremote = \"up\"\n[release]\nmigrations-dir = \"m\"\n"),
        );
        assert_eq!(
            diff,
            ["changed `git.remote`", "added `release.migrations-dir`"]
        );
        assert!(policy_diff(Some("a = 1"), Some("a = 1")).is_empty());
    }
}
