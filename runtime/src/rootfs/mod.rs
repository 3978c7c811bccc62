//! The container's root filesystem, assembled inside its mount namespace.
//!
//! Order (as runc does it): stop host mount events from propagating in, bind the
//! rootfs onto itself, mount the config's mounts in order (each destination
//! resolved inside the rootfs), give `/dev` its device nodes and symlinks, then
//! `pivot_root` (or move + chroot with `--no-pivot`). After the pivot come the
//! things that must see the final tree: sysctls, masked and read-only paths,
//! a read-only root and the root's propagation.
//!
//! Rootless limits: device nodes cannot be created in a user namespace, so the
//! host's are bind-mounted; `sysfs`, `mqueue` and `cgroup` fall back to binds of
//! the host's when the kernel refuses a fresh instance; remounts keep the flags
//! the kernel locked on mounts inherited from the host.

mod devices;
mod mounts;
pub mod options;
pub mod paths;

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;

use crate::error::{Context, Result};

pub use mounts::locked_flags;

/// Everything up to (not including) the pivot.
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<()> {
    let linux = spec.linux().as_ref();
    let propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(root_propagation)
        .transpose()?
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // pivot_root refuses a shared parent: a shared root becomes a slave for
    // the assembly and gets its propagation back after the pivot (finish).
    let propagation = if propagation.contains(MsFlags::MS_SHARED) {
        MsFlags::MS_SLAVE | MsFlags::MS_REC
    } else {
        propagation
    };
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context(|| "cannot change the propagation of /".into())?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("cannot bind-mount rootfs {}", rootfs.display()))?;

    let mount_list = spec.mounts().as_deref().unwrap_or(&[]);
    for m in mount_list {
        mounts::mount_one(rootfs, m)?;
    }
    let dev_is_host_bind = mount_list
        .iter()
        .any(|m| m.destination() == Path::new("/dev") && MountOptionsExt::is_bind(m));
    if !dev_is_host_bind {
        devices::populate(
            rootfs,
            linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]),
        )?;
        devices::symlinks(rootfs)?;
    }
    Ok(())
}

trait MountOptionsExt {
    fn is_bind(&self) -> bool;
}

impl MountOptionsExt for oci_spec::runtime::Mount {
    fn is_bind(&self) -> bool {
        self.typ().as_deref() == Some("bind")
            || self
                .options()
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .any(|o| o == "bind" || o == "rbind")
    }
}

fn root_propagation(value: &str) -> Result<MsFlags> {
    let flags = match value {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => {
            return Err(crate::RuntimeError::Other(format!(
                "invalid rootfsPropagation {other:?}"
            )))
        }
    };
    Ok(flags)
}

/// Makes `rootfs` the root: `pivot_root`, or a move + chroot with `no_pivot`.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    nix::unistd::chdir(rootfs).context(|| format!("cannot enter rootfs {}", rootfs.display()))?;
    if no_pivot {
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .context(|| "cannot move rootfs onto /".into())?;
        nix::unistd::chroot(".").context(|| "cannot chroot into rootfs".into())?;
    } else {
        nix::unistd::pivot_root(".", ".").context(|| "pivot_root failed".into())?;
        // The old root is now stacked under the new one at "."; detach it
        // without the unmount propagating back to the host.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .context(|| "cannot make the old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).context(|| "cannot detach the old root".into())?;
    }
    nix::unistd::chdir("/").context(|| "cannot chdir to /".into())
}

/// What comes after the pivot: sysctls, masks, read-only paths and root.
pub fn finish(spec: &Spec) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return readonly_root(spec);
    };
    if let Some(sysctls) = linux.sysctl() {
        for (key, value) in sysctls {
            let path = format!("/proc/sys/{}", key.replace('.', "/"));
            std::fs::write(&path, value).context(|| format!("cannot set sysctl {key}={value}"))?;
        }
    }
    for path in linux.masked_paths().as_deref().unwrap_or(&[]) {
        mounts::mask(Path::new(path))?;
    }
    for path in linux.readonly_paths().as_deref().unwrap_or(&[]) {
        mounts::make_readonly(Path::new(path))?;
    }
    readonly_root(spec)?;
    if let Some(p) = linux.rootfs_propagation().as_deref() {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            root_propagation(p)?,
            None::<&str>,
        )
        .context(|| "cannot set rootfsPropagation".into())?;
    }
    Ok(())
}

fn readonly_root(spec: &Spec) -> Result<()> {
    if !spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        return Ok(());
    }
    let flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | locked_flags(Path::new("/"));
    mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
        .context(|| "cannot make the root filesystem read-only".into())
}
