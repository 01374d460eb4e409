//! `release-gate`, the runbook's canonical gate, and the gate record it
//! leaves on HEAD's commit (`refs/notes/release-gate`) for the release steps
//! that must prove "the same commit SHA through every promotion step".

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::gates::record::{latest_record, GateRecord, RecordStep, NOTES_REF};
use crate::gates::runner::{self, Plan, Planned, Report, Status};
use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Step;
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
}

#[derive(clap::Args, Debug)]
pub struct StatusFlags {
    /// The commit to look up (default HEAD).
    #[arg(value_name = "REV", default_value = "HEAD")]
    pub rev: String,
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    // Everything is validated before the first step runs.
    let include_eval = env::RELEASE_GATE_INCLUDE_EVAL.read()? || flags.include_eval;
    let skip_autogen = env::MIGRATION_GATE_SKIP_AUTOGEN.read()?;
    let url = match env::secret("RELEASE_GATE_DATABASE_URL")? {
        Some(url) => url,
        None => match &ctx.policy.policy.migration.default_database_url {
            Some(url) => url.clone(),
            None => {
                return Err(exit::usage(format!(
                    "RELEASE_GATE_DATABASE_URL is required\n{USAGE_LINE}"
                )))
            }
        },
    };
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
    let policy = &ctx.policy;
    let check = policy.gate("check")?;
    let test = policy.gate("test")?;
    let eval = match include_eval {
        true => Some(policy.gate("audit-eval")?),
        false => policy.policy.gates.get("audit-eval"),
    };

    let mut bypasses = Vec::new();
    if skip_autogen {
        bypasses.push(Bypass::new(
            env::MIGRATION_GATE_SKIP_AUTOGEN,
            "alembic check (model parity) skipped in db-migration-gate; document it in the release notes",
        ));
    }

    // Preparation of every gate that runs comes first, each list once.
    let mut done = Vec::new();
    let mut steps = Vec::new();
    for g in [Some(check), Some(test), eval.filter(|_| include_eval)]
        .into_iter()
        .flatten()
    {
        steps.extend(runner::prepare_steps(policy, &g.prepare, &mut done));
    }
    steps.extend(runner::own_steps("check", check, None)?);
    steps.extend(runner::own_steps("test", test, None)?);
    steps.push(self_step(ctx, "docs-freshness", Vec::new()));
    let migration_env = vec![
        ("MIGRATION_GATE_DATABASE_URL".to_string(), url.clone()),
        // A `_FILE` left in the user's shell must not name another database.
        (
            "MIGRATION_GATE_DATABASE_URL_FILE".to_string(),
            String::new(),
        ),
        (
            "MIGRATION_GATE_VALIDATE_AUTOGEN".to_string(),
            if skip_autogen { "false" } else { "true" }.to_string(),
        ),
    ];
    steps.push(self_step(ctx, "db-migration-gate", migration_env));
    let not_included = "RELEASE_GATE_INCLUDE_EVAL is not true (set it, or pass --include-eval)";
    match eval {
        Some(g) => {
            let mut eval_steps = runner::own_steps("audit-eval", g, None)?;
            if !include_eval {
                eval_steps
                    .iter_mut()
                    .for_each(|p| p.skip = Some(not_included.to_string()));
            }
            steps.extend(eval_steps);
        }
        None => {
            let mut skipped = self_step(ctx, "audit-eval", Vec::new());
            skipped.skip = Some(format!(
                "{not_included}; the policy has no [gates.audit-eval]"
            ));
            steps.push(skipped);
        }
    }
    let plan = Plan {
        command: "release-gate".into(),
        steps,
        bypasses,
    };
    if flags.dry_run {
        runner::print_plan(ctx, &plan);
        return Ok(());
    }

    let sh = git::shell(&ctx.root)?;
    let started = OffsetDateTime::now_utc();
    let before = clean_head(&sh)?;
    output::say(&format!(
        "release-gate target database: {}",
        crate::plumbing::redact::redact(&url)
    ));
    let report = runner::execute(ctx, &plan);
    let after = clean_head(&sh)?;
    let record = if committed_policy(ctx) {
        record_result(&sh, &report, before, after, started, &url)
    } else {
        let why = format!(
            "the gate ran with the policy {}, not the repository's {}; a record proves the committed policy's gate",
            ctx.policy.path.display(),
            ctx.root.join("xtask.toml").display()
        );
        output::warning(&format!(
            "no gate record written: {why}; rerun release-gate without --policy"
        ));
        json!({ "written": false, "reason": why })
    };
    runner::finish(ctx, &report, Some(json!({ "record": record })))
}

/// A step that runs this binary's own subcommand, shown as `cargo xtask <name>`.
fn self_step(ctx: &Ctx, name: &str, hidden_env: Vec<(String, String)>) -> Planned {
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
        shown: format!("cargo xtask {name}"),
        rerun: format!("cargo xtask {name}"),
        hidden_env,
        skip: None,
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

/// Writes the gate record when the tree was clean and unchanged throughout,
/// and says why not otherwise. Returns what the JSON report says about it.
fn record_result(
    sh: &xshell::Shell,
    report: &Report,
    before: Option<(String, String)>,
    after: Option<(String, String)>,
    started: OffsetDateTime,
    url: &str,
) -> serde_json::Value {
    if report.status == Status::Interrupted {
        return json!({ "written": false, "reason": "interrupted" });
    }
    let (sha, tree) = match (before, after) {
        (Some(b), Some(a)) if b == a => b,
        (None, _) => {
            let why =
                "the working tree had uncommitted changes, which are not what the commit SHA holds";
            output::warning(&format!(
                "no gate record written: {why}; commit, then rerun release-gate"
            ));
            return json!({ "written": false, "reason": why });
        }
        _ => {
            let why = "the working tree or HEAD changed while the gate ran";
            output::warning(&format!(
                "no gate record written: {why}; rerun release-gate on a clean tree"
            ));
            return json!({ "written": false, "reason": why });
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
        started_at: started.format(&Rfc3339).unwrap_or_default(),
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
        database: Some(crate::plumbing::redact::redact(url)),
        tool: format!("xtask {}", env!("CARGO_PKG_VERSION")),
    };
    let line = crate::plumbing::redact::redact(&serde_json::to_string(&record).unwrap_or_default());
    match git::append_note(sh, NOTES_REF, &sha, &line) {
        Ok(()) => {
            output::say(&format!(
                "gate record ({}) written to refs/notes/{NOTES_REF} for {sha}",
                record.status
            ));
            json!({ "written": true, "sha": sha, "notes_ref": format!("refs/notes/{NOTES_REF}") })
        }
        Err(e) => {
            output::error(&format!("the gate record could not be written: {e:#}"));
            json!({ "written": false, "reason": format!("{e:#}") })
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
