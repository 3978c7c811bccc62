//! Unpacking an image layer (tar, tar+gzip, tar+zstd) into a layer directory, safely.
//!
//! Theory of operation. The archive is read once, front to back. The compression is
//! found from the first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`, else plain tar). Every
//! entry goes into a temporary directory `.NAME.unpack-PID-N` beside the destination,
//! which is renamed onto the destination (`RENAME_NOREPLACE`) only once the whole archive
//! has been applied: an interrupted or failed unpack leaves at most a dot-named temporary
//! directory, never something that looks like a complete layer, and a failure removes it.
//!
//! Containment. An entry name is split into components; an absolute name or a `..`
//! component is refused outright. The entry's parent directory is opened from the layer
//! root with `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`, so a symlink placed by an
//! earlier entry is followed only while it stays inside the layer; one that leaves it
//! (absolute, or `..` past the root) makes the kernel refuse the walk, and the entry is
//! refused with an error naming it. The final component is never followed: files are
//! created `O_CREAT | O_EXCL | O_NOFOLLOW` after removing what was there, and links,
//! symlinks and directories are made with the `*at` calls, which do not follow it either.
//! A hard link's target is resolved the same way, so it cannot reach outside the layer.
//!
//! Metadata. Owners come from the tar header: `lchown` is tried (it works for ids mapped
//! into the caller's user namespace); where it is refused, the owner and mode go to the
//! `user.containers.override_stat` xattr (see [`crate::ownership`]). Character and block
//! devices, which a user namespace cannot create, become empty regular files whose
//! override record carries the device type. Modes (setuid included) are set after the
//! owner, since chown clears setuid. PAX `SCHILY.xattr.*` records become xattrs; ones the
//! kernel refuses (`trusted.*` without privilege) are skipped with a warning. Directories
//! are created writable by the user and get their final mode, owner, xattrs and mtime at
//! the end, deepest first, so a read-only directory in the archive does not stop its own
//! entries from being written.
//!
//! Whiteouts. burrow's layers stay in OCI layer-diff form: `.wh.NAME` and `.wh..wh..opq`
//! entries are stored as the (empty) files they are in the archive, and the overlay
//! interprets them (see [`crate::overlay`]).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags, ResolveFlags, Timestamps};
use rustix::io::Errno;
use thiserror::Error;

use crate::ownership::{OverrideKind, OverrideStat, OVERRIDE_STAT_XATTR};

/// What went wrong while unpacking; every variant names the layer or entry involved.
#[derive(Debug, Error)]
pub enum UnpackError {
    #[error("failed to read the layer archive: {0}")]
    Archive(#[source] io::Error),
    #[error("layer entry {entry:?}: absolute paths are refused")]
    AbsolutePath { entry: PathBuf },
    #[error("layer entry {entry:?}: `..` components are refused")]
    DotDot { entry: PathBuf },
    #[error("layer entry {entry:?}: the path leaves the layer through a symlink")]
    EscapesThroughSymlink { entry: PathBuf },
    #[error("layer entry {entry:?}: hard link target {target:?} is outside the layer")]
    LinkOutside { entry: PathBuf, target: PathBuf },
    #[error("layer entry {entry:?}: unsupported entry type {kind}")]
    UnsupportedType { entry: PathBuf, kind: String },
    #[error("layer entry {entry:?}: failed to {action}: {source}")]
    Entry {
        entry: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("failed to {action} {path}: {source}")]
    Dir {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("destination {0} already exists")]
    DestinationExists(PathBuf),
}

/// How tar owners are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OwnerPolicy {
    /// `lchown` to the archive's ids; the override xattr where that is refused.
    #[default]
    Preserve,
    /// Never chown; the override xattr whenever the archive's owner or mode differ from
    /// what the file gets on disk.
    Xattr,
    /// Files belong to the unpacking user; archive owners are dropped.
    Ignore,
}

#[derive(Clone, Debug, Default)]
pub struct UnpackOptions {
    pub owners: OwnerPolicy,
}

/// What an unpack did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackReport {
    pub entries: u64,
    /// Entries whose owner, mode or type went to the override xattr.
    pub overridden: u64,
    /// xattrs from the archive the kernel refused.
    pub skipped_xattrs: u64,
}

/// The compression of a layer blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Detects the compression from the stream's first bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Unpacks the layer file at `archive` into `dest` (which must not exist).
pub fn unpack_layer_file(
    archive: &Path,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let file = File::open(archive).map_err(|source| UnpackError::Dir {
        path: archive.to_path_buf(),
        action: "open layer archive",
        source,
    })?;
    unpack_layer(file, dest, options)
}

/// Unpacks a layer stream (compression detected) into `dest`, which must not exist;
/// `dest` appears, complete, only on success.
pub fn unpack_layer<R: Read>(
    reader: R,
    dest: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let head = reader.fill_buf().map_err(UnpackError::Archive)?;
    let stream: Box<dyn Read + '_> = match Compression::sniff(head) {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(reader).map_err(UnpackError::Archive)?,
        ),
    };
    if dest.symlink_metadata().is_ok() {
        return Err(UnpackError::DestinationExists(dest.to_path_buf()));
    }
    let temp = temp_dir_for(dest);
    std::fs::create_dir(&temp).map_err(|source| UnpackError::Dir {
        path: temp.clone(),
        action: "create temporary layer dir",
        source,
    })?;
    let result = unpack_into(stream, &temp, options).and_then(|report| {
        rfs::renameat_with(rfs::CWD, &temp, rfs::CWD, dest, RenameFlags::NOREPLACE).map_err(
            |e| match e {
                Errno::EXIST => UnpackError::DestinationExists(dest.to_path_buf()),
                e => UnpackError::Dir {
                    path: dest.to_path_buf(),
                    action: "move the unpacked layer to",
                    source: e.into(),
                },
            },
        )?;
        Ok(report)
    });
    if result.is_err() {
        remove_tree_forcefully(&temp);
    }
    result
}

fn temp_dir_for(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "layer".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = format!(".{name}.unpack-{}-{n}", std::process::id());
    dest.parent().unwrap_or_else(|| Path::new(".")).join(temp)
}

/// Removes a tree even where directories lost their write bit.
pub(crate) fn remove_tree_forcefully(root: &Path) {
    if std::fs::remove_dir_all(root).is_ok() {
        return;
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = rfs::chmodat(rfs::CWD, &dir, Mode::from_raw_mode(0o700), AtFlags::empty());
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(entry.path());
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(root);
}

/// A directory whose metadata is applied after all entries.
struct DeferredDir {
    components: Vec<OsString>,
    meta: EntryMeta,
}

#[derive(Clone, Debug)]
struct EntryMeta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
    xattrs: Vec<(OsString, Vec<u8>)>,
    kind: Option<OverrideKind>,
}

struct Unpacker<'a> {
    root: OwnedFd,
    options: &'a UnpackOptions,
    report: UnpackReport,
    deferred: Vec<DeferredDir>,
    euid: u32,
    egid: u32,
}

fn unpack_into<R: Read>(
    stream: R,
    root_path: &Path,
    options: &UnpackOptions,
) -> Result<UnpackReport, UnpackError> {
    let root = rfs::open(
        root_path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Dir {
        path: root_path.to_path_buf(),
        action: "open",
        source: e.into(),
    })?;
    let mut unpacker = Unpacker {
        root,
        options,
        report: UnpackReport::default(),
        deferred: Vec::new(),
        euid: rustix::process::geteuid().as_raw(),
        egid: rustix::process::getegid().as_raw(),
    };
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(UnpackError::Archive)? {
        let mut entry = entry.map_err(UnpackError::Archive)?;
        unpacker.place(&mut entry)?;
        unpacker.report.entries += 1;
    }
    unpacker.finish_dirs()?;
    Ok(unpacker.report)
}

/// The entry's path as checked components (empty for the layer root itself).
fn checked_components(entry: &Path) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for component in entry.components() {
        match component {
            Component::Normal(name) => out.push(name.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(UnpackError::DotDot {
                    entry: entry.to_path_buf(),
                })
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::AbsolutePath {
                    entry: entry.to_path_buf(),
                })
            }
        }
    }
    Ok(out)
}

fn join(components: &[OsString]) -> PathBuf {
    if components.is_empty() {
        return PathBuf::from(".");
    }
    components.iter().collect()
}

impl Unpacker<'_> {
    fn place<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let path = entry.path().map_err(UnpackError::Archive)?.into_owned();
        let components = checked_components(&path)?;
        let xattrs = pax_xattrs(entry)?;
        let header = entry.header();
        let kind = header.entry_type();
        let meta = EntryMeta {
            uid: header.uid().map_err(UnpackError::Archive)? as u32,
            gid: header.gid().map_err(UnpackError::Archive)? as u32,
            mode: header.mode().map_err(UnpackError::Archive)? & 0o7777,
            mtime: header.mtime().unwrap_or(0) as i64,
            xattrs,
            kind: None,
        };
        let fail = |action: &'static str| {
            let entry = path.clone();
            move |e: Errno| UnpackError::Entry {
                entry,
                action,
                source: e.into(),
            }
        };
        if components.is_empty() {
            if kind.is_dir() {
                self.deferred.push(DeferredDir { components, meta });
            }
            return Ok(());
        }
        let (name, parents) = components.split_last().expect("not empty");
        let parent = self.open_parent(&path, parents)?;
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                match rfs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if file_type(&st) == libc::S_IFDIR => {}
                    Ok(_) => {
                        remove_entry(&parent, name).map_err(fail("replace"))?;
                        rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                            .map_err(fail("create directory"))?;
                    }
                    Err(_) => rfs::mkdirat(&parent, name, Mode::from_raw_mode(0o700))
                        .map_err(fail("create directory"))?,
                }
                self.deferred.push(DeferredDir { components, meta });
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                remove_existing(&parent, name).map_err(fail("replace"))?;
                let fd = rfs::openat(
                    &parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(fail("create file"))?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).map_err(|source| UnpackError::Entry {
                    entry: path.clone(),
                    action: "write file data",
                    source,
                })?;
                self.apply_to_fd(&path, file.as_fd(), &meta)?;
            }
            T::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .unwrap_or_default()
                    .into_owned();
                remove_existing(&parent, name).map_err(fail("replace"))?;
                rfs::symlinkat(&target, &parent, name).map_err(fail("create symlink"))?;
                self.apply_nofollow(&path, &parent, name, &meta, false)?;
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Archive)?
                    .unwrap_or_default()
                    .into_owned();
                let outside = || UnpackError::LinkOutside {
                    entry: path.clone(),
                    target: target.clone(),
                };
                let target_components = checked_components(&target).map_err(|_| outside())?;
                let Some((target_name, target_parents)) = target_components.split_last() else {
                    return Err(outside());
                };
                let target_parent = self.open_existing_parent(&path, target_parents)?;
                remove_existing(&parent, name).map_err(fail("replace"))?;
                rfs::linkat(&target_parent, target_name, &parent, name, AtFlags::empty())
                    .map_err(fail("create hard link"))?;
            }
            T::Fifo => {
                remove_existing(&parent, name).map_err(fail("replace"))?;
                rfs::mknodat(
                    &parent,
                    name,
                    rfs::FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .map_err(fail("create fifo"))?;
                self.apply_nofollow(&path, &parent, name, &meta, true)?;
            }
            T::Char | T::Block => {
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let (file_kind, override_kind) = if kind == T::Char {
                    (
                        rfs::FileType::CharacterDevice,
                        OverrideKind::Char { major, minor },
                    )
                } else {
                    (
                        rfs::FileType::BlockDevice,
                        OverrideKind::Block { major, minor },
                    )
                };
                remove_existing(&parent, name).map_err(fail("replace"))?;
                let dev = rustix::fs::makedev(major, minor);
                match rfs::mknodat(&parent, name, file_kind, Mode::from_raw_mode(0o600), dev) {
                    Ok(()) => self.apply_nofollow(&path, &parent, name, &meta, true)?,
                    Err(Errno::PERM | Errno::ACCESS) => {
                        // A user namespace cannot make device nodes: keep the record.
                        let fd = rfs::openat(
                            &parent,
                            name,
                            OFlags::WRONLY
                                | OFlags::CREATE
                                | OFlags::EXCL
                                | OFlags::NOFOLLOW
                                | OFlags::CLOEXEC,
                            Mode::from_raw_mode(0o600),
                        )
                        .map_err(fail("create device placeholder"))?;
                        let meta = EntryMeta {
                            kind: Some(override_kind),
                            ..meta
                        };
                        self.apply_to_fd(&path, fd.as_fd(), &meta)?;
                    }
                    Err(e) => return Err(fail("create device node")(e)),
                }
            }
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {}
            other => {
                return Err(UnpackError::UnsupportedType {
                    entry: path.clone(),
                    kind: format!("{other:?}"),
                })
            }
        }
        Ok(())
    }

    /// Opens (creating missing directories) the parent of an entry, refusing any walk
    /// that leaves the layer.
    fn open_parent(&self, entry: &Path, parents: &[OsString]) -> Result<OwnedFd, UnpackError> {
        match self.resolve(entry, parents) {
            Err(UnpackError::Entry { source, .. })
                if source.raw_os_error() == Some(libc::ENOENT) => {}
            other => return other,
        }
        for depth in 1..=parents.len() {
            let prefix = &parents[..depth];
            match self.resolve(entry, prefix) {
                Ok(_) => continue,
                Err(UnpackError::Entry { source, .. })
                    if source.raw_os_error() == Some(libc::ENOENT) =>
                {
                    let above = self.resolve(entry, &prefix[..depth - 1])?;
                    rfs::mkdirat(&above, &prefix[depth - 1], Mode::from_raw_mode(0o755))
                        .or_else(|e| if e == Errno::EXIST { Ok(()) } else { Err(e) })
                        .map_err(|e| UnpackError::Entry {
                            entry: entry.to_path_buf(),
                            action: "create parent directory",
                            source: e.into(),
                        })?;
                }
                Err(e) => return Err(e),
            }
        }
        self.resolve(entry, parents)
    }

    fn open_existing_parent(
        &self,
        entry: &Path,
        parents: &[OsString],
    ) -> Result<OwnedFd, UnpackError> {
        self.resolve(entry, parents)
    }

    fn resolve(&self, entry: &Path, components: &[OsString]) -> Result<OwnedFd, UnpackError> {
        rfs::openat2(
            &self.root,
            join(components),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(|e| match e {
            Errno::XDEV => UnpackError::EscapesThroughSymlink {
                entry: entry.to_path_buf(),
            },
            e => UnpackError::Entry {
                entry: entry.to_path_buf(),
                action: "open parent directory",
                source: e.into(),
            },
        })
    }

    /// Owner, mode, xattrs and mtime for a regular file or directory open as `fd`.
    fn apply_to_fd(
        &mut self,
        entry: &Path,
        fd: std::os::fd::BorrowedFd<'_>,
        meta: &EntryMeta,
    ) -> Result<(), UnpackError> {
        let fail = |action: &'static str| {
            move |e: Errno| UnpackError::Entry {
                entry: entry.to_path_buf(),
                action,
                source: e.into(),
            }
        };
        let owner_kept = self.chown_fd(fd, meta);
        rfs::fchmod(fd, Mode::from_raw_mode(self.disk_mode(meta, owner_kept)))
            .map_err(fail("set mode"))?;
        for (name, value) in &meta.xattrs {
            if rfs::fsetxattr(fd, name.as_os_str(), value, rfs::XattrFlags::empty()).is_err() {
                log::warn!("layer entry {entry:?}: xattr {name:?} refused; skipped");
                self.report.skipped_xattrs += 1;
            }
        }
        if !owner_kept || meta.kind.is_some() {
            let record = OverrideStat {
                uid: meta.uid,
                gid: meta.gid,
                mode: meta.mode,
                kind: meta.kind,
            };
            rfs::fsetxattr(
                fd,
                OVERRIDE_STAT_XATTR,
                record.format().as_bytes(),
                rfs::XattrFlags::empty(),
            )
            .map_err(fail("store the owner in an xattr"))?;
            self.report.overridden += 1;
        }
        rfs::futimens(fd, &timestamps(meta.mtime)).map_err(fail("set times"))?;
        Ok(())
    }

    /// Owner, mode and mtime for a symlink or special file (no xattrs possible there).
    fn apply_nofollow(
        &mut self,
        entry: &Path,
        parent: &OwnedFd,
        name: &OsStr,
        meta: &EntryMeta,
        chmod: bool,
    ) -> Result<(), UnpackError> {
        if self.options.owners == OwnerPolicy::Preserve
            && (meta.uid != self.euid || meta.gid != self.egid)
        {
            let _ = rfs::chownat(
                parent,
                name,
                Some(rfs::Uid::from_raw(meta.uid)),
                Some(rfs::Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            );
        }
        if chmod {
            rfs::chmodat(
                parent,
                name,
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(|e| UnpackError::Entry {
                entry: entry.to_path_buf(),
                action: "set mode",
                source: e.into(),
            })?;
        }
        let _ = rfs::utimensat(
            parent,
            name,
            &timestamps(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        Ok(())
    }

    /// Tries to give `fd` the entry's owner; false when the disk cannot hold it.
    fn chown_fd(&self, fd: std::os::fd::BorrowedFd<'_>, meta: &EntryMeta) -> bool {
        let is_own = meta.uid == self.euid && meta.gid == self.egid;
        match self.options.owners {
            OwnerPolicy::Ignore => true,
            OwnerPolicy::Xattr => is_own,
            OwnerPolicy::Preserve => {
                is_own
                    || rfs::fchown(
                        fd,
                        Some(rfs::Uid::from_raw(meta.uid)),
                        Some(rfs::Gid::from_raw(meta.gid)),
                    )
                    .is_ok()
            }
        }
    }

    /// The mode on disk: the archive's, plus owner read/write(/search) when the real
    /// owner lives in the xattr, so the user can always serve the file.
    fn disk_mode(&self, meta: &EntryMeta, owner_kept: bool) -> u32 {
        if owner_kept && meta.kind.is_none() {
            meta.mode
        } else if meta.kind == Some(OverrideKind::Dir) {
            meta.mode | 0o700
        } else {
            meta.mode | 0o600
        }
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.sort_by_key(|dir| std::cmp::Reverse(dir.components.len()));
        for dir in deferred {
            let path = join(&dir.components);
            let fd = match rfs::openat2(
                &self.root,
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
            ) {
                Ok(fd) => fd,
                // Replaced by a later entry of another type: nothing to apply.
                Err(Errno::NOTDIR | Errno::NOENT | Errno::LOOP | Errno::XDEV) => continue,
                Err(e) => {
                    return Err(UnpackError::Entry {
                        entry: path,
                        action: "reopen directory",
                        source: e.into(),
                    })
                }
            };
            let meta = dir.meta;
            let owner_kept = self.chown_fd(fd.as_fd(), &meta);
            self.apply_dir(&path, fd.as_fd(), &meta, owner_kept)?;
        }
        Ok(())
    }

    fn apply_dir(
        &mut self,
        entry: &Path,
        fd: std::os::fd::BorrowedFd<'_>,
        meta: &EntryMeta,
        owner_kept: bool,
    ) -> Result<(), UnpackError> {
        let fail = |action: &'static str| {
            move |e: Errno| UnpackError::Entry {
                entry: entry.to_path_buf(),
                action,
                source: e.into(),
            }
        };
        let mode = if owner_kept {
            meta.mode
        } else {
            meta.mode | 0o700
        };
        rfs::fchmod(fd, Mode::from_raw_mode(mode)).map_err(fail("set mode"))?;
        for (name, value) in &meta.xattrs {
            if rfs::fsetxattr(fd, name.as_os_str(), value, rfs::XattrFlags::empty()).is_err() {
                log::warn!("layer entry {entry:?}: xattr {name:?} refused; skipped");
                self.report.skipped_xattrs += 1;
            }
        }
        if !owner_kept {
            let record = OverrideStat {
                uid: meta.uid,
                gid: meta.gid,
                mode: meta.mode,
                kind: None,
            };
            rfs::fsetxattr(
                fd,
                OVERRIDE_STAT_XATTR,
                record.format().as_bytes(),
                rfs::XattrFlags::empty(),
            )
            .map_err(fail("store the owner in an xattr"))?;
            self.report.overridden += 1;
        }
        rfs::futimens(fd, &timestamps(meta.mtime)).map_err(fail("set times"))?;
        Ok(())
    }
}

fn pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<Vec<(OsString, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    let Some(extensions) = entry.pax_extensions().map_err(UnpackError::Archive)? else {
        return Ok(out);
    };
    for extension in extensions {
        let extension = extension.map_err(UnpackError::Archive)?;
        if let Some(name) = extension.key_bytes().strip_prefix(b"SCHILY.xattr.") {
            let name = OsStr::from_bytes(name).to_os_string();
            // Our own bookkeeping never comes from an archive.
            if name.as_bytes().starts_with(b"user.burrow.") {
                continue;
            }
            out.push((name, extension.value_bytes().to_vec()));
        }
    }
    Ok(out)
}

fn timestamps(mtime: i64) -> Timestamps {
    let time = rfs::Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

fn file_type(st: &rfs::Stat) -> u32 {
    st.st_mode & libc::S_IFMT
}

/// Removes whatever non-directory (or empty directory) is at `name`.
fn remove_existing(parent: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => remove_entry(parent, name),
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

fn remove_entry(parent: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    match rfs::unlinkat(parent, name, AtFlags::empty()) {
        Err(Errno::ISDIR) | Err(Errno::PERM) => rfs::unlinkat(parent, name, AtFlags::REMOVEDIR),
        other => other,
    }
}

#[cfg(test)]
mod tests;
