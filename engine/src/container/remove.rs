//! `rm`: a stopped container's record, bundle and logs (`force` kills first);
//! with `-v` (and for `--rm` containers) its anonymous volumes too.

use std::time::Duration;

use crate::error::{EngineError, Result};
use crate::mounts::MountKind;
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;

pub fn remove(store: &Store, record: &ContainerRecord, force: bool) -> Result<()> {
    if record.status == ContainerStatus::Running {
        if !force {
            return Err(EngineError::WrongStatus {
                id: record.short_id().into(),
                status: record.status.to_string(),
                action: "stop it first, or use --force".into(),
            });
        }
        let _ = super::kill(record, libc::SIGKILL);
        super::wait_until_exited(store, &record.id, Some(Duration::from_secs(10)))?;
    }
    // A supervisor killed with -9 leaves runtime state behind; clear it too.
    let _ = burrow_runtime::container::delete(&store.runtime_root(), &record.id, true);
    let _lock = store.lock()?;
    store.remove_record(&record.id)
}

/// After the container's record is gone: removes the anonymous volumes it
/// mounted that no other container uses (`--volumes-from` shares them).
/// Named volumes stay, as in Docker.
pub fn remove_anonymous_volumes(store: &Store, record: &ContainerRecord) -> Result<()> {
    let _lock = store.lock()?;
    for mount in &record.config.mounts {
        if mount.kind != MountKind::Volume {
            continue;
        }
        let anonymous = store.load_volume(&mount.source).is_ok_and(|v| v.anonymous);
        if !anonymous || !store.volume_users(&mount.source)?.is_empty() {
            continue;
        }
        store.remove_volume_locked(&mount.source)?;
    }
    Ok(())
}
