//! The layering of `xtask/src`, kept by a test that reads every `crate::`
//! path (in `use` lines and inline):
//! - nothing imports from `main.rs` (every path starts with a domain folder);
//! - `plumbing/` imports only `plumbing/`;
//! - a command imports its own module, the plumbing, and the named shared
//!   modules of [`SHARED`], never another command's internals;
//! - a shared module imports only the plumbing and other shared modules.
//!
//! A module is `domain::name` (the first two segments of its path); a
//! folder's `mod.rs` belongs to the domain alone.

/// The folders at the top of the tree; everything lives in one of them.
pub const DOMAINS: [&str; 6] = ["plumbing", "gates", "task", "github", "release", "adopt"];

/// Modules that more than one command stands on, each for a stated reason
/// (docs/ARCHITECTURE.md lists them): anything else a command needs from
/// another command moves into one of these first.
pub const SHARED: [(&str, &str); 11] = [
    ("gates", "runner"),    // the step runner: check, test, audit-eval, release-gate
    ("gates", "record"),    // the gate record the release side reads
    ("github", "client"),   // GitHub's REST API
    ("github", "workflow"), // which jobs of a workflow run on pull requests
    ("task", "id"),         // task ids, slugs and branch templates
    ("task", "preflight"),  // the checks task-start and task-finish also run
    ("task", "hooks"),      // the hook scripts the preflight verifies
    ("task", "merged"),     // "is this task branch merged", squash-aware: preflight and finish
    ("release", "version"), // release tags and semver order
    ("release", "ledger"),  // the deployment ledger
    ("release", "notes"),   // notes facts and markdown, release-tag's tag message
];

/// The module (`domain`, `name`) of a source file path relative to `src/`,
/// `None` for `main.rs` and the tidy checks themselves.
pub fn module_of(path: &str) -> Option<(String, String)> {
    let path = path.trim_end_matches(".rs");
    let mut parts = path.split('/');
    let domain = parts.next()?;
    if domain == "main" || domain == "tidy" {
        return None;
    }
    let name = parts.next().unwrap_or("mod");
    Some((domain.to_string(), name.to_string()))
}

/// Every module path a source text names after `crate::`, with groups
/// (`crate::plumbing::{exit, git}`) expanded one level.
pub fn imports(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let rest = &text[i + "crate::".len()..];
        let domain: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = &rest[domain.len()..];
        if let Some(group) = after.strip_prefix("::{") {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push((domain.clone(), name));
                }
            }
        } else if let Some(tail) = after.strip_prefix("::") {
            let name: String = tail
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push((domain, name));
        } else {
            out.push((domain, String::new()));
        }
    }
    out
}

fn shared(domain: &str, name: &str) -> bool {
    SHARED.iter().any(|(d, n)| *d == domain && *n == name)
}

/// The layering violations of one file: `(file, target)` findings, pure.
pub fn violations(path: &str, text: &str) -> Vec<String> {
    let Some((domain, name)) = module_of(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (to_domain, to_name) in imports(text) {
        let target = format!("crate::{to_domain}::{to_name}");
        let why = if !DOMAINS.contains(&to_domain.as_str()) {
            Some("imports from main.rs; what commands share lives in plumbing/")
        } else if domain == "plumbing" && to_domain != "plumbing" {
            Some("plumbing imports a command")
        } else if to_domain == "plumbing" || (to_domain == domain && to_name == name) {
            None
        } else if to_name.is_empty() || to_name == "mod" {
            Some("imports a whole domain; name the module")
        } else if !shared(&to_domain, &to_name) {
            Some("imports another command's internals; move what it needs into a shared module (tidy::layering::SHARED)")
        } else if name == "mod" && to_domain != domain {
            Some("a domain's mod.rs only declares its modules")
        } else {
            None
        };
        if let Some(why) = why {
            out.push(format!("{path}: {target}: {why}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn no_upward_or_sideways_imports() {
    let mut found = Vec::new();
    let mut files = 0;
    for (rel, text) in super::sources() {
        files += 1;
        found.extend(violations(&rel, &text));
    }
    assert!(files > 20, "walked only {files} files under xtask/src");
    assert!(
        found.is_empty(),
        "layering violations:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_rule_catches_each_kind_of_violation() {
    let check = |path: &str, text: &str, expected: &[&str]| {
        let got = violations(path, text);
        assert_eq!(got.len(), expected.len(), "{path}: {got:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(g.contains(e), "{g} should say {e}");
        }
    };
    check("plumbing/git.rs", "use crate::plumbing::exit;", &[]);
    check(
        "plumbing/git.rs",
        "use crate::task::id;",
        &["plumbing imports a command"],
    );
    check(
        "task/start.rs",
        "use crate::Ctx;",
        &["imports from main.rs"],
    );
    check(
        "task/start.rs",
        "let c = crate::cli_command();",
        &["imports from main.rs"],
    );
    check(
        "task/start.rs",
        "use crate::task::preflight::{self, Check};",
        &[],
    );
    check(
        "task/start.rs",
        "use crate::task::finish::merge;",
        &["another command's internals"],
    );
    check(
        "release/tag.rs",
        "use crate::gates::{record, release_gate};",
        &["crate::gates::release_gate: imports another command"],
    );
    check(
        "release/deploy/verify.rs",
        "use crate::release::deploy::tests::SHA;",
        &[],
    );
    check(
        "gates/runner.rs",
        "use crate::task;",
        &["imports a whole domain"],
    );
    check(
        "gates/mod.rs",
        "use crate::task::id;",
        &["mod.rs only declares"],
    );
    check("main.rs", "use crate::task::finish;", &[]);
    // `$crate::` in macros and paths inside identifiers are not imports.
    check("task/id.rs", "my_crate::x; $crate::y", &[]);
}

/// Where a git command line is spelled outside `plumbing/git.rs`: an
/// `xshell::cmd!` naming git, a `Command::new("git")`, or an argv that
/// starts with `"git"`. Commands say what they want from git through
/// plumbing::git's shapes; one place knows how to call it.
pub fn git_spelled(path: &str, text: &str) -> Vec<String> {
    if path == "plumbing/git.rs" {
        return Vec::new();
    }
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let window = lines[i..(i + 3).min(lines.len())].join(" ");
        let spelled = (line.contains("cmd!(") && window.contains("\"git "))
            || line.contains("Command::new(\"git\")")
            || line.contains("[\"git\",");
        if spelled {
            out.push(format!(
                "{path}:{}: spells a git command; use plumbing::git (read, run, test, answer)",
                i + 1
            ));
        }
    }
    out
}

#[test]
fn git_is_spelled_in_one_place() {
    let mut found = Vec::new();
    for (rel, text) in super::sources() {
        if rel.starts_with("tidy") {
            continue;
        }
        found.extend(git_spelled(&rel, &text));
    }
    assert!(
        found.is_empty(),
        "git spelled outside plumbing/git.rs:\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn spelling_git_is_caught() {
    assert_eq!(
        git_spelled("task/start.rs", "let x = cmd!(sh, \"git switch -c {b}\");").len(),
        1
    );
    assert_eq!(
        git_spelled("task/start.rs", "cmd!(\n    sh,\n    \"git log -n 1\"\n)").len(),
        1
    );
    assert_eq!(
        git_spelled("task/start.rs", "Command::new(\"git\").arg(\"log\")").len(),
        1
    );
    assert_eq!(
        git_spelled("release/tag.rs", "run(&[\"git\", \"push\"])").len(),
        1
    );
    assert!(git_spelled("plumbing/git.rs", "cmd!(sh, \"git {args...}\")").is_empty());
    assert!(git_spelled("task/start.rs", "git::run(sh, &[\"switch\", \"-c\", b])").is_empty());
}
