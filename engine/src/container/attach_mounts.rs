//! The mount part of `create`: `--volumes-from` copied from the other
//! container's record, the checks Docker makes, volumes created on first
//! mention (anonymous ones with a fresh 64-hex name) and every mount's host
//! source filled in. Runs under the store lock.

use std::path::PathBuf;

use crate::error::{EngineError, Result};
use crate::mounts::{self, MountKind, MountSpec};
use crate::record::RunConfig;
use crate::store::Store;
use crate::volumes::VolumeRequest;

/// Resolves `config.mounts` in place; returns the names of the volumes this
/// call created, for [`forget_created`] should `create` fail later.
pub fn attach_mounts(store: &Store, config: &mut RunConfig) -> Result<Vec<String>> {
    expand_volumes_from(store, config)?;
    mounts::check(&config.mounts)?;
    let mut created = Vec::new();
    for mount in &mut config.mounts {
        if let Err(e) = attach(store, mount, &mut created) {
            forget_created(store, &created);
            return Err(e);
        }
    }
    Ok(created)
}

fn attach(store: &Store, mount: &mut MountSpec, created: &mut Vec<String>) -> Result<()> {
    match mount.kind {
        MountKind::Bind => {
            mount.host_source = PathBuf::from(&mount.source);
        }
        MountKind::Volume => {
            let request = VolumeRequest {
                name: (!mount.source.is_empty()).then(|| mount.source.clone()),
                driver: None,
                labels: mount.volume_labels.clone(),
                options: mount.volume_options.clone(),
            };
            let (volume, fresh) = store.create_volume(&request)?;
            if fresh {
                created.push(volume.name.clone());
            }
            mount.source = volume.name;
            mount.host_source = volume.mountpoint;
        }
        MountKind::Tmpfs => {}
    }
    Ok(())
}

/// Removes volumes a failed `create` made (the caller holds the store lock).
pub fn forget_created(store: &Store, created: &[String]) {
    for name in created {
        let _ = store.remove_volume_locked(name);
    }
}

/// `CONTAINER[:ro|rw]`: the other container's binds and volumes at the
/// same places (tmpfs are not shared); `ro`/`rw` overrides their mode.
fn expand_volumes_from(store: &Store, config: &mut RunConfig) -> Result<()> {
    for entry in &config.volumes_from {
        let (reference, mode) = match entry.rsplit_once(':') {
            Some((r, m @ ("ro" | "rw"))) => (r, Some(m)),
            Some((_, m)) => {
                return Err(EngineError::Other(format!(
                    "invalid --volumes-from {entry:?}: invalid mode {m:?} (use ro or rw)"
                )))
            }
            None => (entry.as_str(), None),
        };
        let other = store.resolve(reference)?;
        for mount in other.config.mounts {
            if mount.kind == MountKind::Tmpfs
                || config.mounts.iter().any(|m| m.target == mount.target)
            {
                continue;
            }
            let mut mount = mount;
            if let Some(mode) = mode {
                mount.readonly = mode == "ro";
            }
            config.mounts.push(mount);
        }
    }
    Ok(())
}
