#!/usr/bin/env bash
# Image pull + unpack from a local registry, side by side in one run:
#   `burrow pull` (the CLI, release build: pull + unpack as the containers' root into
#   its own --root store)
#   vs rootless `podman pull` (vfs storage: pull + unpack)
#   vs `skopeo copy docker:// oci:` (pull only, no unpack)
# cold (empty store) and warm (everything already present), plus peak memory of a cold run.
# The image: 4 gzip layers, pushed with skopeo to Debian's docker-registry on a free port,
# built from BENCH_ROOTFS (a `debootstrap --variant=minbase bookworm DIR` tree: made once,
# cached by the caller) or, without it, from host files (busybox, perl modules, python
# stdlib, /usr/share/doc).
# Usage: [BENCH_ROOTFS=DIR] bench/pull.sh [RUNS]   (needs hyperfine, docker-registry,
# skopeo, podman, uidmap, busybox-static; as root, measured commands run as BURROW_TEST_USER)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
runs=${1:-5}
target=${CARGO_TARGET_DIR:-$repo/target}
cargo build --release -p burrow >/dev/null 2>&1
work=$(mktemp -d /tmp/burrow-bench-pull.XXXXXX)
registry_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  [ -x "$work/burrow" ] && "${as_user[@]}" "$work/burrow" --root "$work/store" image prune -af \
    >/dev/null 2>&1 || true
  "${as_user[@]}" podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs \
    unshare rm -rf "$work/podman" >/dev/null 2>&1 || true
  rm -rf "$work"
}
as_user=()
trap cleanup EXIT
chmod 755 "$work"
if [ "$(id -u)" = 0 ]; then
  user=${BURROW_TEST_USER:-burrow-test}
  as_user=(runuser -u "$user" --)
  chown "$user" "$work"
fi
run() { "${as_user[@]}" "$@"; }
install -m 0755 "$target/release/burrow" "$work/burrow"

# --- the image: a skopeo dir: layout with 4 gzip layers ---
layout="$work/layout"; mkdir -p "$layout/rootfs/bin"
cp /bin/busybox "$layout/rootfs/bin/"
layer() { # name, tar args...
  local name=$1; shift
  tar --numeric-owner -cf "$layout/$name.tar" "$@"
  gzip -6 -k "$layout/$name.tar"
}
if [ -n "${BENCH_ROOTFS:-}" ]; then
  # A Debian tree (debootstrap --variant=minbase), split like a Dockerfile would be:
  # libraries, programs, shared data, the rest (no device nodes, no apt caches).
  layer l1 -C "$BENCH_ROOTFS" usr/lib
  layer l2 -C "$BENCH_ROOTFS" usr/bin usr/sbin usr/libexec
  layer l3 -C "$BENCH_ROOTFS" usr/share
  layer l4 -C "$BENCH_ROOTFS" --exclude=./usr/lib --exclude=./usr/bin --exclude=./usr/sbin \
    --exclude=./usr/libexec --exclude=./usr/share --exclude='./dev/*' \
    --exclude='./var/cache/apt/*' --exclude='./var/lib/apt/lists/*' .
else
  layer l1 -C "$layout/rootfs" bin
  layer l2 -C / usr/share/perl
  layer l3 -C / usr/lib/python3
  layer l4 -C / usr/share/doc
fi
python3 - "$layout" <<'EOF'
import hashlib, json, os, sys
d = sys.argv[1]
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""): h.update(b)
    return h.hexdigest()
layers, diffs = [], []
for n in ["l1", "l2", "l3", "l4"]:
    blob = sha(f"{d}/{n}.tar.gz"); diffs.append("sha256:" + sha(f"{d}/{n}.tar"))
    os.rename(f"{d}/{n}.tar.gz", f"{d}/{blob}"); os.remove(f"{d}/{n}.tar")
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + blob, "size": os.path.getsize(f"{d}/{blob}")})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diffs}, "history": []}).encode()
c = hashlib.sha256(config).hexdigest()
open(f"{d}/{c}", "wb").write(config)
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": "sha256:" + c, "size": len(config)}, "layers": layers}
open(f"{d}/manifest.json", "w").write(json.dumps(manifest))
open(f"{d}/version", "w").write("Directory Transport Version: 1.1\n")
total = sum(l["size"] for l in layers)
print(f"image: {len(layers)} layers, {total / 1e6:.1f} MB compressed", file=sys.stderr)
EOF
rm -rf "$layout/rootfs"
[ "${#as_user[@]}" -gt 0 ] && chown -R "$user" "$work"

# --- the registry ---
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat > "$work/registry/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/storage}}
http: {addr: 127.0.0.1:$port}
EOF
[ "${#as_user[@]}" -gt 0 ] && chown -R "$user" "$work/registry"
# setpriv execs (runuser would fork and keep the pid we kill): $! is the registry itself.
if [ "${#as_user[@]}" -gt 0 ]; then
  setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- \
    /usr/bin/docker-registry serve "$work/registry/config.yml" &
else
  /usr/bin/docker-registry serve "$work/registry/config.yml" &
fi
registry_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
ref=127.0.0.1:$port/bench/image:1
run skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false "dir:$layout" "docker://$ref"

# --- podman, rootless, private storage ---
printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' > "$work/containers.conf"
mkdir -p "$work/xdg" && chmod 700 "$work/xdg"
[ "${#as_user[@]}" -gt 0 ] && chown "$user" "$work/xdg" "$work/containers.conf"
export XDG_RUNTIME_DIR="$work/xdg" CONTAINERS_CONF="$work/containers.conf"
podman="podman --root $work/podman --runroot $work/podman-run --storage-driver vfs"

burrow_cold="$work/burrow --root $work/store pull -q $ref"
# Layers hold files of subordinate ids: empty the store through burrow (as podman's own
# rmi does for podman), not with rm -rf as the user.
burrow_empty="$work/burrow --root $work/store image prune -af"
podman_cold="$podman pull -q --tls-verify=false $ref"
skopeo_cold="skopeo --insecure-policy copy -q --src-tls-verify=false docker://$ref oci:$work/oci"
run hyperfine --runs "$runs" -N --export-json "$work/cold.json" \
  --prepare "$burrow_empty" -n "burrow pull (cold)" "$burrow_cold" \
  --prepare "sh -c '$podman rmi -af >/dev/null 2>&1 || true'" -n "podman pull (cold)" "$podman_cold" \
  --prepare "rm -rf $work/oci" -n "skopeo copy (cold, no unpack)" "$skopeo_cold" >&2
echo "### cold: empty store"
python3 "$repo/bench/medians.py" "$work/cold.json" "podman pull (cold)"
run hyperfine --runs "$runs" --warmup 1 -N --export-json "$work/warm.json" \
  -n "burrow pull (warm)" "$burrow_cold" \
  -n "podman pull (warm)" "$podman_cold" \
  -n "skopeo copy (warm, no unpack)" "$skopeo_cold" >&2
echo
echo "### warm: image already present"
python3 "$repo/bench/medians.py" "$work/warm.json" "podman pull (warm)"

echo
echo "### peak memory of one cold run (max RSS of the largest process, /usr/bin/time -v)"
echo "| command | peak RSS MB |"
echo "|---|---:|"
peak() { # name, prepare, command
  sh -c "$2" >/dev/null 2>&1 || true
  local kb
  kb=$(run /usr/bin/time -f %M sh -c "exec $3 >/dev/null 2>/dev/null" 2>&1 | tail -1)
  awk -v name="$1" -v kb="$kb" 'BEGIN { printf "| %s | %.1f |\n", name, kb / 1024 }'
}
peak "burrow pull" "${as_user[*]} $burrow_empty" "$burrow_cold"
peak "podman pull" "${as_user[*]} $podman rmi -af" "$podman_cold"
peak "skopeo copy" "rm -rf $work/oci" "$skopeo_cold"
