//! `start`: launch the container's supervisor and wait until it reports.

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::error::{EngineError, IoContext, Result};
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;
use crate::supervisor::READY_FD;

/// Starts a created or exited container; returns its refreshed record.
/// `program` is the burrow binary to run as `PROGRAM [--root R] supervise ID`.
pub fn start(
    store: &Store,
    record: &ContainerRecord,
    program: &std::path::Path,
    root_arg: Option<&std::path::Path>,
) -> Result<ContainerRecord> {
    start_attached(store, record, program, root_arg, None)
}

/// Called once the container exists and before its program runs: connects
/// the client that will see all of its output.
pub type AttachHook<'a> = &'a mut dyn FnMut() -> Result<()>;

/// [`start`], with `attach` run at the moment the supervisor waits for it.
pub fn start_attached(
    store: &Store,
    record: &ContainerRecord,
    program: &std::path::Path,
    root_arg: Option<&std::path::Path>,
    mut attach: Option<AttachHook>,
) -> Result<ContainerRecord> {
    if record.status == ContainerStatus::Running {
        return Ok(record.clone());
    }
    reset_run_state(store, &record.id)?;
    for attachment in record.config.attachments() {
        if crate::networks::BUILTIN.contains(&attachment.name.as_str()) {
            continue;
        }
        // Started from here, in the host's namespaces, so that it outlives
        // this container's supervisor.
        let network = crate::networks::find(store, &attachment.name)?;
        crate::networks::switch::ensure_running(store, &network, program)?;
    }
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EngineError::Other(format!("cannot create a pipe: {e}")))?;
    let log = store.container_dir(&record.id).join("supervisor.log");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .context(|| format!("cannot open {}", log.display()))?;
    let mut command = Command::new(program);
    if let Some(root) = root_arg {
        command.arg("--root").arg(root);
    }
    command
        .arg("supervise")
        .args(attach.is_some().then_some("--wait-for-attach"))
        .arg(&record.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let ready_fd = write_end.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls setsid and dup2,
    // both async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            nix::unistd::dup2(ready_fd, READY_FD).map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    log::debug!(
        "starting container {}: {command:?}, supervisor log {}",
        record.short_id(),
        log.display()
    );
    let mut child = command
        .spawn()
        .context(|| "cannot start the supervisor".into())?;
    drop(write_end);
    let mut reader = BufReader::new(std::fs::File::from(read_end));
    let mut report = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap_or(0) > 0 {
        if line.trim() == "attach" {
            if let Some(attach) = attach.as_mut() {
                if let Err(e) = attach() {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
        } else {
            report.push_str(&line);
        }
        line.clear();
    }
    // The supervisor lives on; reap it when it is done with its start-up report
    // only if it already exited (a failure), otherwise let init adopt it later.
    log::debug!(
        "supervisor of {} reported {:?}",
        record.short_id(),
        report.trim()
    );
    if report.trim() == "ok" || report.starts_with("ok\n") {
        std::mem::forget(child);
        return match store.load(&record.id) {
            // A `--rm` container may already have run, exited and been
            // removed by its supervisor: it did start.
            Err(EngineError::NoSuchContainer(_)) if record.config.auto_remove => Ok(record.clone()),
            other => other,
        };
    }
    let _ = child.wait();
    let failure = report
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .and_then(|rest| {
            let (code, message) = rest.split_once(' ')?;
            Some((code.parse().ok()?, message.to_string()))
        });
    let (exit_code, message) = failure.unwrap_or_else(|| {
        (
            125,
            format!(
                "the supervisor exited without starting the container (see {})",
                log.display()
            ),
        )
    });
    Err(EngineError::StartFailed { message, exit_code })
}

/// A fresh start: not paused, not stopped by a user, no restarts yet.
fn reset_run_state(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock()?;
    let mut current = store.load(id)?;
    if current.paused || current.stopped_by_user || current.restart_count != 0 {
        current.paused = false;
        current.stopped_by_user = false;
        current.restart_count = 0;
        store.save(&current)?;
    }
    Ok(())
}
