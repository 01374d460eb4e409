//! `docs-freshness`: the runbook's docs gate as a policy-driven rule engine
//! (`[docs]` in the policy; rules in `rules.rs`, overrides in
//! `overrides.rs`). This file gathers the facts (reads each file once,
//! walks the scope in sorted order with bounded memory) and reports.
//!
//! Exit codes: 0 no errors (and no warnings with `--fail-on-warnings`), 1
//! findings, 2 a malformed policy or overrides file, or a bad flag.

mod glob;
mod overrides;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

use serde_json::json;
use time::Date;

use self::glob::Glob;
use self::rules::{Fact, Finding, Rules, Target};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::DocsLevel;
use crate::plumbing::{exit, fs, Ctx};

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// The date markers and overrides are checked against [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
    /// A marker older than this many days is stale [default: the policy's docs.max-age-days, 45].
    #[arg(long, value_name = "N")]
    pub max_age_days: Option<u32>,
    /// Exit 1 on warnings too (applied or unused overrides, warning-level rules).
    #[arg(long)]
    pub fail_on_warnings: bool,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let docs = ctx
        .policy
        .policy
        .docs
        .as_ref()
        .ok_or_else(|| ctx.policy.missing("docs"))?;
    let today = match &flags.today {
        Some(t) => rules::parse_date(t).ok_or_else(|| {
            exit::usage(format!(
                "--today {t:?} is not a real date (YYYY-MM-DD), e.g. --today 2026-02-19"
            ))
        })?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let policy_path = ctx.policy.path.display();
    let rules = rules::compile(docs).map_err(|problems| {
        exit::usage(
            problems
                .iter()
                .map(|p| format!("{policy_path}: {p}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let max_age = flags.max_age_days.unwrap_or(docs.max_age_days);
    let overrides = load_overrides(&ctx.root, &docs.overrides_file)?;

    let (findings, files) = gather(&ctx.root, ctx.cli, &rules, today, max_age);
    let mut findings = overrides::apply(
        findings,
        &overrides,
        today,
        docs.max_override_days,
        &docs.overrides_file,
    );
    findings.sort_by(|a, b| (&a.path, a.line, &a.rule_id).cmp(&(&b.path, b.line, &b.rule_id)));
    report(
        ctx.format,
        &findings,
        files,
        today,
        max_age,
        flags.fail_on_warnings,
        &docs.overrides_file,
    )
}

/// The largest overrides file read (16 MiB: about 130,000 rows); a larger
/// one is refused, never truncated.
pub const MAX_OVERRIDES_BYTES: u64 = 16 << 20;

/// Absent: no overrides. Not a regular file, over [`MAX_OVERRIDES_BYTES`],
/// not UTF-8, unreadable or malformed: exit 2, naming the file.
fn load_overrides(root: &Path, file: &str) -> anyhow::Result<Vec<overrides::Override>> {
    let path = root.join(file);
    if let Err(e) = std::fs::metadata(&path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return Ok(Vec::new());
        }
    }
    let text = fs::read_bounded(
        &path,
        MAX_OVERRIDES_BYTES,
        &format!("the overrides file (docs.overrides-file {file:?})"),
    )?;
    overrides::parse(&text, file).map_err(exit::usage)
}

/// A named file as read once.
enum Named {
    Missing,
    Unreadable,
    Text(String),
}

impl Named {
    fn fact(&self) -> Fact<'_> {
        match self {
            Named::Missing => Fact::Missing,
            Named::Unreadable => Fact::Unreadable,
            Named::Text(t) => Fact::Text(t),
        }
    }
}

/// Reads `path` into `buf` (reused between files): the text, or why not.
fn read_text<'b>(path: &Path, buf: &'b mut Vec<u8>) -> Result<&'b str, String> {
    buf.clear();
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    file.read_to_end(buf)
        .map_err(|e| format!("cannot be read: {e}"))?;
    std::str::from_utf8(buf).map_err(|e| {
        format!(
            "not valid UTF-8 (first invalid byte at offset {})",
            e.valid_up_to()
        )
    })
}

/// Reads every file once and runs every rule: the findings and how many
/// files in scope were checked.
fn gather(
    root: &Path,
    cli: fn() -> clap::Command,
    rules: &Rules,
    today: Date,
    max_age: u32,
) -> (Vec<Finding>, usize) {
    let mut findings = Vec::new();
    let mut named: BTreeMap<String, Named> = BTreeMap::new();
    let mut buf = Vec::new();
    for rel in rules.named_files() {
        let path = root.join(&rel);
        let fact = if !path.exists() && path.symlink_metadata().is_err() {
            Named::Missing
        } else {
            match read_text(&path, &mut buf) {
                Ok(text) => Named::Text(text.to_string()),
                Err(reason) => {
                    findings.push(rules::unreadable(&rel, &reason));
                    Named::Unreadable
                }
            }
        };
        named.insert(rel, fact);
    }
    let fact = |p: &str| named.get(p).map_or(Fact::Missing, Named::fact);
    findings.extend(rules::check_named(rules, &fact, today, max_age));
    let files = if rules.has_text_rules() {
        scan(root, cli, rules, &named, &mut findings)
    } else {
        0
    };
    (findings, files)
}

/// Where to walk: each scope glob's literal start, merged so that no file
/// is visited twice, with the depth the globs under it need.
fn walk_roots(rules: &Rules) -> Vec<(String, Option<usize>)> {
    let mut starts: Vec<(String, Option<usize>)> = rules
        .scopes
        .iter()
        .flatten()
        .map(Glob::walk_start)
        .collect();
    starts.sort();
    let comps = |s: &str| {
        if s.is_empty() {
            0
        } else {
            s.split('/').count()
        }
    };
    let mut roots: Vec<(String, Option<usize>)> = Vec::new();
    for (start, depth) in starts {
        let ancestor = roots
            .iter_mut()
            .find(|(r, _)| r.is_empty() || *r == start || start.starts_with(&format!("{r}/")));
        match ancestor {
            Some((r, d)) => {
                let needed = depth.map(|x| x + comps(&start) - comps(r));
                *d = match (*d, needed) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            None => roots.push((start, depth)),
        }
    }
    roots
}

/// Walks the scope (sorted, `.git` skipped) and runs the text rules on each
/// file in it, on worker threads fed through a bounded channel: memory does
/// not grow with the tree, only with the findings.
fn scan(
    root: &Path,
    cli: fn() -> clap::Command,
    rules: &Rules,
    named: &BTreeMap<String, Named>,
    findings: &mut Vec<Finding>,
) -> usize {
    let resolver = Resolver::new(root, cli);
    let out = Mutex::new(Vec::new());
    let checked = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    // Batches of files (fewer lock round trips); a few batches in flight.
    let (send, recv) = mpsc::sync_channel::<Batch>(4 * workers);
    let recv = Mutex::new(recv);
    let job = Job {
        root,
        rules,
        named,
        resolver: &resolver,
        out: &out,
        checked: &checked,
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| job.work(&recv));
        }
        walk_scope(root, rules, &send, &out);
        drop(send);
    });
    findings.append(&mut out.into_inner().expect("no worker panicked"));
    checked.into_inner()
}

/// Files in scope, each with the scopes it is in.
type Batch = Vec<(String, Vec<bool>)>;

/// What the workers share.
struct Job<'a> {
    root: &'a Path,
    rules: &'a Rules,
    named: &'a BTreeMap<String, Named>,
    resolver: &'a Resolver<'a>,
    out: &'a Mutex<Vec<Finding>>,
    checked: &'a AtomicUsize,
}

impl Job<'_> {
    /// One worker: checks batches until the walker is done.
    fn work(&self, recv: &Mutex<mpsc::Receiver<Batch>>) {
        let mut buf = Vec::new();
        let mut local = Vec::new();
        let mut resolves = |t: &Target| self.resolver.resolves(t);
        loop {
            let job = recv.lock().map(|r| r.recv());
            let Ok(Ok(batch)) = job else { break };
            self.checked.fetch_add(batch.len(), Ordering::Relaxed);
            for (rel, in_scope) in batch {
                let text = match self.named.get(&rel) {
                    Some(Named::Text(text)) => text.as_str(),
                    Some(_) => continue, // unreadable: already reported
                    None => match read_text(&self.root.join(&rel), &mut buf) {
                        Ok(text) => text,
                        Err(reason) => {
                            local.push(rules::unreadable(&rel, &reason));
                            continue;
                        }
                    },
                };
                rules::check_text(self.rules, &rel, text, &in_scope, &mut resolves, &mut local);
            }
        }
        self.out
            .lock()
            .expect("no worker panicked")
            .append(&mut local);
    }
}

/// The walker: sends the files in scope, in sorted order, in batches;
/// reports what cannot be walked straight into `out`.
fn walk_scope(
    root: &Path,
    rules: &Rules,
    send: &mpsc::SyncSender<Batch>,
    out: &Mutex<Vec<Finding>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    for (start, depth) in walk_roots(rules) {
        let base = if start.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&start)
        };
        if base.symlink_metadata().is_err() {
            continue;
        }
        let mut walk = walkdir::WalkDir::new(&base).sort_by_file_name();
        if let Some(d) = depth {
            walk = walk.max_depth(d);
        }
        let walk = walk.into_iter().filter_entry(|e| {
            !(e.depth() > 0 && e.file_type().is_dir() && e.file_name() == ".git")
        });
        for entry in walk {
            let (path, err) = match entry {
                Ok(e) if e.file_type().is_dir() => continue,
                Ok(e) => (e.into_path(), None),
                Err(e) => (
                    e.path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| base.clone()),
                    Some(e.to_string()),
                ),
            };
            let rel = relative(root, &path);
            let in_scope = rules.scopes_of(&rel);
            if let Some(reason) = err {
                let finding = rules::unreadable(&rel, &format!("cannot be walked: {reason}"));
                out.lock().expect("no worker panicked").push(finding);
                continue;
            }
            if !in_scope.iter().any(|x| *x) {
                continue;
            }
            batch.push((rel, in_scope));
            if batch.len() == BATCH && send.send(std::mem::take(&mut batch)).is_err() {
                return;
            }
        }
    }
    if !batch.is_empty() {
        let _ = send.send(batch);
    }
}

/// Files per message from the walker to the workers.
const BATCH: usize = 64;

fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    // Unix paths from the walk are `/`-separated already (every file of a
    // docs tree comes through here).
    if std::path::MAIN_SEPARATOR == '/' {
        if let Some(text) = rel.to_str() {
            if !text.starts_with('/') && !text.contains("//") {
                return text.to_string();
            }
        }
    }
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Where a glob's walk starts and how deep it goes ([`Glob::walk_start`]).
type WalkStart = (String, Option<usize>);

/// Answers whether a reference target exists, each target once.
struct Resolver<'a> {
    root: &'a Path,
    commands: BTreeSet<String>,
    // Ordered maps: string comparisons are std's optimized memcmp, where
    // SipHash would be compiled unoptimized in the dev profile.
    cache: Mutex<BTreeMap<Target, bool>>,
    /// The files under a walk start (to a depth), listed once: references
    /// to many targets in one folder (`docs/adr/{1}-*.md`) walk it once.
    listings: Mutex<BTreeMap<WalkStart, std::sync::Arc<Vec<String>>>>,
}

impl<'a> Resolver<'a> {
    fn new(root: &'a Path, cli: fn() -> clap::Command) -> Resolver<'a> {
        let cli = cli();
        let mut commands: BTreeSet<String> = BTreeSet::from(["help".to_string()]);
        for c in cli.get_subcommands() {
            commands.insert(c.get_name().to_string());
            commands.extend(c.get_all_aliases().map(str::to_string));
        }
        Resolver {
            root,
            commands,
            cache: Mutex::new(BTreeMap::new()),
            listings: Mutex::new(BTreeMap::new()),
        }
    }

    fn resolves(&self, target: &Target) -> bool {
        if let Some(&known) = self.cache.lock().expect("no worker panicked").get(target) {
            return known;
        }
        let found = match target {
            Target::XtaskCommand(name) => self.commands.contains(name),
            Target::File(pattern) => Glob::new(pattern).is_ok_and(|g| self.glob_has_file(&g)),
        };
        self.cache
            .lock()
            .expect("no worker panicked")
            .insert(target.clone(), found);
        found
    }

    fn glob_has_file(&self, glob: &Glob) -> bool {
        if glob.is_literal() {
            return self.root.join(glob.as_str()).is_file();
        }
        let key = glob.walk_start();
        let listed = self
            .listings
            .lock()
            .expect("no worker panicked")
            .get(&key)
            .cloned();
        let files = match listed {
            Some(files) => files,
            None => {
                let files = std::sync::Arc::new(self.list(&key.0, key.1));
                self.listings
                    .lock()
                    .expect("no worker panicked")
                    .insert(key, files.clone());
                files
            }
        };
        files.iter().any(|f| glob.matches(f))
    }

    /// The files (relative paths) under `start`, at most `depth` below it.
    fn list(&self, start: &str, depth: Option<usize>) -> Vec<String> {
        let base = if start.is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(start)
        };
        let mut walk = walkdir::WalkDir::new(&base);
        if let Some(d) = depth {
            walk = walk.max_depth(d);
        }
        walk.into_iter()
            .filter_entry(|e| !(e.depth() > 0 && e.file_type().is_dir() && e.file_name() == ".git"))
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| relative(self.root, e.path()))
            .collect()
    }
}

fn level_name(level: DocsLevel) -> &'static str {
    match level {
        DocsLevel::Error => "error",
        DocsLevel::Warning => "warning",
    }
}

fn report(
    format: Format,
    findings: &[Finding],
    files: usize,
    today: Date,
    max_age: u32,
    fail_on_warnings: bool,
    overrides_file: &str,
) -> anyhow::Result<()> {
    let errors = findings
        .iter()
        .filter(|f| f.level == DocsLevel::Error)
        .count();
    let warnings = findings.len() - errors;
    for f in findings {
        let text = format!("[{}] {}", f.rule_id, f.message);
        output::annotate(level_name(f.level), Some(&f.path), f.line, &text);
        if format == Format::Human {
            let at = match f.line {
                Some(line) => format!("{}:{line}", f.path),
                None => f.path.clone(),
            };
            let tag = match f.level {
                DocsLevel::Error => output::red("error:"),
                DocsLevel::Warning => output::yellow("warning:"),
            };
            output::say(&format!("{tag} {text} ({at})"));
        }
    }
    let failed = errors > 0 || (fail_on_warnings && warnings > 0);
    if output::in_github_actions() {
        output::step_summary(&summary_markdown(findings, errors, warnings));
    }
    match format {
        Format::Json => output::json(&json!({
            "findings": findings.iter().map(|f| json!({
                "level": level_name(f.level),
                "rule_id": f.rule_id,
                "path": f.path,
                "line": f.line,
                "message": f.message,
            })).collect::<Vec<_>>(),
            "errors": errors,
            "warnings": warnings,
        })),
        Format::Human => {
            let status = if failed {
                output::red("failed")
            } else {
                output::green("passed")
            };
            let overridable = findings
                .iter()
                .any(|f| f.level == DocsLevel::Error && f.overridable);
            let hint = if overridable {
                format!("; fix the docs, or for intentional, temporary drift of an overridable rule add a row {{\"rule_id\", \"path\", \"reason\", \"expires_on\"}} to {overrides_file}")
            } else if errors > 0 {
                "; fix the docs (none of these rules can be overridden)".to_string()
            } else if failed {
                " (--fail-on-warnings)".to_string()
            } else {
                String::new()
            };
            output::say(&format!(
                "docs-freshness {status}: {errors} error{}, {warnings} warning{} ({files} file{} in scope, today {today}, max age {max_age} days){hint}",
                plural(errors),
                plural(warnings),
                plural(files)
            ));
        }
    }
    if failed {
        Err(exit::silent(exit::FAILED))
    } else {
        Ok(())
    }
}

/// The GitHub step summary: counts, then one row per finding.
fn summary_markdown(findings: &[Finding], errors: usize, warnings: usize) -> String {
    let mut md = format!(
        "### docs-freshness: {errors} error{}, {warnings} warning{}\n\n",
        plural(errors),
        plural(warnings)
    );
    if !findings.is_empty() {
        md.push_str("| level | rule | where | message |\n|---|---|---|---|\n");
        for f in findings {
            let at = f.line.map_or(f.path.clone(), |l| format!("{}:{l}", f.path));
            let message = f.message.replace('|', "\\|");
            md.push_str(&format!(
                "| {} | `{}` | `{at}` | {message} |\n",
                level_name(f.level),
                f.rule_id
            ));
        }
    }
    md.push('\n');
    md
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(scope: &[&str]) -> Vec<(String, Option<usize>)> {
        let docs = crate::plumbing::policy::Docs {
            scope: scope.iter().map(|s| s.to_string()).collect(),
            forbidden: vec![crate::plumbing::policy::DocsForbidden {
                id: "x".into(),
                message: "m".into(),
                level: DocsLevel::Error,
                overridable: false,
                text: Some("x".into()),
                regex: None,
                scope: None,
            }],
            ..toml::from_str("").unwrap()
        };
        walk_roots(&rules::compile(&docs).unwrap_or_else(|p| panic!("{p:?}")))
    }

    #[test]
    fn walk_roots_visit_each_file_once() {
        assert_eq!(
            roots(&["docs/**/*.md", "PROJECT_STATUS.md", "docs/adr/*.md"]),
            vec![
                ("PROJECT_STATUS.md".to_string(), Some(0)),
                ("docs".to_string(), None)
            ]
        );
        assert_eq!(
            roots(&["docs/*.md", "docs/adr/*.md"]),
            vec![("docs".to_string(), Some(2))]
        );
        assert_eq!(
            roots(&["*.md", "docs/**/*.md"]),
            vec![(String::new(), None)]
        );
        assert_eq!(
            roots(&["docs-x/*.md", "docs/*.md"]),
            vec![
                ("docs".to_string(), Some(1)),
                ("docs-x".to_string(), Some(1))
            ]
        );
    }

    /// The shipped policies' [docs] sections compile (the tidy test only parses).
    #[test]
    fn shipped_docs_rules_compile() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        for path in ["xtask.toml", "examples/horadus/xtask.toml"] {
            let text = std::fs::read_to_string(root.join(path)).unwrap();
            let policy = crate::plumbing::policy::parse(&text, Path::new(path))
                .unwrap_or_else(|e| panic!("{e}"));
            let docs = policy
                .docs
                .unwrap_or_else(|| panic!("{path} has no [docs]"));
            rules::compile(&docs).unwrap_or_else(|p| panic!("{path}: {p:?}"));
        }
    }
}
