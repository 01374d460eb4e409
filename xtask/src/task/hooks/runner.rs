//! How the installed hooks find the xtask to run, and the check that they
//! can: [`resolve`] runs the hooks' own shell function in a mode that only
//! says what it would run, so `hooks --check` and the preflight judge the
//! resolution a commit will use, not a copy of it.
//!
//! The order (documented in the README): `XTASK_BIN`; the built
//! `target/debug/xtask` while it is newer than every xtask source,
//! `xtask/Cargo.toml` and `Cargo.lock` (no cargo start-up: this is what
//! keeps a commit fast); `cargo xtask` when the repository has the xtask
//! crate (`xtask/Cargo.toml`); an `xtask` on `PATH` (an installed binary);
//! `cargo xtask` (an alias or a `cargo-xtask`); else the hook fails, exit 2.
//! Only files count for freshness (`-type f`): an editor's temporary file
//! changes its directory's time but not the build.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The shell function every hook uses to run the xtask. With
/// `XTASK_HOOK_RESOLVE=1` it prints what it would run (`cargo`, `run PROG`
/// or `missing PROG`) and runs nothing.
pub const RUNNER: &str = r#"run_xtask() {
  bin=${CARGO_TARGET_DIR:-target}/debug/xtask
  if [ -n "${XTASK_BIN:-}" ]; then
    set -- "$XTASK_BIN" "$@"
  elif [ -x "$bin" ] && [ -d xtask/src ] && [ -f xtask/Cargo.toml ] && [ -f Cargo.lock ] &&
    newer=$(find xtask/src xtask/Cargo.toml Cargo.lock -type f -newer "$bin") && [ -z "$newer" ]; then
    set -- "$bin" "$@"
  elif [ -f xtask/Cargo.toml ] && command -v cargo >/dev/null 2>&1; then
    set -- cargo xtask "$@"
  elif command -v xtask >/dev/null 2>&1; then
    set -- xtask "$@"
  elif command -v cargo >/dev/null 2>&1; then
    set -- cargo xtask "$@"
  else
    echo "xtask hook: no xtask to run: set XTASK_BIN to an xtask binary, put one on PATH, or install Rust (cargo xtask)" >&2
    exit 2
  fi
  if [ -n "${XTASK_HOOK_RESOLVE:-}" ]; then
    if [ "$1" = cargo ]; then echo cargo
    elif command -v "$1" >/dev/null 2>&1; then echo "run $1"
    else echo "missing $1"; fi
    return 0
  fi
  "$@"
}
"#;

/// What the hooks would run in the repository at `root`, or why a commit
/// would fail there.
pub fn resolve(root: &Path) -> Result<String, String> {
    let script = format!("{RUNNER}run_xtask branch-guard\n");
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(root)
        .env("XTASK_HOOK_RESOLVE", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sh cannot be run: {e}"))?;
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    match said.split_once(' ') {
        None if said == "cargo" => match cargo_problem(root) {
            None => Ok("cargo xtask".to_string()),
            Some(why) => Err(format!("{why}. Fix: {}", cargo_fix())),
        },
        Some(("run", prog)) => Ok(prog.to_string()),
        Some(("missing", prog)) => Err(format!(
            "{prog} (XTASK_BIN) is not an executable: point XTASK_BIN at an xtask binary, or unset it"
        )),
        _ => Err(format!("the hooks' resolution said {said:?}")),
    }
}

/// Warnings for `hooks` (install): the hooks are installed anyway.
pub fn warnings(root: &Path) -> Vec<String> {
    match resolve(root) {
        Ok(_) => Vec::new(),
        Err(why) => match cargo_problem(root) {
            Some(cargo) if why.starts_with(&cargo) => vec![format!(
                "{cargo}; the hooks are installed anyway. Fix: {}",
                cargo_fix()
            )],
            _ => vec![format!("{why}; the hooks are installed anyway")],
        },
    }
}

fn cargo_fix() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "/path/to/xtask".to_string());
    format!(
        "add the xtask crate and its alias (in .cargo/config.toml: [alias] xtask = \"run --quiet --package xtask --\"), put an xtask binary on PATH, or set XTASK_BIN wherever git runs: export XTASK_BIN={exe}"
    )
}

/// Why `cargo xtask` fails in the repository at `root` (no `xtask` alias in
/// cargo's configuration and no `cargo-xtask` on PATH), or `None`.
fn cargo_problem(root: &Path) -> Option<String> {
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            std::fs::metadata(d.join("cargo-xtask"))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut configs: Vec<PathBuf> = root
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    if let Some(home) = cargo_home {
        configs.push(home.join("config.toml"));
        configs.push(home.join("config"));
    }
    let has_alias = configs
        .iter()
        .any(|c| std::fs::read_to_string(c).is_ok_and(|text| defines_xtask_alias(&text)));
    if has_alias || on_path {
        return None;
    }
    let what = if root.join("xtask/Cargo.toml").is_file() {
        "has an xtask crate but no `xtask` alias in .cargo/config.toml: the hooks fall back to `cargo xtask` whenever target/debug/xtask is missing or older than the sources"
    } else {
        "has no xtask crate (xtask/Cargo.toml), no `xtask` on PATH and no `xtask` alias in .cargo/config.toml: the hooks run `cargo xtask`"
    };
    Some(format!(
        "{} {what}, which fails with cargo's \"no such command: xtask\" and so refuses every commit and push",
        root.display()
    ))
}

/// Whether a cargo configuration file defines the `xtask` alias.
fn defines_xtask_alias(text: &str) -> bool {
    toml::from_str::<toml::Value>(text).is_ok_and(|config| {
        match config.get("alias").and_then(|a| a.get("xtask")) {
            Some(toml::Value::String(s)) => !s.trim().is_empty(),
            Some(toml::Value::Array(a)) => !a.is_empty(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_xtask_alias_is_found_in_a_cargo_config() {
        fn check(text: &str, expected: bool) {
            assert_eq!(defines_xtask_alias(text), expected, "{text}");
        }
        check(
            "[alias]\nxtask = \"run --quiet --package xtask --\"\n",
            true,
        );
        check(
            "[alias]\nxtask = [\"run\", \"--package\", \"xtask\", \"--\"]\n",
            true,
        );
        check("alias.xtask = \"run -p xtask --\"\n", true);
        check("", false);
        check("[alias]\nxt = \"run -p xtask --\"\n", false);
        check("[alias]\nxtask = \"\"\n", false);
        check("[build]\nxtask = \"run\"\n", false);
        check("[alias\nxtask = \"run\"", false);
    }
}
