#!/usr/bin/env bash
# Userspace network throughput, side by side in one run (issue 5):
#   burrow net-helper (smoltcp stack)  vs  slirp4netns --mtu 65520  vs  pasta  vs  host loopback
# For each: iperf3 TCP throughput container->host (the container connects to a server on
# the host's 127.0.0.1 through the gateway; pasta through its loopback splice) and
# host->container (the host connects to a published port), short connections per second
# through the published port, and the network process's peak RSS. burrow runs twice:
# by default (everything through the smoltcp stack) and with --splice (loopback clients
# of published ports spliced into the namespace's loopback, as pasta does).
# Usage: bench/net.sh [RUNS] [SECONDS]   (needs iperf3, slirp4netns, passt, busybox-static,
# python3; run as a normal user, or as root with BURROW_TEST_USER set: every network
# process then runs as that user). All traffic stays on 127.0.0.1 and in the namespaces
# the script creates.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-3}
secs=${2:-5}
cargo build --release -p burrow >/dev/null
. bench/lib.sh
bench_work net
pids=()
burrow_ids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for id in "${burrow_ids[@]}"; do
    "${as_user[@]}" "$work/burrow" oci --root "$work/state" delete --force "$id" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

bench_install
bench_runtime_dir

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 200); do eval "$1" && return 0; sleep 0.05; done; echo "timed out: $1" >&2; return 1; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

# A server in the namespace that accepts and closes (for connections per second), and
# a client on the host that opens, reads to EOF and closes, for $secs seconds.
cat > "$work/gbits.py" <<'EOF'
import json, sys
print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
EOF
cat > "$work/accept.py" <<'EOF'
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(512)
if len(sys.argv) > 2:
    open(sys.argv[2], "w").write(str(os.getpid()))
while True:
    c, _ = s.accept(); c.sendall(b"x"); c.close()
EOF
cat > "$work/connect.py" <<'EOF'
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
n, failed, end = 0, 0, time.time() + secs
while time.time() < end:
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=2)
        while c.recv(64): pass
        c.close(); n += 1
    except OSError:
        failed += 1
if failed: print("%d connections failed" % failed, file=sys.stderr)
print("%.0f" % (n / secs))
EOF
chmod 644 "$work"/*.py

# Every engine is set up first and stays up; then each run measures every engine in
# turn (round robin), so drift in the machine's load hits them all alike. `measure`
# only records the command; the result is the median of $runs runs.
declare -A result cmds rsspid
engines=()
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
measure() { # engine measure command...
  local engine=$1 what=$2; shift 2
  [[ " ${engines[*]} " == *" $engine "* ]] || engines+=("$engine")
  cmds[$engine,$what]=$(printf '%q ' "$@")
}

host_server_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$host_server_port" -D --pidfile "$work/host-iperf.pid"
wait_for "[ -s $work/host-iperf.pid ]"
pids+=("$(cat "$work/host-iperf.pid")")

# ---- host loopback (the ceiling)
echo "host loopback" >&2
measure host c2h sh -c "iperf3 -c 127.0.0.1 -p $host_server_port -t $secs -J | python3 $work/gbits.py"
lo_accept=$(free_port)
python3 "$work/accept.py" "$lo_accept" & pids+=($!)
wait_for "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $lo_accept))' 2>/dev/null"
measure host conn python3 "$work/connect.py" "$lo_accept" "$secs"

# ---- burrow: busybox rootfs plus the host's /usr (iperf3, python3) read-only
"${as_user[@]}" env BURROW="$work/burrow" tests/fixtures/busybox-bundle.sh "$work/bundle" sleep 1000000 >/dev/null
python3 - "$work/bundle/config.json" <<'EOF'
import json, sys
path = sys.argv[1]; spec = json.load(open(path))
spec["linux"]["namespaces"].append({"type": "network"})
spec["root"]["readonly"] = False
spec["mounts"].append({"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]})
json.dump(spec, open(path, "w"))
EOF
"${as_user[@]}" ln -s usr/lib "$work/bundle/rootfs/lib"
"${as_user[@]}" ln -s usr/lib64 "$work/bundle/rootfs/lib64"
cp "$work/accept.py" "$work/bundle/rootfs/tmp/"
bexec() { "${as_user[@]}" "$work/burrow" oci --root "$work/state" exec "$@"; }
# burrow_engine NAME [net-helper flags]: a container with iperf3 and the accept server.
burrow_engine() {
  local engine=$1; shift
  echo "setting up $engine" >&2
  local id=netbench-$$-${#burrow_ids[@]}
  burrow_ids+=("$id")
  "${as_user[@]}" "$work/burrow" oci --root "$work/state" run -d --bundle "$work/bundle" "$id" >/dev/null
  local cpid pub_iperf pub_accept helper
  cpid=$("${as_user[@]}" "$work/burrow" oci --root "$work/state" state "$id" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
  pub_iperf=$(free_port); pub_accept=$(free_port)
  "${as_user[@]}" "$work/burrow" net-helper --pid "$cpid" --host-loopback "$@" \
    -p "127.0.0.1:$pub_iperf:5201" -p "127.0.0.1:$pub_accept:8000" > "$work/helper-$id.out" &
  helper=$!; pids+=($helper)
  wait_for "grep -q ready $work/helper-$id.out"
  bexec -d "$id" sh -c 'exec /usr/bin/iperf3 -s -p 5201 >/dev/null 2>&1'
  bexec -d "$id" sh -c 'exec /usr/bin/python3 /tmp/accept.py 8000 >/dev/null 2>&1'
  wait_for "python3 -c 'import socket; c=socket.create_connection((\"127.0.0.1\", $pub_accept)); assert c.recv(1)' 2>/dev/null"
  measure "$engine" c2h sh -c "$(printf '%q ' "${as_user[@]}") $work/burrow oci --root $work/state exec $id /usr/bin/iperf3 -c 10.0.2.2 -p $host_server_port -t $secs -J | python3 $work/gbits.py"
  measure "$engine" h2c sh -c "iperf3 -c 127.0.0.1 -p $pub_iperf -t $secs -J | python3 $work/gbits.py"
  measure "$engine" conn python3 "$work/connect.py" "$pub_accept" "$secs"
  rsspid[$engine]=$helper
}
burrow_engine burrow
burrow_engine burrow-splice --splice

# ---- slirp4netns --mtu 65520 (host loopback reachable at 10.0.2.2, its default)
echo "slirp4netns" >&2
"${as_user[@]}" unshare --user --map-root-user --net --fork --kill-child sh -c "echo \$\$ > $work/slirp-ns.pid; exec sleep 1000000" &
pids+=($!)
wait_for "[ -s $work/slirp-ns.pid ]"
nspid=$(cat "$work/slirp-ns.pid"); pids+=($nspid)
"${as_user[@]}" slirp4netns --configure --mtu=65520 --api-socket "$work/slirp.sock" "$nspid" tap0 >/dev/null 2>&1 &
slirp=$!; pids+=($slirp)
wait_for "[ -S $work/slirp.sock ]"
slirp_iperf=$(free_port); slirp_accept=$(free_port)
for fwd in "$slirp_iperf 5201" "$slirp_accept 8000"; do
  set -- $fwd
  python3 - "$work/slirp.sock" "$1" "$2" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(json.dumps({"execute": "add_hostfwd", "arguments": {"proto": "tcp",
    "host_addr": "127.0.0.1", "host_port": int(sys.argv[2]), "guest_port": int(sys.argv[3])}}).encode())
reply = s.recv(4096); assert b"error" not in reply, reply
EOF
done
sns() { "${as_user[@]}" nsenter --preserve-credentials -U -n -t "$nspid" "$@"; }
sns iperf3 -s -p 5201 -D --pidfile "$work/slirp-iperf.pid"
# (a function in the background is a subshell: the server's own pid comes from its file)
sns python3 "$work/accept.py" 8000 "$work/slirp-accept.pid" &
wait_for "[ -s $work/slirp-accept.pid ]"; pids+=("$(cat "$work/slirp-accept.pid")")
wait_for "[ -s $work/slirp-iperf.pid ]"; pids+=("$(cat "$work/slirp-iperf.pid")")
wait_for "python3 -c 'import socket; c=socket.create_connection((\"127.0.0.1\", $slirp_accept)); assert c.recv(1)' 2>/dev/null"
measure slirp4netns c2h sh -c "$(printf '%q ' "${as_user[@]}") nsenter --preserve-credentials -U -n -t $nspid iperf3 -c 10.0.2.2 -p $host_server_port -t $secs -J | python3 $work/gbits.py"
measure slirp4netns h2c sh -c "iperf3 -c 127.0.0.1 -p $slirp_iperf -t $secs -J | python3 $work/gbits.py"
measure slirp4netns conn python3 "$work/connect.py" "$slirp_accept" "$secs"
rsspid[slirp4netns]=$slirp

# ---- pasta: -t for published ports, -T for the namespace's loopback splice to the host
echo "pasta" >&2
pasta_iperf=$(free_port); pasta_accept=$(free_port)
"${as_user[@]}" pasta --config-net --foreground --no-map-gw -u none -U none \
  -t "127.0.0.1/$pasta_iperf:5201" -t "127.0.0.1/$pasta_accept:8000" -T "$host_server_port" \
  -- sleep 1000000 >/dev/null 2>&1 &
pasta=$!; pids+=($pasta)
# pasta runs the command in new namespaces (pid included): find it as pasta's child.
wait_for "pgrep -P $pasta -x sleep >/dev/null"
pnspid=$(pgrep -P "$pasta" -x sleep); pids+=($pnspid)
pns() { "${as_user[@]}" nsenter --preserve-credentials -U -n -t "$pnspid" "$@"; }
pns iperf3 -s -p 5201 -D --pidfile "$work/pasta-iperf.pid"
pns python3 "$work/accept.py" 8000 "$work/pasta-accept.pid" &
wait_for "[ -s $work/pasta-accept.pid ]"; pids+=("$(cat "$work/pasta-accept.pid")")
wait_for "[ -s $work/pasta-iperf.pid ]"; pids+=("$(cat "$work/pasta-iperf.pid")")
wait_for "python3 -c 'import socket; c=socket.create_connection((\"127.0.0.1\", $pasta_accept)); assert c.recv(1)' 2>/dev/null"
measure pasta c2h sh -c "$(printf '%q ' "${as_user[@]}") nsenter --preserve-credentials -U -n -t $pnspid iperf3 -c 127.0.0.1 -p $host_server_port -t $secs -J | python3 $work/gbits.py"
measure pasta h2c sh -c "iperf3 -c 127.0.0.1 -p $pasta_iperf -t $secs -J | python3 $work/gbits.py"
measure pasta conn python3 "$work/connect.py" "$pasta_accept" "$secs"
rsspid[pasta]=$pasta

# ---- the runs
declare -A values
for run in $(seq "$runs"); do
  for e in "${engines[@]}"; do
    for what in c2h h2c conn; do
      [ -n "${cmds[$e,$what]:-}" ] || continue
      v=$(eval "${cmds[$e,$what]}")
      values[$e,$what]+="$v "
      echo "  run $run: $e $what $v" >&2
    done
  done
done
for key in "${!values[@]}"; do
  # shellcheck disable=SC2086 # a list of numbers
  result[$key]=$(median ${values[$key]})
done
result[host,h2c]=${result[host,c2h]}
result[host,rss]="-"
for e in "${!rsspid[@]}"; do result[$e,rss]=$(peak_rss_mib "${rsspid[$e]}"); done

# ---- table
ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if b not in ('0','-') else '-')" "$1" "$2"; }
echo
echo "medians of $runs runs, $secs s each; ratios against slirp4netns"
echo
echo "| engine | container→host Gbit/s | host→container Gbit/s | connections/s | peak RSS MiB | c→h × slirp | h→c × slirp | conn × slirp |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for e in burrow burrow-splice slirp4netns pasta host; do
  name=$e; [ "$e" = host ] && name="host loopback"
  [ "$e" = burrow-splice ] && name="burrow --splice"
  echo "| $name | ${result[$e,c2h]} | ${result[$e,h2c]} | ${result[$e,conn]} | ${result[$e,rss]} |" \
       "$(ratio "${result[$e,c2h]}" "${result[slirp4netns,c2h]}") | $(ratio "${result[$e,h2c]}" "${result[slirp4netns,h2c]}") |" \
       "$(ratio "${result[$e,conn]}" "${result[slirp4netns,conn]}") |"
done
