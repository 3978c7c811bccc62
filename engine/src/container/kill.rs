//! `kill`: a signal to the container's init.

use crate::error::{EngineError, Result};
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;

pub fn kill(record: &ContainerRecord, signal: i32) -> Result<()> {
    if record.status != ContainerStatus::Running
        || !burrow_runtime::state::is_alive(record.pid, record.pid_start_time)
    {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: record.status.to_string(),
            action: "container is not running".into(),
        });
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(record.pid),
        nix::sys::signal::Signal::try_from(signal)
            .map_err(|_| EngineError::Other(format!("invalid signal {signal}")))?,
    )
    .map_err(|e| EngineError::Other(format!("cannot signal the container: {e}")))
}

/// `kill` as a user asks for it: Docker counts SIGKILL and the container's
/// stop signal (any signal when none was set) as a stop by the user, which
/// the restart policy respects, and continues a paused container so the
/// signal is delivered.
pub fn kill_by_user(store: &Store, record: &ContainerRecord, signal: i32) -> Result<()> {
    let stop_signal = match &record.config.stop_signal {
        Some(s) => Some(burrow_runtime::container::parse_signal(s)?),
        None => None,
    };
    let stops = signal == libc::SIGKILL || stop_signal.is_none_or(|s| s == signal);
    if stops {
        super::mark_stopped_by_user(store, &record.id)?;
    }
    kill(record, signal)?;
    if stops && record.is_paused() {
        let _ = super::pause::continue_all(record);
    }
    Ok(())
}
