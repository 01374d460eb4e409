#!/usr/bin/env bash
# Benchmark: docs-freshness on a generated tree of 10,000 markdown files
# (about 100 MB) against `rg` searching the same patterns over the same files.
# Budget (docs/BENCHMARKS.md): docs-freshness at most 2x rg's time, and peak
# memory that does not grow with the tree (compared with a 1,000-file tree).
#
#   scripts/bench/docs-freshness.sh            # generate (once), build, measure
#   FILES=2000 scripts/bench/docs-freshness.sh # a smaller tree
#   scripts/bench/docs-freshness.sh overrides  # only the overrides benchmark:
#     10,000 and 100,000 override rows on the 1,000-file tree (linear, not
#     quadratic, in the number of rows); PROFILE=debug measures the dev
#     binary (target/debug/xtask, what `cargo xtask` runs) instead of release
#
# Standalone: installs ripgrep and hyperfine with apt-get when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

FILES="${FILES:-10000}"
SMALL=$((FILES / 10))
BENCH="target/bench/docs-freshness"

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "installing $2 (for $1)" >&2
    apt-get update -qq && apt-get install -y -qq "$2" >/dev/null
  fi
}
[ "${1:-}" = overrides ] || need rg ripgrep
need hyperfine hyperfine
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
command -v python3 >/dev/null || { echo "python3 is needed to generate the tree" >&2; exit 2; }

# generate DIR N: a Horadus-shaped tree (examples/horadus/xtask.toml) with N
# markdown files of realistic content under docs/, some of them with findings.
generate() {
  local dir="$1" n="$2"
  if [ -f "$dir/.complete-$n" ]; then return; fi
  rm -rf "$dir" && mkdir -p "$dir"
  python3 - "$dir" "$n" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
words = ("the release gate runs every step in order and stops at the first failure so that a broken "
         "build never reaches staging operators promote the same commit through each environment while "
         "reviewers check notes migrations tokens database service deploy rollback verify health latency "
         "budget queue worker cache index schema table column request response header client server").split()
def para(k):
    return " ".join(rnd.choice(words) for _ in range(k)).capitalize() + "."
def w(rel, text):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
for i in range(1, 41):
    w(f"docs/adr/{i:03d}-decision-{i}.md", f"# ADR-{i:03d}: decision {i}\n\n{para(40)}\n")
w("AGENTS.md", "# Agents\n\n## Canonical Source-of-Truth Hierarchy\n\n" + para(30) + "\n")
ptr = "Hierarchy: AGENTS.md (Canonical Source-of-Truth Hierarchy).\n"
w("PROJECT_STATUS.md", "# Status\n\n**Last Updated**: 2026-02-10\n\n" + ptr +
  "\n## In Progress\n- TASK-101\n- TASK-102\n\n## Blocked\n- TASK-102 [REQUIRES_HUMAN]\n")
w("tasks/CURRENT_SPRINT.md", "# Sprint\n\n" + ptr + "\n## Active Tasks\n- TASK-101\n- TASK-102 [REQUIRES_HUMAN]\n\n## Completed This Sprint\n- TASK-100\n")
w("tasks/COMPLETED.md", "".join(f"- TASK-{i:03d} done\n" for i in range(1, 100)))
for name in ["ARCHITECTURE", "DEPLOYMENT", "ENVIRONMENT", "RELEASING"]:
    w(f"docs/{name}.md", f"# {name}\n\n**Last Verified**: 2026-02-01\n\nAPI_RATE_LIMIT_PER_MINUTE\n")
w("docs/DATA_MODEL.md", "".join(f"### {t}\n{para(20)}\n\n" for t in ["reports", "api_usage", "trend_outcomes", "human_feedback"]))
w("docs/POTENTIAL_ISSUES.md", "**Status**: Archived historical snapshot (superseded)\n\ntasks/CURRENT_SPRINT.md tasks/BACKLOG.md PROJECT_STATUS.md\n")
w("docs/API.md", "# API\n\nSend X-API-Key; API_AUTH_ENABLED toggles it.\n")
w("src/api/main.py", "app.add_middleware(APIKeyAuthMiddleware)\n")
for i in range(n):
    parts = [f"# Note {i}\n\n**Last Verified**: 2026-01-{1 + i % 28:02d}\n"]
    size = rnd.randint(6000, 14000)
    total = 0
    while total < size:
        kind = rnd.random()
        if kind < 0.55:
            s = para(rnd.randint(20, 80)) + "\n"
        elif kind < 0.7:
            s = f"## {para(4)}\n"
        elif kind < 0.82:
            s = "".join(f"- {para(rnd.randint(5, 15))}\n" for _ in range(rnd.randint(2, 6)))
        elif kind < 0.9:
            s = "```sh\ncargo xtask release-gate\nmake docs-freshness\n```\n"
        elif kind < 0.97:
            s = "| key | value |\n|---|---|\n" + "".join(f"| {rnd.choice(words)} | {rnd.choice(words)} |\n" for _ in range(4))
        else:
            # An ADR reference: mostly real, now and then a missing one.
            adr = rnd.randint(1, 40) if rnd.random() < 0.95 else rnd.randint(900, 999)
            s = f"See ADR-{adr:03d} for the decision.\n"
        parts.append(s + "\n")
        total += len(s) + 1
    if i % 997 == 0:
        parts.append("All API endpoints have no authentication checks.\n")
    w(f"docs/notes/{i // 100:03d}/note-{i:05d}.md", "".join(parts))
PY
  touch "$dir/.complete-$n"
}

# overrides ROWS: an overrides file of ROWS rows on the small tree, about one
# in ten matching a real finding (the rest unused: each one a warning).
overrides() {
  local rows="$1" out="$BENCH/overrides-$1.json"
  python3 - "$rows" "$out" <<'PY'
import json, sys
rows, out = int(sys.argv[1]), sys.argv[2]
items = []
for i in range(rows):
    path = f"docs/notes/{(i % 1000) // 100:03d}/note-{i % 1000:05d}.md" if i % 10 == 0 else f"docs/gone/{i}.md"
    items.append({"rule_id": "adr_reference_target_missing" if i % 2 else "stale_auth_unenforced_claim", "path": path,
                  "reason": f"tracked in TASK-{i % 900 + 100}", "expires_on": "2026-03-01"})
with open(out, "w") as f:
    json.dump({"overrides": items}, f, indent=1)
PY
  echo "$out"
}

if [ "${1:-}" = "overrides" ]; then
  generate "$BENCH/small" "$SMALL"
  if [ "${PROFILE:-release}" = debug ]; then
    cargo build --quiet -p xtask
    XTASK="$PWD/target/debug/xtask"
  else
    cargo build --release --quiet -p xtask
    XTASK="$PWD/target/release/xtask"
  fi
  POLICY="$PWD/examples/horadus/xtask.toml"
  args=()
  for rows in 10000 100000; do
    file="$(overrides "$rows")"
    echo "overrides: $rows rows, $(du -h --apparent-size "$file" | cut -f1)" >&2
    tree="$BENCH/small-$rows"
    rm -rf "$tree" && cp -r "$BENCH/small" "$tree" && cp "$file" "$tree/docs/DOCS_FRESHNESS_OVERRIDES.json"
    args+=(-n "docs-freshness, $rows overrides" "$XTASK docs-freshness --root $tree --policy $POLICY --today 2026-02-20")
  done
  hyperfine --warmup 1 --runs 5 -i -N --export-markdown "$BENCH/overrides.md" "${args[@]}"
  exit 0
fi

generate "$BENCH/full" "$FILES"
generate "$BENCH/small" "$SMALL"
echo "tree: $(find "$BENCH/full" -name '*.md' | wc -l) markdown files, $(du -sh --apparent-size "$BENCH/full" | cut -f1)" >&2

# The budget applies to the dev binary (what `cargo xtask` runs; the hooks
# run it too); `cargo xtask` itself adds cargo's start-up, measured beside it
# with `cargo xtask --version`, and the release build is reported beside.
cargo build --quiet -p xtask
cargo build --release --quiet -p xtask
XTASK="$PWD/target/debug/xtask"
RELEASE="$PWD/target/release/xtask"
POLICY="$PWD/examples/horadus/xtask.toml"

# The same patterns over the same files: the forbidden texts (fixed strings)
# and the ADR reference, in docs/**/*.md and PROJECT_STATUS.md, with line
# numbers, as the tool reports them. A script file: no quoting games.
cat > "$BENCH/rg.sh" <<'RG'
#!/bin/sh
cd "$(dirname "$0")/full" && exec rg -n --no-config --glob '*.md' \
  -e 'All API endpoints have no authentication checks\.' \
  -e 'API_KEY setting in config \(`src/core/config\.py`\) is defined but never enforced\.' \
  -e '\bADR-(\d{3})\b' \
  "$@" docs PROJECT_STATUS.md
RG
chmod +x "$BENCH/rg.sh"

# Same input for both: rg's matching lines, the tool's findings.
echo "rg: $("$BENCH/rg.sh" | wc -l) matching lines in $("$BENCH/rg.sh" -c | wc -l) files" >&2
"$XTASK" docs-freshness --root "$BENCH/full" --policy "$POLICY" --today 2026-02-20 2>&1 | tail -n 1 >&2 || true

ARGS="docs-freshness --root $BENCH/full --policy $POLICY --today 2026-02-20"
hyperfine --warmup 3 --runs 20 -i -N \
  --export-markdown "$BENCH/result.md" \
  -n "rg (same patterns)" "$BENCH/rg.sh" \
  -n "docs-freshness (dev: target/debug/xtask)" "$XTASK $ARGS" \
  -n "cargo xtask docs-freshness" "cargo xtask $ARGS" \
  -n "cargo xtask --version (cargo's start-up alone)" "cargo xtask --version" \
  -n "docs-freshness (release)" "$RELEASE $ARGS"

peak() {
  /usr/bin/time -f '%M' "$XTASK" docs-freshness --root "$1" --policy "$POLICY" --today 2026-02-20 2>&1 >/dev/null | tail -n 1
}
echo "peak RSS (KiB): $SMALL files: $(peak "$BENCH/small"), $FILES files: $(peak "$BENCH/full")" | tee -a "$BENCH/result.md"
