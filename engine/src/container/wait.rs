//! `wait`: block until the container has exited; its exit code.

use std::time::{Duration, Instant};

use crate::error::{EngineError, Result};
use crate::record::ContainerStatus;
use crate::store::Store;

/// The exit code once exited, or `None` when `timeout` passed first.
pub fn wait_until_exited(
    store: &Store,
    id: &str,
    timeout: Option<Duration>,
) -> Result<Option<i32>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut delay = Duration::from_millis(1);
    loop {
        let record = store.load(id)?;
        if record.status != ContainerStatus::Running {
            return Ok(Some(record.exit_code.unwrap_or(0)));
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Ok(None);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

pub fn wait(store: &Store, id: &str) -> Result<i32> {
    match store.load(id) {
        Ok(r) if r.status == ContainerStatus::Created => Err(EngineError::WrongStatus {
            id: r.short_id().into(),
            status: r.status.to_string(),
            action: "it was never started".into(),
        }),
        Ok(_) => Ok(wait_until_exited(store, id, None)?.unwrap_or(0)),
        Err(EngineError::NoSuchContainer(_)) => Err(EngineError::NoSuchContainer(id.into())),
        Err(e) => Err(e),
    }
}
