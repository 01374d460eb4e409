#!/usr/bin/env bash
# Runs the benchmarks behind docs/BENCHMARKS.md. Each part is a script of its
# own under scripts/bench/ (hyperfine, rg and lefthook are installed there
# when missing). Usage: scripts/bench.sh [build|cargo-startup|gate|docs-freshness|migration-gate|hooks|ledger|self-gate ...]
# With no argument, runs them all. Figures go to stdout and target/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(build cargo-startup gate docs-freshness migration-gate hooks ledger self-gate)
for part in "${parts[@]}"; do
  script=scripts/bench/$part.sh
  [ -x "$script" ] || { echo "bench: no benchmark named $part (scripts/bench/*.sh)" >&2; exit 2; }
  printf '\n## %s\n\n' "$part"
  "$script"
done
