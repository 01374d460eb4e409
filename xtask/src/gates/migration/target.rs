//! Which database the gate checks and where its URL came from: the
//! environment (a `_FILE` wins), release-gate's variables, or the policy.

use std::path::{Path, PathBuf};

use super::USAGE_LINE;
use crate::plumbing::env;
use crate::plumbing::exit;
use crate::plumbing::policy::Migration;
use crate::plumbing::redact::{self, redact};

/// The target URL and where it came from: `MIGRATION_GATE_DATABASE_URL_FILE`
/// (wins) or `MIGRATION_GATE_DATABASE_URL`, then release-gate's
/// `RELEASE_GATE_DATABASE_URL_FILE` / `RELEASE_GATE_DATABASE_URL`, then the
/// policy's default. Two different values in the first pair are refused:
/// which one the gate checks must never be a surprise.
pub(super) fn resolve_url(m: &Migration) -> anyhow::Result<(String, String)> {
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
pub(super) fn validate_url(url: &str) -> anyhow::Result<()> {
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
pub(super) struct Target {
    pub(super) url: String,
    pub(super) sqlite: Option<SqliteFile>,
}

#[derive(Debug, PartialEq)]
pub(super) struct SqliteFile {
    /// `None` for an in-memory database.
    pub(super) path: Option<PathBuf>,
    pub(super) exists: bool,
}

impl Target {
    /// Resolves a relative SQLite path against the repository root (alembic
    /// runs in the migration directory, where it would mean something else).
    pub(super) fn of(url: &str, root: &Path) -> Target {
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

#[cfg(test)]
mod tests {
    use super::*;

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
