//! One test's private world: a temp dir owned by the test user with the runtime's state
//! dir (`--root`), a fresh `XDG_RUNTIME_DIR`, a `TMPDIR`, bundles and captured output.
//!
//! Cleanup runs on drop, also when the test panics: `delete --force` of every container id
//! the test asked for, SIGKILL to every process carrying the sandbox's marker (see
//! [`crate::procfs`]) and to the pids it was told about, then removal of the directory
//! (see [`crate::fsutil::remove_tree`] for files owned by subordinate ids). Drop never
//! panics; what it cannot clean is reported on stderr.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bundle::Bundle;
use crate::command::{Cmd, Output};
use crate::fsutil;
use crate::names::unique_name;
use crate::procfs::{self, MARKER_VAR};
use crate::runtime::Runtime;
use crate::spec::Spec;
use crate::user::TestUser;

/// PATH for every command (the test user's environment is built from scratch).
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub struct Sandbox {
    dir: PathBuf,
    token: String,
    user: &'static TestUser,
    runtime: Runtime,
    container_ids: Mutex<Vec<String>>,
    pids: Mutex<Vec<i32>>,
    pid_files: Mutex<Vec<PathBuf>>,
}

impl Sandbox {
    /// A sandbox for the runtime chosen by `BURROW_TEST_RUNTIME` (burrow by default).
    /// `label` (usually the test name) goes into directory names and container ids.
    pub fn new(label: &str) -> Sandbox {
        Sandbox::with_runtime(label, Runtime::from_env())
    }

    pub fn with_runtime(label: &str, runtime: Runtime) -> Sandbox {
        let user = TestUser::get();
        let token = unique_name(label);
        let dir = fsutil::temp_base().join(format!("burrow-e2e-{token}"));
        if dir.exists() {
            panic!("sandbox {} already exists", dir.display());
        }
        let sandbox = Sandbox {
            dir,
            token,
            user,
            runtime,
            container_ids: Mutex::new(Vec::new()),
            pids: Mutex::new(Vec::new()),
            pid_files: Mutex::new(Vec::new()),
        };
        fsutil::make_dir(&sandbox.dir, 0o755, user);
        for (sub, mode) in [
            ("state", 0o700),
            ("xdg", 0o700),
            ("tmp", 0o700),
            ("io", 0o755),
        ] {
            fsutil::make_dir(&sandbox.dir.join(sub), mode, user);
        }
        fsutil::make_dir(&sandbox.dir.join("bundles"), 0o755, user);
        sandbox.check_user_can_write();
        sandbox
    }

    fn check_user_can_write(&self) {
        let probe = self
            .command("sh")
            .arg("-c")
            .arg("test -w \"$1\" && test -w \"$2\"");
        let output = probe
            .arg("sh")
            .arg(self.state_dir())
            .arg(self.xdg_dir())
            .run();
        if !output.success() {
            panic!(
                "user {} cannot use sandbox {} (set BURROW_TEST_TMPDIR to a directory it can \
                 traverse): {output}",
                self.user.name,
                self.dir.display()
            );
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The runtime's `--root`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    pub fn xdg_dir(&self) -> PathBuf {
        self.dir.join("xdg")
    }

    pub fn user(&self) -> &'static TestUser {
        self.user
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Switches this sandbox to a private copy of its runtime binary, owned by the test
    /// user like a binary in ~/.local/bin (so the user, and container root, could write it
    /// given a handle). Returns the copy's path.
    pub fn use_private_runtime_copy(&mut self) -> PathBuf {
        let source = self.runtime.program().to_path_buf();
        let name = source
            .file_name()
            .expect("a runtime binary has a file name")
            .to_owned();
        let bin = self.make_dir("bin");
        let copy = bin.join(name);
        std::fs::copy(&source, &copy)
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", source.display()));
        fsutil::set_mode(&copy, 0o755);
        fsutil::give_to_user(&copy, self.user);
        self.runtime = match self.runtime {
            Runtime::Burrow(_) => Runtime::Burrow(copy.clone()),
            Runtime::Runc(_) => Runtime::Runc(copy.clone()),
        };
        copy
    }

    /// The unique token of this sandbox (also the marker value).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The environment every command gets.
    pub fn base_env(&self) -> Vec<(OsString, OsString)> {
        let user = self.user;
        [
            ("HOME", user.home.as_os_str()),
            ("USER", OsStr::new(&user.name)),
            ("LOGNAME", OsStr::new(&user.name)),
            ("PATH", OsStr::new(PATH)),
            ("XDG_RUNTIME_DIR", self.xdg_dir().as_os_str()),
            ("TMPDIR", self.dir.join("tmp").as_os_str()),
            (MARKER_VAR, OsStr::new(&self.token)),
        ]
        .into_iter()
        .map(|(k, v)| (OsString::from(k), v.to_os_string()))
        .collect()
    }

    /// `program` run as the test user from the sandbox dir.
    pub fn command(&self, program: impl Into<PathBuf>) -> Cmd {
        Cmd::new(
            program,
            self.base_env(),
            &self.dir,
            &self.dir.join("io"),
            self.user,
        )
    }

    /// `<runtime> --root <state dir> ARGS…` (for burrow, `burrow oci --root … ARGS…`).
    pub fn oci<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.oci_without_root(["--root".as_ref(), self.state_dir().as_os_str()])
            .args(args)
    }

    /// The runtime's OCI command without `--root`, for tests that choose their own.
    pub fn oci_without_root<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let (program, prefix) = self.runtime.oci_command();
        self.command(program).args(prefix).args(args)
    }

    /// A container id unique to this test; the sandbox deletes it on drop.
    pub fn container_id(&self, label: &str) -> String {
        let id = unique_name(label);
        lock(&self.container_ids).push(id.clone());
        id
    }

    /// Makes drop SIGKILL `pid` if it is still alive.
    pub fn track_pid(&self, pid: i32) {
        lock(&self.pids).push(pid);
    }

    /// Makes drop SIGKILL the pid written in `path`, if any.
    pub fn track_pid_file(&self, path: &Path) {
        lock(&self.pid_files).push(path.to_path_buf());
    }

    /// A bundle with a busybox rootfs and the runtime's rootless spec (see [`Bundle`]).
    pub fn bundle(&self, label: &str) -> Bundle {
        Bundle::create(self, label)
    }

    /// `run --bundle B ID` in the foreground.
    pub fn run_bundle(&self, bundle: &Bundle, id: &str) -> Output {
        self.oci(["run", "--bundle"])
            .arg(bundle.path())
            .arg(id)
            .run()
    }

    /// One-shot: a fresh bundle edited by `edit`, run in the foreground under a fresh id.
    /// Returns the id (for leftovers checks) and what `run` did.
    pub fn run_container(&self, edit: impl FnOnce(&mut Spec)) -> (String, Output) {
        let label = unique_name("oneshot");
        let bundle = self.bundle(&label);
        bundle.edit(edit);
        let id = self.container_id("c");
        let output = self.run_bundle(&bundle, &id);
        (id, output)
    }

    /// A directory in the sandbox owned by the test user (mode 0755).
    pub fn make_dir(&self, relative: &str) -> PathBuf {
        let path = self.dir.join(relative);
        fsutil::make_dir(&path, 0o755, self.user);
        path
    }

    /// A file in the sandbox owned by the test user (mode 0644).
    pub fn write_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.join(relative);
        fsutil::write_file(&path, contents, 0o644, self.user);
        path
    }

    /// `state ID` parsed, or the failed command's output.
    pub fn try_state(&self, id: &str) -> Result<Value, Output> {
        let output = self.oci(["state", id]).run();
        if !output.success() {
            return Err(output);
        }
        serde_json::from_str(&output.stdout)
            .map_err(|e| panic!("state {id} printed invalid JSON ({e}): {output}"))
    }

    /// `state ID` parsed; fails the test when the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        self.try_state(id)
            .unwrap_or_else(|output| panic!("state {id} failed: {output}"))
    }

    /// Polls `state ID` until its status is `status` (the container may not exist yet
    /// when polling starts); fails the test after `timeout`.
    #[track_caller]
    pub fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.try_state(id) {
                Ok(state) if state["status"] == status => return state,
                Ok(state) => format!("status {}: {state}", state["status"]),
                Err(output) => format!("state fails: {output}"),
            };
            if Instant::now() >= deadline {
                panic!("container {id} not {status} after {timeout:?}; {last}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Paths under the state dir whose name mentions `id` (stale state if any is left).
    pub fn state_entries_for(&self, id: &str) -> Vec<PathBuf> {
        fsutil::walk(&self.state_dir())
            .into_iter()
            .filter(|path| {
                path.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(id))
            })
            .collect()
    }

    /// Live processes started on behalf of this sandbox (the runtime, its helpers and
    /// container processes), found by the marker.
    pub fn live_processes(&self) -> Vec<i32> {
        procfs::processes_with_marker(&self.token)
    }

    /// Waits up to `grace` for the sandbox's processes to be gone; returns the survivors
    /// with their command lines.
    pub fn leftover_processes(&self, grace: Duration) -> Vec<String> {
        let deadline = Instant::now() + grace;
        loop {
            let pids = self.live_processes();
            if pids.is_empty() || Instant::now() >= deadline {
                return pids.into_iter().map(describe_pid).collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asserts that a failed or finished container left nothing: no state entry for it,
    /// no `list` line for it, no process of this sandbox still running.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        let entries = self.state_entries_for(id);
        assert!(entries.is_empty(), "stale state for {id}: {entries:?}");
        let list = self.oci(["list", "-q"]).run();
        assert!(
            !list.stdout_lines().contains(&id),
            "{id} still listed after it should be gone: {list}"
        );
        let leftovers = self.leftover_processes(Duration::from_secs(2));
        assert!(
            leftovers.is_empty(),
            "processes left behind: {leftovers:#?}"
        );
    }

    fn cleanup(&self) {
        for id in lock(&self.container_ids).iter() {
            let delete = self
                .oci(["delete", "--force", id])
                .timeout(Duration::from_secs(10));
            let _ = delete.run_quietly();
        }
        let mut pids = lock(&self.pids).clone();
        pids.extend(
            lock(&self.pid_files)
                .iter()
                .filter_map(|path| read_pid(path)),
        );
        let survivors = procfs::kill_all(&self.token, &pids, Duration::from_secs(5));
        if !survivors.is_empty() {
            let described: Vec<String> = survivors.into_iter().map(describe_pid).collect();
            eprintln!(
                "sandbox {}: processes survive SIGKILL: {described:?}",
                self.token
            );
        }
        if std::env::var_os("BURROW_TEST_KEEP").is_some() {
            eprintln!("sandbox kept: {}", self.dir.display());
            return;
        }
        // A process dying right now may still be writing; try a few times.
        let mut result = Ok(());
        for _ in 0..5 {
            result = fsutil::remove_tree(&self.dir, self.user);
            if result.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Err(message) = result {
            eprintln!("sandbox {}: {message}", self.token);
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test thread that panicked while holding the lock leaves valid data behind.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn describe_pid(pid: i32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    format!("{pid} {}", words.join(" "))
}
