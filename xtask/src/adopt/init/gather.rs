//! The facts `init` reads from the repository: the Makefile, alembic.ini
//! files, the GitHub workflows, markdown files and git's branches. Every
//! file is read through `fs::read_bounded` (regular files only, capped);
//! symbolic links and the usual dependency and build directories are not
//! walked; a file that cannot be read is skipped and named.

use std::path::Path;

use walkdir::WalkDir;

use crate::adopt::init::decide::Facts;
use crate::plumbing::{exit, fs, git};

/// The largest file `init` reads (a Makefile, a workflow, a markdown file).
const MAX_FILE: u64 = 1024 * 1024;
/// How many markdown files it reads at most (the first in sorted order).
const MAX_MARKDOWN: usize = 5000;
/// How deep it looks for markdown files and alembic.ini.
const MAX_DEPTH: usize = 6;

/// Directories never walked: dependencies, builds, caches, and archives
/// (archived docs and ledgers are history, not what the gates check).
const SKIP_DIRS: [&str; 11] = [
    "archive",
    "archived",
    "node_modules",
    "target",
    "venv",
    "__pycache__",
    "dist",
    "build",
    "vendor",
    "site-packages",
    "htmlcov",
];

/// Files whose presence init uses: lock files say how tools run; an
/// overrides file goes into `[docs]`.
const NOTABLE_FILES: [&str; 3] = [
    "uv.lock",
    "poetry.lock",
    "docs/DOCS_FRESHNESS_OVERRIDES.json",
];

/// Everything `init` looks at, and the files it skipped (with why).
pub fn facts(root: &Path) -> anyhow::Result<(Facts, Vec<String>)> {
    let mut facts = Facts::default();
    let mut skipped = Vec::new();
    for name in ["GNUmakefile", "makefile", "Makefile"] {
        let path = root.join(name);
        if path.is_file() {
            match fs::read_bounded(&path, MAX_FILE, "Makefile") {
                Ok(text) => facts.makefile = Some((name.to_string(), text)),
                Err(e) => skipped.push(format!("{e:#}")),
            }
            break;
        }
    }
    let wf_dir = root.join(".github/workflows");
    if wf_dir.is_dir() {
        let mut paths: Vec<_> = std::fs::read_dir(&wf_dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let rel = relative(root, &path);
            match fs::read_bounded(&path, MAX_FILE, "workflow") {
                Ok(text) => facts.workflows.push((rel, text)),
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
    }
    walk(root, &mut facts, &mut skipped);
    for name in NOTABLE_FILES {
        if root.join(name).is_file() {
            facts.files.insert(name.to_string());
        }
    }
    for ini in facts.alembic_inis.clone() {
        if let Some((dir, _)) = ini.rsplit_once('/') {
            for lock in ["uv.lock", "poetry.lock"] {
                if root.join(dir).join(lock).is_file() {
                    facts.files.insert(format!("{dir}/{lock}"));
                }
            }
        }
    }
    git_facts(root, &mut facts)?;
    Ok((facts, skipped))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Markdown files and alembic.ini files, in sorted order.
fn walk(root: &Path, facts: &mut Facts, skipped: &mut Vec<String>) {
    let walker = WalkDir::new(root)
        .max_depth(MAX_DEPTH)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !e.file_type().is_dir()
                || !(e.file_name().to_string_lossy().starts_with('.')
                    || SKIP_DIRS.iter().any(|d| e.file_name() == *d))
        });
    for entry in walker.filter_map(|e| e.ok()) {
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        let rel = relative(root, entry.path());
        if name == "alembic.ini" {
            facts.alembic_inis.push(rel);
        } else if name.ends_with(".md") {
            if facts.markdown.len() >= MAX_MARKDOWN {
                skipped.push(format!(
                    "{rel}: more than {MAX_MARKDOWN} markdown files; the rest were not read"
                ));
                break;
            }
            match fs::read_bounded(entry.path(), MAX_FILE, "markdown file") {
                Ok(text) => facts.markdown.push((rel, text)),
                Err(e) => skipped.push(format!("{e:#}")),
            }
        }
    }
}

/// The remotes, `<remote>/HEAD` and the branch names; nothing when the
/// repository has no commits yet.
fn git_facts(root: &Path, facts: &mut Facts) -> anyhow::Result<()> {
    let sh = git::shell(root)?;
    if git::read_if_ok(&sh, &["rev-parse", "--git-dir"])?.is_none() {
        return Err(exit::usage(format!(
            "{} is not a git repository: init drafts the policy of one (run `git init` there first)",
            root.display()
        )));
    }
    facts.remotes = git::read(&sh, &["remote"])?
        .lines()
        .map(str::to_string)
        .collect();
    let remote = if facts.remotes.iter().any(|r| r == "origin") {
        Some("origin".to_string())
    } else {
        facts.remotes.first().cloned()
    };
    if let Some(remote) = &remote {
        let head = format!("refs/remotes/{remote}/HEAD");
        if let Some(target) = git::read_if_ok(&sh, &["symbolic-ref", "--quiet", &head])? {
            let prefix = format!("refs/remotes/{remote}/");
            facts.remote_head = target.trim().strip_prefix(&prefix).map(str::to_string);
        }
    }
    let refs = git::read(
        &sh,
        &[
            "for-each-ref",
            "--format=%(refname)",
            "refs/heads",
            "refs/remotes",
        ],
    )?;
    for r in refs.lines() {
        let name = if let Some(local) = r.strip_prefix("refs/heads/") {
            local
        } else if let Some(remote_ref) = r.strip_prefix("refs/remotes/") {
            match remote_ref.split_once('/') {
                Some((_, b)) if b != "HEAD" => b,
                _ => continue,
            }
        } else {
            continue;
        };
        if !facts.branches.iter().any(|b| b == name) {
            facts.branches.push(name.to_string());
        }
    }
    Ok(())
}
