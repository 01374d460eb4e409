//! `db-migration-gate`: proves that the target database is exactly at the
//! code's single alembic head, and that the models match the migrations.
//!
//! Three checks, judged in order, each reported on its own line: single
//! head (`alembic heads`), at head (`alembic current`), model parity
//! (`alembic check`, bypassed only by `MIGRATION_GATE_VALIDATE_AUTOGEN=false`).
//! The first two commands run side by side; `check` after both. Alembic
//! runs from the policy's argv in the policy's directory, with a timeout; the
//! database URL reaches it only as `DATABASE_URL` in its environment, and is
//! only ever shown redacted. Reading alembic's output and telling failures
//! apart are pure functions ([`revisions`], [`classify`]) with unit tests; the
//! rest gathers those facts by running alembic.
//!
//! Here: the command and its checks in order (gathering). `classify`: what
//! alembic's output says (pure); `judge`: each check's verdict and fix from
//! those facts (pure); `target`: which database, from where; `render`: the
//! lines, the report and the step summary.

mod classify;
mod judge;
mod render;
mod target;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use self::classify::{first_line, revisions};
use self::judge::{at_head, failed_command, missing_sqlite_file, single_head};
use self::render::finish;
use self::target::{resolve_url, validate_url, Target};
use crate::plumbing::env::{self, Bypass};
use crate::plumbing::output;
use crate::plumbing::policy;
use crate::plumbing::process::{self, Outcome, Sink, Spec};
use crate::plumbing::redact::redact;
use crate::plumbing::{exit, Ctx};

const USAGE_LINE: &str = "Usage: make db-migration-gate MIGRATION_GATE_DATABASE_URL=<target-db-url> [MIGRATION_GATE_VALIDATE_AUTOGEN=false]\n   or: MIGRATION_GATE_DATABASE_URL_FILE=<file> cargo xtask db-migration-gate\n(or RELEASE_GATE_DATABASE_URL[_FILE], or [migration] default-database-url in the policy)";

/// How the gate failed: stable words for the JSON report and the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// uv, alembic or a Python module is not installed (exit 2).
    ToolMissing,
    /// The database server or file cannot be reached (connection refused,
    /// no route, timed out).
    Unreachable,
    /// The database host name does not resolve.
    UnknownHost,
    /// The server answers, but the database named in the URL does not exist.
    MissingDatabase,
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
            Class::UnknownHost => "unknown_host",
            Class::MissingDatabase => "missing_database",
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
    /// `[migration] env`: set before the URL, which always wins.
    env: &'a BTreeMap<String, String>,
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
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend([
            ("DATABASE_URL".to_string(), self.url.clone()),
            ("DATABASE_URL_FILE".to_string(), String::new()),
        ]);
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
        env: &m.env,
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
        // `alembic current` needs nothing from `alembic heads`, so the two
        // run side by side (one alembic start-up less of waiting, about a
        // third of the gate); their answers are judged in order, and a
        // failed single-head check still reports at head as not run. A
        // SQLite file that does not exist is never opened: alembic would
        // create it.
        let (heads, current) = std::thread::scope(|s| {
            let current = match target.sqlite.as_ref().filter(|file| !file.exists) {
                Some(missing) => Err(missing),
                None => Ok(s.spawn(|| alembic.run(AT_HEAD.2))),
            };
            let heads = alembic.run(SINGLE_HEAD.2);
            let current = current.map(|c| c.join().expect("alembic current ran"));
            (heads, current)
        });
        let head = self.judged(alembic, SINGLE_HEAD, heads, |f| single_head(alembic, f))?;
        self.head = Some(head.clone());

        let at_head = match current {
            Err(file) => {
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
            Ok(finished) => self.judged(alembic, AT_HEAD, finished, |f| {
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

    /// Runs one check's alembic command and judges it ([`Gate::judged`]).
    fn check<T>(
        &mut self,
        alembic: &Alembic<'_>,
        check: (&'static str, &'static str, &[&str]),
        judge: impl FnOnce(&process::Finished) -> (Result<String, Failure>, T),
    ) -> Result<T, Failure> {
        let finished = alembic.run(check.2);
        self.judged(alembic, check, finished, judge)
    }

    /// Judges one check's finished alembic command. A failed process is
    /// classified here; a process that succeeded goes to `judge`, which
    /// returns the check's result and the value the gate keeps.
    fn judged<T>(
        &mut self,
        alembic: &Alembic<'_>,
        (name, title, args): (&'static str, &'static str, &[&str]),
        finished: process::Finished,
        judge: impl FnOnce(&process::Finished) -> (Result<String, Failure>, T),
    ) -> Result<T, Failure> {
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
}
