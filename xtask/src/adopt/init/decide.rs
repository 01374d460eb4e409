//! From the facts `init` gathered to a draft policy, every value with the
//! reason it was guessed (pure: no I/O, unit-tested here).

use std::collections::BTreeSet;

use crate::adopt::init::makefile::{self, Makefile};
use crate::adopt::init::{gates, ledger};
use crate::github::workflow;

/// What `init` found in the repository (gathered by `gather.rs`).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The Makefile's name and text.
    pub makefile: Option<(String, String)>,
    /// Paths of `alembic.ini` files, relative to the root, sorted.
    pub alembic_inis: Vec<String>,
    /// Lock files and other markers that exist (`uv.lock`, `poetry.lock`…),
    /// as paths relative to the root.
    pub files: BTreeSet<String>,
    /// `.github/workflows/*.yml` as (path, text).
    pub workflows: Vec<(String, String)>,
    /// Markdown files as (path, text), sorted by path.
    pub markdown: Vec<(String, String)>,
    /// What `origin/HEAD` points at (`main`), when set.
    pub remote_head: Option<String>,
    /// Local and remote-tracking branch names (remote prefix removed).
    pub branches: Vec<String>,
    /// The repository's remotes.
    pub remotes: Vec<String>,
}

/// A value and why it was chosen (the `# guessed from …` comment).
#[derive(Clone, Debug, PartialEq)]
pub struct Guess<T> {
    pub value: T,
    pub why: String,
}

pub fn guess<T>(value: T, why: impl Into<String>) -> Guess<T> {
    Guess {
        value,
        why: why.into(),
    }
}

/// One step of a gate or prepare list.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub name: String,
    pub argv: Vec<String>,
    pub why: String,
    /// Something the user must look at (a formatter that rewrites files).
    pub warn: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    pub name: String,
    pub why: String,
    pub prepare: Vec<String>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prepare {
    pub name: String,
    pub why: String,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub id_prefix: Guess<String>,
    pub id_digits: Guess<usize>,
    /// The ledger files (one or several).
    pub ledger: Option<Guess<Vec<String>>>,
    pub branch_template: Option<Guess<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    pub directory: Guess<String>,
    pub alembic: Guess<Vec<String>>,
    /// The `[prepare]` lists the Makefile's `db-migration-gate` needs.
    pub prepare: Option<Guess<Vec<String>>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Docs {
    pub scope: Vec<String>,
    /// (path, label) of each file with a marker.
    pub markers: Vec<(String, String)>,
    pub overrides_file: Option<String>,
}

/// The draft policy: each section is `None` when nothing was found for it
/// (the notes say so and what to add).
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub main_branch: Guess<String>,
    pub remote: Guess<String>,
    pub task: Option<Task>,
    pub prepare: Vec<Prepare>,
    pub gates: Vec<Gate>,
    pub migration: Option<Migration>,
    pub required_checks: Option<Guess<Vec<String>>>,
    pub docs: Option<Docs>,
    /// What was not guessed, and why (comments at the top of the file).
    pub notes: Vec<String>,
}

/// The draft policy for the facts.
pub fn draft(facts: &Facts) -> Draft {
    let mut notes = Vec::new();
    let (main_branch, remote) = git_section(facts);
    let mk = facts
        .makefile
        .as_ref()
        .map(|(name, text)| (name.as_str(), makefile::parse(text)));
    let (gates, prepare) = match &mk {
        Some((name, mk)) => gates::from_makefile(name, mk, &mut notes),
        None => {
            notes.push("no Makefile: add [gates.check] and [gates.test] by hand".to_string());
            (Vec::new(), Vec::new())
        }
    };
    let mut migration = migration(facts, mk.as_ref(), &mut notes);
    let mut prepare = prepare;
    if let (Some(m), Some((file, mk))) = (migration.as_mut(), &mk) {
        m.prepare = migration_prepare(file, mk, &mut prepare);
    }
    if let Some((file, mk)) = mk.as_ref().filter(|(_, mk)| !mk.exports.is_empty()) {
        notes.push(format!(
            "{file} exports {} to every recipe; the steps copied here do not get them: add `env = {{ … }}` to the steps that need them",
            quoted(&mk.exports)
        ));
    }
    let required_checks = required_checks(facts, &main_branch.value, &mut notes);
    let docs = docs(facts, &mut notes);
    let task = ledger::task(facts, &mut notes);
    Draft {
        main_branch,
        remote,
        task,
        prepare,
        gates,
        migration,
        required_checks,
        docs,
        notes,
    }
}

fn git_section(facts: &Facts) -> (Guess<String>, Guess<String>) {
    let remote = if facts.remotes.iter().any(|r| r == "origin") || facts.remotes.is_empty() {
        let why = if facts.remotes.is_empty() {
            "the default: this repository has no remote yet"
        } else {
            "the remote `origin`"
        };
        guess("origin".to_string(), why)
    } else {
        guess(
            facts.remotes[0].clone(),
            format!(
                "the first remote, `{}` (there is no `origin`)",
                facts.remotes[0]
            ),
        )
    };
    let main = if let Some(head) = &facts.remote_head {
        guess(head.clone(), format!("{}/HEAD", remote.value))
    } else if let Some(b) = ["main", "master", "trunk"]
        .iter()
        .find(|b| facts.branches.iter().any(|x| x == *b))
    {
        guess(b.to_string(), format!("the branch `{b}`"))
    } else {
        guess(
            "main".to_string(),
            "the default: no main or master branch found",
        )
    };
    (main, remote)
}

pub fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn migration(
    facts: &Facts,
    mk: Option<&(&str, Makefile)>,
    notes: &mut Vec<String>,
) -> Option<Migration> {
    let Some(first) = facts.alembic_inis.first() else {
        notes.push(
            "no alembic.ini: add [migration] if the service has alembic migrations".to_string(),
        );
        return None;
    };
    let dir = match first.rsplit_once('/') {
        Some((dir, _)) => dir.to_string(),
        None => ".".to_string(),
    };
    let mut why = first.clone();
    if facts.alembic_inis.len() > 1 {
        why.push_str(&format!(" (the first of {})", quoted(&facts.alembic_inis)));
    }
    let directory = guess(dir.clone(), why);
    let from_make = mk.and_then(|(file, mk)| {
        mk.rules.iter().find_map(|r| {
            let steps = mk.plain_steps(&r.target)?.ok()?;
            steps.iter().find_map(|argv| {
                let i = argv.iter().position(|a| a == "alembic")?;
                Some(guess(
                    argv[..=i].to_vec(),
                    format!("{file}:{} target `{}`", r.line, r.target),
                ))
            })
        })
    });
    // A lock file beside alembic.ini, else at the root, says how it runs.
    let lock = |name: &str| {
        [format!("{dir}/{name}"), name.to_string()]
            .into_iter()
            .find(|p| facts.files.contains(p))
    };
    let alembic = from_make.unwrap_or_else(|| {
        if let Some(path) = lock("uv.lock") {
            guess(words(&["uv", "run", "--no-sync", "alembic"]), path)
        } else if let Some(path) = lock("poetry.lock") {
            guess(words(&["poetry", "run", "alembic"]), path)
        } else {
            guess(
                words(&["alembic"]),
                "no uv.lock or poetry.lock: alembic on PATH",
            )
        }
    });
    Some(Migration {
        directory,
        alembic,
        prepare: None,
    })
}

/// The dependency prerequisites of the Makefile's `db-migration-gate`, as
/// `[prepare]` lists (added to `prepare` when no gate needed them yet).
fn migration_prepare(
    file: &str,
    mk: &Makefile,
    prepare: &mut Vec<Prepare>,
) -> Option<Guess<Vec<String>>> {
    let rule = mk.rule("db-migration-gate")?;
    let names: Vec<String> = rule
        .prereqs
        .iter()
        .filter(|p| gates::deps_like(p) && mk.rule(p).is_some())
        .cloned()
        .collect();
    if names.is_empty() {
        return None;
    }
    for n in &names {
        if !prepare.iter().any(|p| &p.name == n) {
            prepare.push(gates::prepare_list(file, mk, n.clone()));
        }
    }
    Some(guess(
        names,
        format!(
            "{file}:{} target `db-migration-gate`'s prerequisites",
            rule.line
        ),
    ))
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn required_checks(
    facts: &Facts,
    branch: &str,
    notes: &mut Vec<String>,
) -> Option<Guess<Vec<String>>> {
    let mut candidates: Vec<String> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let (offered, why) = workflow::pull_request_checks(&facts.workflows, branch);
    notes.extend(why);
    for p in offered {
        if candidates.contains(&p.check) {
            continue;
        }
        if p.conditional {
            notes.push(format!("{}: job `{}` (check `{}`) has an `if:`: when it skips, GitHub counts the required check as passed", p.workflow, p.job, p.check));
        }
        if !sources.contains(&p.workflow) {
            sources.push(p.workflow.clone());
        }
        candidates.push(p.check);
    }
    // protect-main's own test of each name, so init never proposes a
    // check protect-main would refuse.
    let findings = workflow::check_required(&facts.workflows, branch, &candidates);
    let produced: Vec<String> = candidates
        .into_iter()
        .filter(|c| findings.produced.iter().any(|p| &p.check == c))
        .collect();
    if produced.is_empty() {
        notes.push(format!(
            "no workflow job runs on pull requests to `{branch}`: add [github] required-checks once CI has jobs"
        ));
        return None;
    }
    Some(guess(
        produced,
        format!(
            "the jobs of {} that run on pull requests to `{branch}`",
            sources.join(", ")
        ),
    ))
}

/// Labels of freshness markers (`**Last Verified**: 2026-01-31`).
const MARKER_LABELS: [&str; 3] = ["Last Verified", "Last Updated", "Last Reviewed"];

fn marker_label(text: &str) -> Option<&'static str> {
    MARKER_LABELS.iter().copied().find(|label| {
        let needle = format!("**{label}**:");
        text.match_indices(&needle).any(|(i, _)| {
            let date = text[i + needle.len()..].trim_start();
            let b = date.as_bytes();
            b.len() >= 10
                && b[..10].iter().enumerate().all(|(j, c)| {
                    if j == 4 || j == 7 {
                        *c == b'-'
                    } else {
                        c.is_ascii_digit()
                    }
                })
        })
    })
}

fn docs(facts: &Facts, notes: &mut Vec<String>) -> Option<Docs> {
    let markers: Vec<(String, String)> = facts
        .markdown
        .iter()
        .filter_map(|(path, text)| marker_label(text).map(|l| (path.clone(), l.to_string())))
        .collect();
    if markers.is_empty() {
        notes.push("no markdown file carries a `**Last Verified**: YYYY-MM-DD` marker: add [docs] when the docs have markers".to_string());
        return None;
    }
    let mut scope: Vec<String> = Vec::new();
    for (path, _) in &markers {
        let glob = match path.split_once('/') {
            Some((top, _)) => format!("{top}/**/*.md"),
            None => path.clone(),
        };
        if !scope.contains(&glob) {
            scope.push(glob);
        }
    }
    let overrides = "docs/DOCS_FRESHNESS_OVERRIDES.json";
    Some(Docs {
        scope,
        markers,
        overrides_file: facts
            .files
            .contains(overrides)
            .then(|| overrides.to_string()),
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::adopt::init::render;
    use crate::plumbing::policy;

    pub const MAKEFILE: &str = "\
UV_RUN := uv run --no-sync
venv:
\t@test -x .venv/bin/python || uv venv .venv
deps-dev: venv
\tuv sync --extra dev
format: deps-dev
\t$(UV_RUN) ruff format src/
lint: deps-dev
\t$(UV_RUN) ruff check src/
typecheck: deps-dev
\t$(UV_RUN) mypy src/ | tee mypy.log
check: format lint typecheck
\t@echo \"all good\"
test: deps-dev
\t$(UV_RUN) pytest tests/
test-integration: deps-dev
\tDATABASE_URL=x $(UV_RUN) pytest tests/integration
validate-eval: deps
\t$(UV_RUN) app eval validate
audit-eval: validate-eval
\t$(UV_RUN) app eval audit
deps:
\tuv sync
db-upgrade: deps
\t$(UV_RUN) alembic upgrade head
";

    const CI: &str = "\
name: CI
on:
  push:
    branches: [main]
  pull_request:
    branches: [main]
jobs:
  lint:
    name: Lint & Format
    runs-on: ubuntu-latest
  test:
    runs-on: ubuntu-latest
  guard:
    name: Workflow Guard
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
  matrix:
    strategy:
      matrix:
        py: ['3.11', '3.12']
    runs-on: ubuntu-latest
";

    const NIGHTLY: &str = "on:\n  schedule:\n    - cron: '0 3 * * *'\njobs:\n  nightly:\n    runs-on: ubuntu-latest\n";

    pub fn facts() -> Facts {
        let md = |p: &str, t: &str| (p.to_string(), t.to_string());
        Facts {
            makefile: Some(("Makefile".to_string(), MAKEFILE.to_string())),
            alembic_inis: vec!["service/alembic.ini".to_string()],
            files: ["service/uv.lock".to_string()].into_iter().collect(),
            workflows: vec![
                (".github/workflows/ci.yml".to_string(), CI.to_string()),
                (
                    ".github/workflows/nightly.yml".to_string(),
                    NIGHTLY.to_string(),
                ),
            ],
            markdown: vec![
                md("README.md", "# App\n**Last Verified**: 2026-01-02\n"),
                md("docs/guide/RUN.md", "**Last Updated**:  2026-01-03\n"),
                md("docs/NOTES.md", "**Last Verified**: someday\n"),
                md(
                    "tasks/BACKLOG.md",
                    "# Backlog\n### TASK-0101: a\n### TASK-0102: b\n- TASK-0103 c\n",
                ),
                md(
                    "tasks/COMPLETED.md",
                    "- TASK-0001 x\n- TASK-0002 y\n- TASK-0003 z\n- TASK-0004 w\n",
                ),
                md("docs/adr/index.md", "- ADR-001 one\n- ADR-002 two\n"),
            ],
            remote_head: None,
            branches: vec![
                "main".to_string(),
                "codex/task-0101-a".to_string(),
                "codex/task-0102-b".to_string(),
                "task-7-old".to_string(),
                "feature/x".to_string(),
            ],
            remotes: vec!["origin".to_string()],
        }
    }

    pub fn argv(step: &Step) -> String {
        step.argv.join(" ")
    }

    #[test]
    fn without_a_makefile_the_gates_are_left_to_the_user() {
        let mut f = facts();
        f.makefile = None;
        let d = draft(&f);
        assert!(d.gates.is_empty());
        assert!(
            d.notes.iter().any(|n| n.contains("no Makefile")),
            "{:?}",
            d.notes
        );
    }
    #[test]
    fn alembic_runs_where_alembic_ini_is_as_the_makefile_runs_it() {
        let d = draft(&facts());
        let m = d.migration.unwrap();
        assert_eq!(m.directory.value, "service");
        assert_eq!(m.alembic.value, ["uv", "run", "--no-sync", "alembic"]);
        assert!(m.alembic.why.contains("`db-upgrade`"), "{}", m.alembic.why);
        let mut f = facts();
        f.makefile = None;
        f.files.clear();
        f.alembic_inis = vec!["alembic.ini".to_string()];
        let m = draft(&f).migration.unwrap();
        assert_eq!(
            (m.directory.value.as_str(), m.alembic.value.clone()),
            (".", vec!["alembic".to_string()])
        );
        f.alembic_inis.clear();
        assert_eq!(draft(&f).migration, None);
    }
    #[test]
    fn the_migration_gate_gets_its_makefile_prerequisites_and_exports_are_noted() {
        let mut f = facts();
        f.makefile = Some((
            "Makefile".to_string(),
            "export UV_CACHE_DIR\ntest:\n\tpytest\ndeps:\n\tuv sync\ndb-migration-gate: deps\n\t./scripts/check_migration_drift.sh\n".to_string(),
        ));
        let d = draft(&f);
        let m = d.migration.as_ref().unwrap();
        let prepare = m.prepare.as_ref().unwrap();
        assert_eq!(prepare.value, ["deps"]);
        assert!(
            prepare
                .why
                .contains("Makefile:6 target `db-migration-gate`"),
            "{}",
            prepare.why
        );
        assert_eq!(d.prepare.len(), 1);
        assert_eq!(d.prepare[0].steps[0].argv, ["uv", "sync"]);
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("exports `UV_CACHE_DIR` to every recipe")),
            "{:?}",
            d.notes
        );
        let text = render::policy(&d);
        let p = policy::parse(&text, std::path::Path::new("xtask.toml")).unwrap();
        assert_eq!(p.migration.prepare, ["deps"]);
        assert!(p.prepare.contains_key("deps"));
    }

    #[test]
    fn required_checks_are_the_named_jobs_of_workflows_that_run_on_pull_requests() {
        let d = draft(&facts());
        let checks = d.required_checks.unwrap();
        // A matrix job reports one check per combination, as GitHub names them.
        assert_eq!(
            checks.value,
            [
                "Lint & Format",
                "test",
                "Workflow Guard",
                "matrix (3.11)",
                "matrix (3.12)"
            ]
        );
        assert!(checks.why.contains("ci.yml"), "{}", checks.why);
        assert!(!checks.why.contains("nightly"), "{}", checks.why);
        let notes = d.notes.join("\n");
        assert!(
            notes.contains("job `guard` (check `Workflow Guard`) has an `if:`"),
            "{notes}"
        );
    }
    #[test]
    fn dated_markers_become_marker_rules_and_their_directories_the_scope() {
        let d = draft(&facts()).docs.unwrap();
        assert_eq!(
            d.markers,
            [
                ("README.md".to_string(), "Last Verified".to_string()),
                ("docs/guide/RUN.md".to_string(), "Last Updated".to_string()),
            ]
        );
        assert_eq!(d.scope, ["README.md", "docs/**/*.md"]);
        assert_eq!(d.overrides_file, None);
    }
    #[test]
    fn the_rendered_draft_is_a_policy_the_loader_accepts_with_the_guessed_values() {
        let text = render::policy(&draft(&facts()));
        let p = policy::parse(&text, std::path::Path::new("xtask.toml")).unwrap();
        assert_eq!(p.gates["check"].steps.len(), 3);
        assert_eq!(p.gates["audit-eval"].prepare, ["deps"]);
        assert_eq!(
            p.prepare["deps-dev"][1].argv,
            ["uv", "sync", "--extra", "dev"]
        );
        assert_eq!(p.migration.directory, "service");
        assert_eq!(p.github.required_checks.len(), 5);
        assert_eq!(
            p.task.ledger.as_ref().map(|l| l.files()),
            Some(vec!["tasks/BACKLOG.md"])
        );
        assert_eq!(p.task.id_digits, 4);
        assert_eq!(p.docs.unwrap().markers.len(), 2);
        // Every value line follows a `# guessed from` line (a list's
        // opening line follows its table's or its gate's comment).
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let is_value = line.contains(" = ")
                && !line.starts_with('#')
                && !line.starts_with("  {")
                && !line.starts_with("steps = [");
            if is_value {
                assert!(
                    lines[i - 1].starts_with("# guessed from"),
                    "line {} has no guess comment above it:\n{text}",
                    i + 1
                );
            }
        }
    }
    #[test]
    fn an_empty_repository_still_drafts_a_valid_policy() {
        let text = render::policy(&draft(&Facts::default()));
        policy::parse(&text, std::path::Path::new("xtask.toml")).unwrap();
        assert!(text.contains("no Makefile"), "{text}");
        assert!(text.contains("main-branch = \"main\""), "{text}");
    }
}
