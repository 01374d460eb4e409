//! `release-gate`, the runbook's canonical gate, and the gate record it
//! leaves on HEAD's commit (`refs/notes/release-gate`) for the release steps
//! that must prove "the same commit SHA through every promotion step".

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

mod isolated;

use crate::gates::record::{latest_record, GateRecord, RecordStep, NOTES_REF};
use crate::gates::runner::{self, Plan, Planned, Report, Status};
use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{Gate, Step};
use crate::plumbing::{exit, git, Ctx};

const USAGE_LINE: &str = "Usage: make release-gate RELEASE_GATE_DATABASE_URL=<target-db-url> [RELEASE_GATE_INCLUDE_EVAL=true]\n   or: RELEASE_GATE_DATABASE_URL=<target-db-url> cargo xtask release-gate [--include-eval]\n(or RELEASE_GATE_DATABASE_URL_FILE=<file>, or [migration] default-database-url in the policy)";

/// The built-in steps release-gate runs through this binary, in order.
const BUILTIN_STEPS: [&str; 2] = ["docs-freshness", "db-migration-gate"];

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// Also run audit-eval last (same as RELEASE_GATE_INCLUDE_EVAL=true).
    #[arg(long)]
    pub include_eval: bool,
    /// Print every step and command, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run the gates in a clean temporary worktree of HEAD (build caches
    /// shared), so that no local or gitignored file can make them pass; the
    /// record says it was isolated.
    #[arg(long)]
    pub isolated: bool,
    /// The date docs-freshness checks markers and overrides against [default: today, UTC].
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub today: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct StatusFlags {
    /// The commit to look up (default HEAD).
    #[arg(value_name = "REV", default_value = "HEAD")]
    pub rev: String,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    // Everything is validated before the first step runs.
    let inputs = Inputs::gather(ctx, flags)?;
    if flags.dry_run {
        runner::print_plan(ctx, &plan(ctx, &inputs)?);
        return Ok(());
    }
    if !flags.isolated {
        return gate_and_record(ctx, &inputs, None);
    }
    let worktree = isolated::Worktree::of_head(&ctx.root)?;
    let ictx = worktree.ctx(ctx)?;
    gate_and_record(&ictx, &inputs, Some(&worktree.cache_env()))
}

/// Runs the plan in `ctx.root` and records the result on its HEAD;
/// `isolated` (a clean worktree) carries the build caches the steps share.
fn gate_and_record(
    ctx: &Ctx,
    inputs: &Inputs,
    isolated: Option<&[(String, String)]>,
) -> anyhow::Result<()> {
    let mut plan = plan(ctx, inputs)?;
    if let Some(caches) = isolated {
        isolated::share_caches(&mut plan, caches);
    }
    let isolated = isolated.is_some();
    let sh = git::shell(&ctx.root)?;
    let started = OffsetDateTime::now_utc();
    let before = clean_head(&sh)?;
    output::say(&format!(
        "release-gate target database: {}{}",
        crate::plumbing::redact::redact(inputs.url.as_deref().unwrap_or_default()),
        if isolated {
            format!(
                " (isolated: in a clean worktree of HEAD at {})",
                ctx.root.display()
            )
        } else {
            String::new()
        }
    ));
    let mut report = runner::execute(ctx, &plan);
    let after = clean_head(&sh)?;
    let facts = RecordFacts {
        before,
        after,
        started,
        url: inputs.url.as_deref().unwrap_or_default(),
        isolated,
    };
    let record = if committed_policy(ctx) {
        record_result(&sh, &report, facts)
    } else {
        let why = format!(
            "the gate ran with the policy {}, not the repository's {}; a record proves the committed policy's gate",
            ctx.policy.path.display(),
            ctx.root.join("xtask.toml").display()
        );
        output::warning(&format!(
            "no gate record written: {why}; rerun release-gate without --policy"
        ));
        Recorded::NotWritten(json!({ "written": false, "reason": why }))
    };
    if let Recorded::Failed(_) = &record {
        fail_for_the_record(&mut report);
    }
    runner::finish(ctx, &report, Some(json!({ "record": record.json() })))
}

/// A gate whose record cannot be written did not pass: evidence that was
/// not kept proves nothing, and the release steps would refuse the commit.
fn fail_for_the_record(report: &mut Report) {
    if report.status == Status::Passed {
        report.status = Status::Failed;
        report.failed_step = Some("gate-record".into());
        report.rerun = None;
    }
}

/// What the run depends on besides the policy: the switches, the date and
/// the database URL, checked before anything runs.
struct Inputs {
    include_eval: bool,
    skip_autogen: bool,
    /// `None` only for `--dry-run`, which shows the plan without one.
    url: Option<String>,
    today: Option<String>,
}

impl Inputs {
    fn gather(ctx: &Ctx, flags: &Flags) -> anyhow::Result<Inputs> {
        let include_eval = env::RELEASE_GATE_INCLUDE_EVAL.read()? || flags.include_eval;
        let skip_autogen = env::MIGRATION_GATE_SKIP_AUTOGEN.read()?;
        if let Some(t) = &flags.today {
            if !is_date(t) {
                return Err(exit::usage(format!(
                    "--today {t:?} is not a real date (YYYY-MM-DD), e.g. --today 2026-02-19"
                )));
            }
        }
        let url = match env::secret("RELEASE_GATE_DATABASE_URL")? {
            Some(url) => Some(url),
            None => ctx.policy.policy.migration.default_database_url.clone(),
        };
        if url.is_none() && !flags.dry_run {
            return Err(exit::usage(format!(
                "RELEASE_GATE_DATABASE_URL is required\n{USAGE_LINE}"
            )));
        }
        let missing: Vec<&str> = BUILTIN_STEPS
            .iter()
            .copied()
            .filter(|s| !ctx.has_command(s))
            .collect();
        if !missing.is_empty() {
            return Err(exit::usage(format!(
                "release-gate cannot run: step{} {} not available in this version of the xtask; the gate does not skip steps",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            )));
        }
        Ok(Inputs {
            include_eval,
            skip_autogen,
            url,
            today: flags.today.clone(),
        })
    }
}

/// `YYYY-MM-DD` naming a real calendar date (docs-freshness checks it
/// again; checked here so that nothing runs with a bad flag).
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shape
        && (|| {
            let month = time::Month::try_from(text[5..7].parse::<u8>().ok()?).ok()?;
            time::Date::from_calendar_date(text[..4].parse().ok()?, month, text[8..].parse().ok()?)
                .ok()
        })()
        .is_some()
}

/// The whole run: check, test, docs-freshness, db-migration-gate, then
/// audit-eval (skipped unless included). Each `[prepare]` list runs right
/// before the first gate that needs it, once (Make's prerequisites).
fn plan(ctx: &Ctx, inputs: &Inputs) -> anyhow::Result<Plan> {
    let policy = &ctx.policy;
    let check = policy.gate("check")?;
    let test = policy.gate("test")?;
    let eval = match inputs.include_eval {
        true => Some(policy.gate("audit-eval")?),
        false => policy.policy.gates.get("audit-eval"),
    };
    let mut bypasses = Vec::new();
    if inputs.skip_autogen {
        bypasses.push(Bypass::new(
            env::MIGRATION_GATE_SKIP_AUTOGEN,
            "alembic check (model parity) skipped in db-migration-gate; document it in the release notes",
        ));
    }
    let mut done = Vec::new();
    let mut steps = Vec::new();
    steps.extend(runner::prepare_steps(policy, &check.prepare, &mut done));
    steps.extend(runner::own_steps("check", check, None)?);
    steps.extend(runner::prepare_steps(policy, &test.prepare, &mut done));
    steps.extend(runner::own_steps("test", test, None)?);
    let today: Vec<String> = match &inputs.today {
        Some(t) => vec!["--today".into(), t.clone()],
        None => Vec::new(),
    };
    steps.push(self_step(ctx, "docs-freshness", &today, Vec::new()));
    let migration = &policy.policy.migration;
    steps.extend(runner::prepare_steps(policy, &migration.prepare, &mut done));
    let mut gate = self_step(ctx, "db-migration-gate", &[], migration_env(inputs));
    if inputs.url.is_none() {
        gate.needs = Some(
            "RELEASE_GATE_DATABASE_URL (or RELEASE_GATE_DATABASE_URL_FILE, or [migration] default-database-url)"
                .into(),
        );
    }
    steps.push(gate);
    if let Some(g) = eval.filter(|_| inputs.include_eval) {
        steps.extend(runner::prepare_steps(policy, &g.prepare, &mut done));
    }
    steps.extend(eval_steps(ctx, eval, inputs.include_eval)?);
    Ok(Plan {
        command: "release-gate".into(),
        steps,
        bypasses,
    })
}

/// db-migration-gate's environment: the URL and the bypass, never shown.
fn migration_env(inputs: &Inputs) -> Vec<(String, String)> {
    vec![
        (
            "MIGRATION_GATE_DATABASE_URL".to_string(),
            inputs.url.clone().unwrap_or_default(),
        ),
        // A `_FILE` left in the user's shell must not name another database.
        (
            "MIGRATION_GATE_DATABASE_URL_FILE".to_string(),
            String::new(),
        ),
        (
            "MIGRATION_GATE_VALIDATE_AUTOGEN".to_string(),
            if inputs.skip_autogen { "false" } else { "true" }.to_string(),
        ),
    ]
}

/// audit-eval's steps, marked skipped unless included.
fn eval_steps(ctx: &Ctx, eval: Option<&Gate>, include: bool) -> anyhow::Result<Vec<Planned>> {
    let not_included = "RELEASE_GATE_INCLUDE_EVAL is not true (set it, or pass --include-eval)";
    Ok(match eval {
        Some(g) => {
            let mut steps = runner::own_steps("audit-eval", g, None)?;
            if !include {
                steps
                    .iter_mut()
                    .for_each(|p| p.skip = Some(not_included.to_string()));
            }
            steps
        }
        None => {
            let mut skipped = self_step(ctx, "audit-eval", &[], Vec::new());
            skipped.skip = Some(format!(
                "{not_included}; the policy has no [gates.audit-eval]"
            ));
            vec![skipped]
        }
    })
}

/// A step that runs this binary's own subcommand with `args`, shown as
/// `cargo xtask <name> <args>`.
fn self_step(ctx: &Ctx, name: &str, args: &[String], hidden_env: Vec<(String, String)>) -> Planned {
    let exe = std::env::current_exe()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "xtask".into());
    let mut argv = vec![
        exe,
        name.to_string(),
        "--root".into(),
        ctx.root.to_string_lossy().into_owned(),
    ];
    if ctx.policy.from_file {
        argv.extend([
            "--policy".into(),
            ctx.policy.path.to_string_lossy().into_owned(),
        ]);
    }
    argv.extend(args.iter().cloned());
    let shown = std::iter::once(format!("cargo xtask {name}"))
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    Planned {
        gate: name.into(),
        name: name.into(),
        step: Step {
            name: name.into(),
            argv,
            cwd: None,
            env: BTreeMap::new(),
            timeout: None,
        },
        shown: shown.clone(),
        rerun: shown,
        hidden_env,
        skip: None,
        needs: None,
    }
}

/// Whether the policy is `<root>/xtask.toml` (what the commit holds), not a
/// file named with `--policy` elsewhere.
fn committed_policy(ctx: &Ctx) -> bool {
    let own = ctx.root.join("xtask.toml");
    ctx.policy.from_file
        && match (
            std::fs::canonicalize(&ctx.policy.path),
            std::fs::canonicalize(&own),
        ) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// HEAD's SHA and tree when the working tree is clean, else `None`.
fn clean_head(sh: &xshell::Shell) -> anyhow::Result<Option<(String, String)>> {
    let dirty = git::dirty_paths(sh)?;
    if !dirty.is_empty() {
        return Ok(None);
    }
    let sha = git::head_sha(sh)?;
    let tree = git::tree_sha(sh, &sha)?;
    Ok(Some((sha, tree)))
}

/// What the record is made of besides the report.
struct RecordFacts<'a> {
    /// HEAD's SHA and tree before and after the run, when the tree was clean.
    before: Option<(String, String)>,
    after: Option<(String, String)>,
    started: OffsetDateTime,
    url: &'a str,
    isolated: bool,
}

/// What became of the record; each says so in the JSON report.
enum Recorded {
    Written(serde_json::Value),
    /// Not due: interrupted, a dirty tree, another policy.
    NotWritten(serde_json::Value),
    /// Due, but git could not write it: the gate fails.
    Failed(serde_json::Value),
}

impl Recorded {
    fn json(self) -> serde_json::Value {
        match self {
            Recorded::Written(v) | Recorded::NotWritten(v) | Recorded::Failed(v) => v,
        }
    }
}

/// Writes the gate record when the tree was clean and unchanged throughout,
/// and says why not otherwise.
fn record_result(sh: &xshell::Shell, report: &Report, facts: RecordFacts<'_>) -> Recorded {
    if report.status == Status::Interrupted {
        return Recorded::NotWritten(json!({ "written": false, "reason": "interrupted" }));
    }
    let (sha, tree) = match (facts.before, facts.after) {
        (Some(b), Some(a)) if b == a => b,
        (None, _) => {
            let why =
                "the working tree had uncommitted changes, which are not what the commit SHA holds";
            output::warning(&format!(
                "no gate record written: {why}; commit, then rerun release-gate (or run release-gate --isolated, which gates HEAD as committed)"
            ));
            return Recorded::NotWritten(json!({ "written": false, "reason": why }));
        }
        _ => {
            let why = "the working tree or HEAD changed while the gate ran";
            output::warning(&format!(
                "no gate record written: {why}; rerun release-gate on a clean tree"
            ));
            return Recorded::NotWritten(json!({ "written": false, "reason": why }));
        }
    };
    let now = OffsetDateTime::now_utc();
    let record = GateRecord {
        sha: sha.clone(),
        tree,
        status: if report.status == Status::Passed {
            "passed"
        } else {
            "failed"
        }
        .to_string(),
        started_at: facts.started.format(&Rfc3339).unwrap_or_default(),
        finished_at: now.format(&Rfc3339).unwrap_or_default(),
        steps: report
            .steps
            .iter()
            .map(|s| RecordStep {
                gate: s.gate.clone(),
                name: s.name.clone(),
                status: s.status.clone(),
                duration_ms: s.duration_ms,
            })
            .collect(),
        bypasses: report.bypasses.clone(),
        database: Some(crate::plumbing::redact::redact(facts.url)),
        tool: format!("xtask {}", env!("CARGO_PKG_VERSION")),
        isolated: facts.isolated,
    };
    let line = crate::plumbing::redact::redact(&serde_json::to_string(&record).unwrap_or_default());
    match git::append_note(sh, NOTES_REF, &sha, &line) {
        Ok(()) => {
            output::say(&format!(
                "gate record ({}{}) written to refs/notes/{NOTES_REF} for {sha}",
                record.status,
                if record.isolated { ", isolated" } else { "" }
            ));
            Recorded::Written(json!({
                "written": true, "sha": sha, "isolated": record.isolated,
                "notes_ref": format!("refs/notes/{NOTES_REF}"),
            }))
        }
        Err(e) => {
            let why =
                format!("the gate record could not be written, so the gate does not pass: {e:#}");
            output::error(&why);
            Recorded::Failed(json!({ "written": false, "reason": why }))
        }
    }
}

pub fn status(ctx: &Ctx, flags: &StatusFlags) -> anyhow::Result<()> {
    let sh = git::shell(&ctx.root)?;
    let Some(sha) = git::resolve_commit(&sh, &flags.rev)? else {
        return Err(exit::usage(format!(
            "{} does not name a commit in {} (a git repository with at least one commit?)",
            flags.rev,
            ctx.root.display()
        )));
    };
    let record = latest_record(&sh, &sha)?;
    match ctx.format {
        Format::Json => output::json(&json!({ "sha": sha, "record": record })),
        Format::Human => match &record {
            None => output::say(&format!(
                "no release-gate record for {sha}: run `cargo xtask release-gate` on a clean checkout of it"
            )),
            Some(r) => {
                let line = format!("release-gate {} for {sha} (finished {}, {})", r.status, r.finished_at, r.tool);
                output::say(&if r.passed() { output::green(&line) } else { output::red(&line) });
                for s in &r.steps {
                    let id = if s.gate == s.name { s.name.clone() } else { format!("{}/{}", s.gate, s.name) };
                    output::say(&format!("  {:<12} {id} ({})", s.status.word(), output::duration(Duration::from_millis(s.duration_ms))));
                }
                for b in &r.bypasses {
                    output::warning(&format!("bypass used: {}={} ({})", b.variable, b.value, b.effect));
                }
            }
        },
    }
    match record {
        Some(r) if r.passed() => Ok(()),
        _ => Err(exit::silent(exit::FAILED)),
    }
}
