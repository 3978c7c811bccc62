#!/usr/bin/env bash
# Container start latency, side by side in one run:
#   burrow oci run (busybox `true` bundle)  vs  runc run (same bundle)  vs  unshare -Ur true (the floor)
# Usage: bench/start.sh [RUNS]   (needs hyperfine, runc, busybox-static; run as a normal user,
# or as root with BURROW_TEST_USER set: every command then runs as that user)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-50}
cargo build --release -p burrow >/dev/null
work=$(mktemp -d /tmp/burrow-bench-start.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

as_user=()
if [ "$(id -u)" = 0 ]; then
  user=${BURROW_TEST_USER:-burrow-test}
  as_user=(runuser -u "$user" --)
fi
# Two copies of the binary: one the user can write (burrow then re-executes from a
# sealed memfd copy, CVE-2019-5736) and one it cannot (a system install: no copy).
install -m 0755 target/release/burrow "$work/burrow-system"
install -m 0755 target/release/burrow "$work/burrow-user"
[ "${#as_user[@]}" -gt 0 ] && chown "$user" "$work/burrow-user" "$work"
"${as_user[@]}" env BURROW="$work/burrow-system" tests/fixtures/busybox-bundle.sh "$work/bundle" true
export XDG_RUNTIME_DIR="$work/xdg"
"${as_user[@]}" mkdir -p "$XDG_RUNTIME_DIR"

cd "$work/bundle"
"${as_user[@]}" hyperfine --warmup 5 --runs "$runs" -N --export-json "$work/start.json" \
  -n "burrow oci run (system install)" "$work/burrow-system oci --root $work/s1 run b1" \
  -n "burrow oci run (user-writable binary)" "$work/burrow-user oci --root $work/s2 run b2" \
  -n "runc run" "runc --root $work/s3 run r1" \
  -n "unshare -Ur true" "unshare -Ur true"
python3 "$repo/bench/medians.py" "$work/start.json" "runc run"
