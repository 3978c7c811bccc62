#!/usr/bin/env bash
# Container-to-container throughput on a private (user-defined) network (issue 5): a
# `burrow network-switch` process and two `burrow oci run -d` containers whose
# `burrow net-helper --switch` joins it with their own address (10.89.1.2 and .3/24,
# gateway and DNS 10.89.1.1). iperf3 (one TCP stream) runs as a server in B and as a
# client in A, both ways (-R), with the host's loopback as the ceiling; ping gives the
# round-trip time A→B; VmHWM gives the switch's peak RSS. Runs go round robin.
# Usage: bench/private-net.sh [RUNS] [SECONDS]   (needs iperf3, busybox-static, python3;
# run as a normal user, or as root with BURROW_TEST_USER set). All traffic stays on
# 127.0.0.1 and in the namespaces the script creates.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
secs=${2:-5}
cargo build --release -p burrow >/dev/null
. bench/lib.sh
bench_work pnet
pids=()
ids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for id in "${ids[@]}"; do
    "${as_user[@]}" "$work/burrow" oci --root "$work/state" delete --force "$id" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
bench_install
bench_runtime_dir
wait_for() { for _ in $(seq 200); do eval "$1" && return 0; sleep 0.05; done; echo "timed out: $1" >&2; return 1; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cat > "$work/gbits.py" <<'PY'
import json, sys
print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
PY

# busybox rootfs plus the host's /usr (iperf3) read-only.
"${as_user[@]}" env BURROW="$work/burrow" tests/fixtures/busybox-bundle.sh "$work/bundle" sleep 1000000 >/dev/null
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]; spec = json.load(open(path))
spec["linux"]["namespaces"].append({"type": "network"})
spec["root"]["readonly"] = False
spec["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
for caps in spec["process"].get("capabilities", {}).values():
    caps.append("CAP_NET_RAW")  # busybox ping
json.dump(spec, open(path, "w"))
PY
"${as_user[@]}" ln -s usr/lib "$work/bundle/rootfs/lib"
"${as_user[@]}" ln -s usr/lib64 "$work/bundle/rootfs/lib64"
oci() { "${as_user[@]}" "$work/burrow" oci --root "$work/state" "$@"; }

socket="$XDG_RUNTIME_DIR/net1.sock"
"${as_user[@]}" "$work/burrow" network-switch --socket "$socket" --idle-exit 600 &
switch=$!; pids+=($switch)
wait_for "[ -S $socket ]"
switch_pid=$switch

member() { # NAME IP
  local id=pnet-$$-$1
  ids+=("$id")
  oci run -d --bundle "$work/bundle" "$id" >/dev/null
  local cpid
  cpid=$(oci state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  "${as_user[@]}" "$work/burrow" net-helper --pid "$cpid" --switch "$socket" --ip "$2/24" \
    --gateway 10.89.1.1 --name a=10.89.1.2 --name b=10.89.1.3 > "$work/helper-$1.out" &
  pids+=($!)
  wait_for "grep -q ready $work/helper-$1.out"
}
member a 10.89.1.2
member b 10.89.1.3
oci exec -d "pnet-$$-b" sh -c 'exec /usr/bin/iperf3 -s -p 5201 >/dev/null 2>&1'
wait_for "oci exec pnet-$$-a sh -c 'echo | nc -w 1 10.89.1.3 5201' >/dev/null 2>&1"

iperf3 -s -B 127.0.0.1 -p 15201 -D --pidfile "$work/host-iperf.pid"
wait_for "[ -s $work/host-iperf.pid ]"
pids+=("$(cat "$work/host-iperf.pid")")

declare -a a2b b2a lo rtt
for run in $(seq "$runs"); do
  echo "run $run/$runs" >&2
  a2b+=("$(oci exec "pnet-$$-a" /usr/bin/iperf3 -c 10.89.1.3 -t "$secs" -J | python3 "$work/gbits.py")")
  b2a+=("$(oci exec "pnet-$$-a" /usr/bin/iperf3 -c 10.89.1.3 -t "$secs" -R -J | python3 "$work/gbits.py")")
  lo+=("$(iperf3 -c 127.0.0.1 -p 15201 -t "$secs" -J | python3 "$work/gbits.py")")
  rtt+=("$(oci exec "pnet-$$-a" ping -q -c 20 -i 0.05 10.89.1.3 | awk -F/ '/round-trip/ {print $4}')")
done
printf '| path | Gbit/s (median of %s × %ss) | runs |\n|---|---:|---|\n' "$runs" "$secs"
printf '| A→B through the switch | %s | %s |\n' "$(median "${a2b[@]}")" "${a2b[*]}"
printf '| B→A through the switch (-R) | %s | %s |\n' "$(median "${b2a[@]}")" "${b2a[*]}"
printf '| host loopback | %s | %s |\n' "$(median "${lo[@]}")" "${lo[*]}"
printf '\nping A→B avg RTT ms: %s (runs: %s)\n' "$(median "${rtt[@]}")" "${rtt[*]}"
printf 'switch peak RSS MiB: %s\n' "$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$switch_pid/status")"
