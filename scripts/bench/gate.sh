#!/usr/bin/env bash
# Orchestration overhead of the gate runner and of release-gate, against a
# shell script running the same steps. Budget: under 50 ms.
#  1. `xtask check` with four trivial steps (`true`) vs a script of four `true`s.
#  2. `xtask release-gate` (check and test: `true`; docs-freshness on a small
#     tree; db-migration-gate on the example service's SQLite database at head)
#     vs a script running the same four steps one after the other, the last
#     two as `xtask docs-freshness` and `xtask db-migration-gate`. The
#     difference is what release-gate adds: planning, two `git status`, the
#     summary and the gate record (a git note).
# Both are measured with the dev binary (target/debug/xtask: what `cargo
# xtask` and the hooks run; the budget applies to it) and, beside it, with
# the release binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/gate
rm -rf "$work" && mkdir -p "$work/repo"
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
command -v uv >/dev/null || { echo "uv is required: scripts/setup.sh" >&2; exit 2; }
cargo build --quiet -p xtask
cargo build --quiet --release -p xtask
dev=$root/target/debug/xtask
rel=$root/target/release/xtask
(cd examples/service && uv sync --frozen --quiet)

cd "$work/repo"
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
git init --quiet --initial-branch=main .
git config user.name bench && git config user.email bench@localhost
mkdir -p service && cp -r "$root/examples/service/alembic" "$root/examples/service/alembic.ini" "$root/examples/service/service" "$root/examples/service/pyproject.toml" "$root/examples/service/uv.lock" service/
printf '# bench\n\n**Last Verified**: %s\n' "$(date -u +%F)" > README.md
cat > xtask.toml <<'TOML'
[gates.check]
steps = [
  { name = "format", argv = ["true"] },
  { name = "lint", argv = ["true"] },
  { name = "typecheck", argv = ["true"] },
  { name = "test", argv = ["true"] },
]

[gates.test]
steps = [{ name = "unit", argv = ["true"] }]

[docs]
scope = ["README.md"]
markers = [{ path = "README.md", label = "Last Verified" }]

[migration]
directory = "service"
TOML
printf 'target/\n__pycache__/\n' > .gitignore
git add -A && git commit --quiet -m bench
export UV_PROJECT_ENVIRONMENT=$root/examples/service/.venv
export RELEASE_GATE_DATABASE_URL=sqlite:///$work/bench.db MIGRATION_GATE_DATABASE_URL=sqlite:///$work/bench.db
(cd service && DATABASE_URL=$RELEASE_GATE_DATABASE_URL uv run --no-sync alembic upgrade head 2>/dev/null)

printf '#!/bin/sh\nset -e\ntrue\ntrue\ntrue\ntrue\n' > check.sh
for p in dev rel; do
  bin=${!p}
  printf '#!/bin/sh\nset -e\ntrue\ntrue\ntrue\ntrue\ntrue\n%s docs-freshness 2>/dev/null\n%s db-migration-gate 2>/dev/null\n' "$bin" "$bin" > "release-$p.sh"
done
chmod +x check.sh release-*.sh
git add -A && git commit --quiet -m scripts

hyperfine --warmup 5 --runs "${RUNS:-50}" -N --export-markdown "$work/check.md" \
  -n "shell script, 4 steps" "./check.sh" \
  -n "xtask check, 4 steps (dev)" "$dev check" \
  -n "xtask check, 4 steps (release)" "$rel check"
hyperfine --warmup 2 --runs "${RELEASE_RUNS:-15}" --export-markdown "$work/release.md" \
  -n "shell script, release-gate's steps (dev)" "./release-dev.sh" \
  -n "xtask release-gate (dev)" "$dev release-gate 2>/dev/null" \
  -n "shell script, release-gate's steps (release)" "./release-rel.sh" \
  -n "xtask release-gate (release)" "$rel release-gate 2>/dev/null"
cat "$work/check.md" "$work/release.md"
