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
use std::path::PathBuf;
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

pub(crate) mod control;
mod network;
mod nics;
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

/// What stays in place across the container's runs (restarts): its root
/// filesystem, network namespace, log and attach socket.
struct Held {
    nics: Option<Arc<nics::Nics>>,
    bundle: PathBuf,
    runtime_root: PathBuf,
    netns: Option<PathBuf>,
    logs: LogWriter,
    attach: Arc<AttachServer>,
}

/// `ready` is closed once "ok" is written: the CLI waits for its EOF.
fn run(
    store: &Store,
    id: &str,
    wait_for_attach: bool,
    ready: &mut Option<std::fs::File>,
) -> Result<i32> {
    let record = store.load(id)?;
    enter_namespaces()?;
    let dir = store.container_dir(id);
    let rootfs = if record.config.layers.is_empty() {
        None
    } else {
        let maps = crate::userns::IdMaps::for_current_user();
        let ids = crate::idshift::rootfs_shift(record.config.keep_id, &maps).unwrap_or_default();
        let mounted = crate::overlay_rootfs::mount(&dir, &record.config.layers, ids)?;
        // Volumes get what the image has at their path on first use.
        crate::volumes::populate_container_volumes(store, &record.config, &record.config.rootfs)?;
        Some(mounted)
    };
    let bundle = dir.join("bundle");
    let shifted_volumes = mount_shifted_volumes(&dir, &bundle, &record.config)?;
    let netns = if network::is_served(&record.config) {
        let path = dir.join("netns");
        network::new_namespace(&path)?;
        network::join_in_bundle(&bundle, &path)?;
        Some(path)
    } else {
        None
    };
    let nics = match &netns {
        Some(path) => {
            let hostname = burrow_runtime::spec::oci::Spec::load(bundle.join("config.json"))
                .ok()
                .and_then(|spec| spec.hostname().clone())
                .unwrap_or_default();
            let nics = Arc::new(nics::Nics::join_all(
                store,
                id,
                &record.name,
                &record.config,
                path,
                &hostname,
            )?);
            control::serve(store, id, nics.clone())?;
            Some(nics)
        }
        None => None,
    };
    let held = Held {
        nics,
        logs: LogWriter::create(&log_path(&dir))?,
        attach: Arc::new(AttachServer::listen(&attach::socket_path(store, id))?),
        runtime_root: store.runtime_root(),
        bundle,
        netns,
    };
    let mut wait_for_attach = wait_for_attach;
    let code = loop {
        let code = match run_once(store, id, &held, wait_for_attach, ready) {
            Ok(code) => code,
            // The first start reports its failure to `start`; a restart that
            // fails ends the container with the last run's status.
            Err(e) if ready.is_some() => return Err(e),
            Err(e) => {
                eprintln!("burrow: restarting {id}: {e}");
                store.load(id)?.exit_code.unwrap_or(125)
            }
        };
        wait_for_attach = false;
        match crate::restart::plan_restart(store, id, code)? {
            Some(delay) => {
                update(store, id, |r| {
                    r.status = ContainerStatus::Exited;
                    r.exit_code = Some(code);
                    r.finished_at = Some(burrow_runtime::state::rfc3339_now());
                })?;
                std::thread::sleep(delay);
            }
            None => break code,
        }
    };
    for volume in shifted_volumes {
        volume.unmount();
    }
    if let Some(rootfs) = rootfs {
        rootfs.unmount();
    }
    if let Some(nics) = &held.nics {
        nics.leave_all(store);
    }
    let _ = std::fs::remove_file(control::socket_path(store, id));
    if record.config.auto_remove {
        let _ = store.remove_record(id);
        let _ = crate::container::remove_anonymous_volumes(store, &record);
        held.attach.finish(code);
        return Ok(code);
    }
    let saved = update(store, id, |r| {
        r.status = ContainerStatus::Exited;
        r.exit_code = Some(code);
        r.finished_at = Some(burrow_runtime::state::rfc3339_now());
    });
    held.attach.finish(code);
    saved.map(|()| code)
}

/// One run of the container's program, from `create` to its exit code.
fn run_once(
    store: &Store,
    id: &str,
    held: &Held,
    wait_for_attach: bool,
    ready: &mut Option<std::fs::File>,
) -> Result<i32> {
    let config = store.load(id)?.config;
    let ports = match held.netns {
        Some(_) => Some(network::bind_ports(&config)?),
        None => None,
    };
    let published: Vec<String> = ports
        .iter()
        .flatten()
        .map(|p| p.mapping().to_string())
        .collect();
    let console_path = attach::socket_path(store, id).with_extension("console");
    let stdio = Stdio::prepare(&config, &console_path)?;
    let options = CreateOptions {
        root: &held.runtime_root,
        id,
        bundle: &held.bundle,
        console_socket: stdio.console_socket(),
        pid_file: None,
        preserve_fds: 0,
        no_pivot: false,
        with_init: config.init,
        stdio: Some(stdio.fds()),
        die_with_parent: true,
        trigger: StartTrigger::Channel,
    };
    let mut container = create(&options)?;
    let started = attach_and_start(
        store,
        held,
        &mut container,
        ports,
        stdio,
        wait_for_attach,
        ready,
    );
    let pumps = match started {
        Ok(running) => running,
        Err(e) => {
            let _ = delete(&held.runtime_root, id, true);
            return Err(e);
        }
    };
    let pid = container.state.pid;
    update(store, id, |r| {
        r.status = ContainerStatus::Running;
        r.pid = pid;
        r.pid_start_time = container.state.pid_start_time;
        r.supervisor_pid = std::process::id() as i32;
        r.supervisor_start_time = burrow_runtime::state::proc_stat(r.supervisor_pid)
            .map(|(_, start)| start)
            .unwrap_or_default();
        r.started_at = Some(burrow_runtime::state::rfc3339_now());
        r.exit_code = None;
        r.finished_at = None;
        r.ports = published;
    })?;
    if let Some(mut ready) = ready.take() {
        let _ = writeln!(ready, "ok");
    }
    release_setup_memory();
    let code = wait_exit_code(pid)?;
    for pump in pumps {
        let _ = pump.join();
    }
    if let Some(nics) = &held.nics {
        nics.wait_stopped();
    }
    let _ = delete(&held.runtime_root, id, true);
    Ok(code)
}

type Running = Vec<std::thread::JoinHandle<()>>;

/// Between create and the program's start: the network, the stdio pumps,
/// the first attached client when one is awaited.
fn attach_and_start(
    store: &Store,
    held: &Held,
    container: &mut burrow_runtime::container::CreatedContainer,
    ports: Option<Vec<burrow_net::BoundPort>>,
    stdio: Stdio,
    wait_for_attach: bool,
    ready: &mut Option<std::fs::File>,
) -> Result<Running> {
    if let (Some(ports), Some(nics)) = (ports, &held.nics) {
        nics.start(store, container.state.pid, ports)?;
    }
    let pumps = stdio.connect(&held.attach, &held.logs)?;
    if wait_for_attach {
        if let Some(ready) = ready.as_mut() {
            let _ = writeln!(ready, "attach");
        }
        held.attach.wait_for_client(Duration::from_secs(30));
    }
    container.start_now()?;
    Ok(pumps)
}

/// Gives the memory the start-up used (the spec, the seccomp compiler, the
/// runtime's buffers) back to the system: the supervisor then mostly waits,
/// and there is one per container.
fn release_setup_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it is
    // thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Changes the container's record as it is on disk now (a user's `stop`,
/// `kill`, `pause` or `rename` may have changed it meanwhile).
fn update(
    store: &Store,
    id: &str,
    change: impl FnOnce(&mut crate::record::ContainerRecord),
) -> Result<()> {
    let mut record = store.load(id)?;
    change(&mut record);
    store.save(&record)
}

/// Serves every `:U` mount that needs an id shift through a FUSE passthrough
/// under `dir/volumes` and points the bundle's bind mount there; the others
/// stay plain bind mounts (see `crate::idshift`).
fn mount_shifted_volumes(
    dir: &std::path::Path,
    bundle: &std::path::Path,
    config: &crate::record::RunConfig,
) -> Result<Vec<crate::overlay_rootfs::MountedRootfs>> {
    let wanted: Vec<_> = config.mounts.iter().filter(|m| m.shift_ids).collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let user = match &config.user {
        Some(user) => crate::spec_builder::parse_user(user)?,
        None => config.keep_id.map(|k| (k.uid, k.gid)).unwrap_or((0, 0)),
    };
    let maps = crate::userns::IdMaps::for_current_user();
    let Some(ids) = crate::idshift::volume_shift(config.keep_id, &maps, user) else {
        return Ok(Vec::new());
    };
    let path = bundle.join("config.json");
    let bad = |e: &dyn std::fmt::Display| {
        EngineError::Other(format!("cannot update {}: {e}", path.display()))
    };
    let mut spec = burrow_runtime::spec::oci::Spec::load(&path).map_err(|e| bad(&e))?;
    let mut oci_mounts = spec.mounts().clone().unwrap_or_default();
    let mut served = Vec::new();
    for (index, mount) in wanted.into_iter().enumerate() {
        let target = dir.join("volumes").join(index.to_string());
        served.push(crate::overlay_rootfs::mount_shifted_volume(
            &mount.host_source,
            &target,
            ids.clone(),
        )?);
        for oci in oci_mounts.iter_mut() {
            if oci.destination() == std::path::Path::new(&mount.target) {
                oci.set_source(Some(target.clone()));
            }
        }
    }
    spec.set_mounts(Some(oci_mounts));
    spec.save(&path).map_err(|e| bad(&e))?;
    Ok(served)
}

/// The supervisor's own user namespace and a private mount namespace in it
/// (mounts made here never reach the host, and disappear with the process).
fn enter_namespaces() -> Result<()> {
    crate::userns::enter(&crate::userns::IdMaps::for_current_user())?;
    crate::overlay_rootfs::enter_private_mount_namespace()
}
