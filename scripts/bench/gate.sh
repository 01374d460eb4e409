#!/usr/bin/env bash
# Orchestration overhead of the gate runner: `xtask check` with trivial steps
# (`true`) against a shell script running the same steps. Budget: < 50 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/gate
rm -rf "$work" && mkdir -p "$work/repo"
cargo build --quiet --release -p xtask
xtask=$root/target/release/xtask
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cd "$work/repo"
git init --quiet --initial-branch=main .
cat > xtask.toml <<'TOML'
[gates.check]
steps = [
  { name = "format", argv = ["true"] },
  { name = "lint", argv = ["true"] },
  { name = "typecheck", argv = ["true"] },
  { name = "test", argv = ["true"] },
]
TOML
cat > steps.sh <<'SH'
#!/bin/sh
set -e
true
true
true
true
SH
chmod +x steps.sh
hyperfine --warmup 5 --runs "${RUNS:-50}" -N --export-markdown "$work/result.md" \
  -n "shell script, 4 steps" "./steps.sh" \
  -n "xtask check, 4 steps" "$xtask check"
cat "$work/result.md"
