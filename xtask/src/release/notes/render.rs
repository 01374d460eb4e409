//! The notes as markdown: the runbook's sections, in its order. Pure: the
//! facts in, the text out.

use super::facts::{downgrade_target, Commit, Facts, Migration};
use super::short;

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
    header(f, &mut md);
    changes(f, &mut md);
    operational(f, &mut md);
    bypasses(f, &mut md);
    rollback(f, &mut md);
    md
}

/// The title and the range.
fn header(f: &Facts, md: &mut String) {
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
}

/// The commits, grouped by their first task, those without one last.
fn changes(f: &Facts, md: &mut String) {
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
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
        let heading = match f.task_titles.get(key) {
            _ if key.is_empty() => "Without a task id".to_string(),
            Some(title) => format!("{key}: {title}"),
            None => key.clone(),
        };
        line(&format!("### {heading}"));
        for c in list {
            line(&format!(
                "- {} (`{}`)",
                c.subject,
                &c.sha[..c.sha.len().min(7)]
            ));
        }
        line("");
    }
}

/// Migrations, environment variables and release-policy changes.
fn operational(f: &Facts, md: &mut String) {
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
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
}

/// The bypasses of the release SHA's gate record.
fn bypasses(f: &Facts, md: &mut String) {
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
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
}

/// The last known good release, the rollback command and its migrations.
fn rollback(f: &Facts, md: &mut String) {
    let mut line = |s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    line("## Risk and rollback");
    line("");
    if let Some(u) = &f.production_unknown {
        line(&format!(
            "- **`{}` is in an unknown state**: its latest deployment-ledger entry is a {} of `{}` started at {} with no outcome (a run that did not finish). Find out what runs there before deploying or rolling back.",
            f.production_environment,
            u.action,
            short(&u.sha),
            u.time
        ));
    }
    let k = match (&f.last_known_good, &f.previous_tag) {
        (Some(k), _) => k,
        (None, None) => {
            line("- No earlier release tag: there is nothing to roll back to.");
            return;
        }
        (None, Some(p)) => {
            line(&format!(
                "- Last known good: **none proven**: the deployment ledger has no passing `{}` verification of a release below this one. The previous release tag, `{}` (`{}`), is **the previous tag only**: verify it before rolling back to it.",
                f.production_environment,
                p.name,
                short(&p.sha)
            ));
            return;
        }
    };
    line(&format!(
        "- Last known good: `{}` (`{}`), verified in `{}` at {} (deployment ledger).",
        k.tag,
        short(&k.sha),
        f.production_environment,
        k.verified_at.as_deref().unwrap_or("?")
    ));
    line(&format!(
        "- Rollback: `cargo xtask rollback {} --to {} --reason \"<why>\"`.",
        f.production_environment, k.tag
    ));
    if f.rollback_migrations.is_empty() {
        line(&format!(
            "- No migrations since `{}`: a rollback needs no database step.",
            k.tag
        ));
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plumbing::env::Bypass;
    use crate::release::notes::facts::{GateFacts, TagRef};

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

    #[test]
    fn titles_head_their_task_and_only_a_proven_release_is_a_rollback_target() {
        let mut facts = Facts {
            title: "Release v1.1.0".into(),
            head: "f".repeat(40),
            commits: vec![Commit {
                sha: "1".repeat(40),
                subject: "Parse faster".into(),
                tasks: vec!["TASK-163".into()],
            }],
            production_environment: "prod".into(),
            previous_tag: Some(TagRef {
                name: "v1.0.0".into(),
                sha: "a".repeat(40),
            }),
            ..Facts::default()
        };
        facts
            .task_titles
            .insert("TASK-163".into(), "Parse feeds faster".into());
        let md = render(&facts);
        assert!(
            md.contains("### TASK-163: Parse feeds faster\n- Parse faster"),
            "{md}"
        );
        assert!(md.contains("Last known good: **none proven**"), "{md}");
        assert!(
            md.contains("`v1.0.0` (`aaaaaaaaaaaa`), is **the previous tag only**"),
            "{md}"
        );
        assert!(
            !md.contains("cargo xtask rollback"),
            "an unproven rollback target:\n{md}"
        );

        facts.production_unknown = Some(crate::release::notes::facts::Unfinished {
            sha: "b".repeat(40),
            action: "deploy".into(),
            time: "2026-01-02T00:00:00Z".into(),
        });
        let md = render(&facts);
        assert!(
            md.contains("**`prod` is in an unknown state**: its latest deployment-ledger entry is a deploy of `bbbbbbbbbbbb`"),
            "{md}"
        );
    }
}
