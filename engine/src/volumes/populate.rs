//! First use of a volume: the image's content at the mount path is copied
//! into the volume (Docker's behaviour), once.
//!
//! The copy happens only while the volume is empty and not yet marked
//! populated; it then marks the volume populated, so a volume the user
//! emptied stays empty. It holds an flock on the volume's directory, so two
//! containers starting on one fresh volume copy once. The source path is
//! resolved inside the root filesystem the way the container will see it
//! (symlinks relative to the rootfs, `..` stopping at its root), and the
//! walk never follows symlinks. Files, directories, symlinks and fifos are
//! copied with their modes, owners (when this process may set them: on the
//! host side only ids it owns, inside the user namespace all mapped ones)
//! and modification times; devices and sockets are skipped. Everything here
//! is plain path operations, so it runs the same on either side of the
//! container's user namespace.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::{EngineError, IoContext, Result};
use crate::mounts::MountKind;
use crate::record::RunConfig;
use crate::store::Store;

use super::VolumeRecord;

/// Copies `source` (a directory, usually in a container's root filesystem)
/// into the volume if it is still empty and not yet populated. Returns
/// whether it copied. A missing `source` copies nothing and leaves the
/// volume unmarked, so a later container with content there fills it.
pub fn populate_from(volume: &VolumeRecord, source: &Path) -> Result<bool> {
    let dir =
        File::open(volume.dir()).context(|| format!("cannot open {}", volume.dir().display()))?;
    let _lock = Flock::lock(dir, FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::Other(format!("cannot lock volume {}: {e}", volume.name)))?;
    // Re-read under the lock: another container may have populated it.
    let mut current = read_record(volume)?;
    if current.populated || !is_empty_dir(&current.mountpoint)? {
        return Ok(false);
    }
    match std::fs::symlink_metadata(source) {
        Ok(meta) if meta.is_dir() => {}
        _ => return Ok(false),
    }
    copy_children(source, &current.mountpoint)?;
    copy_attributes(source, &current.mountpoint)?;
    current.populated = true;
    super::write_record(current.dir(), &current)?;
    Ok(true)
}

/// Populates every copying volume of `config` from `rootfs` (the
/// container's root filesystem as a directory, mounted or plain).
pub fn populate_container_volumes(store: &Store, config: &RunConfig, rootfs: &Path) -> Result<()> {
    for mount in &config.mounts {
        if mount.kind != MountKind::Volume || mount.no_copy || mount.source.is_empty() {
            continue;
        }
        let volume = store.load_volume(&mount.source)?;
        let Some(source) = resolve_in_root(rootfs, &mount.target) else {
            continue;
        };
        populate_from(&volume, &source)?;
    }
    Ok(())
}

fn read_record(volume: &VolumeRecord) -> Result<VolumeRecord> {
    let path = volume.dir().join("volume.json");
    let text =
        std::fs::read_to_string(&path).context(|| format!("cannot read {}", path.display()))?;
    let mut record: VolumeRecord = serde_json::from_str(&text)
        .map_err(|e| EngineError::Other(format!("corrupt record {}: {e}", path.display())))?;
    record.mountpoint = volume.mountpoint.clone();
    Ok(record)
}

fn is_empty_dir(path: &Path) -> Result<bool> {
    let mut entries =
        std::fs::read_dir(path).context(|| format!("cannot read {}", path.display()))?;
    Ok(entries.next().is_none())
}

/// `path` (absolute, as seen inside the container) resolved within `root`:
/// absolute symlinks restart at `root`, `..` never climbs above it. None
/// when a symlink chain is too long.
pub fn resolve_in_root(root: &Path, path: &str) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<PathBuf> = vec![PathBuf::from(path)];
    let mut hops = 0;
    while let Some(next) = pending.pop() {
        let mut components: Vec<Component> = next.components().collect();
        components.reverse();
        while let Some(component) = components.pop() {
            match component {
                Component::RootDir => resolved.clear(),
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = resolved.join(name);
                    let host = root.join(&candidate);
                    match std::fs::read_link(&host) {
                        Ok(target) => {
                            hops += 1;
                            if hops > 40 {
                                return None;
                            }
                            let rest: PathBuf = components.iter().rev().collect();
                            components.clear();
                            pending.push(rest);
                            pending.push(target);
                        }
                        Err(_) => resolved = candidate,
                    }
                }
                _ => {}
            }
        }
    }
    Some(root.join(resolved))
}

fn copy_children(from: &Path, to: &Path) -> Result<()> {
    let entries = std::fs::read_dir(from).context(|| format!("cannot read {}", from.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("cannot read {}", from.display()))?;
        copy_entry(&entry.path(), &to.join(entry.file_name()))?;
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(from).context(|| format!("cannot stat {}", from.display()))?;
    let kind = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        std::fs::create_dir(to).context(|| format!("cannot create {}", to.display()))?;
        copy_children(from, to)?;
    } else if kind.is_symlink() {
        let target =
            std::fs::read_link(from).context(|| format!("cannot read {}", from.display()))?;
        std::os::unix::fs::symlink(&target, to)
            .context(|| format!("cannot create {}", to.display()))?;
    } else if kind.is_file() {
        copy_file(from, to)?;
    } else if kind.is_fifo() {
        nix::unistd::mkfifo(to, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| EngineError::Other(format!("cannot create fifo {}: {e}", to.display())))?;
    } else {
        // Devices cannot be made without privileges, sockets are not content.
        return Ok(());
    }
    copy_attributes(from, to)
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    let mut source = File::open(from).context(|| format!("cannot open {}", from.display()))?;
    let mut target = File::options()
        .write(true)
        .create_new(true)
        .open(to)
        .context(|| format!("cannot create {}", to.display()))?;
    std::io::copy(&mut source, &mut target)
        .context(|| format!("cannot copy {}", from.display()))?;
    Ok(())
}

/// Owner (when allowed), mode and times of `from` onto `to` (not followed).
fn copy_attributes(from: &Path, to: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(from).context(|| format!("cannot stat {}", from.display()))?;
    // Without the right to give the file to that owner, it stays ours.
    let _ = std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()));
    if !meta.file_type().is_symlink() {
        // After chown, which clears set-id bits.
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .context(|| format!("cannot set the mode of {}", to.display()))?;
    }
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, to, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| EngineError::Other(format!("cannot set the times of {}: {e}", to.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volumes::VolumeRequest;

    #[test]
    fn resolution_stays_in_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("real/data")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", r.join("up")).unwrap();
        assert_eq!(resolve_in_root(r, "/abs/data"), Some(r.join("real/data")));
        assert_eq!(resolve_in_root(r, "/up/etc"), Some(r.join("etc")));
        assert_eq!(resolve_in_root(r, "/../../x"), Some(r.join("x")));
        std::os::unix::fs::symlink("/loop", r.join("loop")).unwrap();
        assert_eq!(resolve_in_root(r, "/loop/x"), None);
    }

    #[test]
    fn first_use_copies_once() {
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(store_dir.path())).unwrap();
        let source = tempfile::tempdir().unwrap();
        let s = source.path();
        std::fs::create_dir(s.join("sub")).unwrap();
        std::fs::write(s.join("sub/file"), b"hello").unwrap();
        std::fs::set_permissions(s.join("sub/file"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", s.join("link")).unwrap();
        let as_root = nix::unistd::geteuid().is_root();
        if as_root {
            std::os::unix::fs::lchown(s.join("sub/file"), Some(1234), Some(4321)).unwrap();
        }
        let old = TimeSpec::new(1_000_000, 0);
        utimensat(
            None,
            &s.join("sub/file"),
            &old,
            &old,
            UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();

        let (volume, _) = store
            .create_volume(&VolumeRequest {
                name: Some("pop".into()),
                ..Default::default()
            })
            .unwrap();
        assert!(!populate_from(&volume, &s.join("missing")).unwrap());
        assert!(populate_from(&volume, s).unwrap());
        let copied = volume.mountpoint.join("sub/file");
        assert_eq!(std::fs::read(&copied).unwrap(), b"hello");
        let meta = std::fs::metadata(&copied).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o640);
        assert_eq!(meta.mtime(), 1_000_000);
        if as_root {
            assert_eq!((meta.uid(), meta.gid()), (1234, 4321), "owners are kept");
        }
        assert_eq!(
            std::fs::read_link(volume.mountpoint.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert!(store.load_volume("pop").unwrap().populated);
        std::fs::remove_dir_all(volume.mountpoint.join("sub")).unwrap();
        std::fs::remove_file(volume.mountpoint.join("link")).unwrap();
        assert!(!populate_from(&volume, s).unwrap(), "populated once only");
    }
}
