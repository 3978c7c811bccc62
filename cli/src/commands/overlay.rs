//! `burrow-overlay`: burrow's overlay filesystem behind fuse-overlayfs's command line
//! (see `burrow_fs::overlay::options`), so it can be containers/storage's
//! `mount_program` or the helper of `mount -t fuse.burrow-overlay`.
//!
//! Without `-f` it behaves like fuse-overlayfs: it returns once the filesystem is
//! mounted and a detached server keeps serving it. The server is this binary again with
//! `-f`, in its own process group, its stderr in a temporary file the parent shows if
//! the mount fails; the parent watches /proc/self/mountinfo for the new mount.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use burrow_fs::overlay::options;
use burrow_fs::Overlay;

const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn main(args: Vec<OsString>) -> i32 {
    let args: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command_line = match options::parse(&args) {
        Ok(cl) => cl,
        Err(message) => {
            eprintln!("burrow-overlay: {message}");
            return 1;
        }
    };
    if !command_line.foreground {
        return daemonize(&args, &command_line.mountpoint);
    }
    // The server's warnings (a corrupt ownership record, …) go to its stderr:
    // `BURROW_LOG` sets the level, warnings by default.
    let level = std::env::var("BURROW_LOG")
        .ok()
        .and_then(|value| crate::config::level(Some(&value)).ok())
        .unwrap_or(log::LevelFilter::Warn);
    crate::logger::init(level);
    let overlay = match Overlay::new(command_line.config) {
        Ok(overlay) => overlay,
        Err(e) => {
            eprintln!("burrow-overlay: {e}");
            return 1;
        }
    };
    match overlay.serve_foreground(&command_line.mountpoint) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("burrow-overlay: {e}");
            1
        }
    }
}

fn daemonize(args: &[String], mountpoint: &Path) -> i32 {
    let fail = |message: String| {
        eprintln!("burrow-overlay: {message}");
        1
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(format!("cannot find my own binary: {e}")),
    };
    let log = match tempfile_for_log() {
        Ok(log) => log,
        Err(e) => return fail(format!("cannot create a log file: {e}")),
    };
    let (log_path, log_file) = log;
    let mut server = Command::new(exe);
    server
        .arg0("burrow-overlay")
        .arg("-f")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file);
    std::os::unix::process::CommandExt::process_group(&mut server, 0);
    let mut child = match server.spawn() {
        Ok(child) => child,
        Err(e) => return fail(format!("cannot start the server: {e}")),
    };
    let target = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    let deadline = Instant::now() + MOUNT_TIMEOUT;
    let code = loop {
        if is_overlay_mount(&target) {
            break 0;
        }
        if let Ok(Some(status)) = child.try_wait() {
            let output = std::fs::read_to_string(&log_path).unwrap_or_default();
            eprint!("{output}");
            break fail(format!("the server exited ({status}) before mounting"));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break fail(format!(
                "{} was not mounted after 30s",
                mountpoint.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = std::fs::remove_file(&log_path);
    code
}

use std::os::unix::process::CommandExt;

fn tempfile_for_log() -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!("burrow-overlay-{}.log", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

/// True when /proc/self/mountinfo lists a burrow overlay mounted at `target`.
fn is_overlay_mount(target: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let target = target.to_string_lossy();
    info.lines().any(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let mount_point = fields.get(4).map(|m| unescape_mountinfo(m));
        let fs_type = fields
            .iter()
            .position(|f| *f == "-")
            .and_then(|i| fields.get(i + 1));
        mount_point.as_deref() == Some(&*target) && fs_type.is_some_and(|t| t.starts_with("fuse"))
    })
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
