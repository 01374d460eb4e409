//! `env-parity`: the runbook's staging/prod rules, checked on the two
//! environments' env files. Must match: auth posture, secret handling
//! (`<NAME>_FILE`, never `<NAME>`), the strict migration gate. Must differ:
//! database, Redis, data, hostnames/TLS, compose project.
//!
//! Reading the files is the only I/O; [`evaluate`] is a pure function from
//! the two files to one result per rule. Secret values are never shown:
//! a secret is described by how it is provided, never by what it is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::plumbing::output::{self, Format};
use crate::plumbing::policy::Parity;
use crate::plumbing::{exit, fs, redact, Ctx};

/// The largest env file env-parity reads (1 MiB): env files are a few
/// hundred lines; anything larger is refused, never cut.
const MAX_ENV_FILE: u64 = 1 << 20;

/// The variable of the runbook's migration bypass; `false` anywhere deployed breaks parity.
const MIGRATION_SWITCH: &str = "MIGRATION_GATE_VALIDATE_AUTOGEN";

#[derive(clap::Args, Debug)]
pub struct Flags {
    /// The first environment [default: the policy's release.staging-environment, `staging`].
    #[arg(value_name = "ENV")]
    pub left: Option<String>,
    /// The second environment [default: the policy's release.production-environment, `prod`].
    #[arg(value_name = "ENV")]
    pub right: Option<String>,
}

pub type Vars = BTreeMap<String, String>;

/// One rule and how the two environments fare on it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RuleResult {
    /// `must-match.auth-posture`, `secret-handling`, `migration-workflow`, `must-differ.redis`, …
    pub rule: String,
    pub ok: bool,
    /// What is wrong (empty when ok).
    pub message: String,
    /// How to fix it (empty when ok).
    pub fix: String,
    /// Every key the rule looks at, with both environments' shown values.
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Row {
    pub key: String,
    pub left: String,
    pub right: String,
}

/// Parses an env file: `KEY=value` lines, `#` comments, blank lines, an
/// optional `export `, optional quotes. The last assignment of a key wins
/// (as with docker compose). Errors are `(line, what)`.
pub fn parse_env(text: &str) -> Result<Vars, (usize, String)> {
    let mut vars = Vars::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err((i + 1, not_an_assignment(line)));
        };
        let key = key.trim();
        if !key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err((
                i + 1,
                "the name before `=` is not a variable name (letters, digits and `_`, not starting with a digit); the line is not shown, it may hold a secret".to_string(),
            ));
        }
        let value = value.trim();
        let value = match value.chars().next() {
            Some(q @ ('"' | '\'')) if value.len() >= 2 && value.ends_with(q) => {
                &value[1..value.len() - 1]
            }
            Some('"' | '\'') => return Err((i + 1, format!("{key}: unterminated quote"))),
            _ => value.split_once(" #").map_or(value, |(v, _)| v).trim_end(),
        };
        vars.insert(key.to_string(), value.to_string());
    }
    Ok(vars)
}

/// What is wrong with a line without `=`: the key it seems to start with,
/// never the rest, which may be a secret (`API_KEY: sk_live_…`).
fn not_an_assignment(line: &str) -> String {
    // Shown only when it looks like a variable name (upper case, as env
    // files write them) followed by more text: a lone word may be the secret.
    let key: String = line
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    let shown = !key.is_empty()
        && key.len() <= 64
        && key.len() < line.len()
        && key.starts_with(|c: char| c.is_ascii_uppercase() || c == '_');
    if shown {
        format!(
            "expected KEY=value for {key}; the rest of the line is not shown, it may hold a secret"
        )
    } else {
        "expected KEY=value; the line is not shown, it may hold a secret".to_string()
    }
}

fn get<'a>(vars: &'a Vars, key: &str) -> Option<&'a str> {
    vars.get(key).map(String::as_str).filter(|v| !v.is_empty())
}

/// How a secret is provided; never its value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Handling {
    File(String),
    Direct,
    Both(String),
    Unset,
}

fn handling(vars: &Vars, key: &str) -> Handling {
    let file = get(vars, &format!("{key}_FILE")).map(str::to_string);
    match (get(vars, key).is_some(), file) {
        (false, Some(path)) => Handling::File(path),
        (true, Some(path)) => Handling::Both(path),
        (true, None) => Handling::Direct,
        (false, None) => Handling::Unset,
    }
}

impl Handling {
    /// What is compared between environments: the kind, not the path.
    fn kind(&self) -> &'static str {
        match self {
            Handling::File(_) => "file",
            Handling::Direct => "direct",
            Handling::Both(_) => "both",
            Handling::Unset => "unset",
        }
    }
    fn shown(&self, key: &str) -> String {
        match self {
            // The path is not shown: a value put there by mistake would be.
            Handling::File(_) => format!("via {key}_FILE (a file)"),
            Handling::Direct => format!("set directly as {key} (value hidden)"),
            Handling::Both(_) => {
                format!("set directly as {key} (value hidden) and via {key}_FILE (a file)")
            }
            Handling::Unset => format!("unset ({key} and {key}_FILE)"),
        }
    }
}

/// A plain value as shown: the value, or `unset`.
fn plain(vars: &Vars, key: &str) -> String {
    get(vars, key).map_or_else(|| "unset".to_string(), str::to_string)
}

/// Every rule of `parity` for the environments `names` with files `left`, `right`.
pub fn evaluate(
    parity: &Parity,
    names: (&str, &str),
    left: &Vars,
    right: &Vars,
) -> Vec<RuleResult> {
    let mut results: Vec<RuleResult> = parity
        .must_match
        .iter()
        .map(|(name, keys)| must_match(parity, names, (name, keys), left, right))
        .collect();
    results.push(secret_handling(parity, names, left, right));
    results.push(migration_workflow(names, left, right));
    results.extend(
        parity
            .must_differ
            .iter()
            .map(|(name, keys)| must_differ(names, (name, keys), left, right)),
    );
    results
}

/// `must-match.<name>`: the keys have the same value (secrets: the same handling).
fn must_match(
    parity: &Parity,
    (ln, rn): (&str, &str),
    (name, keys): (&String, &Vec<String>),
    left: &Vars,
    right: &Vars,
) -> RuleResult {
    let is_secret = |k: &str| parity.secrets.iter().any(|s| s == k);
    let mut rows = Vec::new();
    let mut differing = Vec::new();
    for key in keys {
        let (l, r, same) = if is_secret(key) {
            let (hl, hr) = (handling(left, key), handling(right, key));
            (hl.shown(key), hr.shown(key), hl.kind() == hr.kind())
        } else {
            (
                plain(left, key),
                plain(right, key),
                get(left, key) == get(right, key),
            )
        };
        if !same {
            differing.push(key.clone());
        }
        rows.push(Row {
            key: key.clone(),
            left: l,
            right: r,
        });
    }
    let ok = differing.is_empty();
    RuleResult {
        rule: format!("must-match.{name}"),
        ok,
        message: if ok {
            String::new()
        } else {
            format!("{ln} and {rn} differ on {}", differing.join(", "))
        },
        fix: if ok {
            String::new()
        } else {
            format!("give {} the same value (or handling, for secrets) in both env files; the keys are release.parity.must-match.{name}", differing.join(", "))
        },
        rows,
    }
}

/// `secret-handling`: every secret provided as <NAME>_FILE, never as <NAME>, in both.
fn secret_handling(
    parity: &Parity,
    (ln, rn): (&str, &str),
    left: &Vars,
    right: &Vars,
) -> RuleResult {
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for key in &parity.secrets {
        let (hl, hr) = (handling(left, key), handling(right, key));
        for (env, h) in [(ln, &hl), (rn, &hr)] {
            match h {
                Handling::File(_) => {}
                Handling::Direct | Handling::Both(_) => {
                    bad.push(format!("{env}: {key} is set directly"))
                }
                Handling::Unset => bad.push(format!("{env}: {key} is not provided")),
            }
        }
        rows.push(Row {
            key: key.clone(),
            left: hl.shown(key),
            right: hr.shown(key),
        });
    }
    let ok = bad.is_empty();
    RuleResult {
        rule: "secret-handling".into(),
        ok,
        message: if ok {
            String::new()
        } else {
            format!(
                "secrets must be provided as <NAME>_FILE only: {}",
                bad.join("; ")
            )
        },
        fix: if ok {
            String::new()
        } else {
            "replace each `<NAME>=…` by `<NAME>_FILE=/run/secrets/<name>` (the file holds the value); the list is release.parity.secrets".into()
        },
        rows,
    }
}

/// `migration-workflow`: the strict gate in both (MIGRATION_GATE_VALIDATE_AUTOGEN not false).
fn migration_workflow((ln, rn): (&str, &str), left: &Vars, right: &Vars) -> RuleResult {
    let strict = |v: Option<&str>| matches!(v, None | Some("true"));
    let (l, r) = (get(left, MIGRATION_SWITCH), get(right, MIGRATION_SWITCH));
    let ok = strict(l) && strict(r);
    let lax: Vec<&str> = [(ln, l), (rn, r)]
        .iter()
        .filter(|(_, v)| !strict(*v))
        .map(|(n, _)| *n)
        .collect();
    RuleResult {
        rule: "migration-workflow".into(),
        ok,
        message: if ok {
            String::new()
        } else {
            format!("db-migration-gate must be strict in both environments; {MIGRATION_SWITCH} weakens it in {}", lax.join(" and "))
        },
        fix: if ok {
            String::new()
        } else {
            format!("remove {MIGRATION_SWITCH} from the env file (or set it to true); the bypass belongs to one release-gate run, documented in the release notes")
        },
        rows: vec![Row {
            key: MIGRATION_SWITCH.into(),
            left: plain(left, MIGRATION_SWITCH),
            right: plain(right, MIGRATION_SWITCH),
        }],
    }
}

/// `must-differ.<name>`: at least one of the keys differs (the environments are isolated).
fn must_differ(
    (ln, rn): (&str, &str),
    (name, keys): (&String, &Vec<String>),
    left: &Vars,
    right: &Vars,
) -> RuleResult {
    let rows: Vec<Row> = keys
        .iter()
        .map(|k| Row {
            key: k.clone(),
            left: plain(left, k),
            right: plain(right, k),
        })
        .collect();
    let same = keys.iter().all(|k| get(left, k) == get(right, k));
    let all_unset = keys
        .iter()
        .all(|k| get(left, k).is_none() && get(right, k).is_none());
    let message = if !same {
        String::new()
    } else if all_unset {
        format!("{} unset in both {ln} and {rn}: both would use the same default, so nothing proves they are isolated", keys.join(", "))
    } else {
        format!(
            "{ln} and {rn} share the same {}: they must be isolated",
            keys.join(", ")
        )
    };
    RuleResult {
        rule: format!("must-differ.{name}"),
        ok: !same,
        message,
        fix: if same {
            format!("give {rn} its own {} (at least one of them must differ); the keys are release.parity.must-differ.{name}", keys.join(" / "))
        } else {
            String::new()
        },
        rows,
    }
}

/// An environment's env file, read and parsed; secrets registered for redaction.
fn load(ctx: &Ctx, name: &str, secrets: &[String]) -> anyhow::Result<(PathBuf, Vars)> {
    let release = &ctx.policy.policy.release;
    let Some(rel) = release.env_files.get(name) else {
        let known: Vec<&str> = release.env_files.keys().map(String::as_str).collect();
        return Err(if known.is_empty() {
            ctx.policy.missing("release.env-files")
        } else {
            exit::usage(format!(
                "no env file for environment {name:?}: the policy's [release.env-files] has {}; add `{name} = \"<path>\"` there",
                known.join(", ")
            ))
        });
    };
    let path = if Path::new(rel).is_absolute() {
        PathBuf::from(rel)
    } else {
        ctx.root.join(rel)
    };
    let text = fs::read_bounded(
        &path,
        MAX_ENV_FILE,
        &format!("the env file of {name} (release.env-files.{name})"),
    )?;
    let vars = parse_env(&text)
        .map_err(|(line, what)| exit::usage(format!("{}:{line}: {what}", path.display())))?;
    for key in secrets {
        if let Some(v) = get(&vars, key) {
            redact::register(v);
        }
    }
    Ok((path, vars))
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let release = &ctx.policy.policy.release;
    let left = flags
        .left
        .clone()
        .unwrap_or_else(|| release.staging_environment.clone());
    let right = flags
        .right
        .clone()
        .unwrap_or_else(|| release.production_environment.clone());
    for name in [&left, &right] {
        if !crate::plumbing::policy::environment_name_ok(name) {
            return Err(exit::usage(format!(
                "{name:?} is not an environment name (lower-case letters, digits, '-')"
            )));
        }
    }
    if left == right {
        return Err(exit::usage(format!("env-parity compares two environments; both are {left:?}: e.g. cargo xtask env-parity staging prod")));
    }
    let secrets = &release.parity.secrets;
    let (lpath, lvars) = load(ctx, &left, secrets)?;
    let (rpath, rvars) = load(ctx, &right, secrets)?;
    let results = evaluate(&release.parity, (&left, &right), &lvars, &rvars);
    let failed = results.iter().filter(|r| !r.ok).count();
    match ctx.format {
        Format::Json => output::json(&json!({
            "command": "env-parity",
            "status": if failed == 0 { "passed" } else { "failed" },
            "environments": [
                { "name": left, "file": lpath.display().to_string() },
                { "name": right, "file": rpath.display().to_string() },
            ],
            "findings": failed,
            "rules": results,
        })),
        Format::Human => render_human((&left, &lpath), (&right, &rpath), &results),
    }
    if failed == 0 {
        if ctx.format == Format::Human {
            output::say(&output::green(&format!(
                "env-parity passed: {} rules, {left} and {right} agree",
                results.len()
            )));
        }
        Ok(())
    } else {
        if ctx.format == Format::Human {
            output::error(&format!(
                "env-parity: {failed} of {} rules violated between {left} and {right}",
                results.len()
            ));
        }
        Err(exit::silent(exit::FAILED))
    }
}

/// The human report: each rule, and for a violated one its rows and fix.
fn render_human(
    (left, lpath): (&str, &Path),
    (right, rpath): (&str, &Path),
    results: &[RuleResult],
) {
    output::say(&format!(
        "env-parity {left} ({}) vs {right} ({})",
        lpath.display(),
        rpath.display()
    ));
    for r in results {
        if r.ok {
            output::say(&format!("  {}  {}", output::green("ok  "), r.rule));
            continue;
        }
        output::say(&format!(
            "  {}  {}: {}",
            output::red("FAIL"),
            r.rule,
            r.message
        ));
        let width = r.rows.iter().map(|row| row.key.len()).max().unwrap_or(0);
        for row in &r.rows {
            output::say(&format!(
                "          {:<width$}  {left}: {}  |  {right}: {}",
                row.key, row.left, row.right
            ));
        }
        output::say(&format!("        fix: {}", r.fix));
        output::annotate(
            "error",
            None,
            None,
            &format!("env-parity {}: {}", r.rule, r.message),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> Vars {
        parse_env(text).unwrap()
    }

    const GOOD_STAGING: &str = "API_AUTH_ENABLED=true\nAPI_KEY_FILE=/run/secrets/api_key\nAPI_ADMIN_KEY_FILE=/run/secrets/admin\nAPI_RATE_LIMIT_PER_MINUTE=60\nDATABASE_URL_FILE=/run/secrets/db\nDATABASE_HOST=db-staging\nDATABASE_NAME=app_staging\nREDIS_URL=redis://redis-staging:6379/0\nDATA_DIR=/srv/staging\nPUBLIC_HOSTNAME=staging.example.com\nTLS_ENDPOINT=https://staging.example.com\nCOMPOSE_PROJECT_NAME=app-staging\n";

    fn good_prod() -> String {
        GOOD_STAGING.replace("staging", "prod")
    }

    /// The names of the violated rules for two env files under the default rules.
    fn check(left: &str, right: &str, expected: &[&str]) {
        let results = evaluate(
            &Parity::default(),
            ("staging", "prod"),
            &vars(left),
            &vars(right),
        );
        let failed: Vec<&str> = results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.rule.as_str())
            .collect();
        assert_eq!(failed, expected, "{results:#?}");
    }

    #[test]
    fn env_files_parse_like_compose() {
        let v = vars("# c\n\nexport A=1\nB = \"two words\"\nC='x#y'\nD=v # comment\nE=\nA=3\n");
        assert_eq!(v["A"], "3");
        assert_eq!(v["B"], "two words");
        assert_eq!(v["C"], "x#y");
        assert_eq!(v["D"], "v");
        assert_eq!(v["E"], "");
        assert_eq!(parse_env("A=1\nnot a line\n").unwrap_err().0, 2);
        assert_eq!(parse_env("1A=x\n").unwrap_err().0, 1);
        assert_eq!(parse_env("A=\"open\n").unwrap_err().0, 1);
    }

    #[test]
    fn a_malformed_line_names_its_key_never_its_value() {
        let canary = "sk_live_CANARY123";
        for (text, key) in [
            (format!("A=1\nAPI_KEY: {canary}\n"), Some("API_KEY")),
            (format!("A=1\n{canary}\n"), None),
            (format!("A=1\nAPI_KEY {canary}\n"), Some("API_KEY")),
            (format!("A=1\n{canary}-x=y\n"), None),
        ] {
            let (line, what) = parse_env(&text).unwrap_err();
            assert_eq!(line, 2, "{what}");
            assert!(!what.contains("CANARY"), "{what}");
            match key {
                Some(key) => assert!(what.contains(&format!("for {key};")), "{what}"),
                None => assert!(what.contains("the line is not shown"), "{what}"),
            }
        }
    }

    #[test]
    fn isolated_environments_with_the_same_posture_pass() {
        check(GOOD_STAGING, &good_prod(), &[]);
    }

    #[test]
    fn each_rule_is_one_finding() {
        let prod = good_prod().replace(
            "API_RATE_LIMIT_PER_MINUTE=60",
            "API_RATE_LIMIT_PER_MINUTE=600",
        );
        check(GOOD_STAGING, &prod, &["must-match.auth-posture"]);
        let prod = good_prod().replace(
            "API_KEY_FILE=/run/secrets/api_key",
            "API_KEY=hunter2-secret",
        );
        check(
            GOOD_STAGING,
            &prod,
            &["must-match.auth-posture", "secret-handling"],
        );
        let prod = good_prod() + "MIGRATION_GATE_VALIDATE_AUTOGEN=false\n";
        check(GOOD_STAGING, &prod, &["migration-workflow"]);
        let prod = good_prod().replace("redis-prod", "redis-staging");
        check(GOOD_STAGING, &prod, &["must-differ.redis"]);
        // One differing key of a multi-key rule is enough isolation.
        let prod = good_prod().replace("DATABASE_HOST=db-prod", "DATABASE_HOST=db-staging");
        check(GOOD_STAGING, &prod, &[]);
        let prod = good_prod().replace("COMPOSE_PROJECT_NAME=app-prod", "");
        check(
            &GOOD_STAGING.replace("COMPOSE_PROJECT_NAME=app-staging", ""),
            &prod,
            &["must-differ.compose-project"],
        );
    }

    #[test]
    fn secrets_are_described_never_shown() {
        let prod = good_prod().replace(
            "API_KEY_FILE=/run/secrets/api_key",
            "API_KEY=hunter2-secret",
        );
        let results = evaluate(
            &Parity::default(),
            ("staging", "prod"),
            &vars(GOOD_STAGING),
            &vars(&prod),
        );
        let text = format!("{results:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("set directly as API_KEY (value hidden)"),
            "{text}"
        );
    }

    #[test]
    fn a_strict_gate_may_be_explicit_or_default() {
        check(
            &(GOOD_STAGING.to_string() + "MIGRATION_GATE_VALIDATE_AUTOGEN=true\n"),
            &good_prod(),
            &[],
        );
        check(
            GOOD_STAGING,
            &(good_prod() + "MIGRATION_GATE_VALIDATE_AUTOGEN=no\n"),
            &["migration-workflow"],
        );
    }
}
