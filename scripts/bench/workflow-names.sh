#!/usr/bin/env bash
# protect-main's workflow reader measured on real workflow files: of the check
# names GitHub shows on pull requests, how many it accepts as required
# checks, and whether it accepts any name GitHub never shows there.
# Usage: scripts/bench/workflow-names.sh DIR
#   DIR holds one folder per repository, each with its workflow files (in
#   .github/workflows/ or directly) and optionally a file BRANCH naming the
#   branch pull requests target (default main).
# The expected names come from scripts/bench/workflow_names.py, a separate
# reading of GitHub's documented naming rules in Python (PyYAML); the xtask's
# answer from `protect-main --check --format json` in a scratch repository
# per folder (step 1 runs before any request to GitHub). Mismatches are
# listed on stderr; the table goes to stdout.
set -euo pipefail
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: $0 DIR (one folder of workflow files per repository)" >&2; exit 2; }
dir=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
python3 -c 'import yaml' 2>/dev/null || { echo "needs PyYAML: apt-get install python3-yaml (or pip install pyyaml)" >&2; exit 2; }
cargo build --quiet -p xtask
python3 scripts/bench/workflow_names.py measure "$dir" "$PWD/target/debug/xtask"
