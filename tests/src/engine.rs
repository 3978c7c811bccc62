//! The Docker-style CLI on supervised containers, for end-to-end tests: one
//! store per test (`--root`), burrow run as the unprivileged test user, and a
//! busybox root filesystem for `--rootfs` containers.

use std::time::{Duration, Instant};

use crate::runtime::Runtime;
use crate::{Cmd, Sandbox};

pub struct Engine {
    pub sandbox: Sandbox,
    /// A busybox root filesystem (a plain directory).
    pub rootfs: std::path::PathBuf,
}

impl Engine {
    pub fn new(label: &str) -> Engine {
        let sandbox = Sandbox::new(label);
        let rootfs = sandbox.bundle("img").rootfs();
        Engine { sandbox, rootfs }
    }

    pub fn burrow<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.sandbox
            .command(Runtime::burrow().program())
            .arg("--root")
            .arg(self.sandbox.dir().join("store"))
            .args(args)
    }

    /// `burrow run [flags] --rootfs ROOTFS CMD…`
    pub fn run(&self, flags: &[&str], command: &[&str]) -> Cmd {
        self.burrow(["run"])
            .args(flags)
            .arg("--rootfs")
            .arg(&self.rootfs)
            .args(command)
    }

    pub fn wait_for(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
