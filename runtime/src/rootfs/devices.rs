//! `/dev` inside the container: host device nodes bind-mounted (a user
//! namespace may not `mknod`), plus the usual symlinks.

use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::LinuxDevice;

use super::mounts::bind;
use super::paths::secure_join;
use crate::error::{Context, Result, RuntimeError};

const DEFAULT_DEVICES: [&str; 6] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
    "/dev/tty",
];

/// Binds the default devices and the config's `linux.devices` into `rootfs`.
pub fn populate(rootfs: &Path, extra: &[LinuxDevice]) -> Result<()> {
    for dev in DEFAULT_DEVICES {
        bind_device(rootfs, Path::new(dev), Path::new(dev))?;
    }
    for dev in extra {
        let path = dev.path();
        if DEFAULT_DEVICES.iter().any(|d| Path::new(d) == path) {
            continue;
        }
        if !path.exists() {
            return Err(RuntimeError::Other(format!(
                "device {} does not exist on the host, and a user namespace cannot create device nodes",
                path.display()
            )));
        }
        bind_device(rootfs, path, path)?;
    }
    Ok(())
}

fn bind_device(rootfs: &Path, host: &Path, inside: &Path) -> Result<()> {
    let dest =
        secure_join(rootfs, inside).context(|| format!("cannot resolve {}", inside.display()))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .context(|| format!("cannot create {}", parent.display()))?;
    }
    if std::fs::symlink_metadata(&dest).is_err() {
        std::fs::File::create(&dest).context(|| format!("cannot create {}", dest.display()))?;
    }
    bind(host, &dest, false, MsFlags::empty())
        .context(|| format!("cannot bind device {}", host.display()))
}

/// `/dev/fd`, `/dev/stdin`…, `/dev/ptmx` and `/dev/core`, where absent.
pub fn symlinks(rootfs: &Path) -> Result<()> {
    let links = [
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
        ("pts/ptmx", "dev/ptmx"),
        ("/proc/kcore", "dev/core"),
    ];
    for (target, link) in links {
        let path = rootfs.join(link);
        if std::fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        if link == "dev/ptmx" && !rootfs.join("dev/pts/ptmx").exists() {
            continue;
        }
        std::os::unix::fs::symlink(target, &path)
            .context(|| format!("cannot create symlink /{link}"))?;
    }
    Ok(())
}
