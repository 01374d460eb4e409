#!/usr/bin/env bash
# This repository's own release gate (`cargo xtask release-gate`, the main
# CI job), from a warm cache: everything already built and installed once,
# then one gate run timed, with each step's time from the gate's JSON
# report. The gate runs the whole test suite, so this takes minutes.
#
#   scripts/bench/self-gate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
work=target/bench/self-gate
mkdir -p "$work"
# Warm the caches the gate uses: the test build, the tools, the venv.
scripts/setup.sh >/dev/null
cargo build --quiet --workspace --all-targets --locked
cargo clippy --quiet --workspace --all-targets -- -D warnings
start=$(date +%s.%N)
status=0
cargo xtask release-gate --format json > "$work/report.json" 2> "$work/stderr.txt" || status=$?
end=$(date +%s.%N)
python3 - "$work/report.json" "$start" "$end" "$status" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
print("| step | status | time |")
print("|---|---|---:|")
total = 0
for s in report["steps"]:
    ms = s.get("duration_ms") or 0
    total += ms
    name = s.get("gate", "") + (" / " + s["name"] if s.get("name") else "")
    print(f"| {name} | {s.get('status')} | {ms / 1000:.1f} s |")
print(f"| steps together | | {total / 1000:.1f} s |")
print(f"| `cargo xtask release-gate`, wall (exit {sys.argv[4]}) | {report.get('status')} | {wall:.1f} s |")
PY
