#!/usr/bin/env bash
# Commit latency with the installed hooks, side by side (issue: "a git commit
# on a task branch must cost no more than the same commit with an equivalent
# lefthook hook"). Three throw-away repositories on branch task-117-bench:
#   none      no hooks
#   lefthook  lefthook 2.2.1 (npm), pre-commit: the branch check, commit-msg:
#             no other task's id; the same checks as ours, in sh + grep
#   xtask     `cargo xtask hooks` (pre-commit + commit-msg + pre-push), running
#             the built target/debug/xtask after the hook's freshness check
#             against copies of xtask/src, xtask/Cargo.toml and Cargo.lock
# and, for scale, one `cargo xtask branch-guard` against the built binary.
# Needs: cargo, git, npm, hyperfine (installed with apt-get when missing).
# Usage: scripts/bench/hooks.sh [RUNS]   (default 60 commits per variant)
# Standalone: measurement only, nothing here is a gate.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
runs=${1:-60}
say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

command -v git >/dev/null || die "git is required"
command -v npm >/dev/null || die "npm is required for lefthook (apt-get install npm)"
if ! command -v hyperfine >/dev/null; then
  say "installing hyperfine with apt-get"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get install -y -qq hyperfine >/dev/null || die "apt-get install hyperfine failed"
fi

say "building the xtask"
cargo build --quiet -p xtask 2>/dev/null || cargo build -p xtask || die "cargo build -p xtask failed"
cargo build --quiet --release -p xtask || die "cargo build --release -p xtask failed"
bin=$root/target/debug/xtask

# Outside any repository and with --ignore-scripts: lefthook's postinstall
# runs `lefthook install` in the git repository around it, which would put
# its hooks into this repository's (shared) hooks directory. The binary comes
# in the platform package and needs no script.
lefthook_dir=${XDG_CACHE_HOME:-$HOME/.cache}/xtask-bench/lefthook-2.2.1
if ! find "$lefthook_dir/node_modules" -path '*/bin/lefthook' -type f 2>/dev/null | grep -q .; then
  say "installing lefthook 2.2.1 (npm) in $lefthook_dir"
  mkdir -p "$lefthook_dir"
  (cd "$lefthook_dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm i -E lefthook@2.2.1 --ignore-scripts --silent --no-audit --no-fund) ||
    die "npm could not install lefthook@2.2.1"
fi
lefthook=$(find "$lefthook_dir/node_modules" -path '*/bin/lefthook' -type f -perm -u+x | head -n 1)
[ -n "$lefthook" ] || die "no lefthook binary under $lefthook_dir/node_modules"

work=$(mktemp -d "${TMPDIR:-/tmp}/xtask-bench-hooks.XXXXXX")
trap 'rm -rf "$work"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$work/gitconfig
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
unset SKIP_BRANCH_GUARD XTASK_BIN CARGO_TARGET_DIR LEFTHOOK
: >"$GIT_CONFIG_GLOBAL"

new_repo() {
  git init -q -b main "$work/$1"
  git -C "$work/$1" commit -q --allow-empty -m init
  git -C "$work/$1" switch -q -c task-117-bench
}

new_repo none

new_repo lefthook
cat >"$work/lefthook/branch.sh" <<'EOF'
b=$(git symbolic-ref --quiet --short HEAD) || { echo "branch guard failed: detached HEAD" >&2; exit 1; }
printf '%s\n' "$b" | grep -Eq '^task-[0-9]{3,}-[a-z0-9][a-z0-9._-]*$' || { echo "branch guard failed: $b" >&2; exit 1; }
EOF
cat >"$work/lefthook/message.sh" <<'EOF'
id=$(git symbolic-ref --quiet --short HEAD | sed -n 's/^task-\([0-9]\{3,\}\)-.*/TASK-\1/p')
others=$(grep -v '^#' "$1" | grep -oiE '\btask-[0-9]{3,}\b' | tr a-z A-Z | grep -vx "$id" || true)
[ -z "$others" ] || { echo "commit message names $others, but this is the branch of $id" >&2; exit 1; }
EOF
cat >"$work/lefthook/lefthook.yml" <<'EOF'
pre-commit:
  commands:
    branch-guard:
      run: sh branch.sh
commit-msg:
  commands:
    task-id:
      run: sh message.sh {1}
EOF
(cd "$work/lefthook" && "$lefthook" install >/dev/null)

new_repo xtask
mkdir -p "$work/xtask/xtask" "$work/xtask/target/debug"
cp -R xtask/src "$work/xtask/xtask/src"
cp xtask/Cargo.toml "$work/xtask/xtask/Cargo.toml"
cp Cargo.lock "$work/xtask/Cargo.lock"
cp "$bin" "$work/xtask/target/debug/xtask"   # copied last: newer than the sources
"$bin" --root "$work/xtask" hooks >/dev/null 2>&1
"$bin" --root "$work/xtask" hooks --check >/dev/null 2>&1 || die "the xtask hooks are not installed in $work/xtask"

# Each variant must pass a good commit and refuse a bad message, or the
# figures compare nothing.
for v in lefthook xtask; do
  git -C "$work/$v" commit -q --allow-empty -m "TASK-117: probe" 2>/dev/null || die "$v refused a good commit"
  if git -C "$work/$v" commit -q --allow-empty -m "TASK-118: probe" 2>/dev/null; then die "$v passed another task's id"; fi
done

say "timing $runs commits per variant"
export LEFTHOOK_BIN=$lefthook   # lefthook's fastest path: no search for its binary
hyperfine --style basic --warmup 5 --runs "$runs" --export-json "$work/commit.json" \
  -n none "git -C $work/none commit -q --allow-empty -m 'TASK-117: bench'" \
  -n lefthook "git -C $work/lefthook commit -q --allow-empty -m 'TASK-117: bench'" \
  -n xtask "git -C $work/xtask commit -q --allow-empty -m 'TASK-117: bench' 2>/dev/null" >&2
hyperfine --style basic --warmup 3 --runs 20 --export-json "$work/guard.json" \
  -n "target/debug/xtask branch-guard" "$bin --root $work/xtask branch-guard 2>/dev/null" \
  -n "cargo xtask branch-guard" "cargo xtask --root $work/xtask branch-guard 2>/dev/null" \
  -n "target/release/xtask branch-guard" "$root/target/release/xtask --root $work/xtask branch-guard 2>/dev/null" >&2

python3 - "$work/commit.json" "$work/guard.json" <<'EOF'
import json, sys
commit = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
guard = json.load(open(sys.argv[2]))["results"]
base = commit["none"]["mean"]
mbase = commit["none"]["median"]
print("| git commit on a task branch | mean | ± σ | median | overhead (mean) | overhead (median) |")
print("|---|---|---|---|---|---|")
for name in ["none", "lefthook", "xtask"]:
    r = commit[name]
    print(f"| {name} | {r['mean']*1000:.1f} ms | {r['stddev']*1000:.1f} ms | {r['median']*1000:.1f} ms | {(r['mean']-base)*1000:+.1f} ms | {(r['median']-mbase)*1000:+.1f} ms |")
print()
print("| one branch-guard run | mean | ± σ | median |")
print("|---|---|---|---|")
for r in guard:
    print(f"| {r['command']} | {r['mean']*1000:.1f} ms | {r['stddev']*1000:.1f} ms | {r['median']*1000:.1f} ms |")
verdict = "within" if commit["xtask"]["median"] <= commit["lefthook"]["median"] else "OVER"
print(f"\nbudget (xtask hooks no slower than lefthook, medians): {verdict}")
EOF
