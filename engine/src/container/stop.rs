//! `stop`: the stop signal, then SIGKILL after the timeout.

use std::time::Duration;

use super::{kill, wait_until_exited};
use crate::error::Result;
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;

/// Records that a user stopped the container, so its restart policy leaves
/// it stopped (see `crate::restart`).
pub fn mark_stopped_by_user(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock()?;
    let mut record = store.load(id)?;
    if record.status == ContainerStatus::Running && !record.stopped_by_user {
        record.stopped_by_user = true;
        store.save(&record)?;
    }
    Ok(())
}

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
    mark_stopped_by_user(store, &record.id)?;
    let _ = kill(record, signal);
    if record.is_paused() {
        // A stopped process holds the signal pending until it runs again.
        let _ = super::pause::continue_all(record);
    }
    if wait_until_exited(store, &record.id, Some(timeout))?.is_some() {
        return Ok(());
    }
    let _ = kill(record, libc::SIGKILL);
    wait_until_exited(store, &record.id, Some(Duration::from_secs(10)))?;
    Ok(())
}
