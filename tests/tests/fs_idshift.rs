//! The drop-in's id options (`uidmapping=`, `gidmapping=`, `squash_to_*`), as the
//! unprivileged test user inside `unshare --map-auto --map-root-user --mount` (so ids
//! like 5 and 1000 exist): the owners shown are compared with fuse-overlayfs mounted
//! the same way with the same options (the oracle, when it is installed), then what
//! is stored for new files and chown is checked on disk (burrow only).

use std::path::Path;
use std::time::Duration;

use burrow_tests::binary::burrow_binary;
use burrow_tests::{Output, Sandbox};

const SHOWN: &str = r#"
set -u
base=$1; prog=$2
cd "$base"; rm -rf l u w m; mkdir -p l u w m
touch l/root l/five l/seven; chown 5:5 l/five; chown 7:7 l/seven
mount_with() {
  "$prog" -o "lowerdir=$base/l,upperdir=$base/u,workdir=$base/w,$1" "$base/m" 2>/dev/null || exit 91
  ls -ln m | sed 1d | awk '{print $9, $3":"$4}'
  stat -c '%n %u:%g' m/root m/five m/seven
  umount m
}
echo "-- map"; mount_with uidmapping=0:1000:1:5:5:1,gidmapping=0:1000:1:5:5:1
echo "-- squash"; mount_with squash_to_uid=3,squash_to_root
echo "-- gid only"; mount_with gidmapping=7:70:1
"#;

const STORED: &str = r#"
set -u
base=$1; prog=$2
cd "$base"; rm -rf l u w m; mkdir -p l u w m
touch l/root l/seven; chown 7:7 l/seven
"$prog" -o "lowerdir=$base/l,upperdir=$base/u,workdir=$base/w,uidmapping=0:1000:1:5:5:1,gidmapping=0:1000:1:5:5:1" "$base/m" || exit 91
setpriv --reuid 1000 --regid 1000 --clear-groups touch m/by-1000 && echo "created by 1000"
touch m/by-root 2>/dev/null || echo "root cannot create: unmapped"
chown 5:5 m/root && echo "chowned to 5"
chown 7 m/seven 2>/dev/null || echo "chown to 7 refused"
stat -c '%n %u:%g' m/by-1000 m/root
umount m
stat -c 'disk %n %u:%g' u/by-1000 u/root
"#;

fn run_script(sandbox: &Sandbox, name: &str, script: &str, program: &Path) -> Output {
    let dir = sandbox.make_dir(name);
    let file = sandbox.write_file(&format!("{name}.sh"), script);
    sandbox
        .command("unshare")
        .args(["--map-auto", "--map-root-user", "--mount", "sh"])
        .arg(file)
        .arg(&dir)
        .arg(program)
        .timeout(Duration::from_secs(60))
        .run()
}

fn drop_in(sandbox: &Sandbox) -> std::path::PathBuf {
    let bin = sandbox.make_dir("bin");
    let link = bin.join("burrow-overlay");
    std::os::unix::fs::symlink(&burrow_binary().burrow, &link)
        .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
    link
}

#[test]
fn idshift_drop_in_shows_mapped_owners_like_fuse_overlayfs() {
    let sandbox = Sandbox::new("fs-idshift-shown");
    let burrow = run_script(&sandbox, "burrow", SHOWN, &drop_in(&sandbox));
    burrow.assert_success();
    let text = &burrow.stdout;
    for expected in [
        "-- map\nfive 5:5\nroot 1000:1000\nseven 65534:65534",
        "-- squash\nfive 3:0\nroot 3:0\nseven 3:0",
        "-- gid only\nfive 5:65534\nroot 0:65534\nseven 7:70",
    ] {
        assert!(text.contains(expected), "missing {expected:?}: {burrow}");
    }
    let oracle = Path::new("/usr/bin/fuse-overlayfs");
    if !oracle.exists() {
        eprintln!("fuse-overlayfs not installed: comparison skipped");
        return;
    }
    let fuse_overlayfs = run_script(&sandbox, "oracle", SHOWN, oracle);
    if !fuse_overlayfs.success() {
        eprintln!("fuse-overlayfs does not mount here: comparison skipped: {fuse_overlayfs}");
        return;
    }
    assert_eq!(
        burrow.stdout, fuse_overlayfs.stdout,
        "burrow-overlay and fuse-overlayfs show different owners"
    );
}

#[test]
fn idshift_drop_in_stores_reverse_mapped_owners() {
    let sandbox = Sandbox::new("fs-idshift-stored");
    let out = run_script(&sandbox, "stored", STORED, &drop_in(&sandbox));
    out.assert_success();
    for expected in [
        "created by 1000",
        "root cannot create: unmapped",
        "chowned to 5",
        "chown to 7 refused",
        "m/by-1000 1000:1000",
        "m/root 5:5",
        "disk u/by-1000 0:0",
        "disk u/root 5:5",
    ] {
        assert!(out.stdout.contains(expected), "missing {expected:?}: {out}");
    }
}
