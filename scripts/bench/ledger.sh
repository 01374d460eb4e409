#!/usr/bin/env bash
# The deployment ledger and the environment lock (issue 11):
#   - appends per second to refs/notes/deployments and refs/notes/release-gate
#     with 1 and 4 concurrent writers, each writing BENCH_APPENDS entries in a
#     loop (plumbing::git::append_note, the compare-and-swap append), with the
#     entries kept counted afterwards;
#   - what the environment lock adds to a deploy: one take + release, local
#     file only and with the remote ref (a bare repository on the same disk),
#     BENCH_LOCKS rounds;
#   - for scale, one whole `deploy staging` with trivial steps and a trivial
#     verification command, in a throw-away repository with a bare origin.
# Both measurements are #[ignore]d tests in xtask/src/release/ (ledger.rs,
# deploy/lock.rs), run with --ignored --nocapture; they print the tables.
# Needs: cargo, git, hyperfine (installed with apt-get when missing).
# Usage: scripts/bench/ledger.sh   (BENCH_APPENDS=50 BENCH_LOCKS=20 by default)
# Standalone: measurement only, nothing here is a gate.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
command -v git >/dev/null || die "git is required"
if ! command -v hyperfine >/dev/null; then
  say "installing hyperfine with apt-get"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq hyperfine >/dev/null || die "apt-get install hyperfine failed"
fi
export BENCH_APPENDS=${BENCH_APPENDS:-50} BENCH_LOCKS=${BENCH_LOCKS:-20}

say "appends per second (BENCH_APPENDS=$BENCH_APPENDS per writer)"
cargo test --quiet -p xtask --bin xtask -- release::ledger::tests::bench_appends_per_second \
  --ignored --nocapture --exact 2>/dev/null | grep '^|' || die "the append benchmark failed"
echo
say "the lock (BENCH_LOCKS=$BENCH_LOCKS rounds)"
cargo test --quiet -p xtask --bin xtask -- release::deploy::lock::tests::bench_lock_take_and_release \
  --ignored --nocapture --exact 2>/dev/null | grep '^|' || die "the lock benchmark failed"
echo

say "one whole deploy with trivial steps"
cargo build --quiet -p xtask 2>/dev/null || cargo build -p xtask || die "cargo build -p xtask failed"
bin=$root/target/debug/xtask
work=$(mktemp -d "${TMPDIR:-/tmp}/xtask-bench-ledger.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$work/gitconfig
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
: >"$GIT_CONFIG_GLOBAL"
git init -q --bare -b main "$work/origin.git"
git init -q -b main "$work/repo"
cd "$work/repo"
cat >xtask.toml <<'TOML'
[deploy.environments.staging]
steps = [{ name = "up", argv = ["true"] }]

[deploy.environments.staging.verify]
commands = [{ name = "probe", argv = ["true"] }]
TOML
git add xtask.toml && git commit -q -m policy
git remote add origin "$work/origin.git" && git push -q origin main
sha=$(git rev-parse HEAD)
tree=$(git rev-parse "HEAD^{tree}")
git notes --ref=release-gate add -m "{\"sha\":\"$sha\",\"tree\":\"$tree\",\"status\":\"passed\",\"started_at\":\"2026-01-01T00:00:00Z\",\"finished_at\":\"2026-01-01T00:01:00Z\",\"steps\":[],\"bypasses\":[],\"database\":null,\"tool\":\"bench\"}" "$sha"
hyperfine --warmup 2 --runs 20 --style basic -N "$bin deploy staging" 2>&1 | sed -n '/Time/,/Range/p'
