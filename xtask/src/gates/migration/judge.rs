//! Each check's verdict from the facts alembic gave: the failure class,
//! the message, the evidence and the command that fixes it. Pure.

use super::classify::{classify, pending_operations, revisions, tail, unknown_revision};
use super::target::SqliteFile;
use super::{Alembic, Class, Failure};
use crate::plumbing::process;
use crate::plumbing::redact::redact;

/// Check 1: exactly one head.
pub(super) fn single_head(
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
pub(super) fn at_head(
    alembic: &Alembic<'_>,
    head: &str,
    current: &[String],
) -> Result<String, Failure> {
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
pub(super) fn missing_sqlite_file(alembic: &Alembic<'_>, file: &SqliteFile) -> Failure {
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
pub(super) fn failed_command(
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
        Class::ToolMissing => (
            format!("alembic cannot run: {reason}"),
            tool_missing_fix(alembic, f),
        ),
        Class::Unreachable => (
            format!("the database {database} cannot be reached: {reason}"),
            "check that the server is running and the host, port and database name in the URL".to_string(),
        ),
        Class::UnknownHost => (
            format!("the database host in {database} does not resolve: {reason}"),
            "check the host name in the URL (and DNS from this machine)".to_string(),
        ),
        Class::MissingDatabase => (
            format!("the database server answers, but the database in {database} does not exist: {reason}"),
            "check the database name in the URL, or create the database (then migrate it: alembic upgrade head)".to_string(),
        ),
        Class::AuthFailed => (
            format!("authentication to the database {database} failed: {reason}"),
            "check the user and password in the URL (or the file named by MIGRATION_GATE_DATABASE_URL_FILE)"
                .to_string(),
        ),
        Class::Drift => unknown_revision_failure(alembic, f, head),
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

/// How to get alembic running: uv itself, the policy's program, or the
/// service's environment.
fn tool_missing_fix(alembic: &Alembic<'_>, f: &process::Finished) -> String {
    let program = alembic.argv.first().map(String::as_str).unwrap_or("");
    if f.outcome.kind() == "not_started" && program == "uv" {
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
    }
}

/// The database is at a revision this code does not know: message and fix.
fn unknown_revision_failure(
    alembic: &Alembic<'_>,
    f: &process::Finished,
    head: Option<&str>,
) -> (String, String) {
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    fn alembic_for_tests(argv: &[String]) -> Alembic<'_> {
        static NO_ENV: std::sync::OnceLock<std::collections::BTreeMap<String, String>> =
            std::sync::OnceLock::new();
        Alembic {
            argv,
            env: NO_ENV.get_or_init(Default::default),
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
}
