//! `container prune`: removes every container that is not running.

use crate::error::Result;
use crate::record::ContainerStatus;
use crate::store::Store;

/// A removed container and the space its own files took.
pub struct Pruned {
    pub id: String,
    pub reclaimed_bytes: u64,
}

pub fn prune(store: &Store) -> Result<Vec<Pruned>> {
    let mut pruned = Vec::new();
    for record in store.list()? {
        if record.status == ContainerStatus::Running {
            continue;
        }
        let reclaimed_bytes = tree_size(&store.container_dir(&record.id).join("upper"));
        if super::remove(store, &record, false).is_ok() {
            pruned.push(Pruned {
                id: record.id,
                reclaimed_bytes,
            });
        }
    }
    Ok(pruned)
}

/// Bytes of the regular files under `path` (0 when it is missing).
pub fn tree_size(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return if meta.is_file() { meta.len() } else { 0 };
    }
    std::fs::read_dir(path)
        .map(|dir| dir.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}
