//! `stop`: the stop signal, then SIGKILL after the timeout.

use std::time::Duration;

use super::{kill, wait_until_exited};
use crate::error::Result;
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;

pub fn stop(store: &Store, record: &ContainerRecord, timeout: Option<Duration>) -> Result<()> {
    if record.status != ContainerStatus::Running {
        return Ok(());
    }
    let signal = match &record.config.stop_signal {
        Some(s) => burrow_runtime::container::parse_signal(s)?,
        None => libc::SIGTERM,
    };
    let timeout = timeout
        .or(record.config.stop_timeout.map(Duration::from_secs))
        .unwrap_or(Duration::from_secs(10));
    let _ = kill(record, signal);
    if wait_until_exited(store, &record.id, Some(timeout))?.is_some() {
        return Ok(());
    }
    let _ = kill(record, libc::SIGKILL);
    wait_until_exited(store, &record.id, Some(Duration::from_secs(10)))?;
    Ok(())
}
