#!/usr/bin/env bash
# `burrow run` against rootless Podman on the same busybox image, side by side in one run:
#   1. start latency: `run --rm IMAGE true` (hyperfine), burrow vs podman --runtime runc
#      with fuse-overlayfs and slirp4netns (the rootless stack without kernel help);
#   2. COUNT detached `sleep` containers: the total memory (PSS) of each engine's own processes
#      (PSS; burrow: its supervisors; podman: conmon + slirp4netns + fuse-overlayfs +
#      its pause process), and the time of the first and of the last start.
# Usage: bench/run.sh [RUNS] [COUNT]   (as a normal user, or as root with
# BURROW_TEST_USER set, default burrow-test: every command then runs as that user)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-20}
count=${2:-50}
cargo build --release -p burrow >/dev/null
. bench/lib.sh
bench_work run
run_as() { "${as_user[@]}" env HOME="$work/home" XDG_RUNTIME_DIR="$work/xdg" "$@"; }
run_as mkdir -p "$work/home" "$work/xdg"
chmod 700 "$work/xdg"
# A binary the user cannot write (a system install: no sealed-memfd copy at start).
bench_install
tests/fixtures/busybox-rootfs.sh "$work/busybox.tar"
chmod 644 "$work/busybox.tar"

B=("$work/burrow" --root "$work/store")
run_as mkdir -p "$work/podman"
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n' >"$work/podman/containers.conf"
export CONTAINERS_CONF="$work/podman/containers.conf"
P=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay
   --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs --runtime runc)

cleanup() {
  run_as "${B[@]}" rm -f $(run_as "${B[@]}" ps -aq) >/dev/null 2>&1 || true
  run_as "${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  run_as "${P[@]}" unshare rm -rf "$work/podman/root" >/dev/null 2>&1 || true
  # podman's pause process of this run (the one whose runtime dir is ours).
  local pid
  for pid in $(pgrep -u "$user" -x catatonit); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$work/xdg" &&
      kill "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

run_as "${B[@]}" import "$work/busybox.tar" busybox >/dev/null
run_as "${P[@]}" import "$work/busybox.tar" busybox >/dev/null

echo "== start latency: run --rm busybox true"
run_as hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  -n "burrow run --rm" "${B[*]} run --rm busybox true" \
  -n "podman run --rm" "${P[*]} run --rm --network slirp4netns busybox true"
python3 "$repo/bench/medians.py" "$work/run.json" "podman run --rm"

# Proportional set size (KiB: resident memory, shared pages split among the processes
# sharing them) of the user's processes whose command name is one of "$@".
pss_of() {
  local total=0 pid comm owner
  for pid in /proc/[0-9]*; do
    owner=$(stat -c %U "$pid" 2>/dev/null) || continue
    [ "$owner" = "$user" ] || continue
    comm=$(cat "$pid/comm" 2>/dev/null) || continue
    # burrow's supervisors of this run only (their command line names its store).
    if [ "$comm" = burrow ] && ! tr '\0' ' ' <"$pid/cmdline" 2>/dev/null | grep -q "$work/store"; then
      continue
    fi
    for name in "$@"; do
      if [ "$comm" = "$name" ]; then
        total=$((total + $(awk '/^Pss:/ {print $2}' "$pid/smaps_rollup" 2>/dev/null || echo 0)))
      fi
    done
  done
  echo "$total"
}

detached() {
  local label=$1; shift
  local first last start end
  for i in $(seq 1 "$count"); do
    start=$(date +%s%N)
    run_as "$@" "$i" >/dev/null
    end=$(date +%s%N)
    [ "$i" = 1 ] && first=$(( (end - start) / 1000000 ))
    last=$(( (end - start) / 1000000 ))
  done
  echo "$label: first start ${first} ms, start #$count ${last} ms"
}

echo "== $count detached sleep containers"
bstart() { "${B[@]}" run -d --name "b$1" busybox sleep 600; }
detached "burrow run -d" bash -c "$(declare -p B); $(declare -f bstart); bstart \"\$0\""
burrow_rss=$(pss_of burrow)
echo "burrow: supervisors' PSS ${burrow_rss} KiB for $count containers"
run_as "${B[@]}" rm -f $(run_as "${B[@]}" ps -aq) >/dev/null
pstart() { "${P[@]}" run -d --network slirp4netns --name "p$1" busybox sleep 600; }
detached "podman run -d" bash -c "$(declare -p P); $(declare -f pstart); pstart \"\$0\""
podman_rss=$(pss_of conmon slirp4netns fuse-overlayfs catatonit podman)
echo "podman: conmon + slirp4netns + fuse-overlayfs + pause PSS ${podman_rss} KiB for $count containers"
python3 -c "import sys; b, p = map(int, sys.argv[1:]); print(f'PSS ratio burrow/podman: {b/p:.2f}')" "$burrow_rss" "$podman_rss"
