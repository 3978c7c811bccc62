//! The supervisor: one `burrow supervise ID` process per running container.
//!
//! Started detached (new session, stdio on /dev/null) by `start`, it first
//! moves into a user namespace of its own (the user as root, its subordinate
//! ids mapped; see `crate::userns`) and a private mount namespace, where it
//! mounts the container's root filesystem — burrow's FUSE overlay of the
//! image layers and the container's upper dir, served by its threads — so
//! nothing is ever mounted on the host. It then creates the container
//! through the runtime in-process with the container's stdout
//! and stderr on pipes it pumps into the log, and reports "ok" (or the error)
//! on the readiness pipe the CLI waits on (fd 3). The container's init is the
//! supervisor's child and dies with it (parent-death signal), so a killed
//! supervisor never leaves an orphan. When the init exits the supervisor
//! records the exit code, deletes the runtime state and, for `--rm`, the
//! container itself.

use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::Arc;
use std::time::Duration;

use burrow_runtime::container::{create, delete, wait_exit_code, CreateOptions};
use burrow_runtime::StartTrigger;

use crate::attach::{self, server::AttachServer};
use crate::error::{EngineError, Result};
use crate::logs::{log_path, LogWriter};
use crate::record::ContainerStatus;
use crate::store::Store;
use stdio::Stdio;

mod network;
mod rootfs;
mod stdio;

/// The descriptor on which the supervisor reports readiness.
pub const READY_FD: i32 = 3;

/// Runs container `id` to completion; returns its exit code. With
/// `wait_for_attach` (a foreground `run`, `start -a`), the program starts
/// once a client has attached (after "attach" on the readiness pipe), so it
/// sees none of its output lost and its terminal already sized.
pub fn supervise(store: &Store, id: &str, wait_for_attach: bool) -> Result<i32> {
    // SAFETY: fd 3 was set up by `start` as the write end of the readiness
    // pipe; we own it from here on (if it is absent, writes just fail).
    let mut ready = Some(unsafe { std::fs::File::from_raw_fd(READY_FD) });
    match run(store, id, wait_for_attach, &mut ready) {
        Ok(code) => Ok(code),
        Err(e) => {
            let Some(ready) = ready else {
                return Err(e);
            };
            let code = match &e {
                EngineError::Runtime(r) => r.exit_code(),
                _ => 125,
            };
            let _ = writeln!(&ready, "error: {code} {e}");
            Err(e)
        }
    }
}

/// `ready` is closed once "ok" is written: the CLI waits for its EOF.
fn run(
    store: &Store,
    id: &str,
    wait_for_attach: bool,
    ready: &mut Option<std::fs::File>,
) -> Result<i32> {
    let mut record = store.load(id)?;
    enter_namespaces()?;
    let dir = store.container_dir(id);
    let rootfs = if record.config.layers.is_empty() {
        None
    } else {
        let mounted = rootfs::mount(&dir, &record.config.layers)?;
        // Volumes get what the image has at their path on first use.
        crate::volumes::populate_container_volumes(store, &record.config, &record.config.rootfs)?;
        Some(mounted)
    };
    let ports = if network::is_served(&record.config) {
        Some(network::bind_ports(&record.config)?)
    } else {
        None
    };
    record.ports = ports
        .iter()
        .flatten()
        .map(|p| p.mapping().to_string())
        .collect();
    let logs = LogWriter::create(&log_path(&dir))?;
    let attach = Arc::new(AttachServer::listen(&attach::socket_path(store, id))?);
    let console_path = attach::socket_path(store, id).with_extension("console");
    let stdio = Stdio::prepare(&record.config, &console_path)?;
    let runtime_root = store.runtime_root();
    let bundle = dir.join("bundle");
    let options = CreateOptions {
        root: &runtime_root,
        id,
        bundle: &bundle,
        console_socket: stdio.console_socket(),
        pid_file: None,
        preserve_fds: 0,
        no_pivot: false,
        with_init: record.config.init,
        stdio: Some(stdio.fds()),
        die_with_parent: true,
        trigger: StartTrigger::Channel,
    };
    let netns = dir.join("netns");
    if ports.is_some() {
        network::new_namespace(&netns)?;
        network::join_in_bundle(&bundle, &netns)?;
    }
    let mut container = create(&options)?;
    let network = match ports.map(|ports| network::attach(&netns, container.state.pid, ports)) {
        Some(Ok(network)) => Some(network),
        Some(Err(e)) => {
            let _ = delete(&runtime_root, id, true);
            return Err(e);
        }
        None => None,
    };
    let pumps = match stdio.connect(&attach, &logs) {
        Ok(pumps) => pumps,
        Err(e) => {
            let _ = delete(&runtime_root, id, true);
            return Err(e);
        }
    };
    if wait_for_attach {
        if let Some(ready) = ready.as_mut() {
            let _ = writeln!(ready, "attach");
        }
        attach.wait_for_client(Duration::from_secs(30));
    }
    container.start_now()?;
    record.status = ContainerStatus::Running;
    record.pid = container.state.pid;
    record.pid_start_time = container.state.pid_start_time;
    record.supervisor_pid = std::process::id() as i32;
    record.supervisor_start_time = burrow_runtime::state::proc_stat(record.supervisor_pid)
        .map(|(_, start)| start)
        .unwrap_or_default();
    record.started_at = Some(burrow_runtime::state::rfc3339_now());
    record.exit_code = None;
    record.finished_at = None;
    store.save(&record)?;
    if let Some(mut ready) = ready.take() {
        let _ = writeln!(ready, "ok");
    }
    let code = wait_exit_code(container.state.pid)?;
    for pump in pumps {
        let _ = pump.join();
    }
    if let Some(network) = network {
        network.wait();
    }
    let _ = delete(&runtime_root, id, true);
    if let Some(rootfs) = rootfs {
        rootfs.unmount();
    }
    if record.config.auto_remove {
        let _ = store.remove_record(id);
        let _ = crate::container::remove_anonymous_volumes(store, &record);
        attach.finish(code);
        return Ok(code);
    }
    record.status = ContainerStatus::Exited;
    record.exit_code = Some(code);
    record.finished_at = Some(burrow_runtime::state::rfc3339_now());
    let saved = store.save(&record);
    attach.finish(code);
    saved.map(|()| code)
}

/// The supervisor's own user namespace and a private mount namespace in it
/// (mounts made here never reach the host, and disappear with the process).
fn enter_namespaces() -> Result<()> {
    crate::userns::enter(&crate::userns::IdMaps::for_current_user())?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| EngineError::Other(format!("cannot create a mount namespace: {e}")))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| EngineError::Other(format!("cannot make / a slave mount: {e}")))
}
