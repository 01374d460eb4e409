//! `release-notes`: the runbook's release-notes draft, from the records and
//! the diff rather than from memory: changes grouped by task, operational
//! changes (migrations, env variables, policy), the bypasses recorded in the
//! release SHA's gate record, and the rollback target proven by the
//! deployment ledger.
//!
//! [`gather`] collects the facts with git; [`render`] is a pure function
//! from the facts to markdown. release-tag uses both for the tag message.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;
use xshell::{cmd, Shell};

use crate::gates::record;
use crate::plumbing::env::Bypass;
use crate::plumbing::output::{self, Format};
use crate::plumbing::{exit, git, Ctx};
use crate::release::ledger::{self, Action, Entry};
use crate::release::version::{self, Tag};
use crate::task::id as task_id;

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Start after this tag [default: the latest vX.Y.Z tag below HEAD; env SINCE].
    #[arg(long, value_name = "TAG")]
    pub since: Option<String>,
    /// Write the notes to FILE instead of stdout [env OUTPUT].
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the notes and where they would go; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

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

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let since_arg = flags
        .since
        .clone()
        .or_else(|| crate::plumbing::env::var("SINCE"));
    let output_arg = flags
        .output
        .clone()
        .or_else(|| crate::plumbing::env::var("OUTPUT").map(PathBuf::from));
    if let Some(path) = &output_arg {
        let parent = std::path::absolute(path)?.parent().map(|p| p.to_path_buf());
        if path.is_dir() {
            return Err(exit::usage(format!(
                "--output {}: is a directory; name a file, e.g. --output {}",
                path.display(),
                path.join("RELEASE_NOTES.md").display()
            )));
        }
        if let Some(dir) = parent.filter(|p| !p.is_dir()) {
            return Err(exit::usage(format!(
                "--output {}: the directory {} does not exist: create it (mkdir -p {}) or name a file in an existing directory",
                path.display(),
                dir.display(),
                dir.display()
            )));
        }
    }
    let sh = git::shell(&ctx.root)?;
    let head = git::head_sha(&sh)?;
    let since = match &since_arg {
        Some(name) => Some(resolve_since(&sh, name)?),
        None => default_since(&sh, &head)?,
    };
    let title = format!(
        "Release notes draft: {}..{}",
        since.as_ref().map_or("(first commit)", |t| t.name.as_str()),
        short(&head)
    );
    let facts = gather(ctx, &sh, &head, since, &title, None)?;
    let markdown = render(&facts);

    let written = match (&output_arg, flags.dry_run) {
        (Some(path), false) => {
            std::fs::write(path, &markdown)
                .map_err(|e| exit::usage(format!("cannot write {}: {e}", path.display())))?;
            true
        }
        _ => false,
    };
    output::step_summary(&markdown);
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "release-notes",
            "status": "passed",
            "dry_run": flags.dry_run,
            "output": output_arg.as_ref().map(|p| p.display().to_string()),
            "written": written,
            "markdown": markdown,
            "facts": facts,
        })),
        Format::Human => match (&output_arg, flags.dry_run) {
            (Some(path), false) => output::say(&format!(
                "release notes ({} commits) written to {}",
                facts.commits.len(),
                path.display()
            )),
            (Some(path), true) => {
                output::say(&format!(
                    "dry run: would write these release notes to {}:",
                    path.display()
                ));
                output::data(&markdown);
            }
            (None, _) => output::data(&markdown),
        },
    }
    if ctx.format == Format::Human {
        warn_gaps(&facts);
    }
    Ok(())
}

/// Says what the reviewer must look at before the notes are final.
pub fn warn_gaps(facts: &Facts) {
    match &facts.gate {
        None => output::warning(&format!(
            "no release-gate record on {}: the Bypasses section cannot be confirmed; run `cargo xtask release-gate` first",
            short(&facts.head)
        )),
        Some(g) => {
            for b in &g.bypasses {
                output::warning(&format!("the gate record of {} used bypass {}={}: the notes document it", short(&facts.head), b.variable, b.value));
            }
        }
    }
    if let Some(k) = &facts.last_known_good {
        if k.basis != "verified" {
            output::warning(&format!(
                "no tag has a passing verification in {} in the deployment ledger: the rollback target {} is merely the previous tag",
                facts.production_environment, k.tag
            ));
        }
    }
}

pub fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

fn resolve_since(sh: &Shell, name: &str) -> anyhow::Result<TagRef> {
    git::validate_rev(name)?;
    let exists = cmd!(
        sh,
        "git rev-parse --verify --quiet --end-of-options refs/tags/{name}"
    )
    .quiet()
    .ignore_status()
    .output()?;
    if !exists.status.success() {
        return Err(exit::usage(format!(
            "--since {name}: no such tag; list them with `git tag --list 'v*'`"
        )));
    }
    let sha = git::resolve_commit(sh, &format!("refs/tags/{name}"))?
        .ok_or_else(|| exit::usage(format!("--since {name}: the tag does not name a commit")))?;
    Ok(TagRef {
        name: name.to_string(),
        sha,
    })
}

/// The highest release tag that is an ancestor of `head` and not on it.
pub fn default_since(sh: &Shell, head: &str) -> anyhow::Result<Option<TagRef>> {
    let (list, _) = version::local(sh)?;
    for t in list.iter().rev() {
        if t.sha == head {
            continue;
        }
        let sha = &t.sha;
        let ancestor = cmd!(sh, "git merge-base --is-ancestor {sha} {head}")
            .quiet()
            .ignore_status()
            .output()?;
        if ancestor.status.success() {
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

    let mut env_changes = Vec::new();
    for file in &policy.release.env_examples {
        let before = env_keys(&show(sh, &base, file)?.unwrap_or_default());
        let after = env_keys(&show(sh, head, file)?.unwrap_or_default());
        let added: Vec<String> = after.difference(&before).cloned().collect();
        let removed: Vec<String> = before.difference(&after).cloned().collect();
        if !added.is_empty() || !removed.is_empty() {
            env_changes.push(EnvChange {
                file: file.clone(),
                added,
                removed,
            });
        }
    }

    let policy_file = ctx
        .policy
        .path
        .strip_prefix(&ctx.root)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "xtask.toml".into());
    let policy_changes = policy_diff(
        show(sh, &base, &policy_file)?.as_deref(),
        show(sh, head, &policy_file)?.as_deref(),
    );

    let gate = record::latest_record(sh, head)?.map(|r| GateFacts {
        status: r.status.clone(),
        finished_at: r.finished_at.clone(),
        bypasses: r.bypasses.clone(),
    });

    let prod = policy.release.production_environment.clone();
    let (all_tags, _) = version::local(sh)?;
    let candidates: Vec<Tag> = all_tags
        .into_iter()
        .filter(|t| t.sha != head && Some(t.name.as_str()) != release)
        .collect();
    let last_known_good = last_known_good(&candidates, &ledger::all_entries(sh)?, &prod);
    let rollback_migrations = match &last_known_good {
        Some(k) if Some(&k.sha) == since.as_ref().map(|t| &t.sha) => migrations_added.clone(),
        Some(k) => migrations(sh, &k.sha, head, &dir)?.0,
        None => Vec::new(),
    };
    Ok(Facts {
        title: title.to_string(),
        draft: release.is_none(),
        head: head.to_string(),
        since,
        commits,
        migrations_dir: dir,
        migrations_added,
        migrations_changed,
        env_changes,
        policy_file,
        policy_changes,
        gate,
        production_environment: prod,
        last_known_good,
        rollback_migrations,
    })
}

fn empty_tree(sh: &Shell) -> anyhow::Result<String> {
    Ok(cmd!(sh, "git hash-object -t tree --stdin")
        .stdin("")
        .quiet()
        .read()?)
}

/// The text of `path` at `rev`, `None` when it does not exist there.
fn show(sh: &Shell, rev: &str, path: &str) -> anyhow::Result<Option<String>> {
    let spec = format!("{rev}:{path}");
    git::stdout_if_ok(cmd!(sh, "git show {spec}"))
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
    let out = cmd!(
        sh,
        "git log --no-merges --reverse --format={format} {range} --"
    )
    .quiet()
    .read()?;
    Ok(out
        .split('\x1e')
        .filter_map(|record| {
            let mut parts = record.trim_start_matches('\n').splitn(3, '\x1f');
            let sha = parts.next()?.trim().to_string();
            let subject = parts.next()?.trim().to_string();
            let body = parts.next().unwrap_or("");
            (!sha.is_empty()).then(|| Commit {
                tasks: commit_tasks(task_policy, &subject, body),
                sha,
                subject,
            })
        })
        .collect())
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

/// Migrations added under `dir` between `base` and `head`, and existing ones changed.
fn migrations(
    sh: &Shell,
    base: &str,
    head: &str,
    dir: &str,
) -> anyhow::Result<(Vec<Migration>, Vec<String>)> {
    let out = cmd!(
        sh,
        "git diff --name-status --no-renames {base} {head} -- {dir}"
    )
    .quiet()
    .read()?;
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
            let (revision, down_revision) = alembic_ids(&text);
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
fn downgrade_target(added: &[Migration]) -> Option<String> {
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

fn describe(m: &Migration) -> String {
    match (&m.revision, &m.down_revision) {
        (Some(r), Some(d)) => format!("`{}` (revision `{r}`, down `{d}`)", m.path),
        (Some(r), None) => format!("`{}` (revision `{r}`, the first)", m.path),
        _ => format!("`{}`", m.path),
    }
}

/// The notes as markdown: the runbook's sections, in its order.
pub fn render(f: &Facts) -> String {
    let mut md = String::new();
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    line(&format!("# {}", f.title));
    line("");
    match &f.since {
        Some(t) => line(&format!(
            "Release commit `{}`; {} commit(s) since `{}` (`{}`).",
            f.head,
            f.commits.len(),
            t.name,
            short(&t.sha)
        )),
        None => line(&format!(
            "Release commit `{}`; {} commit(s), the first release.",
            f.head,
            f.commits.len()
        )),
    }
    line("");

    line("## User-visible changes");
    line("");
    if f.draft {
        line("_Draft: every change, grouped by task; keep what users notice, say it in their words._");
        line("");
    }
    let mut groups: Vec<(String, Vec<&Commit>)> = Vec::new();
    for c in &f.commits {
        let key = c.tasks.first().cloned().unwrap_or_default();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    groups.sort_by_key(|(k, _)| k.is_empty());
    if groups.is_empty() {
        line("- No changes.");
        line("");
    }
    for (key, list) in &groups {
        line(&format!(
            "### {}",
            if key.is_empty() {
                "Without a task id"
            } else {
                key
            }
        ));
        for c in list {
            line(&format!(
                "- {} (`{}`)",
                c.subject,
                &c.sha[..c.sha.len().min(7)]
            ));
        }
        line("");
    }

    line("## Operational changes");
    line("");
    line(&format!("### Migrations (`{}`)", f.migrations_dir));
    if f.migrations_added.is_empty() && f.migrations_changed.is_empty() {
        line("- None added.");
    }
    for m in &f.migrations_added {
        line(&format!("- Added {}", describe(m)));
    }
    for c in &f.migrations_changed {
        let (status, path) = c.split_once(' ').unwrap_or(("M", c));
        let verb = if status == "D" { "Deleted" } else { "Modified" };
        line(&format!("- **{verb} an existing migration** `{path}`: databases that already ran it will not see the change; review before release."));
    }
    line("");
    line("### Environment variables");
    if f.env_changes.is_empty() {
        line("- None added or removed in the env example files.");
    }
    for c in &f.env_changes {
        let list = |v: &[String]| {
            v.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !c.added.is_empty() {
            line(&format!(
                "- `{}`: added {}: set them in every environment's env file before deploying.",
                c.file,
                list(&c.added)
            ));
        }
        if !c.removed.is_empty() {
            line(&format!("- `{}`: removed {}: remove them from the environments once the release is verified.", c.file, list(&c.removed)));
        }
    }
    line("");
    line(&format!("### Release policy (`{}`)", f.policy_file));
    if f.policy_changes.is_empty() {
        line("- No changes.");
    }
    for c in &f.policy_changes {
        line(&format!("- {c}"));
    }
    line("");

    line("## Bypasses");
    line("");
    match &f.gate {
        None => line(&format!(
            "- **No release-gate record on `{}` yet**: run `cargo xtask release-gate` on it before tagging.",
            short(&f.head)
        )),
        Some(g) if g.bypasses.is_empty() => line(&format!(
            "- None: the release-gate record of `{}` ({}, finished {}) used no bypass.",
            short(&f.head),
            g.status,
            g.finished_at
        )),
        Some(g) => {
            for b in &g.bypasses {
                line(&format!(
                    "- **`{}={}`**: {} (release-gate record of `{}`, {}, finished {}). Say why, and when the strict gate will pass again.",
                    b.variable,
                    b.value,
                    b.effect,
                    short(&f.head),
                    g.status,
                    g.finished_at
                ));
            }
        }
    }
    line("");

    line("## Risk and rollback");
    line("");
    match &f.last_known_good {
        None => line("- No earlier release tag: there is nothing to roll back to."),
        Some(k) => {
            match &k.verified_at {
                Some(at) => line(&format!(
                    "- Last known good: `{}` (`{}`), verified in `{}` at {} (deployment ledger).",
                    k.tag,
                    short(&k.sha),
                    f.production_environment,
                    at
                )),
                None => line(&format!(
                    "- Last known good: `{}` (`{}`), **the previous tag only**: the deployment ledger has no passing `{}` verification of any earlier tag.",
                    k.tag,
                    short(&k.sha),
                    f.production_environment
                )),
            }
            line(&format!(
                "- Rollback: `cargo xtask rollback {} --to {} --reason \"<why>\"`.",
                f.production_environment, k.tag
            ));
            if f.rollback_migrations.is_empty() {
                line(&format!(
                    "- No migrations since `{}`: a rollback needs no database step.",
                    k.tag
                ));
            } else {
                line(&format!(
                    "- Migrations a rollback to `{}` must consider (redeploying old code does not downgrade the database):",
                    k.tag
                ));
                for m in &f.rollback_migrations {
                    line(&format!("  - {}", describe(m)));
                }
                match downgrade_target(&f.rollback_migrations) {
                    Some(target) => line(&format!(
                        "- If the schema must go back too: `alembic downgrade {target}` (check each migration's downgrade first)."
                    )),
                    None => line("- The revisions do not form one chain: read `alembic history` before any downgrade."),
                }
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::policy::Task;

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

    #[test]
    fn notes_have_the_runbook_sections_and_document_bypasses() {
        let facts = Facts {
            title: "Release v1.1.0".into(),
            draft: true,
            head: "f".repeat(40),
            since: Some(TagRef {
                name: "v1.0.0".into(),
                sha: "a".repeat(40),
            }),
            commits: vec![
                Commit {
                    sha: "1".repeat(40),
                    subject: "TASK-101: add trends".into(),
                    tasks: vec!["TASK-101".into()],
                },
                Commit {
                    sha: "2".repeat(40),
                    subject: "typo".into(),
                    tasks: vec![],
                },
            ],
            migrations_dir: "alembic/versions".into(),
            gate: Some(GateFacts {
                status: "passed".into(),
                finished_at: "2026-01-01T00:00:00Z".into(),
                bypasses: vec![Bypass::new(
                    crate::plumbing::env::MIGRATION_GATE_SKIP_AUTOGEN,
                    "alembic check skipped",
                )],
            }),
            production_environment: "prod".into(),
            ..Facts::default()
        };
        let md = render(&facts);
        for want in [
            "# Release v1.1.0",
            "## User-visible changes",
            "### TASK-101\n- TASK-101: add trends (`1111111`)",
            "### Without a task id\n- typo",
            "## Operational changes",
            "## Bypasses",
            "**`MIGRATION_GATE_VALIDATE_AUTOGEN=false`**: alembic check skipped",
            "## Risk and rollback",
            "No earlier release tag",
        ] {
            assert!(md.contains(want), "missing {want:?} in:\n{md}");
        }
    }
}
