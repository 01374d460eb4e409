#!/usr/bin/env bash
# db-migration-gate against the same three alembic commands run directly
# (`alembic heads`, `alembic current`, `alembic check` with
# `uv run --no-sync`, in examples/service), on a scratch SQLite database at
# head, or on BENCH_DATABASE_URL when set, the way the gate runs them
# (`heads` and `current` side by side, then `check`); one after another is
# measured beside. The gate's overhead is its time beyond those processes. Budget: overhead under 5%, for the dev binary
# (target/debug/xtask, what `cargo xtask` runs); the release binary is
# measured beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
work=$root/target/bench/migration-gate
rm -rf "$work" && mkdir -p "$work"

command -v uv >/dev/null || { echo "uv is required: python3 -m pip install uv (scripts/setup.sh)" >&2; exit 2; }
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
(cd examples/service && uv sync --frozen --quiet)
cargo build --quiet -p xtask
cargo build --quiet --release -p xtask
xtask=$root/target/debug/xtask
release=$root/target/release/xtask

url=${BENCH_DATABASE_URL:-sqlite:///$work/bench.db}
if [ -z "${BENCH_DATABASE_URL:-}" ]; then
  (cd examples/service && DATABASE_URL=$url uv run --no-sync alembic upgrade head 2>/dev/null)
fi
export MIGRATION_GATE_DATABASE_URL=$url DATABASE_URL=$url

sequential='cd examples/service && uv run --no-sync alembic heads >/dev/null 2>&1 && uv run --no-sync alembic current >/dev/null 2>&1 && uv run --no-sync alembic check >/dev/null 2>&1'
direct='cd examples/service && { uv run --no-sync alembic heads >/dev/null 2>&1 & h=$!; uv run --no-sync alembic current >/dev/null 2>&1 && wait $h; } && uv run --no-sync alembic check >/dev/null 2>&1'
hyperfine --warmup 2 --runs "${RUNS:-15}" \
  --export-markdown "$work/result.md" --export-json "$work/result.json" \
  -n "alembic heads, current, check one after another" "$sequential" \
  -n "alembic heads and current side by side, then check (direct)" "$direct" \
  -n "cargo xtask db-migration-gate" "$xtask db-migration-gate --root $root >/dev/null 2>&1" \
  -n "db-migration-gate (release)" "$release db-migration-gate --root $root >/dev/null 2>&1"
cat "$work/result.md"
# hyperfine runs one command's series after the other's, so a machine whose
# load changes meanwhile skews the comparison; the figures below pair the
# runs (direct and gate alternately) and look inside the gate's own report.
python3 - "$work/result.json" "$xtask" "$root" "${RUNS:-15}" "$direct" <<'PY'
import json, statistics, subprocess, sys, time
results = json.load(open(sys.argv[1]))["results"]
direct, gate = results[1], results[2]
def pct(a, b):
    return (a - b) / b * 100
print(f"mean:   direct {direct['mean'] * 1000:.0f} ms, gate {gate['mean'] * 1000:.0f} ms, overhead {pct(gate['mean'], direct['mean']):+.1f}%")
print(f"median: direct {direct['median'] * 1000:.0f} ms, gate {gate['median'] * 1000:.0f} ms, overhead {pct(gate['median'], direct['median']):+.1f}%")
print(f"min:    direct {direct['min'] * 1000:.0f} ms, gate {gate['min'] * 1000:.0f} ms, overhead {pct(gate['min'], direct['min']):+.1f}%")
# Less sensitive to a busy machine: the gate's own time within one run, i.e.
# the wall time of the xtask process minus the time its alembic children ran
# (the report's per-check durations), relative to the latter.
xtask, root, runs, direct_cmd = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
own, pairs = [], []
for i in range(runs):
    times = {}
    for which in (["direct", "gate"] if i % 2 == 0 else ["gate", "direct"]):
        start = time.perf_counter()
        if which == "direct":
            subprocess.run(["sh", "-c", direct_cmd], check=True)
        else:
            out = subprocess.run([xtask, "db-migration-gate", "--root", root, "--format", "json"], capture_output=True, text=True, check=True)
        times[which] = time.perf_counter() - start
    took = {c["name"]: c["duration_ms"] / 1000 for c in json.loads(out.stdout)["checks"]}
    # heads and current run side by side: the longer of the two, then check.
    children = max(took["single_head"], took["at_head"]) + took["model_parity"]
    own.append((times["gate"] - children, children))
    pairs.append((times["gate"] - times["direct"], times["direct"]))
paired = statistics.median(d for d, _ in pairs) / statistics.median(t for _, t in pairs) * 100
print(f"paired: median difference gate - direct {statistics.median(d for d, _ in pairs) * 1000:+.0f} ms on {statistics.median(t for _, t in pairs) * 1000:.0f} ms (median of {runs} alternating pairs): overhead {paired:+.1f}%")
median_own = statistics.median(o for o, _ in own) * 1000
median_children = statistics.median(c for _, c in own) * 1000
internal = statistics.median(o / c * 100 for o, c in own)
print(f"in-run: gate's own time {median_own:.0f} ms beside {median_children:.0f} ms of alembic (median of {runs}): overhead {internal:+.1f}%")
print(f"budget: overhead < 5% (paired figure): {'within' if paired < 5 else 'OVER'}")
PY
