//! Mounting one config entry, masking paths and making paths read-only.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::options::MountOptions;
use super::paths::secure_join;
use crate::error::{Context, Result, RuntimeError};

/// Mounts `m` under `rootfs`.
pub fn mount_one(rootfs: &Path, m: &Mount) -> Result<()> {
    let dest = secure_join(rootfs, m.destination()).context(|| {
        format!(
            "cannot resolve mount destination {}",
            m.destination().display()
        )
    })?;
    let options = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if options.bind { "bind" } else { "none" });
    let source = m.source().as_deref();
    let is_bind = options.bind || typ == "bind";
    let source_is_file =
        is_bind && source.is_some_and(|s| std::fs::metadata(s).is_ok_and(|meta| !meta.is_dir()));
    create_destination(&dest, source_is_file)?;

    let describe = || format!("cannot mount {} on {}", typ, m.destination().display());
    if is_bind {
        let source = source.ok_or_else(|| {
            RuntimeError::Other(format!(
                "bind mount on {} has no source",
                m.destination().display()
            ))
        })?;
        bind(source, &dest, options.recursive, options.remount_flags()).context(|| {
            format!(
                "cannot bind-mount {} on {}",
                source.display(),
                m.destination().display()
            )
        })?;
    } else {
        let data = (!options.data.is_empty()).then_some(options.data.as_str());
        let result = mount(source, &dest, Some(typ), options.flags, data);
        match (result, typ) {
            (Ok(()), _) => {}
            (Err(Errno::EPERM | Errno::EACCES), "sysfs") => bind(
                Path::new("/sys"),
                &dest,
                true,
                MsFlags::MS_RDONLY | options.remount_flags(),
            )
            .context(describe)?,
            (Err(Errno::EPERM | Errno::EACCES), "proc") => {
                bind(Path::new("/proc"), &dest, true, options.remount_flags()).context(describe)?
            }
            (Err(Errno::EPERM | Errno::EACCES | Errno::ENODEV), "mqueue") => {
                // Without a private IPC namespace the host's queue dir is the honest view.
                let _ = bind(
                    Path::new("/dev/mqueue"),
                    &dest,
                    false,
                    options.remount_flags(),
                );
            }
            (
                Err(Errno::EPERM | Errno::EACCES | Errno::EBUSY | Errno::ENODEV),
                "cgroup" | "cgroup2",
            ) => {
                // No delegation: show the host's hierarchy read-only, or nothing.
                let _ = bind(Path::new("/sys/fs/cgroup"), &dest, true, MsFlags::MS_RDONLY);
            }
            (Err(Errno::EINVAL), "devpts") if options.data.contains("gid=") => {
                // gid=5 needs group 5 mapped into the user namespace.
                let data = options.data_without("gid");
                mount(source, &dest, Some(typ), options.flags, Some(data.as_str()))
                    .context(describe)?
            }
            (Err(e), _) => return Err(e).context(describe),
        }
    }
    for propagation in &options.propagation {
        mount(
            None::<&str>,
            &dest,
            None::<&str>,
            *propagation,
            None::<&str>,
        )
        .context(|| format!("cannot set propagation of {}", m.destination().display()))?;
    }
    Ok(())
}

fn create_destination(dest: &Path, as_file: bool) -> Result<()> {
    if as_file {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .context(|| format!("cannot create {}", parent.display()))?;
        }
        if std::fs::symlink_metadata(dest).is_err() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(dest)
                .context(|| format!("cannot create mount point {}", dest.display()))?;
        }
        return Ok(());
    }
    std::fs::create_dir_all(dest)
        .context(|| format!("cannot create mount point {}", dest.display()))
}

/// Bind-mounts `source` on `dest`, then applies `flags` with a remount
/// (keeping the flags the kernel locked on the source).
pub fn bind(source: &Path, dest: &Path, recursive: bool, flags: MsFlags) -> nix::Result<()> {
    let mut bind_flags = MsFlags::MS_BIND;
    if recursive {
        bind_flags |= MsFlags::MS_REC;
    }
    mount(Some(source), dest, None::<&str>, bind_flags, None::<&str>)?;
    if flags.is_empty() {
        return Ok(());
    }
    let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags | locked_flags(dest);
    mount(None::<&str>, dest, None::<&str>, remount, None::<&str>)
}

/// The flags of the mount at `path` that a remount in a user namespace must keep.
pub fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut flags = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs_flag) {
            flags |= ms_flag;
        }
    }
    flags
}

/// Hides `path`: an empty read-only tmpfs over a directory, /dev/null over a file.
pub fn mask(path: &Path) -> Result<()> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).context(|| format!("cannot mask {}", path.display())),
    };
    let result = if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0,mode=0555"),
        )
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    result.context(|| format!("cannot mask {}", path.display()))
}

/// Makes `path` read-only by binding it onto itself and remounting.
pub fn make_readonly(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    bind(path, path, true, MsFlags::MS_RDONLY | MsFlags::MS_REC)
        .context(|| format!("cannot make {} read-only", path.display()))
}
