//! `kill`: a signal to the container's init.

use crate::error::{EngineError, Result};
use crate::record::{ContainerRecord, ContainerStatus};

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
