#!/usr/bin/env bash
# What id shifting costs, side by side in one run (hyperfine, busybox image):
#   1. start: `run --rm IMAGE true` on the default path vs `--userns=keep-id`
#      (nested user namespace + shifted overlay) — the default path must not pay;
#   2. a volume of FILES small files walked and stat'ed (`ls -lnR`) as uid 1000:
#      `-v DIR:/d` (plain bind: root-owned for that user) vs `-v DIR:/d:U` (the FUSE
#      id-shifted passthrough).
#   3. with BASELINE=/path/to/other/burrow, the same default start with that binary
#      (e.g. one built from main) in the same run.
# Usage: bench/idshift.sh [RUNS] [FILES]   (as a normal user, or as root with
# BURROW_TEST_USER set, default burrow-test: every command then runs as that user)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
files=${2:-5000}
cargo build --release -p burrow >/dev/null
. bench/lib.sh
bench_work idshift
bench_install
bench_runtime_dir
run_as() { "${as_user[@]}" env HOME="$work/home" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$@"; }
tests/fixtures/busybox-rootfs.sh "$work/busybox.tar"
chmod 644 "$work/busybox.tar"
B="$work/burrow --root $work/store"
run_as $B import "$work/busybox.tar" busybox >/dev/null
run_as mkdir -p "$work/vol"
run_as sh -c "cd '$work/vol' && i=0 && while [ \$i -lt $files ]; do echo \$i > f\$i; i=\$((i+1)); done"
trap 'rm -rf "$work"' EXIT

extra=()
if [ -n "${BASELINE:-}" ]; then
  install -m 0755 "$BASELINE" "$work/baseline"
  extra=(-n "baseline default" "${as_user[*]} env XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR $work/baseline --root $work/store run --rm busybox true")
fi
run_as true
prefix="${as_user[*]} env XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"
hyperfine -N -w 3 -r "$runs" \
  -n "default" "$prefix $B run --rm busybox true" \
  -n "keep-id" "$prefix $B run --rm --userns=keep-id busybox true" \
  "${extra[@]}"
hyperfine -N -w 2 -r "$runs" \
  -n "bind, walk $files" "$prefix $B run --rm -u 1000 -v $work/vol:/d busybox ls -lnR /d" \
  -n ":U, walk $files" "$prefix $B run --rm -u 1000 -v $work/vol:/d:U busybox ls -lnR /d"
