//! Running a command as the test user, with a deadline, capturing its output.
//!
//! Privilege drop: when the test process is root, the command line becomes
//! `setpriv --reuid U --regid G --init-groups -- PROGRAM ARGS…` (setpriv execs, so the pid
//! is the program's). The environment is always cleared and set explicitly (HOME, USER,
//! LOGNAME, PATH, XDG_RUNTIME_DIR, the sandbox marker, and a few debugging variables passed
//! through), so a run as root and a run as a user see the same thing.
//!
//! Output goes to files in the sandbox rather than pipes: a detached container inherits
//! the runtime's stdout and would hold a pipe open forever, while a file can be read as
//! soon as the runtime itself exits. Every command runs in its own process group, and a
//! command still running at its deadline gets the group SIGKILLed and fails the test, so a
//! hang fails instead of blocking CI.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::user::TestUser;

/// How long a command may run before the test fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Variables passed through from the test's environment to burrow, for debugging.
const PASSED_THROUGH: &[&str] = &["BURROW_LOG", "RUST_BACKTRACE", "RUST_LOG"];

/// A command to run as the test user. Built by [`crate::Sandbox::oci`] and
/// [`crate::Sandbox::command`].
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    stdin: Option<Vec<u8>>,
    /// (source, target): `source` (a CLOEXEC duplicate) becomes fd `target` in the child.
    fds: Vec<(OwnedFd, RawFd)>,
    timeout: Duration,
    io_dir: PathBuf,
    user: &'static TestUser,
}

impl Cmd {
    /// A command whose output is captured under `io_dir`, run from `cwd` with `env`.
    pub fn new(
        program: impl Into<PathBuf>,
        env: Vec<(OsString, OsString)>,
        cwd: &Path,
        io_dir: &Path,
        user: &'static TestUser,
    ) -> Cmd {
        let mut env = env;
        for name in PASSED_THROUGH {
            if let Some(value) = std::env::var_os(name) {
                env.push((name.into(), value));
            }
        }
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env,
            cwd: cwd.to_path_buf(),
            stdin: None,
            fds: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            io_dir: io_dir.to_path_buf(),
            user,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets (or overrides) one environment variable.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        let name = name.as_ref().to_os_string();
        self.env.retain(|(existing, _)| *existing != name);
        self.env.push((name, value.as_ref().to_os_string()));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.cwd = dir.as_ref().to_path_buf();
        self
    }

    /// Feeds `bytes` on stdin (default: /dev/null).
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// Makes `fd` (a duplicate of it, without close-on-exec) appear as `target` in the
    /// command, e.g. to check that the runtime does not leak inherited fds.
    pub fn inherit_fd(mut self, fd: &impl AsRawFd, target: RawFd) -> Cmd {
        assert!(
            (3..100).contains(&target),
            "inherit_fd: target fd {target} out of 3..100"
        );
        self.fds
            .push((duplicate_above(fd.as_raw_fd(), 100), target));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// Runs to completion (or the deadline, which fails the test).
    pub fn run(self) -> Output {
        self.spawn().wait()
    }

    /// Runs to completion without ever panicking (for cleanup code): None when the
    /// command cannot start, the killed command's output when it times out.
    pub fn run_quietly(self) -> Option<Output> {
        let running = self.try_spawn().ok()?;
        Some(running.wait_or_kill().unwrap_or_else(|killed| killed))
    }

    /// Starts the command; [`Running::wait`] enforces the deadline.
    #[track_caller]
    pub fn spawn(self) -> Running {
        let description = self.describe();
        self.try_spawn()
            .unwrap_or_else(|e| panic!("cannot start `{description}`: {e}"))
    }

    fn try_spawn(self) -> io::Result<Running> {
        let n = next_capture_number();
        let stdout_path = self.io_dir.join(format!("{n}.stdout"));
        let stderr_path = self.io_dir.join(format!("{n}.stderr"));
        let description = self.describe();
        let mut command = self.build_command();
        command
            .stdout(File::create(&stdout_path)?)
            .stderr(File::create(&stderr_path)?);
        command.stdin(match &self.stdin {
            None => Stdio::null(),
            Some(bytes) => {
                let stdin_path = self.io_dir.join(format!("{n}.stdin"));
                std::fs::write(&stdin_path, bytes)?;
                Stdio::from(File::open(&stdin_path)?)
            }
        });
        self.install_fds(&mut command);
        let child = command.spawn()?;
        Ok(Running {
            child,
            description,
            stdout_path,
            stderr_path,
            deadline: Instant::now() + self.timeout,
            timeout: self.timeout,
            finished: false,
        })
    }

    fn build_command(&self) -> Command {
        let mut command = if self.user.drop_privileges {
            let mut setpriv = Command::new("setpriv");
            setpriv
                .arg(format!("--reuid={}", self.user.uid))
                .arg(format!("--regid={}", self.user.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(&self.program);
            setpriv
        } else {
            Command::new(&self.program)
        };
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .process_group(0);
        command
    }

    fn install_fds(&self, command: &mut Command) {
        if self.fds.is_empty() {
            return;
        }
        let pairs: Vec<(RawFd, RawFd)> = self
            .fds
            .iter()
            .map(|(source, target)| (source.as_raw_fd(), *target))
            .collect();
        // SAFETY: the closure runs in the forked child before exec and only calls dup2,
        // which is async-signal-safe; it reads `pairs`, which was built before the fork and
        // is not modified. The sources are >= 100 and the targets < 100, so no dup2
        // overwrites a source that a later pair still needs.
        unsafe {
            command.pre_exec(move || {
                for &(source, target) in &pairs {
                    if libc::dup2(source, target) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }

    fn describe(&self) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        words.join(" ")
    }
}

/// A started command. Dropping it before [`Running::wait`] kills its process group.
pub struct Running {
    child: Child,
    description: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    deadline: Instant,
    timeout: Duration,
    finished: bool,
}

impl Running {
    /// Pid of the command (the runtime itself: setpriv execs it).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the command itself (not its group).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child,
        // so it cannot have been reused.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// The output so far (the command may still be running).
    pub fn stdout_so_far(&self) -> String {
        read_capture(&self.stdout_path)
    }

    /// Whether the command has exited (it is not reaped until [`Running::wait`]).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the command; at the deadline kills its process group and panics with
    /// what it printed so far.
    #[track_caller]
    pub fn wait(self) -> Output {
        let timeout = self.timeout;
        self.wait_or_kill()
            .unwrap_or_else(|killed| panic!("timed out after {timeout:?}, killed: {killed}"))
    }

    /// Waits for the command; at the deadline kills its process group and returns what
    /// it printed so far as the error.
    pub fn wait_or_kill(mut self) -> Result<Output, Output> {
        let mut pause = Duration::from_millis(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.finished = true;
                    return Ok(self.output(status));
                }
                Ok(None) if Instant::now() >= self.deadline => {
                    self.kill_group();
                    return Err(self.output(ExitStatus::from_raw(libc::SIGKILL)));
                }
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(_) => {
                    self.kill_group();
                    return Err(self.output(ExitStatus::from_raw(libc::SIGKILL)));
                }
            }
        }
    }

    fn output(&self, status: ExitStatus) -> Output {
        Output {
            description: self.description.clone(),
            status,
            stdout: read_capture(&self.stdout_path),
            stderr: read_capture(&self.stderr_path),
        }
    }

    fn kill_group(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the group id is the pid of our
        // unreaped child, which leads its own group (process_group(0)).
        unsafe { libc::kill(-self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
        self.finished = true;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            self.kill_group();
        }
    }
}

/// What a finished command did. `Display` shows all of it, for assertion messages.
#[derive(Clone, Debug)]
pub struct Output {
    pub description: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code, or None when a signal ended the command.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout with surrounding whitespace removed.
    pub fn stdout_trimmed(&self) -> &str {
        self.stdout.trim()
    }

    /// Non-empty stdout lines, trimmed (also of the `\r` a pty adds).
    pub fn stdout_lines(&self) -> Vec<&str> {
        non_empty_lines(&self.stdout)
    }

    /// Non-empty stderr lines, trimmed.
    pub fn stderr_lines(&self) -> Vec<&str> {
        non_empty_lines(&self.stderr)
    }

    #[track_caller]
    pub fn assert_success(&self) -> &Output {
        assert!(self.success(), "expected success: {self}");
        self
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(self.code(), Some(code), "expected exit code {code}: {self}");
        self
    }

    /// A non-zero exit code (not a signal, which would mean a crash).
    #[track_caller]
    pub fn assert_failure(&self) -> &Output {
        assert!(
            matches!(self.code(), Some(code) if code != 0),
            "expected failure: {self}"
        );
        self
    }

    /// A clean refusal: a non-zero exit code, no panic text, and exactly one error line on
    /// stderr (besides `hint:` lines and runc's `level=warning` log lines) that contains
    /// every one of `needles`, compared case-insensitively.
    #[track_caller]
    pub fn assert_one_line_error(&self, needles: &[&str]) -> &Output {
        self.assert_failure();
        for crash in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
            assert!(!self.stderr.contains(crash), "{crash:?} on stderr: {self}");
        }
        let errors: Vec<&str> = self
            .stderr_lines()
            .into_iter()
            .filter(|line| !line.starts_with("hint") && !line.contains("level=warning"))
            .collect();
        assert_eq!(errors.len(), 1, "expected one error line: {self}");
        let line = errors[0].to_lowercase();
        for needle in needles {
            assert!(
                line.contains(&needle.to_lowercase()),
                "the error should name {needle:?}: {self}"
            );
        }
        self
    }

    #[track_caller]
    pub fn assert_stdout_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stdout.contains(needle),
            "expected {needle:?} on stdout: {self}"
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_contains(&self, needle: &str) -> &Output {
        assert!(
            self.stderr.contains(needle),
            "expected {needle:?} on stderr: {self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.status.code(), self.status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{:?}", self.status),
        };
        write!(
            f,
            "\n  command: {}\n  status:  {status}\n  stdout:  {}\n  stderr:  {}",
            self.description,
            indent(&self.stdout),
            indent(&self.stderr)
        )
    }
}

fn indent(text: &str) -> String {
    if text.trim().is_empty() {
        return "(empty)".to_string();
    }
    text.trim_end().replace('\n', "\n           ")
}

fn non_empty_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

fn next_capture_number() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

fn read_capture(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// A close-on-exec duplicate of `fd` numbered at least `minimum`.
fn duplicate_above(fd: RawFd, minimum: RawFd) -> OwnedFd {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads the fd table; an invalid fd yields -1.
    let duplicate = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, minimum) };
    if duplicate < 0 {
        panic!("cannot duplicate fd {fd}: {}", io::Error::last_os_error());
    }
    // SAFETY: fcntl just returned this new fd, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(duplicate) }
}
