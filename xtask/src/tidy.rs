//! Checks of the repository itself, as ordinary tests: the Makefile, the
//! README and the policy reference say what the code does.

use std::path::PathBuf;

mod layering;
mod size;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Every Rust source file under `xtask/src`, as (path relative to it with
/// `/` separators, text), in sorted order.
fn sources() -> Vec<(String, String)> {
    let src = repo_root().join("xtask/src");
    walkdir::WalkDir::new(&src)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.path().extension().is_some_and(|x| x == "rs"))
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn commands() -> Vec<(String, String)> {
    crate::cli_command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| {
            (
                c.get_name().to_string(),
                c.get_about().map(|a| a.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// Every command has exactly one Makefile rule that forwards to it, and every
/// Makefile rule (but `help`) forwards to a command of the same name.
#[test]
fn makefile_and_cli_are_in_sync() {
    let makefile = read("Makefile");
    let mut rules = Vec::new();
    let lines: Vec<&str> = makefile.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some((target, _)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with(['\t', ' ', '.', '#'])
            || target.contains(['=', '$', ' '])
            || line.contains(":=")
        {
            continue;
        }
        let recipe = lines.get(i + 1).copied().unwrap_or("");
        rules.push((target.to_string(), recipe.trim().to_string()));
    }
    let names: Vec<String> = commands().into_iter().map(|(n, _)| n).collect();
    for name in &names {
        let found: Vec<_> = rules.iter().filter(|(t, _)| t == name).collect();
        assert_eq!(
            found.len(),
            1,
            "Makefile needs exactly one rule `{name}:` forwarding to cargo xtask {name}"
        );
        let recipe = &found[0].1;
        assert!(
            recipe.starts_with(&format!("$(XTASK) {name}")),
            "Makefile rule {name} must forward with `$(XTASK) {name}`, found {recipe:?}"
        );
    }
    for (target, _) in &rules {
        assert!(
            target == "help" || names.contains(target),
            "Makefile rule {target} has no cargo xtask command of that name"
        );
    }
    for (name, about) in commands() {
        assert!(
            makefile.contains(&format!("{name}: ## {about}"))
                || makefile.contains(&format!("{name}:  ## {about}")),
            "Makefile rule {name} must carry the command's description as `{name}: ## {about}`"
        );
    }
}

/// The README shows every command with an example.
#[test]
fn readme_lists_every_command() {
    let readme = read("README.md");
    for (name, _) in commands() {
        assert!(
            readme.contains(&format!("cargo xtask {name}")),
            "README.md has no example of `cargo xtask {name}`"
        );
    }
}

/// Every command's --help ends with an example.
#[test]
fn every_command_has_an_example() {
    for c in crate::cli_command().get_subcommands() {
        let after = c
            .get_after_help()
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert!(
            after.contains("Example") && after.contains(&format!("xtask {}", c.get_name())),
            "`cargo xtask {} --help` needs an example",
            c.get_name()
        );
    }
}

/// Every key of the policy schema is documented in docs/POLICY.md.
#[test]
fn policy_reference_documents_every_key() {
    let doc = read("docs/POLICY.md");
    let value = serde_json::to_value(crate::plumbing::policy::Policy::reference()).unwrap();
    let mut keys = Vec::new();
    collect_keys(&value, "", &mut keys);
    assert!(
        keys.len() > 10,
        "the reference policy looks empty: {keys:?}"
    );
    let missing: Vec<_> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/POLICY.md does not document these keys (as `key`): {missing:?}"
    );
}

fn collect_keys(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.push(key.clone());
                collect_keys(v, &key, out);
            }
        }
        serde_json::Value::Array(items) => {
            if let Some(first @ serde_json::Value::Object(_)) = items.first() {
                collect_keys(first, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

/// The policy of this repository parses, and the Horadus example too.
#[test]
fn shipped_policies_parse() {
    for path in [
        "xtask.toml",
        "examples/horadus/xtask.toml",
        "examples/service/xtask.toml",
    ] {
        let text = read(path);
        crate::plumbing::policy::parse(&text, std::path::Path::new(path))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// .ci/run runs exactly the README's test command.
#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    let ci = read(".ci/run");
    let marker = "<!-- test-command -->";
    let after = readme
        .split(marker)
        .nth(1)
        .expect("README.md marks its test command with <!-- test-command -->");
    let command = after
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with("```"))
        .unwrap()
        .trim();
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run must run the README's test command {command:?}"
    );
}
