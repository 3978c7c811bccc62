//! `cp` and `export`: files between the host and a container's filesystem.
//!
//! A running container's filesystem is reached through `/proc/<init>/root`:
//! the kernel walks the container's own mount namespace from there (its
//! overlay, bind mounts and all), and the user, who owns the container's
//! user namespace, may follow that link. Paths given by the user are
//! resolved component by component with symlinks interpreted inside the
//! container's root (an absolute link must not lead to the host's files);
//! walks never follow links. A stopped `--rootfs` container is its
//! directory; a stopped image container's overlay is mounted for the copy
//! in the helper's own mount namespace (see `stopped_rootfs`).
//!
//! The work runs as root of a user namespace with the container's id maps,
//! so files owned by the container's other users copy too; files written
//! on the host side belong to the user, and files written into the
//! container to its root.
//!
//! Limits: a container that swaps a directory for a link while a copy runs
//! can still race it (there is no openat2 walk yet); files keep their mode
//! and modification time, not their owner; the host user's supplementary
//! groups do not apply inside the helper's namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{EngineError, IoContext, Result};
use crate::record::{ContainerRecord, ContainerStatus};

const MAX_SYMLINKS: usize = 40;

/// The host path of the container's `/`.
pub fn filesystem_root(record: &ContainerRecord) -> Result<PathBuf> {
    if record.status == ContainerStatus::Running {
        return Ok(PathBuf::from(format!("/proc/{}/root", record.pid)));
    }
    // A stopped image container's overlay is mounted there by `as_container_root`.
    Ok(record.config.rootfs.clone())
}

/// `path` (absolute or relative to `/`) inside `root`, with every symlink
/// on the way resolved inside `root`; the last component is followed only
/// when `follow_last`.
pub fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let mut pending: Vec<String> = components(path);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = join(root, &resolved).join(&part);
        let is_last = pending.is_empty();
        let link = std::fs::symlink_metadata(&candidate)
            .ok()
            .filter(|m| m.file_type().is_symlink())
            .and_then(|_| std::fs::read_link(&candidate).ok());
        match link {
            Some(target) if !is_last || follow_last => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(EngineError::Other(format!(
                        "too many levels of symbolic links in {path}"
                    )));
                }
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    resolved.clear();
                }
                pending.extend(components(&target).into_iter().rev());
            }
            _ => resolved.push(part),
        }
    }
    Ok(join(root, &resolved))
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn join(root: &Path, parts: &[String]) -> PathBuf {
    parts.iter().fold(root.to_path_buf(), |p, c| p.join(c))
}

/// Where a copy of `source` lands for Docker's `cp SRC DEST`: inside DEST
/// when it is an existing directory, else DEST itself.
fn destination_for(source: &Path, dest: &Path, dest_text: &str) -> Result<PathBuf> {
    let name = source.file_name().map(PathBuf::from).unwrap_or_default();
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => Ok(dest.join(name)),
        Ok(_) if std::fs::metadata(source).is_ok_and(|m| m.is_dir()) => Err(EngineError::Other(
            format!("cannot copy a directory to a file: {dest_text}"),
        )),
        Ok(_) => Ok(dest.to_path_buf()),
        Err(_) if dest_text.ends_with('/') => Err(EngineError::Other(format!(
            "no such directory: {dest_text}"
        ))),
        Err(_) => match dest.parent() {
            Some(parent) if !parent.is_dir() => Err(EngineError::Other(format!(
                "no such directory: {}",
                Path::new(dest_text)
                    .parent()
                    .unwrap_or(Path::new("/"))
                    .display()
            ))),
            _ => Ok(dest.to_path_buf()),
        },
    }
}

/// `cp CONTAINER:PATH HOSTPATH`.
pub fn copy_out(record: &ContainerRecord, inside: &str, host_dest: &Path) -> Result<()> {
    as_container_root(record, || copy_out_here(record, inside, host_dest))
}

fn copy_out_here(record: &ContainerRecord, inside: &str, host_dest: &Path) -> Result<()> {
    let root = filesystem_root(record)?;
    let source = existing(resolve_in_root(&root, inside, false)?, inside)?;
    let dest = destination_for(&source, host_dest, &host_dest.to_string_lossy())?;
    copy_tree(&source, &dest)
}

/// `cp HOSTPATH CONTAINER:PATH`.
pub fn copy_in(record: &ContainerRecord, host_source: &Path, inside: &str) -> Result<()> {
    as_container_root(record, || copy_in_here(record, host_source, inside))
}

fn copy_in_here(record: &ContainerRecord, host_source: &Path, inside: &str) -> Result<()> {
    let root = filesystem_root(record)?;
    let source = existing(host_source.to_path_buf(), &host_source.to_string_lossy())?;
    let dest = resolve_in_root(&root, inside, true)?;
    let dest = destination_for(&source, &dest, inside)?;
    copy_tree(&source, &dest)
}

/// `cp CONTAINER:PATH -`: a tar of PATH (named by its last component).
pub fn tar_out(record: &ContainerRecord, inside: &str, out: impl Write) -> Result<()> {
    as_container_root(record, || tar_out_here(record, inside, out))
}

fn tar_out_here(record: &ContainerRecord, inside: &str, out: impl Write) -> Result<()> {
    let root = filesystem_root(record)?;
    let source = existing(resolve_in_root(&root, inside, false)?, inside)?;
    let name = source
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    let device = std::fs::symlink_metadata(&source)
        .map(|m| m.dev())
        .unwrap_or_default();
    append_tree(&mut builder, &source, &name, device)?;
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .context(|| "cannot write the archive".into())
}

/// `cp - CONTAINER:DIR`: unpacks a tar read from `input` into DIR. Each
/// entry's parent is resolved inside the container's root (the tar crate's
/// own `unpack` would canonicalize `/proc/PID/root` into the host's `/`),
/// and a link already at an entry's place is replaced, never followed.
pub fn tar_in(record: &ContainerRecord, input: impl Read, inside: &str) -> Result<()> {
    as_container_root(record, || tar_in_here(record, input, inside))
}

fn tar_in_here(record: &ContainerRecord, input: impl Read, inside: &str) -> Result<()> {
    let root = filesystem_root(record)?;
    let dest = resolve_in_root(&root, inside, true)?;
    if !dest.is_dir() {
        return Err(EngineError::Other(format!(
            "destination {inside:?} must be a directory when copying from stdin"
        )));
    }
    let base = Path::new("/").join(inside);
    let mut archive = tar::Archive::new(input);
    let bad = |e: std::io::Error| EngineError::Io {
        context: "cannot read the archive".into(),
        error: e,
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let relative = entry.path().map_err(bad)?.into_owned();
        let Some(relative) = contained(&relative) else {
            continue;
        };
        let target = base.join(&relative);
        let target_text = target.to_string_lossy().into_owned();
        let host = resolve_in_root(&root, &target_text, false)?;
        if let Some(parent) = host.parent() {
            std::fs::create_dir_all(parent)
                .context(|| format!("cannot create the parent of {target_text}"))?;
        }
        let existing = std::fs::symlink_metadata(&host).ok();
        let is_dir_entry = entry.header().entry_type().is_dir();
        if existing.is_some_and(|m| !(m.is_dir() && is_dir_entry)) {
            let _ = std::fs::remove_file(&host);
        }
        if entry.header().entry_type().is_hard_link() {
            let linked = entry
                .link_name()
                .map_err(bad)?
                .and_then(|l| contained(&l))
                .ok_or_else(|| {
                    EngineError::Other(format!("bad hard link in the archive: {target_text}"))
                })?;
            let source = resolve_in_root(&root, &base.join(linked).to_string_lossy(), false)?;
            std::fs::hard_link(&source, &host).context(|| format!("cannot link {target_text}"))?;
            continue;
        }
        entry.set_preserve_permissions(true);
        entry.set_preserve_mtime(true);
        entry
            .unpack(&host)
            .context(|| format!("cannot unpack {target_text}"))?;
    }
    Ok(())
}

/// An archive path without `..`, root or prefix components (`None` if it
/// would climb out); empty for the archive's `.`.
fn contained(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out).filter(|p| !p.as_os_str().is_empty())
}

/// `export`: the container's whole filesystem as a tar. Mounts inside it
/// (`/proc`, `/sys`, `/dev`, the `/etc` files, volumes) are exported as
/// their empty mount points, as Docker does.
pub fn export(record: &ContainerRecord, out: impl Write) -> Result<()> {
    as_container_root(record, || export_here(record, out))
}

fn export_here(record: &ContainerRecord, out: impl Write) -> Result<()> {
    let root = filesystem_root(record)?;
    let device = std::fs::metadata(&root)
        .context(|| format!("cannot read the filesystem of {}", record.short_id()))?
        .dev();
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    for entry in sorted_entries(&root)? {
        let name = PathBuf::from(entry.file_name().unwrap_or_default());
        append_tree(&mut builder, &entry, &name, device)?;
    }
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .context(|| "cannot write the archive".into())
}

/// Runs `work` as the container's root would (a forked helper; the CLI is
/// single-threaded): in the running container's own user namespace, which
/// also keeps `/proc/PID/root` reachable, or for a stopped one in a new
/// namespace with the same id maps. Files of any id the container uses are
/// then readable and writable. As real root, `work` runs here.
fn as_container_root(record: &ContainerRecord, work: impl FnOnce() -> Result<()>) -> Result<()> {
    let running = record.status == ContainerStatus::Running;
    if nix::unistd::geteuid().is_root() && (running || record.config.layers.is_empty()) {
        return work();
    }
    let work = || work().map(|()| String::new()).map_err(|e| e.to_string());
    if record.status == ContainerStatus::Running {
        return crate::userns::run_joined(record.pid, work).map(drop);
    }
    let maps = crate::userns::IdMaps::for_current_user();
    if record.config.layers.is_empty() {
        return crate::userns::run_inside(&maps, work).map(drop);
    }
    crate::userns::run_inside(&maps, || {
        let mounted = super::stopped_rootfs::mount(record)?;
        let outcome = work();
        mounted.unmount();
        outcome
    })
    .map(drop)
}

fn existing(path: PathBuf, shown: &str) -> Result<PathBuf> {
    if std::fs::symlink_metadata(&path).is_err() {
        return Err(EngineError::Other(format!(
            "could not find the file {shown}"
        )));
    }
    Ok(path)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    Ok(entries)
}

/// Appends `path` as `name`; a directory on another device (a mount point)
/// goes in empty, a file on another device with no content.
fn append_tree<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    device: u64,
) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(path).context(|| format!("cannot read {}", path.display()))?;
    let failed = |e: std::io::Error| EngineError::Io {
        context: format!("cannot archive {}", path.display()),
        error: e,
    };
    if meta.dev() != device && !meta.file_type().is_symlink() {
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header.set_size(0);
        if meta.is_file() {
            header.set_entry_type(tar::EntryType::Regular);
        }
        header.set_cksum();
        return builder
            .append_data(&mut header, name, std::io::empty())
            .map_err(failed);
    }
    builder.append_path_with_name(path, name).map_err(failed)?;
    if meta.is_dir() {
        for entry in sorted_entries(path)? {
            let child = name.join(entry.file_name().unwrap_or_default());
            append_tree(builder, &entry, &child, device)?;
        }
    }
    Ok(())
}

/// Copies `source` to `dest` (a tree, links as links), keeping modes and
/// modification times.
pub fn copy_tree(source: &Path, dest: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(source)
        .context(|| format!("cannot read {}", source.display()))?;
    let kind = meta.file_type();
    // Whatever is at `dest` and is not a real directory (a link planted in
    // the container, say) is replaced, never followed.
    let at_dest = std::fs::symlink_metadata(dest).ok();
    if at_dest.as_ref().is_some_and(|m| !m.is_dir()) {
        let _ = std::fs::remove_file(dest);
    }
    if kind.is_symlink() {
        let target =
            std::fs::read_link(source).context(|| format!("cannot read {}", source.display()))?;
        std::os::unix::fs::symlink(target, dest)
            .context(|| format!("cannot create {}", dest.display()))?;
        return Ok(());
    }
    if kind.is_dir() {
        if !at_dest.is_some_and(|m| m.is_dir()) {
            std::fs::create_dir(dest).context(|| format!("cannot create {}", dest.display()))?;
        }
        for entry in sorted_entries(source)? {
            copy_tree(&entry, &dest.join(entry.file_name().unwrap_or_default()))?;
        }
    } else if kind.is_file() {
        copy_file(source, dest)?;
    } else {
        return Err(EngineError::Other(format!(
            "cannot copy {}: not a regular file, directory or link",
            source.display()
        )));
    }
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
        .context(|| format!("cannot set the mode of {}", dest.display()))?;
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime().max(0) as u64);
    if let Ok(file) = File::options().read(true).open(dest) {
        let _ = file.set_modified(mtime);
    }
    Ok(())
}

fn copy_file(source: &Path, dest: &Path) -> Result<()> {
    let mut input = File::open(source).context(|| format!("cannot open {}", source.display()))?;
    let mut output = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dest)
        .context(|| format!("cannot create {}", dest.display()))?;
    std::io::copy(&mut input, &mut output)
        .context(|| format!("cannot copy {}", source.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("link")).unwrap();
        std::os::unix::fs::symlink("../../../etc/passwd", root.join("etc/up")).unwrap();
        assert_eq!(
            resolve_in_root(root, "/link/x", true).unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/up", true).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in_root(root, "/etc/up", false).unwrap(),
            root.join("etc/up")
        );
        assert_eq!(
            resolve_in_root(root, "../../x", true).unwrap(),
            root.join("x")
        );
    }

    #[test]
    fn archive_paths_stay_inside() {
        assert_eq!(contained(Path::new("./a/b")), Some(PathBuf::from("a/b")));
        assert_eq!(contained(Path::new("a/../../x")), None);
        assert_eq!(contained(Path::new("/etc/passwd")), None);
        assert_eq!(contained(Path::new(".")), None);
    }

    #[test]
    fn a_planted_link_at_the_destination_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/f"), "x").unwrap();
        let dst = dir.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        std::os::unix::fs::symlink(&outside, dst.join("d")).unwrap();
        copy_tree(&src.join("d"), &dst.join("d")).unwrap();
        assert!(!outside.join("f").exists());
        assert!(dst.join("d/f").is_file());
    }

    #[test]
    fn trees_copy_with_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(src.join("sub/tool"), std::fs::Permissions::from_mode(0o751))
            .unwrap();
        std::os::unix::fs::symlink("sub/tool", src.join("ln")).unwrap();
        let dst = dir.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        let meta = std::fs::metadata(dst.join("sub/tool")).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o751);
        assert_eq!(
            std::fs::read_link(dst.join("ln")).unwrap(),
            Path::new("sub/tool")
        );
    }
}
