//! Reading alembic's output: revision lines, the kind of failure, the one
//! line that says why. Pure, with unit tests on real alembic and driver text.

use super::Class;
use crate::plumbing::process::Outcome;

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
        "InvalidPasswordError",
        "InvalidAuthorizationSpecificationError",
    ]) || (text.contains("role \"") && text.contains("does not exist"))
    {
        Class::AuthFailed
    } else if has(&["InvalidCatalogNameError"])
        || (text.contains("database \"") && text.contains("does not exist"))
    {
        Class::MissingDatabase
    } else if has(&[
        "could not translate host name",
        "failed to resolve host",
        "Name or service not known",
        "Temporary failure in name resolution",
        "No address associated with hostname",
        "nodename nor servname provided",
        "gaierror",
    ]) {
        Class::UnknownHost
    } else if has(&[
        "Connection refused",
        "Connect call failed",
        "could not connect",
        "connection failed",
        "No route to host",
        "Network is unreachable",
        "timeout expired",
        "server closed the connection",
        "unable to open database file",
    ]) {
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
        return with_continuation(&lines, i);
    }
    for l in stdout.lines().chain(stderr.lines()) {
        if let Some(msg) = l.strip_prefix("FAILED: ") {
            return msg.trim().to_string();
        }
    }
    if let Some(i) = lines.iter().position(|l| l.starts_with("error:")) {
        return with_continuation(&lines, i);
    }
    tail(stderr, 1)
        .pop()
        .or_else(|| tail(stdout, 1).pop())
        .unwrap_or_default()
}

/// Line `i`, joined with the indented lines that continue it (hints).
fn with_continuation(lines: &[&str], i: usize) -> String {
    let mut text = lines[i].trim().to_string();
    for more in lines[i + 1..]
        .iter()
        .take_while(|l| l.starts_with([' ', '\t']))
    {
        text.push(' ');
        text.push_str(more.trim());
    }
    text
}

/// The revision in `Can't locate revision identified by '0099'`.
pub(super) fn unknown_revision(stdout: &str, stderr: &str) -> Option<String> {
    let text = format!("{stdout}\n{stderr}");
    let start = text.find("Can't locate revision identified by '")?
        + "Can't locate revision identified by '".len();
    let end = text[start..].find('\'')?;
    Some(text[start..start + end].to_string())
}

/// What `alembic check` would have to do: its `Detected …` log lines (what
/// people read), else the operations list of its failure message.
pub(super) fn pending_operations(stderr: &str, stdout: &str) -> Vec<String> {
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

pub(super) fn tail(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.trim_end().to_string())
        .collect()
}

pub(super) fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    fn connection_failures_are_told_apart() {
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
            Class::MissingDatabase,
            "nodb",
        );
        check_class(
            Outcome::Exited(1),
            "",
            "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) unable to open database file\n",
            Class::Unreachable,
            "unable to open",
        );
    }

    /// psycopg (3) and libpq's words, and asyncpg's (through SQLAlchemy's
    /// asyncio engine), for the four ways a connection fails.
    #[test]
    fn database_error_classes_for_psycopg_and_asyncpg() {
        let unknown_host = "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) [Errno -2] failed to resolve host 'nohost.invalid': Name or service not known\n";
        check_class(
            Outcome::Exited(1),
            "",
            unknown_host,
            Class::UnknownHost,
            "nohost.invalid",
        );
        let libpq = "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not translate host name \"nohost.invalid\" to address: Name or service not known\n";
        check_class(
            Outcome::Exited(1),
            "",
            libpq,
            Class::UnknownHost,
            "could not translate host name",
        );
        let asyncpg = |exc: &str| {
            format!("Traceback (most recent call last):\n  File \"env.py\", line 9\n{exc}\n")
        };
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg("ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', 1)"),
            Class::Unreachable,
            "Connect call failed",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg("OSError: Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 1), [Errno 99] Cannot assign requested address"),
            Class::Unreachable,
            "Connect call failed",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg("socket.gaierror: [Errno -2] Name or service not known"),
            Class::UnknownHost,
            "Name or service not known",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg(
                "asyncpg.exceptions.InvalidCatalogNameError: database \"nodb\" does not exist",
            ),
            Class::MissingDatabase,
            "nodb",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg("asyncpg.exceptions.InvalidPasswordError: password authentication failed for user \"app\""),
            Class::AuthFailed,
            "password authentication failed",
        );
        check_class(
            Outcome::Exited(1),
            "",
            &asyncpg("asyncpg.exceptions.InvalidAuthorizationSpecificationError: role \"nobody\" does not exist"),
            Class::AuthFailed,
            "nobody",
        );
    }

    #[test]
    fn alembic_failures_are_told_apart() {
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
    }

    #[test]
    fn tool_and_process_failures_are_told_apart() {
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
}
