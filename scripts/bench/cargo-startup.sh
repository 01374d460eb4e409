#!/usr/bin/env bash
# What `cargo xtask` costs before the xtask starts: cargo's own start-up
# (resolving the lock file against the registry index, checking every unit's
# fingerprint), for a crate with no dependencies, for an empty crate with the
# design's dependencies, and for `cargo xtask --version`; all built warm
# first. It is the floor under every `cargo xtask` figure (docs-freshness).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/cargo-startup
mkdir -p "$work/empty/src" "$work/baseline/src"
printf '[package]\nname = "empty"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[workspace]\n' > "$work/empty/Cargo.toml"
cp scripts/bench/baseline.Cargo.toml "$work/baseline/Cargo.toml"
cp Cargo.lock "$work/baseline/Cargo.lock"
for crate in empty baseline; do
  echo 'fn main() {}' > "$work/$crate/src/main.rs"
  (cd "$work/$crate" && cargo build --quiet)
done
cargo build --quiet -p xtask
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
hyperfine --warmup 3 --runs 30 -N --export-markdown "$work/result.md" \
  -n "cargo run, no dependencies" "cargo run --quiet --manifest-path $work/empty/Cargo.toml" \
  -n "cargo run, the design's dependencies" "cargo run --quiet --manifest-path $work/baseline/Cargo.toml" \
  -n "cargo xtask --version" "cargo xtask --version"
cat "$work/result.md"
