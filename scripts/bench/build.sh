#!/usr/bin/env bash
# Cold `cargo build -p xtask` against an empty crate with exactly the design's
# dependencies (xshell, clap+derive, serde+derive, toml, semver, walkdir,
# time, anyhow), built side by side with the same lock file and profile.
# Budget: ratio at most 1.3.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/build
rm -rf "$work" && mkdir -p "$work/baseline/src"
cp scripts/bench/baseline.Cargo.toml "$work/baseline/Cargo.toml"
echo 'fn main() {}' > "$work/baseline/src/main.rs"
cp Cargo.lock "$work/baseline/Cargo.lock"
(cd "$work/baseline" && cargo fetch --quiet)
cargo fetch --quiet
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
hyperfine --runs "${RUNS:-3}" --export-markdown "$work/result.md" \
  --prepare "rm -rf $work/target-xtask $work/target-baseline" \
  -n "xtask" "CARGO_TARGET_DIR=$work/target-xtask cargo build --offline --quiet -p xtask" \
  -n "empty crate, design deps" "cd $work/baseline && CARGO_TARGET_DIR=$work/target-baseline cargo build --offline --quiet"
cat "$work/result.md"
