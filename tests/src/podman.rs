//! podman as a real client of an OCI runtime, isolated in a sandbox.
//!
//! Every podman command gets its own storage (`--root`, `--runroot`, vfs driver), the
//! cgroupfs manager (no systemd session here), file events, and `CONTAINERS_CONF` /
//! `CONTAINERS_STORAGE_CONF` files in the sandbox so the user's own configuration never
//! matters. No registry is reachable: images are made with `podman import` from a busybox
//! rootfs tarball. Rootless podman leaves a pause process holding its user namespace;
//! its pid file is registered with the sandbox, which kills it on drop.

use std::ffi::OsStr;
use std::path::PathBuf;

use crate::bundle::populate_busybox_rootfs;
use crate::command::Cmd;
use crate::fsutil;
use crate::sandbox::Sandbox;

const CONTAINERS_CONF: &str = "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n";

pub struct Podman<'a> {
    sandbox: &'a Sandbox,
    program: PathBuf,
    root: PathBuf,
    runroot: PathBuf,
    /// The storage flags of every command (`--storage-driver vfs` by default).
    storage: Vec<String>,
}

impl<'a> Podman<'a> {
    /// Sets up podman's private dirs and config files; panics when podman is missing.
    pub fn new(sandbox: &'a Sandbox) -> Podman<'a> {
        let program = ["/usr/bin/podman", "/usr/local/bin/podman"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("podman is not installed (run .ci/run, which installs it)"));
        let root = sandbox.make_dir("podman/root");
        let runroot = sandbox.make_dir("podman/runroot");
        sandbox.write_file("podman/containers.conf", CONTAINERS_CONF);
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            root.display(),
            runroot.display()
        );
        sandbox.write_file("podman/storage.conf", storage);
        sandbox.track_pid_file(&sandbox.xdg_dir().join("libpod/tmp/pause.pid"));
        Podman {
            sandbox,
            program,
            root,
            runroot,
            storage: vec!["--storage-driver".into(), "vfs".into()],
        }
    }

    /// Adds lines to the `[engine]` table of the sandbox's containers.conf (e.g.
    /// `network_cmd_path = "…"`).
    pub fn add_engine_config(&self, lines: &str) {
        self.sandbox.write_file(
            "podman/containers.conf",
            format!("{CONTAINERS_CONF}{lines}\n"),
        );
    }

    /// Like [`Podman::new`], with containers/storage's overlay driver mounting
    /// through `mount_program` (a fuse-overlayfs-compatible program).
    pub fn with_mount_program(sandbox: &'a Sandbox, mount_program: &std::path::Path) -> Podman<'a> {
        let mut podman = Podman::new(sandbox);
        podman.storage = vec![
            "--storage-driver".into(),
            "overlay".into(),
            "--storage-opt".into(),
            format!("overlay.mount_program={}", mount_program.display()),
        ];
        podman
    }

    /// `podman <isolation flags> ARGS…` as the test user.
    pub fn command<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let dir = self.sandbox.dir().join("podman");
        self.sandbox
            .command(&self.program)
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(&self.storage)
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .args(args)
    }

    /// Imports a busybox rootfs as image `name` (e.g. `localhost/busybox:e2e`).
    pub fn import_busybox(&self, name: &str) {
        let rootfs = self.sandbox.dir().join("podman/image-rootfs");
        populate_busybox_rootfs(&rootfs, self.sandbox.user());
        let tarball = self.sandbox.dir().join("podman/image.tar");
        self.sandbox
            .command("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .run()
            .assert_success();
        fsutil::give_to_user(&tarball, self.sandbox.user());
        self.command(["import".as_ref(), tarball.as_os_str(), OsStr::new(name)])
            .run()
            .assert_success();
    }
}

impl Drop for Podman<'_> {
    /// Removes every container, running or not, even when the test failed:
    /// conmon does not carry the sandbox's marker, so the sandbox alone would
    /// leave a running container's processes behind.
    fn drop(&mut self) {
        let _ = self
            .command(["rm", "--all", "--force", "--time", "0"])
            .timeout(std::time::Duration::from_secs(60))
            .run_quietly();
    }
}
