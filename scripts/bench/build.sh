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
cat > "$work/baseline/Cargo.toml" <<'TOML'
[package]
name = "baseline"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
anyhow = "1"
clap = { version = "4", default-features = false, features = ["std", "help", "usage", "error-context", "suggestions", "derive"] }
serde = { version = "1", features = ["derive"] }
toml = "1"
semver = "1"
walkdir = "2"
time = { version = "0.3", features = ["formatting", "parsing", "macros"] }
xshell = "=0.2.7"

[profile.dev]
debug = 0
debug-assertions = false

# Not a member of this repository's workspace.
[workspace]
TOML
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
