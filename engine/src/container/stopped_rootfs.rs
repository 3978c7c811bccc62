//! A stopped image container's root filesystem, for `cp` and `export`: the
//! overlay of its image layers and its upper dir, mounted the way the
//! supervisor mounts it, but in the calling helper's own mount namespace
//! (private: nothing reaches the host) and only while the copy runs.
//! Writes land in the upper dir as the container's own writes would.

use crate::overlay_rootfs::{self, MountedRootfs};
use crate::record::ContainerRecord;

/// Mounts `record`'s overlay at its rootfs path, in a private mount
/// namespace. The caller must already be root of a user namespace with the
/// container's id maps.
pub fn mount(record: &ContainerRecord) -> Result<MountedRootfs, String> {
    let target = &record.config.rootfs;
    let dir = target
        .parent()
        .ok_or_else(|| format!("no container directory above {}", target.display()))?;
    overlay_rootfs::enter_private_mount_namespace().map_err(|e| e.to_string())?;
    overlay_rootfs::mount(dir, &record.config.layers, burrow_fs::IdShift::default())
        .map_err(|e| e.to_string())
}
