//! A stopped image container's root filesystem, for `cp` and `export`: the
//! overlay of its image layers and its upper dir, mounted the way the
//! supervisor mounts it, but in the calling helper's own mount namespace
//! (private: nothing reaches the host) and only while the copy runs.
//! Writes land in the upper dir as the container's own writes would.

use std::path::Path;

use burrow_fs::{MountHandle, Overlay, OverlayConfig};

use crate::record::ContainerRecord;

/// Mounts `record`'s overlay at its rootfs path. The caller must already
/// be root of a user namespace with the container's id maps.
pub fn mount(record: &ContainerRecord) -> Result<MountHandle, String> {
    let target = &record.config.rootfs;
    let dir = target
        .parent()
        .ok_or_else(|| format!("no container directory above {}", target.display()))?;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("cannot create a mount namespace: {e}"))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("cannot make / a slave mount: {e}"))?;
    let (upper, work) = (dir.join("upper"), dir.join("work"));
    for path in [&upper, &work, target] {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    }
    let config = OverlayConfig {
        lowers: record.config.layers.clone(),
        upper: Some(upper),
        work: Some(work),
        allow_other: Some(true),
        fsname: "burrow".into(),
        ..OverlayConfig::default()
    };
    Overlay::new(config)
        .and_then(|overlay| overlay.mount(Path::new(target)))
        .map_err(|e| format!("cannot mount the container's root filesystem: {e}"))
}
