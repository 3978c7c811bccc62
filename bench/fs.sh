#!/usr/bin/env bash
# Overlay filesystems side by side, in one run: a plain directory (baseline), the
# kernel overlayfs mounted in a user namespace, fuse-overlayfs, and burrow's overlay
# (burrow-overlay), on the same three lower layers. Every run gets a fresh mount (cold
# overlay caches, warm page cache), except the "walk-warm" row.
#
#   bench/fs.sh                 # synthetic tree: 30,000 small files in 3 layers
#   TREE=debian bench/fs.sh     # a debootstrap --variant=minbase bookworm rootfs
#                               # (made once with debootstrap, cached) split in 3 layers
#
# Knobs: BURROW (default target/release/burrow), RUNS (5), BENCH_FS_CACHE
# (/tmp/burrow-bench-fs), SKIP_BIG=1 skips the 1 GiB write/read, BURROW_BEFORE=<another
# burrow binary> adds a "burrow-before" column (before/after a change, same run),
# BURROW_OPTS / BURROW_BEFORE_OPTS add mount options to either (e.g. the same binary
# twice with BURROW_BEFORE_OPTS=io_uring=0: io_uring queues against /dev/fuse),
# WRITE_DIR=tmpfs (default) | disk: where the upper and work dirs (and the plain
# baseline's scratch copy) live. The lowers stay on the disk (warm page cache).
#
# Why a tmpfs by default: on an ext4 without a journal (the CI machines' disk) a new
# inode is not given the number of one deleted in the last minute or so, and finding a
# free one then scans the inode table: every run here starts by deleting the previous run's
# upper, so untar times on the disk swung 1.4-5.9 s between identical runs and measured
# the allocator more than the overlay. WRITE_DIR=disk measures that case.
# Needs: hyperfine, fuse-overlayfs, fuse3, python3, unshare (util-linux); /dev/fuse
# usable by the caller. Runs everything inside one `unshare -Urm` so the kernel overlay
# and both FUSE servers mount without privileges. Prints a table of medians and ratios
# to the plain directory and to fuse-overlayfs.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BURROW=${BURROW:-$here/target/release/burrow}
CACHE=${BENCH_FS_CACHE:-/tmp/burrow-bench-fs}
RUNS=${RUNS:-5}
TREE=${TREE:-synthetic}

if [ -z "${BENCH_FS_INSIDE:-}" ]; then
  for tool in hyperfine fuse-overlayfs python3 unshare; do
    command -v "$tool" >/dev/null || { echo "bench/fs.sh: $tool is missing" >&2; exit 1; }
  done
  [ -x "$BURROW" ] || { echo "bench/fs.sh: build burrow first (cargo build --release)" >&2; exit 1; }
  mkdir -p "$CACHE"
  # Prepare the data outside the namespace (cached between runs).
  if [ "$TREE" = debian ]; then
    src="$CACHE/debian"
    if [ ! -d "$src" ]; then
      debootstrap --variant=minbase bookworm "$CACHE/debian.tmp" >"$CACHE/debootstrap.log" 2>&1
      mv "$CACHE/debian.tmp" "$src"
    fi
    layers="$CACHE/layers-debian"
    if [ ! -d "$layers" ]; then
      # Three layers the way images are built: base system, then /usr/share and
      # /usr/lib on top of it in their own layers.
      mkdir -p "$layers.tmp"/{l0,l1,l2}
      cp -a "$src/." "$layers.tmp/l2/"
      mkdir -p "$layers.tmp/l1/usr" "$layers.tmp/l0/usr"
      mv "$layers.tmp/l2/usr/share" "$layers.tmp/l1/usr/share"
      mv "$layers.tmp/l2/usr/lib" "$layers.tmp/l0/usr/lib"
      mv "$layers.tmp" "$layers"
    fi
  else
    layers="$CACHE/layers-synthetic"
    if [ ! -d "$layers" ]; then
      python3 - "$layers.tmp" <<'PY'
import os, sys, random
root = sys.argv[1]
random.seed(7)
for layer in range(3):
    for d in range(100):
        base = os.path.join(root, "l%d" % layer, "d%d%02d" % (layer, d))
        os.makedirs(base)
        for f in range(100):
            with open(os.path.join(base, "f%03d" % f), "wb") as out:
                out.write(os.urandom(random.randint(100, 4000)))
    common = os.path.join(root, "l%d" % layer, "common")
    os.makedirs(common)
    for f in range(1000):
        with open(os.path.join(common, "c%d-%03d" % (layer, f)), "wb") as out:
            out.write(b"x" * 512)
with open(os.path.join(root, "l2", "big100m"), "wb") as out:
    for _ in range(100):
        out.write(os.urandom(1 << 20))
PY
      mv "$layers.tmp" "$layers"
    fi
  fi
  if [ -z "${SKIP_BIG:-}" ] && [ ! -f "$layers/l2/big1g" ]; then
    head -c 1073741824 /dev/urandom >"$layers/l2/big1g"
  fi
  if [ ! -f "$layers/l2/big100m" ]; then
    head -c 104857600 /dev/urandom >"$layers/l2/big100m"
  fi
  [ -f "$CACHE/untar-$TREE.tar" ] || tar -cf "$CACHE/untar-$TREE.tar" -C "$layers/l1" .
  export BENCH_FS_INSIDE=1 BENCH_LAYERS="$layers" BURROW CACHE RUNS TREE BURROW_BEFORE \
    BURROW_OPTS BURROW_BEFORE_OPTS
  exec unshare -Urm bash "$0" "$@"
fi

# ---- inside the user + mount namespace ------------------------------------------
layers=$BENCH_LAYERS
work=$(mktemp -d "$CACHE/run.XXXXXX")
if [ "${WRITE_DIR:-tmpfs}" = tmpfs ]; then
  mount -t tmpfs -o size=8g,mode=0755 burrow-bench "$work"
fi
trap 'for m in "$work"/*/m; do umount "$m" 2>/dev/null || true; done; umount "$work" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/bin"
ln -s "$BURROW" "$work/bin/burrow-overlay"
if [ -n "${BURROW_BEFORE:-}" ]; then
  mkdir -p "$work/bin-before"
  ln -s "$BURROW_BEFORE" "$work/bin-before/burrow-overlay"
fi
lowers="$layers/l0:$layers/l1:$layers/l2"

# The plain baseline: the merged tree as one ordinary directory.
plain_src="$CACHE/plain-$TREE"
if [ ! -d "$plain_src" ]; then
  rm -rf "$plain_src.tmp"
  mkdir -p "$plain_src.tmp"
  # In here device nodes cannot be made and ids outside the namespace's map cannot
  # be kept (the Debian tree has both): the baseline goes without them, a handful of
  # entries that do not change what walk, du and reads cost.
  for l in l2 l1 l0; do cp -a "$layers/$l/." "$plain_src.tmp/" 2>/dev/null || true; done
  mv "$plain_src.tmp" "$plain_src"
fi

mount_one() { # kind -> mounts $work/kind/m
  local kind=$1 d=$work/$1
  umount "$d/m" 2>/dev/null || true
  rm -rf "$d/u" "$d/w"
  mkdir -p "$d/u" "$d/w" "$d/m"
  case $kind in
    plain) mount --bind "$plain_src" "$d/m" ;;
    kernel) mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$d/u,workdir=$d/w,userxattr" "$d/m" ;;
    fuse-overlayfs) fuse-overlayfs -o "lowerdir=$lowers,upperdir=$d/u,workdir=$d/w" "$d/m" ;;
    burrow) "$work/bin/burrow-overlay" -o "lowerdir=$lowers,upperdir=$d/u,workdir=$d/w${BURROW_OPTS:+,$BURROW_OPTS}" "$d/m" ;;
    burrow-before) "$work/bin-before/burrow-overlay" -o "lowerdir=$lowers,upperdir=$d/u,workdir=$d/w${BURROW_BEFORE_OPTS:+,$BURROW_BEFORE_OPTS}" "$d/m" ;;
  esac
}
plain_copy() { # dest: a writable copy of the plain tree
  if [ "${WRITE_DIR:-tmpfs}" = tmpfs ]; then
    mkdir -p "$1"
    for e in "$plain_src"/* "$plain_src"/.[!.]*; do
      [ -e "$e" ] || [ -L "$e" ] || continue
      case ${e##*/} in
        big1g) ln -s "$e" "$1/" ;;
        *) cp -a "$e" "$1/" 2>/dev/null || true ;;
      esac
    done
  else
    cp -al "$plain_src" "$1"
  fi
}
export -f mount_one plain_copy
export work lowers plain_src WRITE_DIR

kinds=(plain kernel fuse-overlayfs burrow)
[ -n "${BURROW_BEFORE:-}" ] && kinds+=(burrow-before)
results="$work/results"
mkdir -p "$results"

# Read-only operations, each run on a fresh mount: the overlay's own caches (the
# kernel's dentries, inodes and attributes of the mount, the FUSE server's tables) are
# cold, the page cache of the layer files is warm. That is what a container sees when it
# starts. "walk-warm" repeats the walk on one mount after a warm-up run: with long
# entry/attribute timeouts (burrow and fuse-overlayfs both give them) the kernel then
# answers nearly every stat itself, so that row measures the kernel's caches, not the
# FUSE server.
read_ops=(
  "walk|find @M -printf '%i %s %m\n' >/dev/null"
  "du|du -s @M >/dev/null"
  "read-all|find @M -type f ! -name 'big*' -print0 | xargs -0 cat >/dev/null"
)
warm_ops=(
  "walk-warm|find @M -printf '%i %s %m\n' >/dev/null"
)
# Changing operations: a fresh upper before every run. The plain baseline gets a
# fresh copy only where the operation destroys its data.
change_ops=(
  "untar|mkdir @M/untar && tar -xf $CACHE/untar-$TREE.tar -C @M/untar"
  "copy-up-100M|echo x >> @M/big100m"
  "rm-rf-lower-dir|rm -rf @M/${RMDIR:-usr/share}"
  "write-4k-x25k|dd if=/dev/zero of=@M/small-writes bs=4k count=25000 status=none"
)
[ "$TREE" = synthetic ] && change_ops[2]="rm-rf-lower-dir|rm -rf @M/common @M/d100 @M/d101 @M/d102"
if [ -z "${SKIP_BIG:-}" ]; then
  change_ops+=("write-1G|dd if=/dev/zero of=@M/new1g bs=1M count=1024 conv=fsync status=none")
  change_ops+=("read-1G|cat @M/big1g >/dev/null")
fi

rss_note=""
for kind in "${kinds[@]}"; do
  m="$work/$kind/m"
  for op in "${read_ops[@]}"; do
    name=${op%%|*}; cmd=${op#*|}; cmd=${cmd//@M/$m}
    hyperfine --style none --runs "$RUNS" --prepare "mount_one $kind" \
      --export-json "$results/$name.$kind.json" --shell bash "$cmd" >/dev/null
  done
  mount_one "$kind"
  for op in "${warm_ops[@]}"; do
    name=${op%%|*}; cmd=${op#*|}; cmd=${cmd//@M/$m}
    hyperfine --style none --warmup 1 --runs "$RUNS" --export-json "$results/$name.$kind.json" \
      --shell bash "$cmd" >/dev/null
  done
  if [ "$kind" != plain ] && [ "$kind" != kernel ]; then
    # Peak RSS of a server that has walked and read the whole tree once.
    mount_one "$kind"
    find "$m" -printf '%i %s %m\n' >/dev/null
    find "$m" -type f ! -name 'big*' -print0 | xargs -0 cat >/dev/null
    pattern=$([ "$kind" = fuse-overlayfs ] && echo "fuse-overlayfs" || echo "burrow-overlay")
    pid=$(pgrep -n -f "$pattern .*-o .*$work/$kind/m\$" || true)
    if [ -n "$pid" ]; then
      rss_note="$rss_note$kind server peak RSS after a walk and a read of every file: $(grep VmHWM /proc/$pid/status | awk '{print $2, $3}')\n"
    fi
  fi
  umount "$m"
done

for kind in "${kinds[@]}"; do
  m="$work/$kind/m"
  for op in "${change_ops[@]}"; do
    name=${op%%|*}; cmd=${op#*|}; cmd=${cmd//@M/$m}
    if [ "$kind" = plain ]; then
      # The plain baseline works on a copy of the tree, bind-mounted before each run:
      # hard-linked on the disk; on the tmpfs a real copy (the 1 GiB file linked to).
      prepare="umount $m 2>/dev/null; rm -rf $work/plain/copy; plain_copy $work/plain/copy; mkdir -p $m; mount --bind $work/plain/copy $m"
    else
      prepare="mount_one $kind"
    fi
    hyperfine --style none --runs "$RUNS" --prepare "$prepare" --export-json "$results/$name.$kind.json" \
      --shell bash "$cmd" >/dev/null
  done
  umount "$m" 2>/dev/null || true
done

python3 - "$results" "${kinds[@]}" <<'PY'
import json, os, sys
results, kinds = sys.argv[1], sys.argv[2:]
ops = []
for name in sorted(os.listdir(results)):
    op = name.split(".")[0]
    if op not in ops:
        ops.append(op)
order = ["walk", "walk-warm", "du", "read-all", "untar", "rm-rf-lower-dir", "copy-up-100M", "write-4k-x25k", "write-1G", "read-1G"]
ops.sort(key=lambda o: order.index(o) if o in order else 99)
def median(op, kind):
    with open(os.path.join(results, "%s.%s.json" % (op, kind))) as f:
        return json.load(f)["results"][0]["median"]
extra = "burrow-before" in kinds
print("%-16s" % "median (s)" + "".join("%16s" % k for k in kinds) + "%14s%14s%14s" % ("burrow/plain", "burrow/kern", "fuseovl/burrow")
      + ("%14s" % "before/after" if extra else ""))
def ratio(a, b):
    return "%14.2f" % (a / b) if b > 0.0005 else "%14s" % "-"
for op in ops:
    t = {k: median(op, k) for k in kinds}
    print("%-16s" % op + "".join("%16.3f" % t[k] for k in kinds)
          + ratio(t["burrow"], t["plain"]) + ratio(t["burrow"], t["kernel"])
          + ratio(t["fuse-overlayfs"], t["burrow"])
          + (ratio(t["burrow-before"], t["burrow"]) if extra else ""))
PY
printf "$rss_note"
