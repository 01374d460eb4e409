#!/usr/bin/env bash
# The cold-build cost of a YAML parser for protect-main's workflow reader.
# Builds, each with a fresh CARGO_TARGET_DIR and the same profile, side by
# side in one hyperfine run:
#   before          the xtask at BEFORE (default: the commit before the parser
#                   came in, i.e. the last commit whose Cargo.toml has none)
#   +yaml-rust2     BEFORE plus yaml-rust2, default features off
#   +saphyr-parser  BEFORE plus saphyr-parser (the event parser alone)
#   after           the xtask at AFTER (default: HEAD), parser in use
# Usage: scripts/bench/yaml-parser.sh   (RUNS=3 by default; BEFORE, AFTER revisions)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/yaml-parser
after=${AFTER:-HEAD}
before=${BEFORE:-$(git log --format=%H -1 -S'saphyr-parser' -- xtask/Cargo.toml)^}
rm -rf "$work" && mkdir -p "$work"
tree() { # name revision [dependency line]
  mkdir -p "$work/$1"
  git archive "$2" Cargo.toml Cargo.lock xtask | tar -x -C "$work/$1"
  if [ -n "${3:-}" ]; then
    sed -i "/^\[dependencies\]/a $3" "$work/$1/xtask/Cargo.toml"
  fi
  (cd "$work/$1" && cargo fetch --quiet)
}
tree before "$before"
tree yaml-rust2 "$before" 'yaml-rust2 = { version = "0.13", default-features = false }'
tree saphyr-parser "$before" 'saphyr-parser = "0.3"'
tree after "$after"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cmds=()
for t in before yaml-rust2 saphyr-parser after; do
  cmds+=(-n "$t" "cd $work/$t && CARGO_TARGET_DIR=$work/target-$t cargo build --offline --quiet -p xtask")
done
hyperfine --runs "${RUNS:-3}" --export-markdown "$work/result.md" \
  --prepare "rm -rf $work/target-before $work/target-yaml-rust2 $work/target-saphyr-parser $work/target-after" \
  "${cmds[@]}"
cat "$work/result.md"
