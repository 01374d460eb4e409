//! Gathering the facts of the notes with git: the commits of the range,
//! the migrations, env example and policy files at both ends, the gate
//! record and the deployment ledger.

use std::collections::BTreeMap;

use xshell::Shell;

use super::facts::{self, Commit, EnvChange, Facts, GateFacts, Migration, TagRef};
use crate::gates::record;
use crate::plumbing::{exit, git, Ctx};
use crate::release::ledger;
use crate::release::version::{self, Tag};

/// The commit a revision flag (`--since`, `--until`) names: any revision
/// (a tag, a branch, a SHA, `main~3`), validated before it reaches git.
pub(super) fn resolve_rev(sh: &Shell, flag: &str, name: &str) -> anyhow::Result<TagRef> {
    git::validate_rev(name).map_err(|e| exit::usage(format!("{flag} {e:#}")))?;
    let sha = git::resolve_commit(sh, name)?.ok_or_else(|| {
        exit::usage(format!(
            "{flag} {name}: no such tag, branch or commit; list the release tags with `git tag --list 'v*'`"
        ))
    })?;
    Ok(TagRef {
        name: name.to_string(),
        sha,
    })
}

/// The highest plain release tag (not a pre-release) that is an ancestor
/// of `head` and not on it.
pub fn default_since(sh: &Shell, head: &str) -> anyhow::Result<Option<TagRef>> {
    let (list, _) = version::local(sh)?;
    for t in list.iter().rev() {
        if t.sha == head || !t.version.pre.is_empty() {
            continue;
        }
        if git::test(sh, &["merge-base", "--is-ancestor", &t.sha, head])? {
            return Ok(Some(TagRef {
                name: t.name.clone(),
                sha: t.sha.clone(),
            }));
        }
    }
    Ok(None)
}

/// Collects every fact of the notes for the commits `since..head`.
/// `release` is the version being tagged, excluded from rollback targets.
pub fn gather(
    ctx: &Ctx,
    sh: &Shell,
    head: &str,
    since: Option<TagRef>,
    title: &str,
    release: Option<&str>,
) -> anyhow::Result<Facts> {
    let policy = &ctx.policy.policy;
    let base = match &since {
        Some(t) => t.sha.clone(),
        None => empty_tree(sh)?,
    };
    let commits = commits(
        sh,
        &policy.task,
        since.as_ref().map(|t| t.sha.as_str()),
        head,
    )?;
    let dir = policy
        .release
        .migrations_dir
        .trim_end_matches('/')
        .to_string();
    let (migrations_added, migrations_changed) = migrations(sh, &base, head, &dir)?;

    let env_changes = env_changes(sh, &policy.release.env_examples, &base, head)?;
    let policy_file = ctx
        .policy
        .path
        .strip_prefix(&ctx.root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "xtask.toml".into());
    let policy_changes = facts::policy_diff(
        show(sh, &base, &policy_file)?.as_deref(),
        show(sh, head, &policy_file)?.as_deref(),
    );
    let gate = record::latest_record(sh, head)?.map(|r| GateFacts {
        status: r.status.clone(),
        finished_at: r.finished_at.clone(),
        bypasses: r.bypasses.clone(),
    });

    let prod = policy.release.production_environment.clone();
    let candidates = ancestor_tags(sh, head, release)?;
    let entries = ledger::all_entries(sh)?;
    let last_known_good = facts::last_known_good(&candidates, &entries, &prod);
    let previous_tag = version::latest(&candidates).map(|t| TagRef {
        name: t.name.clone(),
        sha: t.sha.clone(),
    });
    let rollback_migrations = match &last_known_good {
        Some(k) if Some(&k.sha) == since.as_ref().map(|t| &t.sha) => migrations_added.clone(),
        Some(k) => migrations(sh, &k.sha, head, &dir)?.0,
        None => Vec::new(),
    };
    Ok(Facts {
        title: title.to_string(),
        draft: release.is_none(),
        head: head.to_string(),
        until: None,
        since,
        commits,
        task_titles: facts::task_titles(&policy.task, &ledger_texts(sh, &policy.task, head)?),
        migrations_dir: dir,
        migrations_added,
        migrations_changed,
        env_changes,
        policy_file,
        policy_changes,
        gate,
        production_unknown: facts::unfinished(&entries, &prod),
        production_environment: prod,
        previous_tag,
        last_known_good,
        rollback_migrations,
    })
}

/// The release tags below `head` (its ancestors, not on it), but `release`:
/// the only tags the notes may name as previous or last known good.
fn ancestor_tags(sh: &Shell, head: &str, release: Option<&str>) -> anyhow::Result<Vec<Tag>> {
    let (all_tags, _) = version::local(sh)?;
    let mut out = Vec::new();
    for t in all_tags {
        if t.sha == head || Some(t.name.as_str()) == release {
            continue;
        }
        if git::test(sh, &["merge-base", "--is-ancestor", &t.sha, head])? {
            out.push(t);
        }
    }
    Ok(out)
}

/// The task ledger files the policy names, as `(path, text)` at `rev`;
/// a file missing there is skipped (the notes then have no titles).
fn ledger_files(task: &crate::plumbing::policy::Task) -> Vec<String> {
    task.ledger
        .iter()
        .flat_map(|l| l.files())
        .map(str::to_string)
        .collect()
}

fn ledger_texts(
    sh: &Shell,
    task: &crate::plumbing::policy::Task,
    rev: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for path in ledger_files(task) {
        if let Some(text) = show(sh, rev, &path)? {
            out.push((path, text));
        }
    }
    Ok(out)
}

/// The variables added to and removed from each env example file.
fn env_changes(
    sh: &Shell,
    files: &[String],
    base: &str,
    head: &str,
) -> anyhow::Result<Vec<EnvChange>> {
    let mut out = Vec::new();
    for file in files {
        let before = facts::env_keys(&show(sh, base, file)?.unwrap_or_default());
        let after = facts::env_keys(&show(sh, head, file)?.unwrap_or_default());
        let added: Vec<String> = after.difference(&before).cloned().collect();
        let removed: Vec<String> = before.difference(&after).cloned().collect();
        if !added.is_empty() || !removed.is_empty() {
            out.push(EnvChange {
                file: file.clone(),
                added,
                removed,
            });
        }
    }
    Ok(out)
}

fn empty_tree(sh: &Shell) -> anyhow::Result<String> {
    let a = git::answer_with(sh, &["hash-object", "-t", "tree", "--stdin"], Some(""))?;
    Ok(a.checked()?.stdout.trim().to_string())
}

/// The text of `path` at `rev`, `None` when it does not exist there.
fn show(sh: &Shell, rev: &str, path: &str) -> anyhow::Result<Option<String>> {
    git::read_if_ok(sh, &["show", &format!("{rev}:{path}")])
}

fn commits(
    sh: &Shell,
    task_policy: &crate::plumbing::policy::Task,
    since: Option<&str>,
    head: &str,
) -> anyhow::Result<Vec<Commit>> {
    let range = match since {
        Some(s) => format!("{s}..{head}"),
        None => head.to_string(),
    };
    let format = "%H%x1f%s%x1f%b%x1e";
    let format = format!("--format={format}");
    let out = git::read(
        sh,
        &["log", "--no-merges", "--reverse", &format, &range, "--"],
    )?;
    let branches = merged_branches(sh, &range)?;
    Ok(out
        .split('\x1e')
        .filter_map(|record| {
            let mut parts = record.trim_start_matches('\n').splitn(3, '\x1f');
            let sha = parts.next()?.trim().to_string();
            let subject = parts.next()?.trim().to_string();
            let body = parts.next().unwrap_or("");
            (!sha.is_empty()).then(|| Commit {
                tasks: facts::commit_tasks(
                    task_policy,
                    &subject,
                    body,
                    branches.get(&sha).map(String::as_str),
                ),
                sha,
                subject,
            })
        })
        .collect())
}
/// The branch that brought each commit of `range` in, for the commits of
/// merge commits whose subject names their branch (a PR merged with a merge
/// commit); squash merges name none.
fn merged_branches(sh: &Shell, range: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let out = git::read(sh, &["log", "--merges", "--format=%H%x1f%s", range, "--"])?;
    let mut map = BTreeMap::new();
    for line in out.lines() {
        let Some((sha, subject)) = line.split_once('\x1f') else {
            continue;
        };
        let Some(branch) = facts::merged_branch(subject) else {
            continue;
        };
        let side = format!("{sha}^1..{sha}^2");
        for commit in git::read(sh, &["rev-list", &side, "--"])?.lines() {
            // Newest merges come first: an inner (older) merge's branch wins.
            map.insert(commit.to_string(), branch.to_string());
        }
    }
    Ok(map)
}

/// Migrations added under `dir` between `base` and `head`, and existing ones changed.
fn migrations(
    sh: &Shell,
    base: &str,
    head: &str,
    dir: &str,
) -> anyhow::Result<(Vec<Migration>, Vec<String>)> {
    let out = git::read(
        sh,
        &[
            "diff",
            "--name-status",
            "--no-renames",
            base,
            head,
            "--",
            dir,
        ],
    )?;
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for line in out.lines() {
        let Some((status, path)) = line.split_once('\t') else {
            continue;
        };
        if path.contains("/__pycache__/") || path.ends_with(".pyc") {
            continue;
        }
        if status == "A" {
            let text = show(sh, head, path)?.unwrap_or_default();
            let (revision, down_revision) = facts::alembic_ids(&text);
            added.push(Migration {
                path: path.to_string(),
                revision,
                down_revision,
            });
        } else {
            changed.push(format!("{status} {path}"));
        }
    }
    Ok((added, changed))
}
