//! Running one overlay scenario against the kernel's overlayfs (the oracle) and against
//! burrow's overlay (`burrow-overlay`), as the unprivileged test user inside
//! `unshare -Urm`, and reporting what programs saw in each.
//!
//! A scenario is shell: one script per lower layer (run inside that layer's directory,
//! top layer first, with `wh PATH` to white a name out and `opq DIR` to make a directory
//! opaque — written as `.wh.` files for burrow and as a 0:0 device / `user.overlay.opaque`
//! for the kernel), and an operations script run in the mounted tree whose output is
//! part of the comparison. After the operations, `observe.py` prints every entry of the
//! merged tree: type, mode, owner, size, link count (non-directories), symlink target,
//! a content hash, user xattrs and hard-link groups. Times, directory sizes and inode
//! numbers are not compared (they legitimately differ); scenarios that care print
//! relations (`same`/`changed`) instead. The mount lives in the `unshare` process's
//! mount namespace, so it disappears with it even when a test fails.

use std::path::PathBuf;
use std::time::Duration;

use burrow_tests::binary::burrow_binary;
use burrow_tests::{Output, Sandbox};

pub const OBSERVE: &str = r#"
import hashlib, os, stat, sys
root = sys.argv[1]
groups = {}
rows = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(dirnames + filenames):
        path = os.path.join(dirpath, name)
        rel = os.path.relpath(path, root)
        st = os.lstat(path)
        kind = stat.S_IFMT(st.st_mode)
        fields = [rel, oct(st.st_mode), "%d:%d" % (st.st_uid, st.st_gid)]
        if stat.S_ISDIR(st.st_mode):
            fields.append("dir")
        elif stat.S_ISLNK(st.st_mode):
            fields += ["link", os.readlink(path), "nlink=%d" % st.st_nlink]
        elif stat.S_ISREG(st.st_mode):
            try:
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()[:12]
            except OSError as e:
                digest = "unreadable=%d" % e.errno
            fields += ["size=%d" % st.st_size, digest, "nlink=%d" % st.st_nlink]
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
        else:
            fields += ["special", "rdev=%d" % st.st_rdev, "nlink=%d" % st.st_nlink]
        try:
            names = sorted(n for n in os.listxattr(path, follow_symlinks=False) if n.startswith("user."))
            for n in names:
                fields.append("%s=%r" % (n, os.getxattr(path, n, follow_symlinks=False)))
        except OSError as e:
            fields.append("xattr-error=%d" % e.errno)
        rows.append(" ".join(fields))
for row in rows:
    print(row)
for paths in sorted(groups.values()):
    if len(paths) > 1:
        print("hardlinks", " ".join(sorted(paths)))
"#;

const RUNNER: &str = r#"
set -u
base=$1; form=$2; nlayers=$3
cd "$base"
wh() {
  if [ "$form" = oci ]; then : > "$(dirname "$1")/.wh.$(basename "$1")"
  else mknod "$1" c 0 0; fi
}
opq() {
  if [ "$form" = oci ]; then : > "$1/.wh..wh..opq"
  else python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.overlay.opaque", b"y")' "$1"; fi
}
lowers=""
i=0
while [ $i -lt "$nlayers" ]; do
  mkdir -p "l$i"
  (cd "l$i" && . "$base/layer$i.sh") || { echo "layer $i failed"; exit 90; }
  lowers="$lowers${lowers:+:}$base/l$i"
  i=$((i+1))
done
mkdir -p u w m
# In foreground mode the server's pid is $server and its log $base/server.log
# (appended to by every mount), for scenarios that kill it or read its warnings.
server=
extra=
[ -e "$base/options" ] && extra=",$(cat "$base/options")"
mount_burrow() {
  if [ -e "$base/foreground" ]; then
    "$base/bin/burrow-overlay" -f -o "lowerdir=$lowers,upperdir=$base/u,workdir=$base/w$extra" \
      "$base/m" 2>>"$base/server.log" &
    server=$!
    tries=0
    until grep -q " $base/m " /proc/self/mountinfo; do
      tries=$((tries+1))
      if [ $tries -gt 600 ] || ! kill -0 "$server" 2>/dev/null; then
        cat "$base/server.log"; return 1
      fi
      sleep 0.05
    done
  else
    "$base/bin/burrow-overlay" -o "lowerdir=$lowers,upperdir=$base/u,workdir=$base/w$extra" "$base/m"
  fi
}
if [ "$form" = oci ]; then
  mount_burrow || exit 91
else
  mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$base/u,workdir=$base/w,userxattr" "$base/m" || exit 92
fi
cd "$base/m"
step() {
  printf '$ %s\n' "$*"
  out=$(sh -c "$*" 2>&1); rc=$?
  [ -n "$out" ] && printf '%s\n' "$out" | sed "s|$base|BASE|g"
  echo "rc=$rc"
}
. "$base/ops.sh"
cd "$base"
echo "--- tree"
python3 "$base/observe.py" "$base/m"
umount "$base/m"
[ -z "$server" ] || wait "$server"
"#;

/// What one run saw.
pub struct Seen {
    pub output: Output,
    pub dir: PathBuf,
}

impl Seen {
    pub fn text(&self) -> &str {
        &self.output.stdout
    }
}

pub struct Scenario<'a> {
    pub name: &'a str,
    /// Lower layers, top first: shell run inside the layer dir.
    pub layers: &'a [&'a str],
    /// Operations run in the mounted tree (use `step CMD` to record output and status).
    pub ops: &'a str,
}

/// Runs the scenario on one overlay ("oci" = burrow, "kernel" = overlayfs).
pub fn run(sandbox: &Sandbox, scenario: &Scenario<'_>, form: &str) -> Seen {
    run_in(sandbox, scenario, form, &["-Urm"])
}

/// [`run`] with other `unshare` flags (e.g. `--map-auto` for subordinate ids).
pub fn run_in(sandbox: &Sandbox, scenario: &Scenario<'_>, form: &str, unshare: &[&str]) -> Seen {
    run_with(sandbox, scenario, form, unshare, Setup::default())
}

/// How a run differs from the plain one.
#[derive(Default)]
pub struct Setup<'a> {
    /// burrow's server runs in the foreground: the operations see its pid as `$server`,
    /// its log is `$base/server.log`, and `mount_burrow` mounts it again.
    pub foreground: bool,
    /// Called with the run's directory before the layers are built (as the test
    /// process, so it can make files the namespace's root does not own).
    pub prepare: Option<&'a dyn Fn(&std::path::Path)>,
    /// Mount options added to burrow's (e.g. `io_uring=0`); the run gets its own
    /// directory.
    pub options: Option<&'a str>,
}

/// [`run_in`] with a [`Setup`].
pub fn run_with(
    sandbox: &Sandbox,
    scenario: &Scenario<'_>,
    form: &str,
    unshare: &[&str],
    setup: Setup<'_>,
) -> Seen {
    let run = match setup.options {
        Some(_) => format!("{}-{form}-options", scenario.name),
        None => format!("{}-{form}", scenario.name),
    };
    let dir = sandbox.make_dir(&run);
    sandbox.make_dir(&format!("{run}/bin"));
    let link = dir.join("bin/burrow-overlay");
    std::os::unix::fs::symlink(&burrow_binary().burrow, &link)
        .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
    let rel = |name: &str| format!("{run}/{name}");
    for (i, layer) in scenario.layers.iter().enumerate() {
        sandbox.write_file(&rel(&format!("layer{i}.sh")), layer);
    }
    sandbox.write_file(&rel("ops.sh"), scenario.ops);
    sandbox.write_file(&rel("observe.py"), OBSERVE);
    sandbox.write_file(&rel("runner.sh"), RUNNER);
    if setup.foreground {
        sandbox.write_file(&rel("foreground"), "");
    }
    if let Some(options) = setup.options {
        sandbox.write_file(&rel("options"), options);
    }
    if let Some(prepare) = setup.prepare {
        prepare(&dir);
    }
    let output = sandbox
        .command("unshare")
        .args(unshare)
        .arg("sh")
        .arg(dir.join("runner.sh"))
        .arg(&dir)
        .arg(form)
        .arg(scenario.layers.len().to_string())
        .timeout(Duration::from_secs(120))
        .run();
    Seen { output, dir }
}

/// Runs the scenario on both and asserts that programs saw the same thing.
pub fn assert_same_as_kernel(sandbox: &Sandbox, scenario: &Scenario<'_>) -> Seen {
    assert_same_as_kernel_in(sandbox, scenario, &["-Urm"])
}

/// [`assert_same_as_kernel`] with other `unshare` flags (e.g. `--map-auto`).
pub fn assert_same_as_kernel_in(
    sandbox: &Sandbox,
    scenario: &Scenario<'_>,
    unshare: &[&str],
) -> Seen {
    let kernel = run_in(sandbox, scenario, "kernel", unshare);
    assert!(
        kernel.output.success(),
        "the kernel overlay (oracle) failed the scenario: {}",
        kernel.output
    );
    let burrow = run_in(sandbox, scenario, "oci", unshare);
    assert_same_run(&kernel, &burrow, scenario, "");
    if io_uring_switched_on() {
        // The run above went through the io_uring queues: /dev/fuse too.
        let setup = Setup {
            options: Some("io_uring=0"),
            ..Setup::default()
        };
        let dev = run_with(sandbox, scenario, "oci", unshare, setup);
        assert_same_run(&kernel, &dev, scenario, " (over /dev/fuse, io_uring=0)");
    }
    burrow
}

fn assert_same_run(kernel: &Seen, burrow: &Seen, scenario: &Scenario<'_>, how: &str) {
    assert!(
        burrow.output.success(),
        "burrow failed{how}: {}",
        burrow.output
    );
    if kernel.text() != burrow.text() {
        panic!(
            "burrow's overlay{how} differs from the kernel's in {}:\n{}",
            scenario.name,
            diff(kernel.text(), burrow.text())
        );
    }
}

/// Whether root has turned FUSE over io_uring on (burrow's overlay then uses it).
pub fn io_uring_switched_on() -> bool {
    std::fs::read_to_string("/sys/module/fuse/parameters/enable_uring")
        .is_ok_and(|value| value.trim() == "Y")
}

/// A line diff good enough to read in a test failure.
pub fn diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for line in &expected {
        if !actual.contains(line) {
            out.push_str(&format!("- kernel: {line}\n"));
        }
    }
    for line in &actual {
        if !expected.contains(line) {
            out.push_str(&format!("+ burrow: {line}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different order)\n");
        out.push_str(&format!(
            "kernel:\n{}\nburrow:\n{}",
            expected.join("\n"),
            actual.join("\n")
        ));
    }
    out
}
