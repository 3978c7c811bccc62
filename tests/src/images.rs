//! Images for engine tests: a busybox rootfs tarball built by
//! `tests/fixtures/busybox-rootfs.sh`, imported into the sandbox's engine store with
//! `burrow import`, and the `burrow --root STORE …` command line those tests share.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::command::Cmd;
use crate::fsutil;
use crate::runtime::Runtime;
use crate::sandbox::Sandbox;

impl Sandbox {
    /// The engine store (`burrow --root`) of this sandbox.
    pub fn engine_root(&self) -> PathBuf {
        self.dir().join("store")
    }

    /// `burrow --root <engine root> ARGS…` as the test user.
    pub fn burrow<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command(Runtime::burrow().program())
            .arg("--root")
            .arg(self.engine_root())
            .args(args)
    }

    /// The busybox rootfs tarball (built once per sandbox, readable by the test user).
    pub fn busybox_rootfs_tar(&self) -> PathBuf {
        let tar = self.dir().join("busybox-rootfs.tar");
        if !tar.is_file() {
            build_busybox_tar(&tar);
            fsutil::set_mode(&tar, 0o644);
            fsutil::give_to_user(&tar, self.user());
        }
        tar
    }

    /// `burrow import <busybox rootfs tar> NAME` into the engine store; panics on failure.
    #[track_caller]
    pub fn import_busybox(&self, name: &str) {
        let tar = self.busybox_rootfs_tar();
        let output = self.burrow(["import"]).arg(&tar).arg(name).run();
        if !output.success() {
            panic!("burrow import {} {name} failed: {output}", tar.display());
        }
    }
}

fn build_busybox_tar(out: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/busybox-rootfs.sh");
    let output = Command::new("sh")
        .arg(&script)
        .arg(out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if !output.status.success() || !out.is_file() {
        panic!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
