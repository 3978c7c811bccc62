#!/usr/bin/env bash
# Podman's slirp4netns network mode with two network programs, side by side in one run:
# slirp4netns itself and burrow-slirp (containers.conf's network_cmd_path), rootless,
# runc, vfs storage. With hyperfine:
#   1. container → host: `podman run --rm` fetching SIZE_MB from a busybox httpd on the
#      host's 127.0.0.1 through 10.0.2.2 (allow_host_loopback=true, mtu=65520);
#   2. host → container: curl fetching SIZE_MB from a detached container's httpd
#      published with -p 127.0.0.1:PORT:8080 and port_handler=slirp4netns (the API socket).
# Both include podman's own costs, identical for the two programs; (1) includes the
# container start. Usage: bench/slirp.sh [RUNS] [SIZE_MB]   (as a normal user, or as
# root with BURROW_TEST_USER set, default burrow-test)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-10}
size_mb=${2:-512}
cargo build --release -p burrow >/dev/null
. bench/lib.sh
bench_work slirp
run_as() { "${as_user[@]}" env HOME="$work/home" XDG_RUNTIME_DIR="$work/xdg" "$@"; }
run_as mkdir -p "$work/home" "$work/xdg" "$work/www" "$work/tmp"
chmod 700 "$work/xdg"
bench_install
ln -s burrow "$work/burrow-slirp"
tests/fixtures/busybox-rootfs.sh "$work/busybox.tar"
chmod 644 "$work/busybox.tar"
run_as dd if=/dev/zero of="$work/www/big" bs=1M count="$size_mb" status=none

conf() { # conf NAME NETWORK_CMD_PATH
  printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\ntmp_dir = "%s"\n' \
    "$work/tmp" >"$work/$1.conf"
  [ -n "$2" ] && printf 'network_cmd_path = "%s"\n' "$2" >>"$work/$1.conf"
  chmod 644 "$work/$1.conf"
}
conf slirp4netns ""
conf burrow-slirp "$work/burrow-slirp"
P=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver vfs
   --cgroup-manager cgroupfs --events-backend file)
with() { echo "env CONTAINERS_CONF=$work/$1.conf ${P[*]}"; }

host_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
busybox httpd -f -p "127.0.0.1:$host_port" -h "$work/www" &
httpd=$!

cleanup() {
  kill "$httpd" 2>/dev/null || true
  run_as $(with slirp4netns) rm -af -t 0 >/dev/null 2>&1 || true
  run_as $(with slirp4netns) unshare rm -rf "$work/podman" >/dev/null 2>&1 || true
  local pid
  for pid in $(pgrep -u "$user" -x catatonit); do
    tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "XDG_RUNTIME_DIR=$work/xdg" &&
      kill "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT

run_as $(with slirp4netns) import "$work/busybox.tar" busybox >/dev/null

echo "== container → host: run --rm busybox wget $size_mb MiB from the host's 127.0.0.1"
fetch="wget -qO /dev/null http://10.0.2.2:$host_port/big"
net="--network slirp4netns:allow_host_loopback=true,mtu=65520"
run_as hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/out.json" \
  -n "slirp4netns" "$(with slirp4netns) run --rm $net busybox $fetch" \
  -n "burrow-slirp" "$(with burrow-slirp) run --rm $net busybox $fetch"
python3 "$repo/bench/medians.py" "$work/out.json" "slirp4netns"

echo "== host → container: curl $size_mb MiB through -p (port_handler=slirp4netns)"
declare -A ports
for program in slirp4netns burrow-slirp; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  run_as $(with $program) run -d --name "web-$program" -p "127.0.0.1:$port:8080" \
    --network slirp4netns:port_handler=slirp4netns,mtu=65520 busybox \
    sh -c "dd if=/dev/zero of=/tmp/big bs=1M count=$size_mb 2>/dev/null; httpd -f -p 8080 -h /tmp" >/dev/null
  until curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$port/big"; do sleep 0.2; done
  ports[$program]=$port
done
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/in.json" \
  -n "slirp4netns" "curl -s -o /dev/null http://127.0.0.1:${ports[slirp4netns]}/big" \
  -n "burrow-slirp" "curl -s -o /dev/null http://127.0.0.1:${ports[burrow-slirp]}/big"
python3 "$repo/bench/medians.py" "$work/in.json" "slirp4netns"
