//! What the release notes say, as data, and the pure decisions over it:
//! a commit's tasks, alembic ids, env and policy changes, the last known
//! good release, the downgrade target. No I/O here.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::plumbing::env::Bypass;
use crate::release::ledger::{Action, Entry};
use crate::release::version::Tag;
use crate::task::id as task_id;

/// Everything the notes say, as found in the repository and its records.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Facts {
    pub title: String,
    /// A draft for review (release-notes) rather than a tag's message.
    pub draft: bool,
    pub head: String,
    pub since: Option<TagRef>,
    pub commits: Vec<Commit>,
    pub migrations_dir: String,
    pub migrations_added: Vec<Migration>,
    /// Existing migrations modified or deleted (`M path`, `D path`).
    pub migrations_changed: Vec<String>,
    pub env_changes: Vec<EnvChange>,
    pub policy_file: String,
    pub policy_changes: Vec<String>,
    pub gate: Option<GateFacts>,
    pub production_environment: String,
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
pub struct KnownGood {
    pub tag: String,
    pub sha: String,
    /// `verified`: a passing verification in production is in the ledger;
    /// `previous-tag`: none is, and this is merely the previous tag.
    pub basis: String,
    pub verified_at: Option<String>,
}

/// The task ids of a commit: those on its `Primary-Task:` lines, else those in its subject.
pub fn commit_tasks(
    task_policy: &crate::plumbing::policy::Task,
    subject: &str,
    body: &str,
) -> Vec<String> {
    let primary: Vec<String> = body
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Primary-Task:"))
        .flat_map(|rest| task_id::ids_in_text(task_policy, rest))
        .collect();
    if primary.is_empty() {
        task_id::ids_in_text(task_policy, subject)
    } else {
        primary
    }
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

/// The most recent (highest) tag with a passing verification in `prod` in
/// the ledger, not rolled back from afterwards; else the highest tag,
/// saying it is merely the previous one.
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
    if let Some((t, at)) = sorted.iter().find_map(|t| verified(t).map(|at| (*t, at))) {
        return Some(KnownGood {
            tag: t.name.clone(),
            sha: t.sha.clone(),
            basis: "verified".into(),
            verified_at: Some(at),
        });
    }
    sorted.first().map(|t| KnownGood {
        tag: t.name.clone(),
        sha: t.sha.clone(),
        basis: "previous-tag".into(),
        verified_at: None,
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
        check_lkg(&[], Some(("v1.2.0", "previous-tag")));
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
        assert_eq!(commit_tasks(&t, "TASK-101: fix", ""), ["TASK-101"]);
        assert_eq!(
            commit_tasks(&t, "TASK-101: fix", "body\nPrimary-Task: TASK-202\n"),
            ["TASK-202"]
        );
        assert!(commit_tasks(&t, "fix typo", "").is_empty());
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
