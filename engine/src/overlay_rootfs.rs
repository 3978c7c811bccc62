//! An image container's root filesystem: burrow's FUSE overlay of the
//! image's layers (read-only, shared by every container of the image) and
//! the container's own `upper` dir (its changes, kept across restarts until
//! `rm`), mounted at `<container dir>/rootfs` in a private mount namespace —
//! the supervisor's while it runs, a helper's for `cp`/`export` of a stopped
//! container.

use std::path::{Path, PathBuf};

use burrow_fs::{IdShift, MountHandle, Overlay, OverlayConfig};

use crate::error::{EngineError, IoContext, Result};

/// A mounted root filesystem, served by the supervisor's threads.
pub struct MountedRootfs {
    handle: MountHandle,
}

/// Moves the calling thread's process into a private mount namespace
/// (mounts made there never reach the host, and go away with it). The
/// caller must be root of a user namespace.
pub fn enter_private_mount_namespace() -> Result<()> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| EngineError::Other(format!("cannot create a mount namespace: {e}")))?;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        nix::mount::MsFlags::MS_SLAVE | nix::mount::MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| EngineError::Other(format!("cannot make / a slave mount: {e}")))
}

/// Mounts the overlay of `layers` (top first) and `container_dir/upper` at
/// `container_dir/rootfs`, showing owners through `ids` (identity but for
/// `--userns=keep-id`, see `crate::idshift`).
pub fn mount(container_dir: &Path, layers: &[PathBuf], ids: IdShift) -> Result<MountedRootfs> {
    let upper = container_dir.join("upper");
    let work = container_dir.join("work");
    let target = container_dir.join("rootfs");
    for dir in [&upper, &work, &target] {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    let config = OverlayConfig {
        lowers: layers.to_vec(),
        upper: Some(upper),
        work: Some(work),
        allow_other: Some(true),
        // Two server threads: one container's requests rarely queue deeper, and
        // every thread costs memory in each supervisor.
        threads: 2,
        fsname: "burrow".into(),
        ids,
        ..OverlayConfig::default()
    };
    let overlay = Overlay::new(config)
        .map_err(|e| EngineError::Other(format!("cannot set up the root filesystem: {e}")))?;
    let handle = overlay
        .mount(&target)
        .map_err(|e| EngineError::Other(format!("cannot mount the root filesystem: {e}")))?;
    Ok(MountedRootfs { handle })
}

/// Serves the host directory `source` at `target` through the id shift `ids`
/// (a `:U` volume; see `crate::idshift`).
pub fn mount_shifted_volume(source: &Path, target: &Path, ids: IdShift) -> Result<MountedRootfs> {
    std::fs::create_dir_all(target).context(|| format!("cannot create {}", target.display()))?;
    let overlay = Overlay::new(OverlayConfig::volume(source.to_path_buf(), ids)).map_err(|e| {
        EngineError::Other(format!("cannot serve volume {}: {e}", source.display()))
    })?;
    let handle = overlay.mount(target).map_err(|e| {
        EngineError::Other(format!("cannot mount volume {}: {e}", source.display()))
    })?;
    Ok(MountedRootfs { handle })
}

impl MountedRootfs {
    /// Unmounts and stops the server threads (errors are only logged: the
    /// mount namespace goes away with the supervisor anyway).
    pub fn unmount(self) {
        let mountpoint = self.handle.mountpoint().to_path_buf();
        if let Err(e) = self.handle.unmount() {
            eprintln!("burrow: unmounting {}: {e}", mountpoint.display());
        }
    }
}
