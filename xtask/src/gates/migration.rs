//! `db-migration-gate`: proves that the target database is exactly at the
//! code's single alembic head, and that the models match the migrations.
//!
//! Three checks, in order, each reported on its own line: single head
//! (`alembic heads`), at head (`alembic current`), model parity (`alembic
//! check`, bypassed only by `MIGRATION_GATE_VALIDATE_AUTOGEN=false`). Alembic
//! runs from the policy's argv in the policy's directory, with a timeout; the
//! database URL reaches it only as `DATABASE_URL` in its environment, and is
//! only ever shown redacted. Reading alembic's output and telling failures
//! apart are pure functions ([`revisions`], [`classify`]) with unit tests; the
//! rest gathers those facts by running alembic.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::{self, Migration};
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::redact::{self, redact};
use crate::plumbing::{exit, Ctx};

const USAGE_LINE: &str = "Usage: make db-migration-gate MIGRATION_GATE_DATABASE_URL=<target-db-url> [MIGRATION_GATE_VALIDATE_AUTOGEN=false]\n   or: MIGRATION_GATE_DATABASE_URL_FILE=<file> cargo xtask db-migration-gate\n(or RELEASE_GATE_DATABASE_URL[_FILE], or [migration] default-database-url in the policy)";

/// How the gate failed: stable words for the JSON report and the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// uv, alembic or a Python module is not installed (exit 2).
    ToolMissing,
    /// The database server or file cannot be reached.
    Unreachable,
    /// The server refused the credentials.
    AuthFailed,
    /// The migrations have no head at all.
    NoHead,
    /// The migrations have more than one head.
    MultipleHeads,
    /// The database has no alembic version: it was never migrated.
    NotMigrated,
    /// The database's revision is not the head: behind, or unknown to this code.
    Drift,
    /// `alembic check` found operations that no migration performs.
    ModelDrift,
    /// An alembic command ran out of time.
    Timeout,
    /// alembic failed in a way none of the above explains.
    AlembicError,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Class {
    fn word(self) -> &'static str {
        match self {
            Class::ToolMissing => "tool_missing",
            Class::Unreachable => "unreachable",
            Class::AuthFailed => "auth_failed",
            Class::NoHead => "no_head",
            Class::MultipleHeads => "multiple_heads",
            Class::NotMigrated => "not_migrated",
            Class::Drift => "drift",
            Class::ModelDrift => "model_drift",
            Class::Timeout => "timeout",
            Class::AlembicError => "alembic_error",
            Class::Interrupted => "interrupted",
        }
    }

    fn exit_code(self) -> i32 {
        match self {
            Class::ToolMissing => exit::USAGE,
            Class::Interrupted => exit::INTERRUPTED,
            _ => exit::FAILED,
        }
    }
}

/// Why the gate failed, with the evidence and the command that fixes it.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub class: Class,
    pub message: String,
    pub evidence: Vec<String>,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
struct CheckReport {
    name: &'static str,
    status: &'static str,
    detail: Option<String>,
    command: String,
    duration_ms: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    command: &'static str,
    status: &'static str,
    exit_code: i32,
    database: String,
    database_source: String,
    directory: String,
    alembic: String,
    head: Option<String>,
    current: Vec<String>,
    checks: Vec<CheckReport>,
    failure: Option<Failure>,
    bypasses: Vec<Bypass>,
    duration_ms: u64,
}

/// The three checks: report name, human title, alembic arguments.
const SINGLE_HEAD: (&str, &str, &[&str]) = ("single_head", "single head", &["heads"]);
const AT_HEAD: (&str, &str, &[&str]) = ("at_head", "at head", &["current"]);
const MODEL_PARITY: (&str, &str, &[&str]) = ("model_parity", "model parity", &["check"]);

/// The alembic command of the policy, run in its directory against one URL.
struct Alembic<'a> {
    argv: &'a [String],
    cwd: PathBuf,
    directory: &'a str,
    url: String,
    timeout: Duration,
}

impl Alembic<'_> {
    fn run(&self, args: &[&str]) -> process::Finished {
        let argv = self.argv_with(args);
        // The URL only through the environment. DATABASE_URL_FILE is emptied
        // so that a value in the caller's shell cannot win over it.
        let env = vec![
            ("DATABASE_URL".to_string(), self.url.clone()),
            ("DATABASE_URL_FILE".to_string(), String::new()),
        ];
        process::run(
            &Spec {
                argv: &argv,
                cwd: &self.cwd,
                env,
                timeout: self.timeout,
            },
            Sink::Capture,
        )
    }

    fn argv_with(&self, args: &[&str]) -> Vec<String> {
        let mut argv = self.argv.to_vec();
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    fn shown(&self, args: &[&str]) -> String {
        process::display(&self.argv_with(args))
    }

    /// The command a person runs to do `args` against this database (URL redacted).
    fn command_for(&self, args: &[&str]) -> String {
        let url = redact(&self.url);
        let mut fix = format!(
            "(cd {} && DATABASE_URL='{url}' {})",
            self.directory,
            self.shown(args)
        );
        if url != self.url || url.contains("***") {
            fix.push_str(
                " (*** hides the secret URL or its password: put the URL in a file and use DATABASE_URL_FILE=<file>)",
            );
        }
        fix
    }
}

pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    // Everything is validated before alembic runs.
    let skip_autogen = env::MIGRATION_GATE_SKIP_AUTOGEN.read()?;
    let m = &ctx.policy.policy.migration;
    let (raw_url, source) = resolve_url(m)?;
    validate_url(&raw_url)?;
    let timeout = policy::parse_duration(&m.timeout)
        .map_err(|e| exit::usage(format!("[migration] timeout {e}")))?;
    let cwd = ctx.root.join(&m.directory);
    if !cwd.is_dir() {
        return Err(exit::usage(format!(
            "[migration] directory {:?} is not a directory under {}: set it to where alembic.ini is (see docs/POLICY.md)",
            m.directory,
            ctx.root.display()
        )));
    }
    let target = Target::of(&raw_url, &ctx.root);
    let alembic = Alembic {
        argv: &m.alembic,
        cwd,
        directory: &m.directory,
        url: target.url.clone(),
        timeout,
    };

    let mut bypasses = Vec::new();
    if skip_autogen {
        let bypass = Bypass::new(
            env::MIGRATION_GATE_SKIP_AUTOGEN,
            "alembic check (model parity) skipped: an emergency bypass; document it in the release notes",
        );
        bypass.warn();
        bypasses.push(bypass);
    }
    output::say(&format!(
        "{} database {} (from {source}); alembic: {} in {}",
        output::bold("db-migration-gate:"),
        redact(&target.url),
        process::display(&m.alembic),
        m.directory
    ));

    // Ctrl-C stops the running alembic's process group, then the gate ends with 130.
    process::install_signal_handlers();
    let start = Instant::now();
    let mut gate = Gate {
        checks: Vec::new(),
        head: None,
        current: Vec::new(),
    };
    let failure = gate.run_checks(&alembic, &target, skip_autogen).err();
    let (status, code) = match &failure {
        None => ("passed", exit::OK),
        Some(f) if f.class == Class::Interrupted => ("interrupted", exit::INTERRUPTED),
        Some(f) if f.class.exit_code() == exit::USAGE => ("error", exit::USAGE),
        Some(_) => ("failed", exit::FAILED),
    };
    let report = Report {
        command: "db-migration-gate",
        status,
        exit_code: code,
        database: redact(&target.url),
        database_source: source,
        directory: m.directory.clone(),
        alembic: process::display(&m.alembic),
        head: gate.head.clone(),
        current: gate.current.clone(),
        checks: gate.checks.clone(),
        failure,
        bypasses,
        duration_ms: start.elapsed().as_millis() as u64,
    };
    finish(ctx, &report)
}

/// The checks in order; the first failure stops them.
struct Gate {
    checks: Vec<CheckReport>,
    head: Option<String>,
    current: Vec<String>,
}

impl Gate {
    fn run_checks(
        &mut self,
        alembic: &Alembic<'_>,
        target: &Target,
        skip_autogen: bool,
    ) -> Result<(), Failure> {
        let head = self.check(alembic, SINGLE_HEAD, |f| single_head(alembic, f))?;
        self.head = Some(head.clone());

        let at_head = match &target.sqlite {
            Some(file) if !file.exists => {
                let started = Instant::now();
                let failure = match process::interrupted() {
                    Some(_) => Failure {
                        class: Class::Interrupted,
                        message: "interrupted before the at head check".into(),
                        evidence: Vec::new(),
                        fix: None,
                    },
                    None => missing_sqlite_file(alembic, file),
                };
                let result: Result<(String, Vec<String>), Failure> = Err(failure);
                self.record(alembic, AT_HEAD, started.elapsed(), result)
            }
            _ => self.check(alembic, AT_HEAD, |f| {
                let current: Vec<String> = revisions(&f.stdout).into_iter().map(|r| r.id).collect();
                (at_head(alembic, &head, &current), current)
            }),
        };
        let current = at_head?;
        self.current = current;

        if skip_autogen {
            self.line(
                "skipped",
                MODEL_PARITY.1,
                "MIGRATION_GATE_VALIDATE_AUTOGEN=false (emergency bypass)",
                None,
            );
            self.checks.push(CheckReport {
                name: MODEL_PARITY.0,
                status: "skipped",
                detail: Some("MIGRATION_GATE_VALIDATE_AUTOGEN=false (emergency bypass)".into()),
                command: alembic.shown(MODEL_PARITY.2),
                duration_ms: 0,
            });
            return Ok(());
        }
        self.check(alembic, MODEL_PARITY, |_| {
            (Ok("no pending operations".to_string()), ())
        })?;
        Ok(())
    }

    /// Runs one check's alembic command. A failed process is classified
    /// here; a process that succeeded goes to `judge`, which returns the
    /// check's result and the value the gate keeps.
    fn check<T>(
        &mut self,
        alembic: &Alembic<'_>,
        (name, title, args): (&'static str, &'static str, &[&str]),
        judge: impl FnOnce(&process::Finished) -> (Result<String, Failure>, T),
    ) -> Result<T, Failure> {
        let finished = alembic.run(args);
        let (result, value) = if finished.outcome == Outcome::Passed {
            let (result, value) = judge(&finished);
            (result, Some(value))
        } else {
            (
                Err(failed_command(
                    alembic,
                    name,
                    args,
                    &finished,
                    self.head.as_deref(),
                )),
                None,
            )
        };
        self.record(
            alembic,
            (name, title, args),
            finished.duration,
            result.map(|detail| (detail, value)),
        )
        .map(|value| value.expect("a passed check has its value"))
    }

    fn record<T>(
        &mut self,
        alembic: &Alembic<'_>,
        (name, title, args): (&'static str, &'static str, &[&str]),
        took: Duration,
        result: Result<(String, T), Failure>,
    ) -> Result<T, Failure> {
        let (status, detail) = match &result {
            Ok((detail, _)) => ("passed", detail.clone()),
            Err(f) if f.class == Class::Interrupted => {
                ("interrupted", first_line(&f.message).to_string())
            }
            Err(f) => (
                "failed",
                format!("{}: {}", f.class.word(), first_line(&f.message)),
            ),
        };
        self.line(status, title, &detail, Some(took));
        self.checks.push(CheckReport {
            name,
            status,
            detail: Some(detail),
            command: alembic.shown(args),
            duration_ms: took.as_millis() as u64,
        });
        if result.is_err() {
            for (n, t, a) in [SINGLE_HEAD, AT_HEAD, MODEL_PARITY]
                .into_iter()
                .skip_while(|(n, _, _)| *n != name)
                .skip(1)
            {
                self.line("not run", t, "an earlier check failed", None);
                self.checks.push(CheckReport {
                    name: n,
                    status: "not_run",
                    detail: Some("an earlier check failed".into()),
                    command: alembic.shown(a),
                    duration_ms: 0,
                });
            }
        }
        result.map(|(_, value)| value)
    }

    /// One line per check on stderr, in both formats (stdout carries the JSON report).
    fn line(&self, status: &str, title: &str, detail: &str, took: Option<Duration>) {
        let word = match status {
            "passed" => output::green("passed"),
            "failed" | "interrupted" => output::red(status),
            other => output::yellow(other),
        };
        let pad = " ".repeat(8usize.saturating_sub(status.len()));
        let took = took
            .map(|d| format!(" ({})", output::duration(d)))
            .unwrap_or_default();
        output::say(&format!("  {word}{pad} {title:<13} {detail}{took}"));
    }
}

/// Check 1: exactly one head.
fn single_head(
    alembic: &Alembic<'_>,
    finished: &process::Finished,
) -> (Result<String, Failure>, String) {
    let heads: Vec<String> = revisions(&finished.stdout)
        .into_iter()
        .map(|r| r.id)
        .collect();
    match heads.as_slice() {
        [head] => (Ok(head.clone()), head.clone()),
        [] => (
            Err(Failure {
                class: Class::NoHead,
                message: format!("`{}` shows no head revision: there are no migrations, or alembic printed something this gate cannot read", alembic.shown(&["heads"])),
                evidence: evidence(finished),
                fix: Some(format!("add a first migration: {}", alembic.command_for(&["revision", "--autogenerate", "-m", "initial schema"]))),
            }),
            String::new(),
        ),
        many => (
            Err(Failure {
                class: Class::MultipleHeads,
                message: format!("the migrations have {} heads: {}", many.len(), many.join(", ")),
                evidence: vec![format!("`{}` printed:", alembic.shown(&["heads"]))]
                    .into_iter()
                    .chain(finished.stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("  {l}")))
                    .collect(),
                fix: Some(format!(
                    "merge them into one head and commit the merge migration: (cd {} && {})",
                    alembic.directory,
                    alembic.shown(&["merge", "heads", "-m", "merge heads"])
                )),
            }),
            String::new(),
        ),
    }
}

/// Check 2: the database's current revision is the head.
fn at_head(alembic: &Alembic<'_>, head: &str, current: &[String]) -> Result<String, Failure> {
    let ids: Vec<&str> = current.iter().map(String::as_str).collect();
    let upgrade = alembic.command_for(&["upgrade", "head"]);
    match ids.as_slice() {
        [one] if *one == head => Ok(format!("current={one} head={head}")),
        [] => Err(Failure {
            class: Class::NotMigrated,
            message: format!("the database has no alembic version: it was never migrated (current=none head={head})"),
            evidence: vec![format!("`{}` printed no revision", alembic.shown(&["current"]))],
            fix: Some(format!("Run: {upgrade}")),
        }),
        [one] => Err(Failure {
            class: Class::Drift,
            message: format!("migration drift: the database is behind the code: current={one} head={head}"),
            evidence: vec![format!("`{}` printed {one}", alembic.shown(&["current"]))],
            fix: Some(format!("Run: {upgrade}")),
        }),
        many => Err(Failure {
            class: Class::Drift,
            message: format!(
                "migration drift: the database is at several revisions: current={} head={head}",
                many.join(",")
            ),
            evidence: vec![format!("`{}` printed {}", alembic.shown(&["current"]), many.join(", "))],
            fix: Some(format!("Run: {upgrade}")),
        }),
    }
}

/// An SQLite file that does not exist: never migrated, or nowhere to be.
/// Checked before alembic runs, because alembic would create the file.
fn missing_sqlite_file(alembic: &Alembic<'_>, file: &SqliteFile) -> Failure {
    match &file.path {
        None => Failure {
            class: Class::NotMigrated,
            message: "an in-memory SQLite database is always empty: it was never migrated".into(),
            evidence: vec![format!("database {}", redact(&alembic.url))],
            fix: Some(
                "point the gate at the database a deploy migrates (MIGRATION_GATE_DATABASE_URL)"
                    .into(),
            ),
        },
        Some(path) => match path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
        {
            Some(parent) => Failure {
                class: Class::Unreachable,
                message: format!(
                    "the SQLite database {} cannot be opened: its directory {} does not exist",
                    path.display(),
                    parent.display()
                ),
                evidence: vec![format!("database {}", redact(&alembic.url))],
                fix: Some(
                    "check the URL (a relative SQLite path is relative to the repository root)"
                        .into(),
                ),
            },
            None => Failure {
                class: Class::NotMigrated,
                message: format!(
                    "the SQLite database {} does not exist: it was never migrated",
                    path.display()
                ),
                evidence: vec![format!("database {}", redact(&alembic.url))],
                fix: Some(format!(
                    "Run: {}",
                    alembic.command_for(&["upgrade", "head"])
                )),
            },
        },
    }
}

/// A check whose alembic command failed: what kind of failure, and the fix.
fn failed_command(
    alembic: &Alembic<'_>,
    check: &str,
    args: &[&str],
    f: &process::Finished,
    head: Option<&str>,
) -> Failure {
    let shown = alembic.shown(args);
    let (class, reason) = classify(&f.outcome, &f.stdout, &f.stderr);
    let mut evidence = vec![format!("`{shown}` {}", f.outcome.describe())];
    if !reason.is_empty() {
        evidence.push(format!("reason: {reason}"));
    }
    let database = redact(&alembic.url);
    let (message, fix) = match class {
        Class::ToolMissing => {
            let program = alembic.argv.first().map(String::as_str).unwrap_or("");
            let fix = if f.outcome.kind() == "not_started" && program == "uv" {
                "install uv: python3 -m pip install uv (scripts/setup.sh does it)".to_string()
            } else if f.outcome.kind() == "not_started" {
                format!(
                    "install `{program}`, or set [migration] alembic in the policy to the command that runs alembic"
                )
            } else {
                format!(
                    "install the service's environment: (cd {} && uv sync --frozen) (scripts/setup.sh does it)",
                    alembic.directory
                )
            };
            (format!("alembic cannot run: {reason}"), fix)
        }
        Class::Unreachable => (
            format!("the database {database} cannot be reached: {reason}"),
            "check that the server is running and the host, port and database name in the URL".to_string(),
        ),
        Class::AuthFailed => (
            format!("authentication to the database {database} failed: {reason}"),
            "check the user and password in the URL (or the file named by MIGRATION_GATE_DATABASE_URL_FILE)"
                .to_string(),
        ),
        Class::Drift => {
            let revision = unknown_revision(&f.stdout, &f.stderr).unwrap_or_else(|| "?".into());
            let head = head.unwrap_or("?");
            (
                format!("migration drift: the database is at a revision this code does not know: current={revision} head={head} (it was migrated by other code, ahead of or beside this head)"),
                format!(
                    "this code cannot upgrade it: deploy the code that has revision {revision} (or restore its migration file); once the code knows it, Run: {}",
                    alembic.command_for(&["upgrade", "head"])
                ),
            )
        }
        Class::ModelDrift => {
            let ops = pending_operations(&f.stderr, &f.stdout);
            evidence.extend(ops.iter().map(|op| format!("pending: {op}")));
            (
                format!("the models and the migrations disagree: `alembic check` found {} pending operation(s)", ops.len().max(1)),
                format!(
                    "write the missing migration and commit it: {}; MIGRATION_GATE_VALIDATE_AUTOGEN=false skips this check as an emergency bypass (document it in the release notes)",
                    alembic.command_for(&["revision", "--autogenerate", "-m", "<what changed>"])
                ),
            )
        }
        Class::Timeout => (
            format!("`{shown}` {} (the database may be unreachable or locked)", f.outcome.describe()),
            "check the database, or raise [migration] timeout in the policy".to_string(),
        ),
        Class::Interrupted => (format!("interrupted during the {check} check"), String::new()),
        _ => (
            format!("`{shown}` failed: {}", if reason.is_empty() { f.outcome.describe() } else { reason.clone() }),
            format!("run it yourself to see everything: {}", alembic.command_for(args)),
        ),
    };
    if !matches!(class, Class::ModelDrift) {
        evidence.extend(
            tail(&f.stderr, 3)
                .into_iter()
                .map(|l| format!("stderr: {l}")),
        );
    }
    Failure {
        class,
        message,
        evidence,
        fix: (!fix.is_empty()).then_some(fix),
    }
}

fn evidence(f: &process::Finished) -> Vec<String> {
    let mut lines: Vec<String> = tail(&f.stdout, 5)
        .into_iter()
        .map(|l| format!("stdout: {l}"))
        .collect();
    lines.extend(
        tail(&f.stderr, 5)
            .into_iter()
            .map(|l| format!("stderr: {l}")),
    );
    lines
}

fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// Prints the outcome for people (stderr, both formats) and the report
/// (JSON: stdout), writes the GitHub step summary, and ends with the
/// report's exit code.
fn finish(ctx: &Ctx, report: &Report) -> anyhow::Result<()> {
    match &report.failure {
        None => output::say(&output::green(&format!(
            "db-migration-gate passed: the database is at head {}{}.",
            report.head.as_deref().unwrap_or("?"),
            if report.bypasses.is_empty() {
                " and the models match the migrations"
            } else {
                " (model parity NOT checked: bypass)"
            }
        ))),
        Some(f) => {
            output::error(&format!(
                "db-migration-gate failed ({}): {}",
                f.class.word(),
                f.message
            ));
            for line in &f.evidence {
                output::say(&format!("  {line}"));
            }
            if let Some(fix) = &f.fix {
                output::say(&format!("  fix: {fix}"));
            }
        }
    }
    if ctx.format == Format::Json {
        output::json(&serde_json::to_value(report).unwrap_or_default());
    }
    let mut md = format!(
        "### db-migration-gate: {}\n\n| check | status | detail |\n|---|---|---|\n",
        report.status
    );
    for c in &report.checks {
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name,
            c.status,
            c.detail.as_deref().unwrap_or("").replace('|', "\\|")
        ));
    }
    for b in &report.bypasses {
        md.push_str(&format!(
            "\nBypass used: `{}={}` ({})\n",
            b.variable, b.value, b.effect
        ));
    }
    output::step_summary(&md);
    match report.exit_code {
        exit::OK => Ok(()),
        code => Err(exit::silent(code)),
    }
}

/// The target URL and where it came from: `MIGRATION_GATE_DATABASE_URL_FILE`
/// (wins) or `MIGRATION_GATE_DATABASE_URL`, then release-gate's
/// `RELEASE_GATE_DATABASE_URL_FILE` / `RELEASE_GATE_DATABASE_URL`, then the
/// policy's default. Two different values in the first pair are refused:
/// which one the gate checks must never be a surprise.
fn resolve_url(m: &Migration) -> anyhow::Result<(String, String)> {
    const NAME: &str = "MIGRATION_GATE_DATABASE_URL";
    if let (Some(_), Some(direct)) = (env::var(&format!("{NAME}_FILE")), env::var(NAME)) {
        redact::register(&direct);
        let from_file = env::secret(NAME)?.unwrap_or_default();
        if from_file.trim() != direct.trim() {
            return Err(exit::usage(format!(
                "{NAME}_FILE and {NAME} are both set, to different URLs ({} and {}): unset one of them",
                redact(&from_file),
                redact(&direct)
            )));
        }
    }
    for name in [NAME, "RELEASE_GATE_DATABASE_URL"] {
        if let Some(url) = env::secret(name)? {
            let source = if env::var(&format!("{name}_FILE")).is_some() {
                format!("{name}_FILE")
            } else {
                name.to_string()
            };
            return Ok((url.trim().to_string(), source));
        }
    }
    match m
        .default_database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => Ok((
            url.trim().to_string(),
            "[migration] default-database-url".to_string(),
        )),
        None => Err(exit::usage(format!(
            "MIGRATION_GATE_DATABASE_URL is required\n{USAGE_LINE}"
        ))),
    }
}

/// A database URL must be `scheme://…` with no whitespace or control characters.
fn validate_url(url: &str) -> anyhow::Result<()> {
    let scheme_ok = url
        .split_once("://")
        .map(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
        .unwrap_or(false);
    if !scheme_ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(exit::usage(format!(
            "the database URL {} is not a URL like postgresql://user@host/db or sqlite:///path/to.db",
            redact(url)
        )));
    }
    Ok(())
}

/// The database the gate checks: the URL alembic gets, and for SQLite the file.
#[derive(Debug, PartialEq)]
struct Target {
    url: String,
    sqlite: Option<SqliteFile>,
}

#[derive(Debug, PartialEq)]
struct SqliteFile {
    /// `None` for an in-memory database.
    path: Option<PathBuf>,
    exists: bool,
}

impl Target {
    /// Resolves a relative SQLite path against the repository root (alembic
    /// runs in the migration directory, where it would mean something else).
    fn of(url: &str, root: &Path) -> Target {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Target {
                url: url.into(),
                sqlite: None,
            };
        };
        if scheme != "sqlite" && !scheme.starts_with("sqlite+") {
            return Target {
                url: url.into(),
                sqlite: None,
            };
        }
        let (path, query) = match rest.find('?') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        // sqlite:// and sqlite:///:memory: are in memory; sqlite:///x is relative,
        // sqlite:////x absolute; a URI filename (file:…) is left to SQLite.
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return Target {
                url: url.into(),
                sqlite: Some(SqliteFile {
                    path: None,
                    exists: false,
                }),
            };
        }
        if path.starts_with("file:") || query.contains("uri=true") {
            return Target {
                url: url.into(),
                sqlite: None,
            };
        }
        let file = if path.starts_with('/') {
            PathBuf::from(path)
        } else {
            root.join(path)
        };
        let url = format!("{scheme}:///{}{query}", file.display());
        let exists = file.exists();
        Target {
            url,
            sqlite: Some(SqliteFile {
                path: Some(file),
                exists,
            }),
        }
    }
}

/// A revision line of `alembic heads` / `alembic current`.
#[derive(Debug, PartialEq, Eq)]
pub struct Revision {
    pub id: String,
    /// `head`, `branchpoint`, `mergepoint`, `effective head`…
    pub tags: Vec<String>,
}

/// The revision lines of alembic's stdout: a revision id followed only by
/// parenthesised tags (`0003 (head)`, `ae1027a6acf (head) (mergepoint)`).
/// Log lines (`INFO  [alembic…] …`, should logging reach stdout), messages
/// and blank lines are not revision lines.
pub fn revisions(stdout: &str) -> Vec<Revision> {
    let line_re = regex_lite::Regex::new(
        r"^\s*([0-9A-Za-z_][0-9A-Za-z_.\-]*)((?:\s+\([a-z][a-z ]*\))*)\s*(?:,.*)?$",
    )
    .expect("the revision pattern compiles");
    let tag_re = regex_lite::Regex::new(r"\(([a-z][a-z ]*)\)").expect("the tag pattern compiles");
    stdout
        .lines()
        .filter_map(|line| {
            let caps = line_re.captures(line)?;
            let id = caps.get(1)?.as_str().to_string();
            let tags = tag_re
                .captures_iter(caps.get(2).map_or("", |m| m.as_str()))
                .map(|c| c[1].to_string())
                .collect();
            Some(Revision { id, tags })
        })
        .collect()
}

/// What kind of failure an alembic command's outcome and output show, and
/// the driver's or alembic's reason in one line.
pub fn classify(outcome: &Outcome, stdout: &str, stderr: &str) -> (Class, String) {
    match outcome {
        Outcome::NotStarted(why) => return (Class::ToolMissing, why.clone()),
        Outcome::TimedOut(_) => return (Class::Timeout, outcome.describe()),
        Outcome::Interrupted => return (Class::Interrupted, outcome.describe()),
        _ => {}
    }
    let text = format!("{stdout}\n{stderr}");
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    let class = if has(&[
        "Failed to spawn",
        "No module named",
        "command not found",
        "ModuleNotFoundError",
    ]) {
        Class::ToolMissing
    } else if has(&[
        "password authentication failed",
        "authentication failed",
        "no password supplied",
        "fe_sendauth",
        "Access denied for user",
    ]) || (text.contains("FATAL:")
        && text.contains("role \"")
        && text.contains("does not exist"))
    {
        Class::AuthFailed
    } else if has(&[
        "Connection refused",
        "could not connect",
        "connection failed",
        "could not translate host name",
        "Name or service not known",
        "Temporary failure in name resolution",
        "No route to host",
        "Network is unreachable",
        "timeout expired",
        "server closed the connection",
        "unable to open database file",
    ]) || (text.contains("FATAL:")
        && text.contains("database \"")
        && text.contains("does not exist"))
    {
        Class::Unreachable
    } else if text.contains("Can't locate revision identified by") {
        Class::Drift
    } else if text.contains("New upgrade operations detected") {
        Class::ModelDrift
    } else {
        Class::AlembicError
    };
    (class, reason(stdout, stderr))
}

/// One line saying why: the driver's exception (with its hint lines), else
/// alembic's `FAILED:` message, else uv's `error:` line, else the last line.
fn reason(stdout: &str, stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(i) = lines
        .iter()
        .rposition(|l| l.starts_with("sqlalchemy.exc.") || l.contains("Error: "))
    {
        let mut text = lines[i].trim().to_string();
        for more in lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with([' ', '\t']))
        {
            text.push(' ');
            text.push_str(more.trim());
        }
        return text;
    }
    for l in stdout.lines().chain(stderr.lines()) {
        if let Some(msg) = l.strip_prefix("FAILED: ") {
            return msg.trim().to_string();
        }
    }
    if let Some(i) = lines.iter().position(|l| l.starts_with("error:")) {
        let mut text = lines[i].trim().to_string();
        for more in lines[i + 1..]
            .iter()
            .take_while(|l| l.starts_with([' ', '\t']))
        {
            text.push(' ');
            text.push_str(more.trim());
        }
        return text;
    }
    tail(stderr, 1)
        .pop()
        .or_else(|| tail(stdout, 1).pop())
        .unwrap_or_default()
}

/// The revision in `Can't locate revision identified by '0099'`.
fn unknown_revision(stdout: &str, stderr: &str) -> Option<String> {
    let text = format!("{stdout}\n{stderr}");
    let start = text.find("Can't locate revision identified by '")?
        + "Can't locate revision identified by '".len();
    let end = text[start..].find('\'')?;
    Some(text[start..start + end].to_string())
}

/// What `alembic check` would have to do: its `Detected …` log lines (what
/// people read), else the operations list of its failure message.
fn pending_operations(stderr: &str, stdout: &str) -> Vec<String> {
    let detected: Vec<String> = stderr
        .lines()
        .filter(|l| l.contains("[alembic.autogenerate") && l.contains("Detected "))
        .filter_map(|l| l.split_once("] ").map(|(_, msg)| msg.trim().to_string()))
        .collect();
    if !detected.is_empty() {
        return detected;
    }
    stdout
        .lines()
        .chain(stderr.lines())
        .find_map(|l| {
            l.split_once("New upgrade operations detected: ")
                .map(|(_, ops)| ops.trim().to_string())
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_revisions(stdout: &str, expected: &[(&str, &[&str])]) {
        let got: Vec<(String, Vec<String>)> = revisions(stdout)
            .into_iter()
            .map(|r| (r.id, r.tags))
            .collect();
        let want: Vec<(String, Vec<String>)> = expected
            .iter()
            .map(|(id, tags)| (id.to_string(), tags.iter().map(|t| t.to_string()).collect()))
            .collect();
        assert_eq!(got, want, "stdout: {stdout:?}");
    }

    #[test]
    fn revision_lines_are_read_and_everything_else_ignored() {
        check_revisions("0003 (head)\n", &[("0003", &["head"])]);
        check_revisions(
            "0003 (head)\n0004 (head)\n",
            &[("0003", &["head"]), ("0004", &["head"])],
        );
        check_revisions(
            "ae1027a6acf (head) (mergepoint)\n",
            &[("ae1027a6acf", &["head", "mergepoint"])],
        );
        check_revisions(
            "1975ea83b712 (branchpoint)\n",
            &[("1975ea83b712", &["branchpoint"])],
        );
        check_revisions("0002\n", &[("0002", &[])]);
        check_revisions("0003 (effective head)\n", &[("0003", &["effective head"])]);
        check_revisions(
            "INFO  [alembic.runtime.migration] Context impl SQLiteImpl.\nINFO  [alembic.runtime.migration] Will assume non-transactional DDL.\n",
            &[],
        );
        check_revisions("FAILED: Can't locate revision identified by '0099'\n", &[]);
        check_revisions("No new upgrade operations detected.\n\n", &[]);
        check_revisions("", &[]);
    }

    fn check_class(outcome: Outcome, stdout: &str, stderr: &str, class: Class, reason_has: &str) {
        let (got, reason) = classify(&outcome, stdout, stderr);
        assert_eq!(got, class, "stdout {stdout:?} stderr {stderr:?}");
        assert!(
            reason.contains(reason_has),
            "reason {reason:?} lacks {reason_has:?}"
        );
    }

    #[test]
    fn failures_are_told_apart() {
        let pg = |msg: &str| {
            format!("Traceback (most recent call last):\n  File \"x.py\", line 1\nsqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed: connection to server at \"127.0.0.1\", port 5432 failed: {msg}\n(Background on this error at: https://sqlalche.me/e/21/e3q8)\n")
        };
        check_class(
            Outcome::Exited(1),
            "",
            &pg("FATAL:  password authentication failed for user \"app\""),
            Class::AuthFailed,
            "password authentication failed",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &pg("FATAL:  role \"nobody\" does not exist"),
            Class::AuthFailed,
            "role",
        );
        let refused = pg("Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?");
        check_class(
            Outcome::Exited(1),
            "",
            &refused,
            Class::Unreachable,
            "Connection refused Is the server running",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &pg("FATAL:  database \"nodb\" does not exist"),
            Class::Unreachable,
            "nodb",
        );
        check_class(
            Outcome::Exited(1),
            "",
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) unable to open database file\n",
            Class::Unreachable,
            "unable to open",
        );
        check_class(
            Outcome::Exited(255),
            "FAILED: Can't locate revision identified by '0099'\n",
            "ERROR [alembic.util.messaging] Can't locate revision identified by '0099'\n",
            Class::Drift,
            "0099",
        );
        check_class(
            Outcome::Exited(255),
            "FAILED: New upgrade operations detected: [('add_column', None, 'tasks', Column('priority', Integer()))]\n",
            "INFO  [alembic.autogenerate.compare.tables] Detected added column 'tasks.priority'\n",
            Class::ModelDrift,
            "add_column",
        );
        check_class(
            Outcome::Exited(2),
            "",
            "error: Failed to spawn: `alembic`\n  Caused by: No such file or directory (os error 2)\n",
            Class::ToolMissing,
            "Failed to spawn: `alembic` Caused by",
        );
        check_class(
            Outcome::Exited(1),
            "",
            "/usr/bin/python3: No module named alembic\n",
            Class::ToolMissing,
            "No module named alembic",
        );
        check_class(
            Outcome::NotStarted("`uv` is not installed (not found on PATH)".into()),
            "",
            "",
            Class::ToolMissing,
            "`uv` is not installed",
        );
        check_class(
            Outcome::TimedOut(Duration::from_secs(300)),
            "",
            "",
            Class::Timeout,
            "timed out",
        );
        check_class(
            Outcome::Exited(1),
            "",
            "KeyError: 'boom'\n",
            Class::AlembicError,
            "KeyError",
        );
    }

    #[test]
    fn pending_operations_prefer_the_detected_lines() {
        let stderr = "INFO  [alembic.runtime.migration] Context impl SQLiteImpl.\nINFO  [alembic.autogenerate.compare.tables] Detected added column 'tasks.priority'\nINFO  [alembic.ddl.postgresql] Detected sequence named 'x' as owned by integer column\n";
        assert_eq!(
            pending_operations(stderr, ""),
            vec!["Detected added column 'tasks.priority'".to_string()]
        );
        let stdout = "FAILED: New upgrade operations detected: [('add_column', None, 't', 'c')]\n";
        assert_eq!(
            pending_operations("", stdout),
            vec!["[('add_column', None, 't', 'c')]".to_string()]
        );
    }

    fn check_target(url: &str, want_url: &str, want_file: Option<Option<&str>>) {
        let t = Target::of(url, Path::new("/repo"));
        assert_eq!(t.url, want_url, "{url}");
        assert_eq!(
            t.sqlite.map(|f| f.path.map(|p| p.display().to_string())),
            want_file.map(|f| f.map(String::from)),
            "{url}"
        );
    }

    #[test]
    fn relative_sqlite_paths_are_relative_to_the_repository_root() {
        check_target(
            "sqlite:///target/gate.db",
            "sqlite:////repo/target/gate.db",
            Some(Some("/repo/target/gate.db")),
        );
        check_target(
            "sqlite:////var/db/x.db",
            "sqlite:////var/db/x.db",
            Some(Some("/var/db/x.db")),
        );
        check_target(
            "sqlite+pysqlite:///x.db?timeout=5",
            "sqlite+pysqlite:////repo/x.db?timeout=5",
            Some(Some("/repo/x.db")),
        );
        check_target("sqlite://", "sqlite://", Some(None));
        check_target("sqlite:///:memory:", "sqlite:///:memory:", Some(None));
        check_target(
            "sqlite:///file:x.db?mode=ro&uri=true",
            "sqlite:///file:x.db?mode=ro&uri=true",
            None,
        );
        check_target("postgresql://u:p@h/db", "postgresql://u:p@h/db", None);
    }

    fn alembic_for_tests(argv: &[String]) -> Alembic<'_> {
        Alembic {
            argv,
            cwd: PathBuf::from("."),
            directory: "service",
            url: "postgresql://app:pw-at-head@db/app".into(),
            timeout: Duration::from_secs(5),
        }
    }

    fn check_at_head(current: &[&str], class: Option<Class>, message_has: &str) {
        let argv = default_argv();
        let alembic = alembic_for_tests(&argv);
        let current: Vec<String> = current.iter().map(|c| c.to_string()).collect();
        match (at_head(&alembic, "0003", &current), class) {
            (Ok(detail), None) => assert!(detail.contains(message_has), "{detail}"),
            (Err(f), Some(class)) => {
                assert_eq!(f.class, class, "{current:?}");
                assert!(f.message.contains(message_has), "{}", f.message);
                let fix = f.fix.unwrap_or_default();
                assert!(
                    fix.contains("(cd service && DATABASE_URL='postgresql://app:***@db/app' uv run --no-sync alembic upgrade head)"),
                    "{fix}"
                );
            }
            (other, _) => panic!("{current:?}: unexpected {other:?}"),
        }
    }

    fn default_argv() -> Vec<String> {
        ["uv", "run", "--no-sync", "alembic"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn the_database_is_at_head_only_at_exactly_the_head() {
        check_at_head(&["0003"], None, "current=0003 head=0003");
        check_at_head(
            &[],
            Some(Class::NotMigrated),
            "never migrated (current=none head=0003)",
        );
        check_at_head(
            &["0002"],
            Some(Class::Drift),
            "behind the code: current=0002 head=0003",
        );
        check_at_head(
            &["0003", "0004"],
            Some(Class::Drift),
            "current=0003,0004 head=0003",
        );
    }

    #[test]
    fn urls_are_validated() {
        for ok in [
            "postgresql://u:p@h:5432/db",
            "postgresql+psycopg://h/db",
            "sqlite:///x.db",
            "sqlite://",
        ] {
            assert!(validate_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "hunter2",
            "://h/db",
            "1pg://h",
            "postgresql://h/db name",
            "postgresql://h/db\n",
            "pg sql://h",
        ] {
            let err = validate_url(bad).unwrap_err();
            assert_eq!(exit::code_of(&err), exit::USAGE, "{bad}");
        }
    }
}
