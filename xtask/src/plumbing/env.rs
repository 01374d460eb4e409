//! Values the runbook passes through the environment: switches and secrets.
//!
//! The runbook's switches (`RELEASE_GATE_INCLUDE_EVAL=true`,
//! `SKIP_BRANCH_GUARD=1`, …) accept only their documented values; anything
//! else is a usage error, never a silent default. Secrets come from
//! `<NAME>_FILE` (which wins) or `<NAME>`, never from argv, and are registered
//! for redaction the moment they are read.

use serde::Serialize;

use std::path::Path;

use crate::plumbing::{exit, fs, redact};

/// The largest `<NAME>_FILE` read (README, "Environment variables").
pub const SECRET_FILE_MAX: u64 = 64 * 1024;

/// Database URLs the tool reads: each must be a URL (`scheme://…`); the
/// DSN keyword form is refused before anything runs.
pub const DATABASE_URL_VARS: [&str; 2] =
    ["RELEASE_GATE_DATABASE_URL", "MIGRATION_GATE_DATABASE_URL"];

/// Every secret variable the tool documents, with whether its value is a
/// URL (then its password and secret-named query values are the secret,
/// and the rest stays readable) or secret whole.
const DOCUMENTED_SECRETS: [(&str, bool); 5] = [
    ("RELEASE_GATE_DATABASE_URL", true),
    ("MIGRATION_GATE_DATABASE_URL", true),
    // What the migration gate hands alembic; a user's shell may hold one too.
    ("DATABASE_URL", true),
    ("GH_TOKEN", false),
    ("GITHUB_TOKEN", false),
];

/// A switch and the values it documents. `on` turns the non-default
/// behaviour on, `off` is the default spelled out. Unset or empty means `off`.
#[derive(Clone, Copy, Debug)]
pub struct Switch {
    pub name: &'static str,
    pub on: &'static str,
    pub off: &'static str,
}

/// `RELEASE_GATE_INCLUDE_EVAL=true`: release-gate also runs audit-eval.
pub const RELEASE_GATE_INCLUDE_EVAL: Switch = Switch {
    name: "RELEASE_GATE_INCLUDE_EVAL",
    on: "true",
    off: "false",
};
/// `MIGRATION_GATE_VALIDATE_AUTOGEN=false`: the emergency bypass of `alembic check`.
pub const MIGRATION_GATE_SKIP_AUTOGEN: Switch = Switch {
    name: "MIGRATION_GATE_VALIDATE_AUTOGEN",
    on: "false",
    off: "true",
};
/// `SKIP_BRANCH_GUARD=1`: branch-guard passes without checking.
pub const SKIP_BRANCH_GUARD: Switch = Switch {
    name: "SKIP_BRANCH_GUARD",
    on: "1",
    off: "0",
};
/// `SKIP_TASK_SEQUENCE_GUARD=1`: task-preflight passes without checking.
pub const SKIP_TASK_SEQUENCE_GUARD: Switch = Switch {
    name: "SKIP_TASK_SEQUENCE_GUARD",
    on: "1",
    off: "0",
};
/// `MERGE=1` (`make task-finish TASK=117 MERGE=1`): task-finish merges, as `--merge`.
pub const MERGE: Switch = Switch {
    name: "MERGE",
    on: "1",
    off: "0",
};
/// `ALLOW_OPEN_TASK_PRS=1`: task-preflight does not look for open task PRs.
pub const ALLOW_OPEN_TASK_PRS: Switch = Switch {
    name: "ALLOW_OPEN_TASK_PRS",
    on: "1",
    off: "0",
};

impl Switch {
    /// Reads the switch from the process environment.
    pub fn read(self) -> anyhow::Result<bool> {
        self.parse(std::env::var(self.name).ok().as_deref())
    }

    /// Parses a value of the switch: `on`, `off`, unset or empty; anything
    /// else is a usage error naming the accepted values.
    pub fn parse(self, value: Option<&str>) -> anyhow::Result<bool> {
        match value {
            None | Some("") => Ok(false),
            Some(v) if v == self.on => Ok(true),
            Some(v) if v == self.off => Ok(false),
            Some(v) => Err(exit::usage(format!(
                "{}={:?} is not a value it accepts: use {}={} or {}={} (or leave it unset)",
                self.name, v, self.name, self.on, self.name, self.off
            ))),
        }
    }
}

/// A bypass that was used, as printed and recorded in reports.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Bypass {
    pub variable: String,
    pub value: String,
    pub effect: String,
}

impl Bypass {
    pub fn new(switch: Switch, effect: &str) -> Bypass {
        Bypass {
            variable: switch.name.to_string(),
            value: switch.on.to_string(),
            effect: effect.to_string(),
        }
    }

    /// Prints the bypass as a warning on stderr (and as a workflow warning
    /// under GitHub Actions).
    pub fn warn(&self) {
        crate::plumbing::output::warning(&format!(
            "bypass {}={}: {}",
            self.variable, self.value, self.effect
        ));
    }
}

/// A secret from `<name>_FILE` (the file wins) or `<name>`; `None` when
/// neither is set or both are empty. A `<name>_FILE` naming an empty file is
/// an error (a secret mount that failed), never a fall-back to something
/// else; so is one that is not a regular file of at most [`SECRET_FILE_MAX`]
/// bytes (a FIFO, a device, a directory). A database URL variable
/// ([`DATABASE_URL_VARS`]) must hold a URL. The value is registered for
/// redaction.
pub fn secret(name: &str) -> anyhow::Result<Option<String>> {
    let file_var = format!("{name}_FILE");
    let (value, source) = match std::env::var_os(&file_var).filter(|v| !v.is_empty()) {
        Some(path) => {
            let text = read_secret_file(&file_var, Path::new(&path))?;
            if text.trim().is_empty() {
                return Err(exit::usage(format!(
                    "{file_var} names {}, which is empty: write the value into it, or unset {file_var}",
                    path.to_string_lossy()
                )));
            }
            let value = text.trim_end_matches(['\n', '\r']).to_string();
            (Some(value), file_var)
        }
        None => (std::env::var(name).ok(), name.to_string()),
    };
    let value = value.filter(|v| !v.trim().is_empty());
    if let Some(v) = &value {
        redact::register(v);
        if DATABASE_URL_VARS.contains(&name) {
            require_url(&source, v)?;
        }
    }
    Ok(value)
}

/// The content of the secret file `path` named by `file_var`, read only
/// when it is a regular file of at most [`SECRET_FILE_MAX`] bytes.
fn read_secret_file(file_var: &str, path: &Path) -> anyhow::Result<String> {
    match std::fs::metadata(path) {
        Err(e) => Err(exit::usage(format!(
            "{file_var} names {}, which cannot be read: {e}",
            path.display()
        ))),
        Ok(_) => fs::read_bounded(path, SECRET_FILE_MAX, file_var),
    }
}

/// Refuses (exit 2) a value that must be a URL and is not: `scheme://…`
/// with a scheme of letters, digits, `+`, `-`, `.`, and no whitespace or
/// control character. The value is never shown: it may be a password.
pub fn require_url(source: &str, value: &str) -> anyhow::Result<()> {
    let value = value.trim();
    let scheme_ok = value.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if scheme_ok && !value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Ok(());
    }
    let form = if value.contains('=') && !value.contains("://") {
        " (it looks like the keyword form `host=… dbname=…`, which is not accepted)"
    } else {
        ""
    };
    Err(exit::usage(format!(
        "{source} is not a URL{form}: a database URL is required, such as postgresql+psycopg://app@db:5432/app, the password after the user name and a colon (the value is not shown: it may hold a password)"
    )))
}

/// Registers for redaction, at start-up, every secret of the environment:
/// the documented ones ([`DOCUMENTED_SECRETS`]) and the names the policy
/// declares (`secret-env`), each from `<NAME>` and from `<NAME>_FILE`.
/// A `<NAME>_FILE` that exists but is not a regular file of at most
/// [`SECRET_FILE_MAX`] bytes is refused at once (exit 2, naming the
/// variable and what the file is); one that does not exist is left to the
/// command that reads it.
pub fn register_known_secrets(declared: &[String]) -> anyhow::Result<()> {
    let declared = declared.iter().map(|n| (n.as_str(), false));
    for (name, is_url) in DOCUMENTED_SECRETS.into_iter().chain(declared) {
        let file_var = format!("{name}_FILE");
        let from_file = match std::env::var_os(&file_var).filter(|v| !v.is_empty()) {
            Some(path) if std::fs::symlink_metadata(&path).is_ok() => Some(fs::read_bounded(
                Path::new(&path),
                SECRET_FILE_MAX,
                &file_var,
            )?),
            _ => None,
        };
        for value in [std::env::var(name).ok(), from_file].into_iter().flatten() {
            let value = value.trim_end_matches(['\n', '\r']);
            if value.trim().is_empty() {
                continue;
            }
            if is_url {
                redact::register(value);
            } else {
                redact::register_whole(value);
            }
        }
    }
    Ok(())
}

/// A plain environment variable, empty treated as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// How the user ran the xtask, so that hints name the command they type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `cargo xtask …` (or the repository's own built binary, which the
    /// hooks run in its place).
    Cargo,
    /// `make <target> VAR=…` (the shim forwards to `cargo xtask`).
    Make,
    /// An installed binary, by the name it was run as.
    Binary(String),
}

/// The invocation of this process: `MAKELEVEL` in the environment means
/// make; cargo's runtime variables (`CARGO`, `CARGO_MANIFEST_DIR`) or a
/// binary that cargo built, run from its `debug` or `release` directory,
/// mean cargo; anything else is an installed binary. Found once per
/// process.
pub fn invocation() -> &'static Invocation {
    static HOW: std::sync::OnceLock<Invocation> = std::sync::OnceLock::new();
    HOW.get_or_init(find_invocation)
}

fn find_invocation() -> Invocation {
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A target directory of another name (CARGO_TARGET_DIR) is known by
    // cargo's own bookkeeping beside the binary; asked only for a path.
    let beside_fingerprints = argv0.contains('/')
        && std::path::Path::new(&argv0)
            .parent()
            .is_some_and(|dir| dir.join(".fingerprint").is_dir());
    detect(
        var("MAKELEVEL").is_some(),
        var("CARGO").is_some() || var("CARGO_MANIFEST_DIR").is_some(),
        &argv0,
        beside_fingerprints,
    )
}

/// [`invocation`] from its facts (pure). `beside_fingerprints`: the
/// binary's directory holds cargo's `.fingerprint` directory.
pub fn detect(make: bool, cargo: bool, argv0: &str, beside_fingerprints: bool) -> Invocation {
    let path = std::path::Path::new(argv0);
    let built = path
        .parent()
        .and_then(|d| Some((d.file_name()?.to_str()?, d.parent()?.file_name()?.to_str()?)))
        .is_some_and(|(profile, target)| {
            (target == "target" || beside_fingerprints)
                && (profile == "debug" || profile == "release")
        });
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty());
    if make {
        Invocation::Make
    } else if cargo || built || name.is_none() {
        Invocation::Cargo
    } else {
        Invocation::Binary(name.unwrap_or_default())
    }
}

impl Invocation {
    /// The command for `args` (`"task-start 117 short-name"`) as the user
    /// runs the xtask; under make, `make_form` (`"task-start TASK=117
    /// NAME=short-name"`) when make has one, else the `cargo xtask` form.
    pub fn command(&self, args: &str, make_form: Option<&str>) -> String {
        match (self, make_form) {
            (Invocation::Make, Some(form)) => format!("make {form}"),
            (Invocation::Binary(name), _) => format!("{name} {args}"),
            _ => format!("cargo xtask {args}"),
        }
    }
}

/// `text` (something the tool says to a person) with every `cargo xtask
/// CMD` hint in the form the user ran: an installed binary's name for
/// `cargo xtask`; under make, `make CMD` where the hint has no arguments
/// (every command is a make target of the same name, and make passes
/// arguments only as variables), otherwise the `cargo xtask` form, which the
/// make shim runs too. Hints that name a make form themselves are built
/// with [`Invocation::command`]. An occurrence right after a `"` is a
/// quotation (a line of a doc, a command line as written) and stays as it
/// is.
pub fn localize(text: &str) -> std::borrow::Cow<'_, str> {
    invocation().localize(text)
}

/// Words that follow a command in prose, not as its arguments.
const PROSE_AFTER_COMMAND: [&str; 18] = [
    "once", "again", "first", "later", "on", "and", "or", "then", "to", "with", "for", "from",
    "in", "before", "after", "while", "yourself", "itself",
];

impl Invocation {
    /// [`localize`] for this invocation (pure).
    pub fn localize<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        const HINT: &str = "cargo xtask";
        if *self == Invocation::Cargo || !text.contains(HINT) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(HINT) {
            out.push_str(&rest[..at]);
            let after = &rest[at + HINT.len()..];
            if rest[..at].ends_with('"') {
                out.push_str(HINT);
                rest = after;
                continue;
            }
            match self {
                Invocation::Binary(name) => out.push_str(name),
                _ => match bare_command(after) {
                    Some(cmd) => {
                        out.push_str("make ");
                        out.push_str(cmd);
                        rest = &after[1 + cmd.len()..];
                        continue;
                    }
                    None => out.push_str(HINT),
                },
            }
            rest = after;
        }
        out.push_str(rest);
        std::borrow::Cow::Owned(out)
    }
}

/// The command of a hint's tail (` task-finish once …`) when no argument
/// follows it.
fn bare_command(after: &str) -> Option<&str> {
    let tail = after.strip_prefix(' ')?;
    let len = tail
        .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
        .unwrap_or(tail.len());
    let cmd = &tail[..len];
    if cmd.is_empty() || cmd.starts_with('-') || cmd.ends_with('-') {
        return None;
    }
    let next = &tail[len..];
    let bare = match next.chars().next() {
        None => true,
        Some(' ') => {
            let word = next[1..]
                .split([' ', ',', '.', ';', ':'])
                .next()
                .unwrap_or("");
            PROSE_AFTER_COMMAND.contains(&word)
        }
        Some('.') => next[1..].chars().next().is_none_or(char::is_whitespace),
        Some(c) => "`'\")\n,;:".contains(c),
    };
    bare.then_some(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_accept_only_their_documented_values() {
        let s = RELEASE_GATE_INCLUDE_EVAL;
        assert!(s.parse(Some("true")).unwrap());
        assert!(!s.parse(Some("false")).unwrap());
        assert!(!s.parse(None).unwrap());
        assert!(!s.parse(Some("")).unwrap());
        for bad in ["TRUE", "yes", "1", "ture", " true"] {
            let err = s.parse(Some(bad)).unwrap_err();
            assert_eq!(exit::code_of(&err), exit::USAGE, "{bad}");
            assert!(
                err.to_string().contains("RELEASE_GATE_INCLUDE_EVAL=true"),
                "{err}"
            );
        }
        let skip = SKIP_BRANCH_GUARD;
        assert!(skip.parse(Some("1")).unwrap());
        assert!(!skip.parse(Some("0")).unwrap());
        assert!(skip.parse(Some("true")).is_err());
        let autogen = MIGRATION_GATE_SKIP_AUTOGEN;
        assert!(autogen.parse(Some("false")).unwrap());
        assert!(!autogen.parse(Some("true")).unwrap());
        assert!(autogen.parse(Some("0")).is_err());
    }

    #[test]
    fn the_invocation_is_what_the_user_typed() {
        assert_eq!(
            detect(true, true, "/r/target/debug/xtask", false),
            Invocation::Make
        );
        assert_eq!(detect(false, true, "xtask", false), Invocation::Cargo);
        assert_eq!(
            detect(false, false, "/r/target/debug/xtask", false),
            Invocation::Cargo
        );
        assert_eq!(
            detect(false, false, "target/release/xtask", false),
            Invocation::Cargo
        );
        // CARGO_TARGET_DIR of another name: cargo's layout tells.
        assert_eq!(
            detect(false, false, "/cache/tgt/debug/xtask", true),
            Invocation::Cargo
        );
        assert_eq!(
            detect(false, false, "/cache/tgt/debug/xtask", false),
            Invocation::Binary("xtask".into())
        );
        assert_eq!(
            detect(false, false, "/usr/local/bin/xtask", false),
            Invocation::Binary("xtask".into())
        );
        assert_eq!(detect(false, false, "", false), Invocation::Cargo);
        let start = ("task-start 117 x", Some("task-start TASK=117 NAME=x"));
        assert_eq!(
            Invocation::Make.command(start.0, start.1),
            "make task-start TASK=117 NAME=x"
        );
        assert_eq!(
            Invocation::Make.command("hooks --check", None),
            "cargo xtask hooks --check"
        );
        assert_eq!(
            Invocation::Cargo.command(start.0, start.1),
            "cargo xtask task-start 117 x"
        );
        assert_eq!(
            Invocation::Binary("xtask".into()).command(start.0, start.1),
            "xtask task-start 117 x"
        );
    }

    #[test]
    fn hints_are_localized_to_the_invocation() {
        let text = "fix: cargo xtask hooks; then rerun cargo xtask task-finish once merged, or `cargo xtask deploy staging --tag v1.0.0`. See cargo xtask gate-status.";
        assert_eq!(Invocation::Cargo.localize(text), text);
        assert_eq!(
            Invocation::Binary("xt".into()).localize(text),
            "fix: xt hooks; then rerun xt task-finish once merged, or `xt deploy staging --tag v1.0.0`. See xt gate-status."
        );
        assert_eq!(
            Invocation::Make.localize(text),
            "fix: make hooks; then rerun make task-finish once merged, or `cargo xtask deploy staging --tag v1.0.0`. See make gate-status."
        );
        // A quotation of a doc's line stays as written.
        let quoted = "docs/x.md:3: \"cargo xtask nope\": this xtask has no command \"nope\"";
        assert_eq!(Invocation::Binary("xt".into()).localize(quoted), quoted);
        assert_eq!(Invocation::Make.localize(quoted), quoted);
        let args = "run cargo xtask release-gate --isolated, cargo xtask check --step x, cargo xtask task-start 117 x, cargo xtask";
        assert_eq!(Invocation::Make.localize(args), args);
        assert_eq!(
            Invocation::Make.localize("(cargo xtask release-gate)\ncargo xtask release-gate on it"),
            "(make release-gate)\nmake release-gate on it"
        );
    }

    #[test]
    fn database_urls_must_be_urls_and_the_refusal_shows_no_value() {
        for good in [
            "postgresql+psycopg://app:pw@db:5432/app",
            "sqlite:///target/gate.db",
            "mysql://u:a/b#c?d@h/db",
        ] {
            assert!(require_url("X", good).is_ok(), "{good}");
        }
        for bad in [
            "host=db password=hunter2 dbname=app",
            "db:5432/app",
            "postgresql://app:pw@db/app extra",
            "1pg://h/db",
            "",
        ] {
            let err = require_url("X_DATABASE_URL", bad).unwrap_err();
            assert_eq!(exit::code_of(&err), exit::USAGE, "{bad}");
            let message = err.to_string();
            assert!(
                message.starts_with("X_DATABASE_URL is not a URL"),
                "{message}"
            );
            assert!(!message.contains("hunter2"), "{message}");
        }
        let dsn = require_url("X", "host=db password=p")
            .unwrap_err()
            .to_string();
        assert!(dsn.contains("keyword form"), "{dsn}");
    }
}
