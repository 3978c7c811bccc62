#!/usr/bin/env bash
# What the FUSE server itself costs for one workload: wall time, the server's CPU time
# (all its threads, from /proc/PID/task/*/schedstat) and its voluntary context
# switches, on a fresh mount per run with the upper and work dirs on a tmpfs. Uses the
# Debian layers and untar tarball bench/fs.sh caches (run `TREE=debian bench/fs.sh`
# once first).
#
#   bench/fs-cpu.sh BURROW_BINARY [untar|walk|read|pread] [RUNS]
#
# untar: the tree's /usr/share unpacked into the overlay (GNU tar, ~11 requests per
# file); walk: `find` with a stat of every entry; read: `cat` of every file; pread:
# the same with 4 parallel `cat`s. SERVER=fuse-overlayfs measures that server instead;
# EXTRA=",threads=1" appends mount options. Knobs: BENCH_FS_CACHE (/tmp/burrow-bench-fs).
set -euo pipefail
BIN=$1
OP=${2:-untar}
RUNS=${3:-3}
CACHE=${BENCH_FS_CACHE:-/tmp/burrow-bench-fs}
L=$CACHE/layers-debian
[ -d "$L" ] && [ -f "$CACHE/untar-debian.tar" ] || {
  echo "bench/fs-cpu.sh: run TREE=debian bench/fs.sh once first" >&2
  exit 1
}
if [ -z "${BENCH_FS_CPU_INSIDE:-}" ]; then
  export BENCH_FS_CPU_INSIDE=1
  exec unshare -Urm bash "$0" "$@"
fi
d=$(mktemp -d "$CACHE/cpu.XXXXXX")
mount -t tmpfs tmpfs "$d"
trap 'umount "$d/m" 2>/dev/null || true; umount "$d"; rmdir "$d"' EXIT
mkdir -p "$d/bin"
ln -s "$(realpath "$BIN")" "$d/bin/burrow-overlay"
for i in $(seq "$RUNS"); do
  rm -rf "$d/u" "$d/w"
  mkdir -p "$d/u" "$d/w" "$d/m"
  ${SERVER:-$d/bin/burrow-overlay} -f \
    -o "lowerdir=$L/l0:$L/l1:$L/l2,upperdir=$d/u,workdir=$d/w${EXTRA:-}" "$d/m" 2>/dev/null &
  pid=$!
  for _ in $(seq 200); do mountpoint -q "$d/m" && break; sleep 0.02; done
  start=$(date +%s.%N)
  case $OP in
    untar) mkdir "$d/m/untar" && tar -xf "$CACHE/untar-debian.tar" -C "$d/m/untar" ;;
    walk) find "$d/m" -printf '%i %s %m\n' >/dev/null ;;
    read) find "$d/m" -type f ! -name 'big*' -print0 | xargs -0 cat >/dev/null ;;
    pread) find "$d/m" -type f ! -name 'big*' -print0 | xargs -0 -n 200 -P 4 cat >/dev/null ;;
    *) echo "bench/fs-cpu.sh: unknown workload $OP" >&2; exit 1 ;;
  esac
  end=$(date +%s.%N)
  ns=0 switches=0
  for t in /proc/"$pid"/task/*; do
    read -r run _ <"$t/schedstat"
    ns=$((ns + run))
    switches=$((switches + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")))
  done
  printf '%s run %d: wall %.3f s, server cpu %.3f s, %d voluntary switches\n' \
    "$OP" "$i" "$(echo "$end - $start" | bc)" "$(echo "scale=4; $ns / 1000000000" | bc)" "$switches"
  umount "$d/m"
  wait "$pid" || true
done
