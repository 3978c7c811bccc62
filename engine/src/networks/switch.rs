//! The switch process of a user-defined network: `burrow network-switch`,
//! started detached (own session, no stdio) by the first `start` that needs
//! it, from the host's namespaces, listening on `RUN/networks/<id>.sock`;
//! it exits by itself once it has had no member for a while.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::NetworkRecord;
use crate::error::{EngineError, IoContext, Result};
use crate::store::Store;

/// Longer than the longest restart back-off (a minute), so that a member
/// restarting finds its switch still there.
pub const IDLE_EXIT: Duration = Duration::from_secs(120);

pub fn socket_path(store: &Store, network: &NetworkRecord) -> PathBuf {
    store
        .run
        .join("networks")
        .join(format!("{}.sock", &network.id[..12.min(network.id.len())]))
}

/// Makes sure the switch of `network` runs; its socket. `program` is the
/// burrow binary.
pub fn ensure_running(store: &Store, network: &NetworkRecord, program: &Path) -> Result<PathBuf> {
    let socket = socket_path(store, network);
    if super::is_listening(&socket) {
        return Ok(socket);
    }
    let dir = socket.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    // One starter at a time; the others find it listening.
    let lock_path = socket.with_extension("lock");
    let _lock = crate::store::lock_file(&lock_path)?;
    if super::is_listening(&socket) {
        return Ok(socket);
    }
    let mut command = Command::new(program);
    command
        .arg("network-switch")
        .arg("--socket")
        .arg(&socket)
        .arg("--idle-exit")
        .arg(IDLE_EXIT.as_secs().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; the child then execs.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid()
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .context(|| format!("cannot start the switch of network {}", network.name))?;
    let _ = std::fs::write(socket.with_extension("pid"), child.id().to_string());
    // Not waited for: it outlives this command (init reaps it).
    std::mem::forget(child);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !super::is_listening(&socket) {
        if Instant::now() > deadline {
            return Err(EngineError::Other(format!(
                "the switch of network {} did not start",
                network.name
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(socket)
}

/// Stops the switch of `network` (its network is being removed).
pub fn stop(store: &Store, network: &NetworkRecord) {
    let socket = socket_path(store, network);
    let pid_file = socket.with_extension("pid");
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok())
    {
        // Only the process we started: its name says so.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "burrow-switch" {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    for path in [pid_file, socket.with_extension("lock"), socket] {
        let _ = std::fs::remove_file(path);
    }
}
