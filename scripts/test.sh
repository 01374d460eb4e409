#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs the
# whole test suite. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec cargo test --workspace --locked
