//! The merge logic, independent of the FUSE protocol: resolving names through the
//! layers, merged listings, copy-up, and every namespace change, each as a method that
//! returns `FsResult`. `ops.rs` adds the protocol's own rules; `fuse.rs` and `wire/`
//! translate requests and replies.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, RenameFlags, Stat, Timestamps};

use super::errno::{Errno, FsResult};
use super::listing::{Listing, ListingCache};
use super::nodes::{Epoch, Known, Links, Node, NodeTable, Resolved, ROOT};
use super::whiteout::{self, OPAQUE};
use crate::idmap::IdShift;
use crate::ownership::{
    OverrideKind, OverrideStat, FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR, OVERRIDE_STAT_XATTR,
};
use crate::sys;

/// Where a copied-up file keeps the inode number it had in its lower layer.
pub const ORIGIN_XATTR: &str = "user.burrow.origin";
const ORIGIN_XATTR_C: &CStr = c"user.burrow.origin";
const OVERRIDE_STAT_XATTR_C: &CStr = c"user.containers.override_stat";
const FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR_C: &CStr = c"user.fuseoverlayfs.override_stat";

/// Where a request reaches a node's upper file.
enum Upper<'a> {
    /// An open handle of it: no path to walk.
    File(&'a File),
    /// Its path relative to the upper dir.
    Path(&'a Path),
}

/// A node as a request sees it (see `Core::info`).
struct NodeInfo {
    layer: usize,
    path: PathBuf,
    kind: u32,
    merged: bool,
    /// The layers merged into a directory (empty for other nodes).
    dir_layers: Vec<usize>,
    known: Known,
    /// The node table's change count when this was read.
    epoch: u64,
}

/// What one listing of a file's xattr names told (see `Core::xattr_facts`).
#[derive(Default)]
struct XattrFacts {
    record: Option<OverrideStat>,
    origin: Option<u64>,
    known: Known,
}

/// The empty file in the work dir that every whiteout of the upper dir is a link to.
/// Its `#burrow-` prefix makes the next mount remove it with the other leftovers.
const SHARED_WHITEOUT: &str = "#burrow-whiteout";

/// One layer directory.
pub struct Layer {
    pub path: PathBuf,
    pub fd: OwnedFd,
    /// Index of the layer's filesystem among the distinct ones (tags inode numbers).
    pub dev_index: u64,
}

/// An entry of a merged listing.
#[derive(Clone, Debug)]
pub struct ListedEntry {
    pub name: OsString,
    pub kind: FileType,
    pub layer: usize,
    /// The number readdir reports (the layer's, tagged like `st_ino`).
    pub ino: u64,
    /// The entry's readdir offset (see `listing.rs`); 0 outside a readdir listing.
    pub cookie: u64,
    /// The entry looked up ahead of the request that sends it (see `prefetch.rs`):
    /// only for entries of a lower layer, which never change while mounted.
    pub looked: OnceLock<Box<Looked>>,
}

/// Where a directory is, for a listing built before the kernel knows it: its path
/// and merged layers as the listing that names it says, and the listings' epoch
/// before that listing was read (a change since makes them stale).
#[derive(Clone, Debug)]
pub struct DirPlace {
    pub path: PathBuf,
    pub dir_layers: Vec<usize>,
    pub epoch: u64,
}

/// What a lookup of a listed entry read from its layer, before registering it.
#[derive(Clone, Debug)]
pub struct Looked {
    pub attr: FileAttr,
    pub known: Known,
    /// For a directory, the layers merged into it.
    pub below: Vec<usize>,
    /// The node table's epoch before `known` was read.
    pub epoch: u64,
}

/// A file open through the overlay.
pub struct OpenFile {
    pub file: File,
    /// The node it was opened as: after an unlink the handle is the only way left to
    /// reach the file (fstat, fchmod, ftruncate … on an unlinked temporary file).
    pub ino: u64,
    /// Registered as the node's upper handle (see `NodeTable::set_upper_handle`).
    upper: bool,
}

/// Cache lifetimes handed to the kernel.
#[derive(Clone, Copy, Debug)]
pub struct Ttls {
    pub lower: Duration,
    pub upper: Duration,
}

pub struct Core {
    pub layers: Vec<Layer>,
    pub has_upper: bool,
    work: Option<OwnedFd>,
    nodes: RwLock<NodeTable>,
    /// The node table's change count, read without its lock (see [`Epoch`]).
    node_epoch: Epoch,
    /// Serialises namespace changes and copy-ups (reads and data I/O run in parallel).
    change: Mutex<()>,
    /// Recent merged listings, emptied after every change (see `listing.rs`).
    listings: ListingCache,
    /// Guards (re)making the shared whiteout file.
    shared_whiteout: Mutex<()>,
    files: RwLock<HashMap<u64, Arc<OpenFile>>>,
    next_handle: AtomicU64,
    temp_counter: AtomicU64,
    pub euid: u32,
    pub egid: u32,
    pub ttls: Ttls,
    /// How owners are shown and stored (None: as on disk, the fast path).
    shift: Option<IdShift>,
    /// One plain directory served as is (a volume): `.wh.` names and opaque markers
    /// are ordinary files there.
    passthrough: bool,
    /// The upper's filesystem gives new files and directories no xattrs of its own
    /// (no security label): a new entry has none unless its parent passes a default
    /// ACL on.
    new_files_bare: bool,
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}
fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// "." for the root, else the relative path itself.
fn rel(path: &Path) -> &Path {
    if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    }
}

fn file_type(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn is_kernel_whiteout(st: &Stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0
}

fn system_time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + Duration::from_nanos(nsec as u64)
    }
}

/// Names of the overlay's own xattrs, hidden from the container.
pub fn is_private_xattr(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.starts_with(b"user.burrow.")
        || name == OVERRIDE_STAT_XATTR.as_bytes()
        || name == FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR.as_bytes()
}

impl Core {
    pub fn new(
        layers: Vec<Layer>,
        has_upper: bool,
        work: Option<OwnedFd>,
        ttls: Ttls,
        shift: IdShift,
        passthrough: bool,
    ) -> FsResult<Core> {
        let mut root_layers = Vec::new();
        for (index, layer) in layers.iter().enumerate() {
            root_layers.push(index);
            if !passthrough && exists(&layer.fd, Path::new(OPAQUE)) {
                break;
            }
        }
        let mut root = Node::new(libc::S_IFDIR, Links::default(), 0, root_layers);
        root.lookups = 1;
        let new_files_bare = match (&work, passthrough) {
            (Some(work), false) => new_entries_are_bare(work),
            _ => false,
        };
        let nodes = NodeTable::new(root);
        let mut core = Core {
            layers,
            has_upper,
            work,
            node_epoch: nodes.epoch_reader(),
            nodes: RwLock::new(nodes),
            change: Mutex::new(()),
            listings: ListingCache::default(),
            shared_whiteout: Mutex::new(()),
            files: RwLock::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            temp_counter: AtomicU64::new(0),
            euid: rustix::process::geteuid().as_raw(),
            egid: rustix::process::getegid().as_raw(),
            ttls,
            shift: (!shift.is_identity()).then_some(shift),
            passthrough,
            new_files_bare,
        };
        if !passthrough {
            let facts = core.xattr_facts(0, Path::new(""), libc::S_IFDIR);
            core.nodes
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .store(ROOT, facts.known);
        }
        Ok(core)
    }

    /// Whether `name` is overlay bookkeeping here (never in a passthrough).
    fn reserved(&self, name: &OsStr) -> bool {
        !self.passthrough && whiteout::is_reserved(name)
    }

    /// The owner to store for a caller's (uid, gid).
    fn disk_owner(&self, uid: u32, gid: u32) -> FsResult<(u32, u32)> {
        match &self.shift {
            None => Ok((uid, gid)),
            Some(shift) => shift.disk(uid, gid).ok_or(Errno(libc::EOVERFLOW)),
        }
    }

    fn upper(&self) -> FsResult<&OwnedFd> {
        if self.has_upper {
            Ok(&self.layers[0].fd)
        } else {
            Err(Errno::ROFS)
        }
    }

    pub fn ttl_for(&self, layer: usize) -> Duration {
        if self.has_upper && layer == 0 {
            self.ttls.upper
        } else {
            self.ttls.lower
        }
    }

    // ---- resolution -------------------------------------------------------------

    fn stat_in(&self, layer: usize, path: &Path) -> FsResult<Option<Stat>> {
        match rfs::statat(&self.layers[layer].fd, rel(path), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn whited_out(&self, layer: usize, dir: &Path, name: &OsStr) -> bool {
        if self.passthrough {
            return false;
        }
        match whiteout::whiteout_for(name) {
            Some(wh) => exists(&self.layers[layer].fd, &dir.join(wh)),
            None => false,
        }
    }

    /// The layers merged into the directory at `path`, given that it is a directory in
    /// `candidates[0]` and may continue in the rest.
    fn dir_layers_of(&self, path: &Path, candidates: &[usize]) -> FsResult<Vec<usize>> {
        let mut out = vec![candidates[0]];
        if exists(&self.layers[candidates[0]].fd, &path.join(OPAQUE)) {
            return Ok(out);
        }
        let (parent, name) = split(path);
        for &layer in &candidates[1..] {
            match self.stat_in(layer, path)? {
                Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                    out.push(layer);
                    if exists(&self.layers[layer].fd, &path.join(OPAQUE)) {
                        break;
                    }
                }
                Some(_) => break,
                None => {
                    if self.whited_out(layer, parent, name) {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Finds `name` in the directory `dir` merged from `dir_layers`: the layer it is in,
    /// its stat, and for a directory the layers merged into it.
    fn resolve(
        &self,
        dir: &Path,
        dir_layers: &[usize],
        name: &OsStr,
    ) -> FsResult<Option<(usize, Stat, Vec<usize>)>> {
        let path = dir.join(name);
        for (i, &layer) in dir_layers.iter().enumerate() {
            match self.stat_in(layer, &path)? {
                Some(st) => {
                    if is_kernel_whiteout(&st) && !self.passthrough {
                        return Ok(None);
                    }
                    let below = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                        self.dir_layers_of(&path, &dir_layers[i..])?
                    } else {
                        Vec::new()
                    };
                    return Ok(Some((layer, st, below)));
                }
                // A whiteout in the last layer hides nothing: no need to look for it.
                None if i + 1 < dir_layers.len() && self.whited_out(layer, dir, name) => {
                    return Ok(None);
                }
                None => {}
            }
        }
        Ok(None)
    }

    /// (path, merged layers) of a directory node.
    fn dir_info(&self, ino: u64) -> FsResult<(PathBuf, Vec<usize>)> {
        let nodes = read(&self.nodes);
        let node = nodes.get(ino).ok_or(Errno::NOENT)?;
        if !node.is_dir() {
            return Err(Errno::NOTDIR);
        }
        let path = nodes.path_of(ino).ok_or(Errno::NOENT)?;
        Ok((path, node.dir_layers.to_vec()))
    }

    /// (layer, path, kind) of any node.
    fn node_info(&self, ino: u64) -> FsResult<(usize, PathBuf, u32)> {
        let info = self.info(ino)?;
        Ok((info.layer, info.path, info.kind))
    }

    /// What requests need of a node, read under one lock.
    fn info(&self, ino: u64) -> FsResult<NodeInfo> {
        let nodes = read(&self.nodes);
        let node = nodes.get(ino).ok_or(Errno::NOENT)?;
        let path = nodes.path_of(ino).ok_or(Errno::NOENT)?;
        Ok(NodeInfo {
            layer: node.layer,
            path,
            kind: node.kind,
            merged: node.dir_layers.len() > 1,
            dir_layers: node.dir_layers.to_vec(),
            known: nodes.known(ino),
            epoch: nodes.epoch(),
        })
    }

    /// Whether the node still has a name (no path is built).
    fn is_named(&self, ino: u64) -> bool {
        let nodes = read(&self.nodes);
        let mut current = ino;
        for _ in 0..4096 {
            if current == ROOT {
                return true;
            }
            match nodes.get(current).and_then(|n| n.links.first()) {
                Some((parent, _)) => current = *parent,
                None => return false,
            }
        }
        false
    }

    /// The ownership record of the node `info` describes, whose file has stat `st`:
    /// from the node when known, else read (and then remembered).
    fn record_for(&self, ino: u64, info: &NodeInfo, st: &Stat) -> Option<OverrideStat> {
        if let Some(record) = info.known.record {
            return record;
        }
        let facts = self.xattr_facts(info.layer, &info.path, st.st_mode & libc::S_IFMT);
        write(&self.nodes).learn(ino, info.layer, info.epoch, facts.known);
        facts.record
    }

    /// Records a change the overlay made to the node's xattrs or owner.
    fn changed(&self, ino: u64, update: impl FnOnce(&mut Known)) {
        write(&self.nodes).change(ino, update);
    }

    fn abs(&self, layer: usize, path: &Path) -> PathBuf {
        self.layers[layer].path.join(path)
    }

    /// The names of the xattrs of (layer, path), NUL-separated, read relative to the
    /// layer's fd into `buf` (or a larger buffer when it is too small).
    /// `at` names the file as (open directory, name) instead, when the caller has one.
    fn xattr_names<'b>(
        &self,
        layer: usize,
        path: &Path,
        at: Option<(BorrowedFd<'_>, &OsStr)>,
        buf: &'b mut [u8],
    ) -> Option<Cow<'b, [u8]>> {
        let listed = match at {
            Some((dir, name)) => sys::listxattr_at(dir, name, buf),
            None => sys::listxattr_at(self.layers[layer].fd.as_fd(), rel(path), buf),
        };
        match listed {
            Some(Ok(len)) => Some(Cow::Borrowed(&buf[..len])),
            Some(Err(e)) if e.raw_os_error() != Some(libc::ERANGE) => None,
            _ => {
                let names = sys::llistxattr(&self.abs(layer, path)).ok()?;
                let mut raw = Vec::new();
                for name in names {
                    raw.extend_from_slice(name.as_bytes());
                    raw.push(0);
                }
                Some(Cow::Owned(raw))
            }
        }
    }

    /// The value of the xattr `name` of (layer, path); None when absent or unreadable.
    fn xattr_value(&self, layer: usize, path: &Path, name: &CStr) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        match sys::getxattr_at(self.layers[layer].fd.as_fd(), rel(path), name, &mut buf) {
            Some(Ok(len)) => Some(buf[..len].to_vec()),
            Some(Err(e)) if e.raw_os_error() != Some(libc::ERANGE) => None,
            _ => sys::lgetxattr(&self.abs(layer, path), name.to_str().ok()?)
                .ok()
                .flatten(),
        }
    }

    /// What one listing of the xattr names of (layer, path) — a file whose `st_mode`
    /// has type `kind` — tells: its ownership record, its origin number, and whether it
    /// carries xattrs a program sees. Nearly every file has none of them: one syscall.
    fn xattr_facts(&self, layer: usize, path: &Path, kind: u32) -> XattrFacts {
        self.xattr_facts_at(layer, path, kind, None)
    }

    /// `xattr_facts` listing the names through `at` (see `xattr_names`).
    fn xattr_facts_at(
        &self,
        layer: usize,
        path: &Path,
        kind: u32,
        at: Option<(BorrowedFd<'_>, &OsStr)>,
    ) -> XattrFacts {
        let wants_origin = self.has_upper && layer == 0 && kind != libc::S_IFLNK;
        let wants_record = kind == libc::S_IFREG || kind == libc::S_IFDIR;
        let mut facts = XattrFacts::default();
        if !wants_record {
            // Linux keeps user.* xattrs off other files: no record can be there.
            facts.known.record = Some(None);
        }
        if !wants_origin && !wants_record {
            return facts;
        }
        let mut buf = [0u8; 512];
        let Some(names) = self.xattr_names(layer, path, at, &mut buf) else {
            return facts;
        };
        let present = |wanted: &CStr| {
            names
                .split(|b| *b == 0)
                .any(|name| name == wanted.to_bytes())
        };
        if wants_origin && present(ORIGIN_XATTR_C) {
            facts.origin = self
                .xattr_value(layer, path, ORIGIN_XATTR_C)
                .and_then(|raw| std::str::from_utf8(&raw).ok()?.parse::<u64>().ok());
        }
        if wants_record {
            let mut record = None;
            for name in [OVERRIDE_STAT_XATTR_C, FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR_C] {
                if !present(name) {
                    continue;
                }
                let Some(raw) = self.xattr_value(layer, path, name) else {
                    continue;
                };
                match OverrideStat::parse(&raw) {
                    Ok(parsed) => record = Some(parsed),
                    Err(e) => log::warn!(
                        "{}: ignoring {}: {e}",
                        self.abs(layer, path).display(),
                        name.to_string_lossy()
                    ),
                }
                break;
            }
            facts.record = record;
            facts.known.record = Some(record);
        }
        facts.known.no_xattrs = !names
            .split(|b| *b == 0)
            .any(|name| !name.is_empty() && !is_private_xattr(OsStr::from_bytes(name)));
        if self.passthrough {
            facts.known = Known::default();
        }
        facts
    }

    fn override_of(&self, layer: usize, path: &Path) -> Option<OverrideStat> {
        self.xattr_facts(layer, path, libc::S_IFREG).record
    }

    fn number_for(&self, layer: usize, path: &Path, st: &Stat) -> u64 {
        if self.has_upper && layer == 0 && st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            if let Some(origin) = self
                .xattr_value(0, path, ORIGIN_XATTR_C)
                .and_then(|raw| std::str::from_utf8(&raw).ok()?.parse::<u64>().ok())
            {
                return origin;
            }
        }
        self.xino(layer, st.st_ino)
    }

    fn xino(&self, layer: usize, ino: u64) -> u64 {
        let tagged = ino ^ (self.layers[layer].dev_index << 56);
        if tagged <= ROOT {
            tagged | 1 << 63
        } else {
            tagged
        }
    }

    /// The attributes the overlay shows for a file found at (layer, path), with its
    /// number (the origin a copied-up file keeps, else the layer's) and what was
    /// learnt of its xattrs.
    fn attr_of(&self, layer: usize, path: &Path, st: &Stat, merged: bool) -> (FileAttr, Known) {
        let facts = self.xattr_facts(layer, path, st.st_mode & libc::S_IFMT);
        let number = facts.origin.unwrap_or_else(|| self.xino(layer, st.st_ino));
        (
            self.attr_with(st, facts.record, number, merged),
            facts.known,
        )
    }

    /// The attributes shown for `st` with its ownership record (if any) applied.
    fn attr_with(
        &self,
        st: &Stat,
        record: Option<OverrideStat>,
        number: u64,
        merged: bool,
    ) -> FileAttr {
        let mut kind = st.st_mode & libc::S_IFMT;
        let mut perm = st.st_mode & 0o7777;
        let (mut uid, mut gid, mut rdev) = (st.st_uid, st.st_gid, st.st_rdev as u32);
        if kind == libc::S_IFREG || kind == libc::S_IFDIR {
            if let Some(record) = record {
                uid = record.uid;
                gid = record.gid;
                perm = record.mode;
                match record.kind {
                    Some(OverrideKind::Char { major, minor }) if kind == libc::S_IFREG => {
                        kind = libc::S_IFCHR;
                        rdev = rfs::makedev(major, minor) as u32;
                    }
                    Some(OverrideKind::Block { major, minor }) if kind == libc::S_IFREG => {
                        kind = libc::S_IFBLK;
                        rdev = rfs::makedev(major, minor) as u32;
                    }
                    _ => {}
                }
            }
        }
        if let Some(shift) = &self.shift {
            (uid, gid) = shift.shown(uid, gid);
        }
        FileAttr {
            ino: INodeNo(number),
            size: st.st_size as u64,
            blocks: st.st_blocks as u64,
            atime: system_time(st.st_atime, st.st_atime_nsec as i64),
            mtime: system_time(st.st_mtime, st.st_mtime_nsec as i64),
            ctime: system_time(st.st_ctime, st.st_ctime_nsec as i64),
            crtime: UNIX_EPOCH,
            kind: file_type(kind),
            perm: (perm & 0o7777) as u16,
            nlink: if merged { 1 } else { st.st_nlink as u32 },
            uid,
            gid,
            rdev,
            blksize: st.st_blksize as u32,
            flags: 0,
        }
    }

    fn kind_bits(attr: &FileAttr) -> u32 {
        match attr.kind {
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::NamedPipe => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::RegularFile => libc::S_IFREG,
        }
    }

    /// Registers (parent, name) found at `layer` with the node table; returns what the
    /// kernel is told.
    fn register(
        &self,
        parent: u64,
        name: &OsStr,
        layer: usize,
        st: &Stat,
        dir_layers: Vec<usize>,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let (dir_path, epoch) = {
            let nodes = read(&self.nodes);
            (nodes.path_of(parent).ok_or(Errno::NOENT)?, nodes.epoch())
        };
        let path = dir_path.join(name);
        let merged = dir_layers.len() > 1;
        let (attr, known) = self.attr_of(layer, &path, st, merged);
        self.remember(parent, name, layer, attr, dir_layers, known, epoch)
    }

    /// Registers an entry just made in the upper dir from its stat and the ownership
    /// record written for it, with no further syscalls: a new file has no origin and
    /// no record but the one `own_new` wrote, no whiteouts below it, and no xattrs
    /// when the parent has none to pass on (a default ACL) and the filesystem gives
    /// new files none of its own (see `Core::new`).
    fn register_new(
        &self,
        parent: u64,
        name: &OsStr,
        st: &Stat,
        record: Option<OverrideStat>,
        parent_known: Known,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let attr = self.attr_with(st, record, self.xino(0, st.st_ino), false);
        let is_dir = attr.kind == FileType::Directory;
        let dir_layers = if is_dir { vec![0] } else { Vec::new() };
        let known = if self.passthrough {
            Known::default()
        } else {
            Known {
                record: Some(record),
                no_xattrs: self.new_files_bare && parent_known.no_xattrs,
                no_whiteouts: is_dir,
            }
        };
        let epoch = self.node_epoch.get();
        self.remember(parent, name, 0, attr, dir_layers, known, epoch)
    }

    #[allow(clippy::too_many_arguments)]
    fn remember(
        &self,
        parent: u64,
        name: &OsStr,
        layer: usize,
        mut attr: FileAttr,
        dir_layers: Vec<usize>,
        known: Known,
        epoch: u64,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let number = attr.ino.0;
        let fresh = Resolved {
            kind: Self::kind_bits(&attr),
            layer,
            dir_layers,
        };
        let (generation, node_layer) = {
            let mut nodes = write(&self.nodes);
            let node = nodes.remember(number, parent, name, fresh, known, epoch);
            (node.generation, node.layer)
        };
        if node_layer < layer {
            // A hard link whose node was copied up through another name.
            attr = self.getattr(number)?;
        }
        Ok((attr, generation, self.ttl_for(node_layer.min(layer))))
    }

    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<(FileAttr, u64, Duration)> {
        if self.reserved(name) {
            return Err(Errno::NOENT);
        }
        if name.len() > 255 {
            return Err(Errno::NAMETOOLONG);
        }
        let (dir, dir_layers) = self.dir_info(parent)?;
        let (layer, st, below) = self.resolve(&dir, &dir_layers, name)?.ok_or(Errno::NOENT)?;
        self.register(parent, name, layer, &st, below)
    }

    pub fn forget(&self, ino: u64, count: u64) {
        write(&self.nodes).forget(ino, count);
    }

    /// How many nodes the kernel holds lookups of, the root included.
    #[cfg(test)]
    pub fn node_count(&self) -> usize {
        read(&self.nodes).len()
    }

    pub fn getattr(&self, ino: u64) -> FsResult<FileAttr> {
        if let Some((info, open)) = self.upper_handle(ino) {
            let st = rfs::fstat(&open.file)?;
            return Ok(self.attr_known(ino, &info, &st));
        }
        let info = match self.info(ino) {
            Ok(info) => info,
            Err(e) => return self.getattr_unlinked(ino).ok_or(e)?,
        };
        let st = self.stat_in(info.layer, &info.path)?.ok_or(Errno::NOENT)?;
        Ok(self.attr_known(ino, &info, &st))
    }

    /// The attributes of the node `info` describes, whose file has stat `st`.
    fn attr_known(&self, ino: u64, info: &NodeInfo, st: &Stat) -> FileAttr {
        let record = self.record_for(ino, info, st);
        self.attr_with(st, record, ino, info.merged)
    }

    /// Attributes through an open file (for a file that may have been unlinked).
    pub fn getattr_open(&self, ino: u64, fh: u64) -> FsResult<FileAttr> {
        match self.getattr(ino) {
            Ok(attr) => Ok(attr),
            Err(e) => self.attr_through(&*self.file(fh).ok_or(e)?),
        }
    }

    /// Attributes of a node that has no name left but is still open somewhere.
    fn getattr_unlinked(&self, ino: u64) -> Option<FsResult<FileAttr>> {
        let file = self.open_file_of(ino)?;
        Some(self.attr_through(&file))
    }

    fn attr_through(&self, file: &OpenFile) -> FsResult<FileAttr> {
        let st = rfs::fstat(&file.file)?;
        // The record of the file itself, read through the handle (the file has no
        // path left to read it by).
        let kind = st.st_mode & libc::S_IFMT;
        let mut buf = [0u8; 256];
        let record = if kind == libc::S_IFREG || kind == libc::S_IFDIR {
            [OVERRIDE_STAT_XATTR, FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR]
                .iter()
                .find_map(|name| {
                    let len = rfs::fgetxattr(&file.file, *name, &mut buf).ok()?;
                    OverrideStat::parse(&buf[..len]).ok()
                })
        } else {
            None
        };
        Ok(self.attr_with(&st, record, file.ino, false))
    }

    /// setattr on a node with no name left, through one of its open handles (the
    /// kernel flushes times and sizes of an unlinked file when it is synced or closed).
    #[allow(clippy::too_many_arguments)]
    fn setattr_unlinked(
        &self,
        file: &OpenFile,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<fuser::TimeOrNow>,
        mtime: Option<fuser::TimeOrNow>,
    ) -> FsResult<FileAttr> {
        if uid.is_some() || gid.is_some() {
            rfs::fchown(
                &file.file,
                uid.map(rfs::Uid::from_raw),
                gid.map(rfs::Gid::from_raw),
            )?;
        }
        if let Some(mode) = mode {
            rfs::fchmod(&file.file, Mode::from_raw_mode(mode & 0o7777))?;
        }
        if let Some(size) = size {
            rfs::ftruncate(&file.file, size)?;
        }
        if atime.is_some() || mtime.is_some() {
            let times = Timestamps {
                last_access: timespec_of(atime),
                last_modification: timespec_of(mtime),
            };
            rfs::futimens(&file.file, &times)?;
        }
        self.attr_through(file)
    }

    pub fn parent_of(&self, ino: u64) -> Option<u64> {
        read(&self.nodes)
            .get(ino)?
            .links
            .first()
            .map(|(parent, _)| *parent)
    }

    pub fn ttl_of(&self, ino: u64) -> Duration {
        let layer = read(&self.nodes).get(ino).map(|n| n.layer).unwrap_or(0);
        self.ttl_for(layer)
    }

    // ---- listing -----------------------------------------------------------------

    /// Fails unless `ino` is a directory node (what opendir checks).
    pub fn check_dir(&self, ino: u64) -> FsResult<()> {
        let nodes = read(&self.nodes);
        match nodes.get(ino) {
            Some(node) if node.is_dir() => Ok(()),
            Some(_) => Err(Errno::NOTDIR),
            None => Err(Errno::NOENT),
        }
    }

    /// The merged entries of a directory (without `.` and `..`) in readdir order, with
    /// each merged layer's directory kept open for the lookups that readdirplus
    /// answers. Read afresh from the layers.
    pub fn list(&self, ino: u64) -> FsResult<Listing> {
        let (path, dir_layers) = self.dir_info(ino)?;
        self.list_at(path, dir_layers)
    }

    /// [`Core::list`] of the directory at `path`, merged from `dir_layers`.
    fn list_at(&self, path: PathBuf, dir_layers: Vec<usize>) -> FsResult<Listing> {
        let (dirs, entries) = self.list_layers(&path, &dir_layers)?;
        Ok(Listing::new(
            path,
            dir_layers,
            dirs,
            entries,
            &self.listings.cookies,
        ))
    }

    /// [`Core::list`] through the cache of recent listings: valid until the next
    /// change the overlay makes (the layers change only through it).
    pub fn listing(&self, ino: u64) -> FsResult<Arc<Listing>> {
        if let Some(listing) = self.listings.get(ino) {
            return Ok(listing);
        }
        let epoch = self.listings.epoch();
        let listing = Arc::new(self.list(ino)?);
        self.listings.insert(ino, listing.clone(), epoch);
        Ok(listing)
    }

    fn list_path(&self, path: &Path, dir_layers: &[usize]) -> FsResult<Vec<ListedEntry>> {
        Ok(self.list_layers(path, dir_layers)?.1)
    }

    /// Reads the directory at `path` in each of `dir_layers` (top first) and merges the
    /// names; returns the open directories too, in the order of `dir_layers`.
    fn list_layers(
        &self,
        path: &Path,
        dir_layers: &[usize],
    ) -> FsResult<(Vec<rfs::Dir>, Vec<ListedEntry>)> {
        let mut seen: HashSet<OsString> = HashSet::new();
        let mut out = Vec::new();
        let mut dirs = Vec::with_capacity(dir_layers.len());
        for &layer in dir_layers {
            let fd = rfs::openat(
                &self.layers[layer].fd,
                rel(path),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut hidden = Vec::new();
            let mut dir = rfs::Dir::new(fd)?;
            while let Some(entry) = dir.read() {
                let entry = entry?;
                let name = OsStr::from_bytes(entry.file_name().to_bytes());
                if name == "." || name == ".." || (name == OPAQUE && !self.passthrough) {
                    continue;
                }
                if let Some(target) = whiteout::hidden_by(name).filter(|_| !self.passthrough) {
                    hidden.push(target.to_os_string());
                    continue;
                }
                if self.reserved(name) || seen.contains(name) {
                    continue;
                }
                let kind = match entry.file_type() {
                    rfs::FileType::Directory => FileType::Directory,
                    rfs::FileType::Symlink => FileType::Symlink,
                    rfs::FileType::Fifo => FileType::NamedPipe,
                    rfs::FileType::Socket => FileType::Socket,
                    rfs::FileType::BlockDevice => FileType::BlockDevice,
                    rfs::FileType::CharacterDevice => {
                        match self.stat_in(layer, &path.join(name))? {
                            Some(st) if is_kernel_whiteout(&st) && !self.passthrough => {
                                hidden.push(name.to_os_string());
                                continue;
                            }
                            _ => FileType::CharDevice,
                        }
                    }
                    rfs::FileType::Unknown => match self.stat_in(layer, &path.join(name))? {
                        Some(st) => file_type(st.st_mode),
                        None => continue,
                    },
                    _ => FileType::RegularFile,
                };
                seen.insert(name.to_os_string());
                out.push(ListedEntry {
                    name: name.to_os_string(),
                    kind,
                    layer,
                    ino: self.xino(layer, entry.ino()),
                    cookie: 0,
                    looked: OnceLock::new(),
                });
            }
            seen.extend(hidden);
            dirs.push(dir);
        }
        Ok((dirs, out))
    }

    /// A lookup of a listed entry without searching the layers again (readdirplus):
    /// the name is stat'ed and its xattrs listed relative to the open directory of its
    /// layer, one path component each, where a lookup walks the whole path — unless
    /// the prefetcher did that already.
    pub fn lookup_listed(
        &self,
        parent: u64,
        listing: &Listing,
        dirs: &[Arc<rfs::Dir>],
        entry: &ListedEntry,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let looked = match entry.looked.get() {
            Some(looked) => (**looked).clone(),
            None => {
                let at = listing.layer_index(entry.layer).ok_or(Errno::NOENT)?;
                let Some(dir) = dirs.get(at) else {
                    // The listing's dirs were closed after a full read: through the path.
                    let path = listing.path.join(&entry.name);
                    let st = self.stat_in(entry.layer, &path)?.ok_or(Errno::NOENT)?;
                    let below = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                        self.dir_layers_of(&path, &listing.dir_layers[at..])?
                    } else {
                        Vec::new()
                    };
                    return self.register(parent, &entry.name, entry.layer, &st, below);
                };
                self.look_at(dir, listing, at, entry)?
            }
        };
        self.remember(
            parent,
            &entry.name,
            entry.layer,
            looked.attr,
            looked.below,
            looked.known,
            looked.epoch,
        )
    }

    /// Reads what a lookup of `entry` answers, relative to `dir`, its layer's open
    /// directory (`listing.dir_layers[at]`).
    fn look_at(
        &self,
        dir: &rfs::Dir,
        listing: &Listing,
        at: usize,
        entry: &ListedEntry,
    ) -> FsResult<Looked> {
        let dir = dir.fd()?;
        let st = match rfs::statat(dir, entry.name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => {
                return Err(Errno::NOENT)
            }
            Err(e) => return Err(e.into()),
        };
        let path = listing.path.join(&entry.name);
        let below = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            self.dir_layers_of(&path, &listing.dir_layers[at..])?
        } else {
            Vec::new()
        };
        let epoch = self.node_epoch.get();
        let (attr, known) = self.attr_at(dir, entry, &path, &st, below.len() > 1);
        Ok(Looked {
            attr,
            known,
            below,
            epoch,
        })
    }

    /// Whether entries found in `layer` never change while mounted (a lower layer),
    /// so what a lookup read of them stays true.
    fn immutable(&self, layer: usize) -> bool {
        !self.passthrough && (layer > 0 || !self.has_upper)
    }

    /// Builds the listing of the directory `ino` ahead of a readdirplus of it that a
    /// walk is expected to send, keeps it with the cached listings unless the tree
    /// changed meanwhile, and looks up its entries of lower layers — last first, so
    /// that a readdirplus arriving meanwhile, which goes first to last, meets them
    /// half way. `place` says where the directory is when the kernel does not know
    /// it yet (found by a listing built ahead); otherwise the node table says.
    /// Returns the subdirectories looked up, in listing order, with their places;
    /// nothing for a directory whose listing is kept already.
    pub fn prefetch_listing(
        &self,
        ino: u64,
        place: Option<DirPlace>,
    ) -> FsResult<Vec<(u64, DirPlace)>> {
        if self.passthrough || self.listings.holds(ino) {
            return Ok(Vec::new());
        }
        let place = match place {
            Some(place) => place,
            None => {
                let epoch = self.listings.epoch();
                let (path, dir_layers) = self.dir_info(ino)?;
                DirPlace {
                    path,
                    dir_layers,
                    epoch,
                }
            }
        };
        let listing = Arc::new(self.list_at(place.path, place.dir_layers)?);
        if !self
            .listings
            .insert_ahead(ino, listing.clone(), place.epoch)
        {
            return Ok(Vec::new());
        }
        let dirs: Vec<Arc<rfs::Dir>> = listing.dirs().clone();
        let mut all_looked = true;
        for entry in listing.entries.iter().rev() {
            if entry.looked.get().is_some() {
                continue;
            }
            let found = listing
                .layer_index(entry.layer)
                .filter(|_| self.immutable(entry.layer))
                .and_then(|at| self.look_at(dirs.get(at)?, &listing, at, entry).ok());
            match found {
                Some(found) => {
                    let _ = entry.looked.set(Box::new(found));
                }
                None => all_looked = false,
            }
        }
        if all_looked {
            // Nothing left to look up relative to them: no descriptors held ahead.
            listing.dirs().clear();
        }
        let subdirs = listing.entries.iter().filter_map(|entry| {
            let looked = entry.looked.get()?;
            (looked.attr.kind == FileType::Directory).then(|| {
                let place = DirPlace {
                    path: listing.path.join(&entry.name),
                    dir_layers: looked.below.clone(),
                    epoch: place.epoch,
                };
                (looked.attr.ino.0, place)
            })
        });
        Ok(subdirs.collect())
    }

    /// Whether as many listings are built ahead as the cache keeps.
    pub fn prefetched_enough(&self) -> bool {
        self.listings.ahead_full()
    }

    /// Whether a listing of `ino` is kept (recent or built ahead).
    #[cfg(test)]
    pub fn holds_listing(&self, ino: u64) -> bool {
        self.listings.holds(ino)
    }

    /// Drops the listings built ahead that no readdir took.
    pub fn forget_prefetched(&self) {
        self.listings.forget_ahead();
    }

    /// Counts the changes to the tree (see [`ListingCache::epoch`]).
    pub fn listing_epoch(&self) -> u64 {
        self.listings.epoch()
    }

    /// What `attr_of` answers, with the xattr names listed relative to the entry's
    /// open directory (one path component, where `attr_of` walks the whole path).
    fn attr_at(
        &self,
        dir: BorrowedFd<'_>,
        entry: &ListedEntry,
        path: &Path,
        st: &Stat,
        merged: bool,
    ) -> (FileAttr, Known) {
        let at = Some((dir, entry.name.as_os_str()));
        let facts = self.xattr_facts_at(entry.layer, path, st.st_mode & libc::S_IFMT, at);
        let number = facts
            .origin
            .unwrap_or_else(|| self.xino(entry.layer, st.st_ino));
        (
            self.attr_with(st, facts.record, number, merged),
            facts.known,
        )
    }

    pub fn readlink(&self, ino: u64) -> FsResult<Vec<u8>> {
        let (layer, path, _) = self.node_info(ino)?;
        let target = rfs::readlinkat(&self.layers[layer].fd, rel(&path), Vec::new())?;
        Ok(target.into_bytes())
    }

    // ---- copy-up -----------------------------------------------------------------

    /// Takes the lock every change to the tree holds; dropping the guard, after the
    /// change, forgets the cached listings.
    fn change_lock(&self) -> ChangeGuard<'_> {
        ChangeGuard {
            _lock: lock(&self.change),
            listings: &self.listings,
        }
    }

    /// Makes sure `ino` lives in the upper dir (and its parents), copying it up if not.
    pub fn copy_up(&self, ino: u64) -> FsResult<()> {
        if self.node_layer(ino)? == 0 && self.has_upper {
            return Ok(());
        }
        let _guard = self.change_lock();
        self.copy_up_locked(ino)
    }

    fn node_layer(&self, ino: u64) -> FsResult<usize> {
        read(&self.nodes)
            .get(ino)
            .map(|n| n.layer)
            .ok_or(Errno::NOENT)
    }

    fn copy_up_locked(&self, ino: u64) -> FsResult<()> {
        self.upper()?;
        if self.node_layer(ino)? == 0 {
            return Ok(());
        }
        let (layer, path, _) = self.node_info(ino)?;
        if layer == 0 {
            return Ok(());
        }
        let parent = read(&self.nodes)
            .get(ino)
            .and_then(|n| n.links.first().map(|l| l.0))
            .ok_or(Errno::NOENT)?;
        self.copy_up_locked(parent)?;
        self.copy_path_up(layer, &path)?;
        let mut nodes = write(&self.nodes);
        // The upper copy is a new file: what was known is of the lower one.
        nodes.change(ino, |known| *known = Known::default());
        if let Some(node) = nodes.get_mut(ino) {
            node.layer = 0;
            if node.is_dir() && node.dir_layers.first() != Some(&0) {
                let below = node.dir_layers.iter().copied();
                node.dir_layers = std::iter::once(0).chain(below).collect();
            }
        }
        Ok(())
    }

    fn temp_name(&self) -> String {
        format!(
            "#burrow-{}-{}",
            std::process::id(),
            self.temp_counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Copies the entry at `path` in lower `layer` into the upper dir at the same path
    /// (whose parent must exist): built under a temporary name in the work dir, then
    /// renamed into place, so the upper never holds half a copy.
    fn copy_path_up(&self, layer: usize, path: &Path) -> FsResult<()> {
        let upper = self.upper()?;
        let work = self.work.as_ref().ok_or(Errno::ROFS)?;
        let src_fd = &self.layers[layer].fd;
        let st = rfs::statat(src_fd, rel(path), AtFlags::SYMLINK_NOFOLLOW)?;
        let temp = self.temp_name();
        let kind = st.st_mode & libc::S_IFMT;
        let result = (|| -> FsResult<()> {
            match kind {
                libc::S_IFREG => {
                    let src = rfs::openat(
                        src_fd,
                        path,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    let dst = rfs::openat(
                        work,
                        &temp,
                        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )?;
                    sys::copy_file_sparse(&src, &dst, st.st_size as u64)?;
                    self.copy_metadata_fd(layer, path, &st, dst.as_fd())?;
                }
                libc::S_IFDIR => {
                    rfs::mkdirat(work, &temp, Mode::from_raw_mode(0o700))?;
                    let dst = rfs::openat(
                        work,
                        &temp,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    self.copy_metadata_fd(layer, path, &st, dst.as_fd())?;
                }
                libc::S_IFLNK => {
                    let target = rfs::readlinkat(src_fd, path, Vec::new())?;
                    rfs::symlinkat(target.as_c_str(), work, &temp)?;
                    self.copy_metadata_at(work, &temp, &st, false);
                }
                _ => {
                    let file_kind = rfs::FileType::from_raw_mode(st.st_mode);
                    rfs::mknodat(
                        work,
                        &temp,
                        file_kind,
                        Mode::from_raw_mode(st.st_mode & 0o7777),
                        st.st_rdev,
                    )?;
                    self.copy_metadata_at(work, &temp, &st, true);
                }
            }
            rfs::renameat_with(work, &temp, upper, path, RenameFlags::NOREPLACE)?;
            Ok(())
        })();
        if result.is_err() {
            let flags = if kind == libc::S_IFDIR {
                AtFlags::REMOVEDIR
            } else {
                AtFlags::empty()
            };
            let _ = rfs::unlinkat(work, &temp, flags);
        }
        result
    }

    /// xattrs, origin, owner, mode and times of a copied regular file or directory.
    fn copy_metadata_fd(
        &self,
        layer: usize,
        path: &Path,
        st: &Stat,
        dst: BorrowedFd<'_>,
    ) -> FsResult<()> {
        let abs = self.abs(layer, path);
        let mut has_override = false;
        for name in sys::llistxattr(&abs).unwrap_or_default() {
            if name.as_bytes() == ORIGIN_XATTR.as_bytes() {
                continue;
            }
            if let Ok(Some(value)) = sys::lgetxattr(&abs, &name.to_string_lossy()) {
                if rfs::fsetxattr(dst, name.as_os_str(), &value, rfs::XattrFlags::empty()).is_ok()
                    && (name == OVERRIDE_STAT_XATTR || name == FUSE_OVERLAYFS_OVERRIDE_STAT_XATTR)
                {
                    has_override = true;
                }
            }
        }
        let number = self.number_for(layer, path, st);
        rfs::fsetxattr(
            dst,
            ORIGIN_XATTR,
            number.to_string().as_bytes(),
            rfs::XattrFlags::empty(),
        )?;
        let mut mode = st.st_mode & 0o7777;
        if !has_override && (st.st_uid != self.euid || st.st_gid != self.egid) {
            let chowned = rfs::fchown(
                dst,
                Some(rfs::Uid::from_raw(st.st_uid)),
                Some(rfs::Gid::from_raw(st.st_gid)),
            )
            .is_ok();
            if !chowned {
                let record = OverrideStat {
                    uid: st.st_uid,
                    gid: st.st_gid,
                    mode,
                    kind: None,
                };
                rfs::fsetxattr(
                    dst,
                    OVERRIDE_STAT_XATTR,
                    record.format().as_bytes(),
                    rfs::XattrFlags::empty(),
                )?;
                has_override = true;
            }
        }
        if has_override {
            mode |= if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                0o700
            } else {
                0o600
            };
        }
        rfs::fchmod(dst, Mode::from_raw_mode(mode))?;
        rfs::futimens(dst, &times_of(st))?;
        Ok(())
    }

    fn copy_metadata_at(&self, dir: &OwnedFd, name: &str, st: &Stat, chmod: bool) {
        let _ = rfs::chownat(
            dir,
            name,
            Some(rfs::Uid::from_raw(st.st_uid)),
            Some(rfs::Gid::from_raw(st.st_gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        );
        if chmod {
            let _ = rfs::chmodat(
                dir,
                name,
                Mode::from_raw_mode(st.st_mode & 0o7777),
                AtFlags::empty(),
            );
        }
        let _ = rfs::utimensat(dir, name, &times_of(st), AtFlags::SYMLINK_NOFOLLOW);
    }

    /// Copies a whole merged directory tree into the upper dir and makes it opaque, so it
    /// no longer depends on the lower layers (before a directory rename).
    fn copy_tree_up_locked(&self, ino: u64) -> FsResult<()> {
        self.copy_up_locked(ino)?;
        let (path, dir_layers) = self.dir_info(ino)?;
        if dir_layers == [0] {
            return Ok(());
        }
        self.copy_tree_path(&path, &dir_layers, &mut HashMap::new())?;
        let mut nodes = write(&self.nodes);
        for id in nodes.descendants(ino).into_iter().chain([ino]) {
            nodes.change(id, |known| *known = Known::default());
            if let Some(node) = nodes.get_mut(id) {
                node.layer = 0;
                if node.is_dir() {
                    node.dir_layers = Box::new([0]);
                }
            }
        }
        Ok(())
    }

    /// `copied` maps (device, inode) of multiply-linked lower files to their first
    /// upper copy, so hard links inside the tree stay hard links.
    fn copy_tree_path(
        &self,
        path: &Path,
        dir_layers: &[usize],
        copied: &mut HashMap<(u64, u64), PathBuf>,
    ) -> FsResult<()> {
        for entry in self.list_path(path, dir_layers)? {
            let child = path.join(&entry.name);
            if entry.layer != 0 {
                self.copy_entry_linked(entry.layer, &child, entry.kind, copied)?;
            }
            if entry.kind == FileType::Directory {
                let from = dir_layers
                    .iter()
                    .position(|l| *l == entry.layer)
                    .unwrap_or(0);
                let mut below = self.dir_layers_of(&child, &dir_layers[from..])?;
                if below.first() != Some(&0) {
                    below.insert(0, 0);
                }
                if below.len() > 1 {
                    self.copy_tree_path(&child, &below, copied)?;
                }
            }
        }
        self.make_opaque(path)
    }

    fn copy_entry_linked(
        &self,
        layer: usize,
        path: &Path,
        kind: FileType,
        copied: &mut HashMap<(u64, u64), PathBuf>,
    ) -> FsResult<()> {
        if kind != FileType::RegularFile {
            return self.copy_path_up(layer, path);
        }
        let st = self.stat_in(layer, path)?.ok_or(Errno::NOENT)?;
        if st.st_nlink < 2 {
            return self.copy_path_up(layer, path);
        }
        let key = (st.st_dev, st.st_ino);
        if let Some(first) = copied.get(&key) {
            let upper = self.upper()?;
            rfs::linkat(upper, first, upper, path, AtFlags::empty())?;
            return Ok(());
        }
        self.copy_path_up(layer, path)?;
        copied.insert(key, path.to_path_buf());
        Ok(())
    }

    fn make_opaque(&self, path: &Path) -> FsResult<()> {
        let upper = self.upper()?;
        match rfs::openat(
            upper,
            path.join(OPAQUE),
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(_) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    // ---- namespace changes -------------------------------------------------------

    /// Prepares the upper dir for a new entry `name` in `parent`: the parent copied up,
    /// a whiteout of the name removed. Returns (parent path, whether a whiteout was
    /// there — the new entry must then hide the lower one completely).
    fn prepare_new(&self, parent: u64, name: &OsStr) -> FsResult<(PathBuf, bool, Known)> {
        if self.reserved(name) {
            return Err(Errno::INVAL);
        }
        if name.len() > 255 {
            return Err(Errno::NAMETOOLONG);
        }
        let upper = self.upper()?;
        self.copy_up_locked(parent)?;
        let info = self.info(parent)?;
        if info.kind != libc::S_IFDIR {
            return Err(Errno::NOTDIR);
        }
        // In a directory of the upper dir alone, making the entry fails with EEXIST by
        // itself: only lower layers need asking.
        if info.dir_layers != [0] && self.resolve(&info.path, &info.dir_layers, name)?.is_some() {
            return Err(Errno::EXIST);
        }
        let mut had_whiteout = false;
        let may_have_whiteout = !self.passthrough && !info.known.no_whiteouts;
        if let Some(wh) = whiteout::whiteout_for(name).filter(|_| may_have_whiteout) {
            match rfs::unlinkat(upper, info.path.join(wh), AtFlags::empty()) {
                Ok(()) => had_whiteout = true,
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((info.path, had_whiteout, info.known))
    }

    /// Gives a new upper entry the caller's owner (or records it when the disk cannot).
    /// Returns the ownership record written, if one was.
    fn own_new(
        &self,
        path: &Path,
        uid: u32,
        gid: u32,
        mode: u32,
        kind: Option<OverrideKind>,
    ) -> Option<OverrideStat> {
        let Ok(upper) = self.upper() else {
            return None;
        };
        if uid == self.euid && gid == self.egid && kind.is_none() {
            return None;
        }
        let chowned = kind.is_none()
            && rfs::chownat(
                upper,
                path,
                Some(rfs::Uid::from_raw(uid)),
                Some(rfs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .is_ok();
        let st = rfs::statat(upper, path, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let ftype = st.st_mode & libc::S_IFMT;
        if chowned {
            if mode & 0o7000 != 0 && (ftype == libc::S_IFREG || ftype == libc::S_IFDIR) {
                let _ = rfs::chmodat(upper, path, Mode::from_raw_mode(mode), AtFlags::empty());
            }
            return None;
        }
        if ftype == libc::S_IFREG || ftype == libc::S_IFDIR {
            let record = OverrideStat {
                uid,
                gid,
                mode,
                kind,
            };
            let written = rfs::lsetxattr(
                self.abs(0, path),
                OVERRIDE_STAT_XATTR,
                record.format().as_bytes(),
                rfs::XattrFlags::empty(),
            );
            return written.is_ok().then_some(record);
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        uid: u32,
        gid: u32,
    ) -> FsResult<(FileAttr, u64, Duration, u64)> {
        let (uid, gid) = self.disk_owner(uid, gid)?;
        let _guard = self.change_lock();
        let (dir, _, parent_known) = self.prepare_new(parent, name)?;
        let path = dir.join(name);
        let oflags = open_flags(flags) | OFlags::CREATE | OFlags::EXCL;
        let fd = rfs::openat(
            self.upper()?,
            &path,
            oflags,
            Mode::from_raw_mode(mode & 0o7777),
        )?;
        let record = self.own_new(&path, uid, gid, mode & 0o7777, None);
        // The reply is built from the open file: no second resolve of the name.
        let st = rfs::fstat(&fd)?;
        let (attr, generation, ttl) = self.register_new(parent, name, &st, record, parent_known)?;
        let fh = self.add_file(File::from(fd), attr.ino.0, true);
        Ok((attr, generation, ttl, fh))
    }

    fn lookup_locked(&self, parent: u64, name: &OsStr) -> FsResult<(FileAttr, u64, Duration)> {
        self.lookup(parent, name)
    }

    pub fn mknod(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        uid: u32,
        gid: u32,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let (uid, gid) = self.disk_owner(uid, gid)?;
        let _guard = self.change_lock();
        let (dir, _, _) = self.prepare_new(parent, name)?;
        let path = dir.join(name);
        let upper = self.upper()?;
        let perm = Mode::from_raw_mode(mode & 0o7777);
        let kind = rfs::FileType::from_raw_mode(mode);
        let mut placeholder = None;
        match mode & libc::S_IFMT {
            libc::S_IFREG | 0 => {
                rfs::openat(
                    upper,
                    &path,
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    perm,
                )?;
            }
            libc::S_IFCHR | libc::S_IFBLK => {
                match rfs::mknodat(upper, &path, kind, perm, rdev as u64) {
                    Ok(()) => {}
                    Err(rustix::io::Errno::PERM) => {
                        rfs::openat(
                            upper,
                            &path,
                            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                            Mode::from_raw_mode(0o600),
                        )?;
                        let (major, minor) = (rfs::major(rdev as u64), rfs::minor(rdev as u64));
                        placeholder = Some(if mode & libc::S_IFMT == libc::S_IFCHR {
                            OverrideKind::Char { major, minor }
                        } else {
                            OverrideKind::Block { major, minor }
                        });
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            _ => rfs::mknodat(upper, &path, kind, perm, rdev as u64)?,
        }
        self.own_new(&path, uid, gid, mode & 0o7777, placeholder);
        self.lookup_locked(parent, name)
    }

    pub fn mkdir(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let (uid, gid) = self.disk_owner(uid, gid)?;
        let _guard = self.change_lock();
        let (dir, had_whiteout, parent_known) = self.prepare_new(parent, name)?;
        let path = dir.join(name);
        let upper = self.upper()?;
        if had_whiteout {
            // Built aside with its opaque marker, so the lower directory never shows.
            let work = self.work.as_ref().ok_or(Errno::ROFS)?;
            let temp = self.temp_name();
            rfs::mkdirat(work, &temp, Mode::from_raw_mode(0o700))?;
            let marker = Path::new(&temp).join(OPAQUE);
            rfs::openat(
                work,
                &marker,
                OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            rfs::chmodat(
                work,
                &temp,
                Mode::from_raw_mode(mode & 0o7777),
                AtFlags::empty(),
            )?;
            rfs::renameat_with(work, &temp, upper, &path, RenameFlags::NOREPLACE)?;
        } else {
            rfs::mkdirat(upper, &path, Mode::from_raw_mode(mode & 0o7777))?;
        }
        let record = self.own_new(&path, uid, gid, mode & 0o7777, None);
        // A new directory merges nothing from below: a lower one of the same name was
        // whited out (the new one is then opaque) or hidden by a lower whiteout.
        let st = rfs::statat(upper, &path, AtFlags::SYMLINK_NOFOLLOW)?;
        self.register_new(parent, name, &st, record, parent_known)
    }

    pub fn symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &Path,
        uid: u32,
        gid: u32,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let (uid, gid) = self.disk_owner(uid, gid)?;
        let _guard = self.change_lock();
        let (dir, _, _) = self.prepare_new(parent, name)?;
        let path = dir.join(name);
        rfs::symlinkat(target, self.upper()?, &path)?;
        self.own_new(&path, uid, gid, 0o777, None);
        self.lookup_locked(parent, name)
    }

    pub fn link(
        &self,
        ino: u64,
        new_parent: u64,
        new_name: &OsStr,
    ) -> FsResult<(FileAttr, u64, Duration)> {
        let _guard = self.change_lock();
        let (_, _, kind) = self.node_info(ino)?;
        if kind == libc::S_IFDIR {
            return Err(Errno::PERM);
        }
        self.copy_up_locked(ino)?;
        let (dir, _, _) = self.prepare_new(new_parent, new_name)?;
        let (_, source, _) = self.node_info(ino)?;
        let upper = self.upper()?;
        rfs::linkat(upper, &source, upper, dir.join(new_name), AtFlags::empty())?;
        self.lookup_locked(new_parent, new_name)
    }

    /// True when a lower layer of `parent` would show `name` once the upper entry goes.
    fn lower_has(&self, dir: &Path, dir_layers: &[usize], name: &OsStr) -> FsResult<bool> {
        let lowers: Vec<usize> = dir_layers.iter().copied().filter(|l| *l != 0).collect();
        if lowers.is_empty() {
            return Ok(false);
        }
        // The upper may hold a whiteout already; lowers below it are then hidden.
        Ok(self.resolve(dir, &lowers, name)?.is_some())
    }

    /// Writes `.wh.NAME` in the upper dir. Whiteouts are empty files that differ only in
    /// their names, so each is a hard link to one shared empty file in the work dir:
    /// a link costs a directory entry, a new file costs an inode (twenty to fifty times
    /// slower on a busy ext4, and `rm -rf` of a lower tree writes one per entry).
    fn add_whiteout(&self, parent: u64, dir: &Path, name: &OsStr) -> FsResult<()> {
        let wh = dir.join(whiteout::whiteout_for(name).ok_or(Errno::NAMETOOLONG)?);
        self.changed(parent, |known| known.no_whiteouts = false);
        let upper = self.upper()?;
        if let Some(work) = &self.work {
            if self.link_whiteout(work, upper, &wh).is_ok() {
                return Ok(());
            }
        }
        rfs::openat(
            upper,
            &wh,
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        Ok(())
    }

    /// Links `path` in the upper dir to the shared whiteout, (re)making the shared file
    /// when it is missing or has as many links as the filesystem allows.
    fn link_whiteout(&self, work: &OwnedFd, upper: &OwnedFd, path: &Path) -> FsResult<()> {
        let _shared = lock(&self.shared_whiteout);
        for _ in 0..2 {
            match rfs::linkat(work, SHARED_WHITEOUT, upper, path, AtFlags::empty()) {
                Ok(()) => return Ok(()),
                Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::MLINK) => {
                    self.new_shared_whiteout(work)?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(rustix::io::Errno::MLINK.into())
    }

    /// A fresh empty shared whiteout, renamed over the old one (its links stay valid).
    fn new_shared_whiteout(&self, work: &OwnedFd) -> FsResult<()> {
        let temp = self.temp_name();
        rfs::openat(
            work,
            &temp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        if let Err(e) = rfs::renameat(work, &temp, work, SHARED_WHITEOUT) {
            let _ = rfs::unlinkat(work, &temp, AtFlags::empty());
            return Err(e.into());
        }
        Ok(())
    }

    /// Removes an upper directory that holds only bookkeeping (whiteouts, marker).
    fn remove_upper_dir(&self, path: &Path) -> FsResult<()> {
        let upper = self.upper()?;
        let fd = rfs::openat(
            upper,
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let mut names = Vec::new();
        let mut dir = rfs::Dir::new(fd)?;
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes()).to_os_string();
            if name != "." && name != ".." {
                if !self.reserved(&name) {
                    return Err(Errno::NOTEMPTY);
                }
                names.push(name);
            }
        }
        for name in names {
            rfs::unlinkat(upper, path.join(name), AtFlags::empty())?;
        }
        rfs::unlinkat(upper, path, AtFlags::REMOVEDIR)?;
        Ok(())
    }

    pub fn unlink(&self, parent: u64, name: &OsStr, dir_wanted: bool) -> FsResult<()> {
        if self.reserved(name) {
            return Err(Errno::NOENT);
        }
        let _guard = self.change_lock();
        self.upper()?;
        let (dir, dir_layers) = self.dir_info(parent)?;
        let (layer, st, below) = self.resolve(&dir, &dir_layers, name)?.ok_or(Errno::NOENT)?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        if dir_wanted && !is_dir {
            return Err(Errno::NOTDIR);
        }
        if !dir_wanted && is_dir {
            return Err(Errno::ISDIR);
        }
        let path = dir.join(name);
        if is_dir && !self.list_path(&path, &below)?.is_empty() {
            return Err(Errno::NOTEMPTY);
        }
        let number = self.number_for(layer, &path, &st);
        self.copy_up_locked(parent)?;
        let (dir, dir_layers) = self.dir_info(parent)?;
        // An entry found in a lower layer needs its whiteout; only for an upper one
        // must the lowers be asked whether they would show the name again.
        let needs_whiteout = layer != 0 || self.lower_has(&dir, &dir_layers, name)?;
        if needs_whiteout && whiteout::whiteout_for(name).is_none() {
            return Err(Errno::NAMETOOLONG);
        }
        if layer == 0 {
            if is_dir {
                self.remove_upper_dir(&path)?;
            } else {
                rfs::unlinkat(self.upper()?, &path, AtFlags::empty())?;
            }
        }
        if needs_whiteout {
            self.add_whiteout(parent, &dir, name)?;
        }
        write(&self.nodes).unlink(number, parent, name);
        Ok(())
    }

    pub fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> FsResult<()> {
        if self.reserved(name) {
            return Err(Errno::NOENT);
        }
        if self.reserved(new_name) {
            return Err(Errno::INVAL);
        }
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        let noreplace = flags & libc::RENAME_NOREPLACE != 0;
        if flags & !(libc::RENAME_EXCHANGE | libc::RENAME_NOREPLACE) != 0 {
            return Err(Errno::INVAL);
        }
        let _guard = self.change_lock();
        self.upper()?;
        let (src_dir, src_layers) = self.dir_info(parent)?;
        let (dst_dir, dst_layers) = self.dir_info(new_parent)?;
        let (src_layer, src_st, _) = self
            .resolve(&src_dir, &src_layers, name)?
            .ok_or(Errno::NOENT)?;
        let dst = self.resolve(&dst_dir, &dst_layers, new_name)?;
        if exchange && dst.is_none() {
            return Err(Errno::NOENT);
        }
        if noreplace && dst.is_some() {
            return Err(Errno::EXIST);
        }
        let src_path = src_dir.join(name);
        let dst_path = dst_dir.join(new_name);
        let src_number = self.number_for(src_layer, &src_path, &src_st);
        let src_is_dir = src_st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        let dst_number = dst
            .as_ref()
            .map(|(layer, st, _)| self.number_for(*layer, &dst_path, st));
        if src_number == dst_number.unwrap_or(0) {
            return Ok(()); // same file: rename(2) does nothing
        }
        if let (Some((_, dst_st, dst_below)), false) = (&dst, exchange) {
            let dst_is_dir = dst_st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if src_is_dir && !dst_is_dir {
                return Err(Errno::NOTDIR);
            }
            if !src_is_dir && dst_is_dir {
                return Err(Errno::ISDIR);
            }
            if dst_is_dir && !self.list_path(&dst_path, dst_below)?.is_empty() {
                return Err(Errno::NOTEMPTY);
            }
        }
        // Both ends must be in the upper dir, directories whole and opaque.
        self.prepare_moved(parent, name, src_number, src_is_dir)?;
        self.copy_up_locked(new_parent)?;
        let upper = self.upper()?;
        let (src_dir, src_layers) = self.dir_info(parent)?;
        let (dst_dir, _) = self.dir_info(new_parent)?;
        let src_path = src_dir.join(name);
        let dst_path = dst_dir.join(new_name);
        if exchange {
            let (_, dst_st, _) = dst.as_ref().ok_or(Errno::NOENT)?;
            let dst_is_dir = dst_st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            self.prepare_moved(
                new_parent,
                new_name,
                dst_number.ok_or(Errno::NOENT)?,
                dst_is_dir,
            )?;
            rfs::renameat_with(upper, &src_path, upper, &dst_path, RenameFlags::EXCHANGE)?;
            let mut nodes = write(&self.nodes);
            let (a, b) = (name.to_os_string(), new_name.to_os_string());
            nodes.relink(src_number, (parent, &a), (u64::MAX, &b));
            if let Some(d) = dst_number {
                nodes.relink(d, (new_parent, &b), (parent, &a));
            }
            nodes.relink(src_number, (u64::MAX, &b), (new_parent, &b));
            return Ok(());
        }
        if let Some((dst_layer, dst_st, _)) = &dst {
            if *dst_layer == 0 && dst_st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                self.remove_upper_dir(&dst_path)?;
            }
            if src_is_dir && *dst_layer != 0 {
                // The moved directory must hide the lower one it now stands on.
                self.make_opaque(&src_path)?;
            }
        }
        if let Some(wh) = whiteout::whiteout_for(new_name).filter(|_| !self.passthrough) {
            match rfs::unlinkat(upper, dst_dir.join(wh), AtFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A directory moved onto a name that a lower layer has (hidden by a whiteout we
        // just removed) must also be opaque.
        if src_is_dir && self.lower_has(&dst_dir, &self.dir_info(new_parent)?.1, new_name)? {
            self.make_opaque(&src_path)?;
        }
        rfs::renameat(upper, &src_path, upper, &dst_path)?;
        if self.lower_has(&src_dir, &src_layers, name)? {
            self.add_whiteout(parent, &src_dir, name)?;
        }
        let mut nodes = write(&self.nodes);
        let (a, b) = (name.to_os_string(), new_name.to_os_string());
        if let Some(d) = dst_number {
            nodes.unlink(d, new_parent, &b);
        }
        nodes.relink(src_number, (parent, &a), (new_parent, &b));
        Ok(())
    }

    /// Puts the entry (parent, name) — node `number` — in the upper dir at its own name.
    fn prepare_moved(&self, parent: u64, name: &OsStr, number: u64, is_dir: bool) -> FsResult<()> {
        // Make sure the node table knows this entry (a rename may come without lookup).
        let known = read(&self.nodes).get(number).is_some();
        if !known {
            self.lookup(parent, name)?;
            let result = self.prepare_moved_known(parent, name, number, is_dir);
            self.forget(number, 1);
            return result;
        }
        self.prepare_moved_known(parent, name, number, is_dir)
    }

    fn prepare_moved_known(
        &self,
        parent: u64,
        name: &OsStr,
        number: u64,
        is_dir: bool,
    ) -> FsResult<()> {
        if is_dir {
            return self.copy_tree_up_locked(number);
        }
        self.copy_up_locked(parent)?;
        let (dir, dir_layers) = self.dir_info(parent)?;
        let path = dir.join(name);
        if let Some((0, _, _)) = self.resolve(&dir, &dir_layers, name)? {
            return Ok(());
        }
        // This name is still in a lower layer.
        let node_layer = self.node_layer(number)?;
        let node_path = read(&self.nodes).path_of(number).ok_or(Errno::NOENT)?;
        if node_layer == 0 && node_path != path {
            // Another name of the same file was copied up: link to it.
            let upper = self.upper()?;
            rfs::linkat(upper, &node_path, upper, &path, AtFlags::empty())?;
            return Ok(());
        }
        if node_path == path {
            return self.copy_up_locked(number);
        }
        let (layer, _, _) = self.resolve(&dir, &dir_layers, name)?.ok_or(Errno::NOENT)?;
        self.copy_path_up(layer, &path)
    }

    // ---- attributes ----------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub fn setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<fuser::TimeOrNow>,
        mtime: Option<fuser::TimeOrNow>,
        fh: Option<u64>,
    ) -> FsResult<FileAttr> {
        let changes_nothing = mode.is_none()
            && uid.is_none()
            && gid.is_none()
            && size.is_none()
            && atime.is_none()
            && mtime.is_none();
        if !self.is_named(ino) {
            let via_handle = fh.and_then(|fh| self.file(fh));
            if let Some(file) = via_handle.or_else(|| self.open_file_of(ino)) {
                return self.setattr_unlinked(&file, mode, uid, gid, size, atime, mtime);
            }
        }
        if changes_nothing {
            // Only a ctime the kernel keeps itself (writeback cache, e.g. after an
            // unlink): nothing to copy up, and the node may have no name left.
            return match fh {
                Some(fh) => self.getattr_open(ino, fh),
                None => self.getattr(ino),
            };
        }
        let (uid, gid) = self.disk_owner_change(uid, gid)?;
        let only_dropped_owner = [mode, uid, gid].iter().all(Option::is_none)
            && size.is_none()
            && atime.is_none()
            && mtime.is_none();
        if only_dropped_owner {
            // A change of owner that a squashing shift drops.
            return self.getattr(ino);
        }
        self.copy_up(ino)?;
        // Through an open handle of the upper file when there is one (tar keeps the
        // file open while it sets times, owner and mode): no path to build or walk.
        let (mut info, handle) = match self.upper_handle(ino) {
            Some((info, file)) => (info, Some(file)),
            None => (self.info(ino)?, None),
        };
        let at = match &handle {
            Some(open) => Upper::File(&open.file),
            None => Upper::Path(&info.path),
        };
        // A stat of the file taken after the last change, when one was needed anyway.
        let mut current = None;
        if uid.is_some() || gid.is_some() || mode.is_some() {
            let _guard = self.change_lock();
            current = self.chown_chmod(ino, &info, &at, mode, uid, gid)?;
        }
        if let Some(size) = size {
            current = None;
            let via_handle = fh.and_then(|fh| self.file(fh));
            match (via_handle, &at) {
                (Some(file), _) if rfs::ftruncate(&file.file, size).is_ok() => {}
                (_, Upper::File(file)) => rfs::ftruncate(file, size)?,
                (_, Upper::Path(path)) => {
                    let fd = rfs::openat(
                        self.upper()?,
                        *path,
                        OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                        Mode::empty(),
                    )?;
                    rfs::ftruncate(&fd, size)?;
                }
            }
        }
        if atime.is_some() || mtime.is_some() {
            current = None;
            let times = Timestamps {
                last_access: timespec_of(atime),
                last_modification: timespec_of(mtime),
            };
            self.utimens_upper(&at, &times)?;
        }
        let st = match current {
            Some(st) => st,
            None => self.stat_upper(&at)?,
        };
        // A chown or chmod through the record changed what the node knows.
        info.known = read(&self.nodes).known(ino);
        Ok(self.attr_known(ino, &info, &st))
    }

    /// The node's upper file open for writing (kept from create or open), with what
    /// requests need of the node but its path; None when it has no such handle or
    /// its ownership record is not known.
    fn upper_handle(&self, ino: u64) -> Option<(NodeInfo, Arc<OpenFile>)> {
        let (info, fh) = {
            let nodes = read(&self.nodes);
            let fh = nodes.upper_handle(ino)?;
            let node = nodes.get(ino)?;
            let known = nodes.known(ino);
            if node.layer != 0 || known.record.is_none() {
                return None;
            }
            let info = NodeInfo {
                layer: 0,
                path: PathBuf::new(),
                kind: node.kind,
                merged: false,
                dir_layers: Vec::new(),
                known,
                epoch: nodes.epoch(),
            };
            (info, fh)
        };
        Some((info, self.file(fh)?))
    }

    fn stat_upper(&self, at: &Upper<'_>) -> FsResult<Stat> {
        Ok(match at {
            Upper::File(file) => rfs::fstat(file)?,
            Upper::Path(path) => self.stat_in(0, path)?.ok_or(Errno::NOENT)?,
        })
    }

    fn utimens_upper(&self, at: &Upper<'_>, times: &Timestamps) -> FsResult<()> {
        match at {
            Upper::File(file) => rfs::futimens(file, times)?,
            Upper::Path(path) => {
                rfs::utimensat(self.upper()?, rel(path), times, AtFlags::SYMLINK_NOFOLLOW)?
            }
        }
        Ok(())
    }

    fn chmod_upper(&self, at: &Upper<'_>, mode: u32) -> FsResult<()> {
        let mode = Mode::from_raw_mode(mode & 0o7777);
        match at {
            Upper::File(file) => rfs::fchmod(file, mode)?,
            Upper::Path(path) => rfs::chmodat(self.upper()?, rel(path), mode, AtFlags::empty())?,
        }
        Ok(())
    }

    fn chown_upper(&self, at: &Upper<'_>, uid: Option<u32>, gid: Option<u32>) -> FsResult<()> {
        let (uid, gid) = (uid.map(rfs::Uid::from_raw), gid.map(rfs::Gid::from_raw));
        match at {
            Upper::File(file) => rfs::fchown(file, uid, gid)?,
            Upper::Path(path) => rfs::chownat(
                self.upper()?,
                rel(path),
                uid,
                gid,
                AtFlags::SYMLINK_NOFOLLOW,
            )?,
        }
        Ok(())
    }

    fn set_record_upper(&self, at: &Upper<'_>, record: &OverrideStat) -> FsResult<()> {
        let value = record.format();
        let flags = rfs::XattrFlags::empty();
        match at {
            Upper::File(file) => {
                rfs::fsetxattr(file, OVERRIDE_STAT_XATTR, value.as_bytes(), flags)?
            }
            Upper::Path(path) => rfs::lsetxattr(
                self.abs(0, path),
                OVERRIDE_STAT_XATTR,
                value.as_bytes(),
                flags,
            )?,
        }
        Ok(())
    }

    /// The owner a chown asks for, as stored: unmapped ids are refused (EINVAL, as
    /// the kernel says for ids outside a user namespace); with squashing the change
    /// is dropped.
    fn disk_owner_change(
        &self,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> FsResult<(Option<u32>, Option<u32>)> {
        let Some(shift) = &self.shift else {
            return Ok((uid, gid));
        };
        if shift.squashes() {
            return Ok((None, None));
        }
        let uid = uid
            .map(|u| shift.uid.disk(u).ok_or(Errno::INVAL))
            .transpose()?;
        let gid = gid
            .map(|g| shift.gid.disk(g).ok_or(Errno::INVAL))
            .transpose()?;
        Ok((uid, gid))
    }

    /// Changes owner and mode of the upper file of `ino` (`info`, reached through
    /// `at`), on disk or in its ownership record. Returns the file's stat when it was
    /// read and nothing changed after (a chown to the owner the file has), so the
    /// reply needs no second stat.
    fn chown_chmod(
        &self,
        ino: u64,
        info: &NodeInfo,
        at: &Upper<'_>,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> FsResult<Option<Stat>> {
        let kind = info.kind;
        let can_record = kind == libc::S_IFREG || kind == libc::S_IFDIR;
        let recorded = match (can_record, info.known.record) {
            (false, _) => None,
            (true, Some(record)) => record,
            (true, None) => self.override_of(0, &info.path),
        };
        if let Some(mut record) = recorded {
            record.uid = uid.unwrap_or(record.uid);
            record.gid = gid.unwrap_or(record.gid);
            if let Some(mode) = mode {
                record.mode = mode & 0o7777;
            } else if (uid.is_some() || gid.is_some()) && kind != libc::S_IFDIR {
                record.mode = without_setid(record.mode); // chown drops them
            }
            self.write_override(ino, at, kind, record)?;
            return Ok(None);
        }
        if uid.is_some() || gid.is_some() {
            let st = self.stat_upper(at)?;
            let new_uid = uid.unwrap_or(st.st_uid);
            let new_gid = gid.unwrap_or(st.st_gid);
            if (new_uid, new_gid) == (st.st_uid, st.st_gid) {
                // Nothing to change on disk (the kernel sends the mode a chown clears),
                // but a chown to the owner it has still drops setuid/setgid (the disk
                // does that itself on a real change of owner).
                if mode.is_none() {
                    let kept = st.st_mode & 0o7777;
                    if kind == libc::S_IFREG && without_setid(kept) != kept {
                        self.chmod_upper(at, without_setid(kept))?;
                        return Ok(None);
                    }
                    return Ok(Some(st));
                }
            } else if self.chown_upper(at, uid, gid).is_err() {
                if !can_record {
                    return Err(Errno::PERM);
                }
                let record = OverrideStat {
                    uid: new_uid,
                    gid: new_gid,
                    mode: mode.unwrap_or(st.st_mode & 0o7777 & !0o6000) & 0o7777,
                    kind: None,
                };
                self.write_override(ino, at, kind, record)?;
                return Ok(None);
            }
        }
        if let Some(mode) = mode {
            if kind != libc::S_IFLNK {
                self.chmod_upper(at, mode)?;
            }
        }
        Ok(None)
    }

    fn write_override(
        &self,
        ino: u64,
        at: &Upper<'_>,
        kind: u32,
        record: OverrideStat,
    ) -> FsResult<()> {
        let written = self.set_record_upper(at, &record);
        self.changed(ino, |known| {
            known.record = written.is_ok().then_some(Some(record));
        });
        written?;
        let access = if kind == libc::S_IFDIR { 0o700 } else { 0o600 };
        self.chmod_upper(at, record.mode | access)
    }

    /// Drops setuid, and setgid where group execute is set, as the kernel does when a
    /// file is written or truncated by a caller without CAP_FSETID (with
    /// `FUSE_HANDLE_KILLPRIV_V2` the kernel leaves that to the server). Works on the
    /// ownership record when the file has one, else on the disk mode; `fh` reaches a
    /// file with no name left. Returns whether the mode changed.
    pub fn drop_setid(&self, ino: u64, fh: Option<u64>) -> FsResult<bool> {
        if let Ok((0, path, libc::S_IFREG)) = self.node_info(ino) {
            let _guard = self.change_lock();
            if let Some(mut record) = self.override_of(0, &path) {
                if without_setid(record.mode) == record.mode {
                    return Ok(false);
                }
                record.mode = without_setid(record.mode);
                self.write_override(ino, &Upper::Path(&path), libc::S_IFREG, record)?;
                return Ok(true);
            }
            return self.drop_setid_on_disk(&Upper::Path(&path));
        }
        let file = fh
            .and_then(|fh| self.file(fh))
            .or_else(|| self.open_file_of(ino));
        match file {
            Some(file) => self.drop_setid_on_disk(&Upper::File(&file.file)),
            None => Ok(false),
        }
    }

    /// [`Self::drop_setid`] on the mode the upper file has on disk.
    fn drop_setid_on_disk(&self, at: &Upper<'_>) -> FsResult<bool> {
        let st = self.stat_upper(at)?;
        let mode = st.st_mode & 0o7777;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || without_setid(mode) == mode {
            return Ok(false);
        }
        self.chmod_upper(at, without_setid(mode))?;
        Ok(true)
    }

    // ---- files ---------------------------------------------------------------------

    /// Registers an open file; `upper` when it is the node's upper file, which
    /// setattr and getattr may then use instead of its path.
    fn add_file(&self, file: File, ino: u64, upper: bool) -> u64 {
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let upper = upper && !self.passthrough;
        write(&self.files).insert(fh, Arc::new(OpenFile { file, ino, upper }));
        if upper {
            write(&self.nodes).set_upper_handle(ino, fh);
        }
        fh
    }

    /// Any open handle of `ino` (a scan: only asked for nodes whose name is gone).
    fn open_file_of(&self, ino: u64) -> Option<Arc<OpenFile>> {
        read(&self.files).values().find(|f| f.ino == ino).cloned()
    }

    pub fn file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        read(&self.files).get(&fh).cloned()
    }

    pub fn release(&self, fh: u64) {
        let Some(file) = write(&self.files).remove(&fh) else {
            return;
        };
        if file.upper {
            write(&self.nodes).drop_upper_handle(file.ino, fh);
        }
    }

    pub fn open(&self, ino: u64, flags: i32) -> FsResult<u64> {
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if writes {
            self.copy_up(ino)?;
        }
        let (layer, path, _) = self.node_info(ino)?;
        let fd = rfs::openat(
            &self.layers[layer].fd,
            rel(&path),
            open_flags(flags),
            Mode::empty(),
        )?;
        let upper = writes && layer == 0 && self.has_upper;
        Ok(self.add_file(File::from(fd), ino, upper))
    }

    pub fn statfs(&self) -> FsResult<rfs::StatVfs> {
        Ok(rfs::fstatvfs(&self.layers[0].fd)?)
    }

    // ---- xattrs ----------------------------------------------------------------------

    pub fn getxattr(&self, ino: u64, name: &OsStr) -> FsResult<Vec<u8>> {
        if is_private_xattr(name) {
            return Err(Errno::NODATA);
        }
        let info = self.info(ino)?;
        // The namespaces every filesystem answers ENODATA for when the name is absent
        // (others may say ENOTSUP: those ask the disk).
        let plain = [&b"user."[..], b"security.", b"trusted."]
            .iter()
            .any(|prefix| name.as_bytes().starts_with(prefix));
        if info.known.no_xattrs && plain {
            return Err(Errno::NODATA);
        }
        let cname = CString::new(name.as_bytes()).map_err(|_| Errno::INVAL)?;
        let mut buf = [0u8; 256];
        let fd = self.layers[info.layer].fd.as_fd();
        match sys::getxattr_at(fd, rel(&info.path), &cname, &mut buf) {
            Some(Ok(len)) => Ok(buf[..len].to_vec()),
            Some(Err(e)) if e.raw_os_error() != Some(libc::ERANGE) => Err(e.into()),
            _ => sys::lgetxattr(&self.abs(info.layer, &info.path), &name.to_string_lossy())?
                .ok_or(Errno::NODATA),
        }
    }

    pub fn listxattr(&self, ino: u64) -> FsResult<Vec<u8>> {
        let info = self.info(ino)?;
        if info.known.no_xattrs {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for name in sys::llistxattr(&self.abs(info.layer, &info.path))? {
            if !is_private_xattr(&name) {
                out.extend_from_slice(name.as_bytes());
                out.push(0);
            }
        }
        Ok(out)
    }

    pub fn setxattr(&self, ino: u64, name: &OsStr, value: &[u8], flags: i32) -> FsResult<()> {
        if is_private_xattr(name) {
            return Err(Errno::PERM);
        }
        self.copy_up(ino)?;
        let (_, path, _) = self.node_info(ino)?;
        let flags = rfs::XattrFlags::from_bits_truncate(flags as u32);
        // Cleared first: a getxattr racing with this one must not be answered from a
        // "no xattrs" learnt before the value is there.
        self.changed(ino, |known| known.no_xattrs = false);
        rfs::lsetxattr(self.abs(0, &path), name, value, flags)?;
        Ok(())
    }

    pub fn removexattr(&self, ino: u64, name: &OsStr) -> FsResult<()> {
        if is_private_xattr(name) {
            return Err(Errno::NODATA);
        }
        self.getxattr(ino, name)?;
        self.copy_up(ino)?;
        let (_, path, _) = self.node_info(ino)?;
        self.changed(ino, |_| {});
        rfs::lremovexattr(self.abs(0, &path), name)?;
        Ok(())
    }

    pub fn fsyncdir(&self, ino: u64) -> FsResult<()> {
        let (layer, path, _) = self.node_info(ino)?;
        if layer != 0 || !self.has_upper {
            return Ok(());
        }
        let fd = rfs::openat(
            &self.layers[0].fd,
            rel(&path),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rfs::fsync(&fd)?;
        Ok(())
    }
}

/// Whether a file and a directory made in `work` come without xattrs (an LSM that
/// labels new files gives them one).
fn new_entries_are_bare(work: &OwnedFd) -> bool {
    let file = format!("#burrow-probe-{}", std::process::id());
    let dir = format!("{file}-dir");
    let mut buf = [0u8; 256];
    let bare = |fd: &OwnedFd, buf: &mut [u8]| rfs::flistxattr(fd, buf).map(|len| len == 0);
    let file_bare = rfs::openat(
        work,
        &file,
        OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .and_then(|fd| bare(&fd, &mut buf));
    let _ = rfs::unlinkat(work, &file, AtFlags::empty());
    let dir_bare = rfs::mkdirat(work, &dir, Mode::from_raw_mode(0o700))
        .and_then(|()| {
            rfs::openat(
                work,
                &dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
        })
        .and_then(|fd| bare(&fd, &mut buf));
    let _ = rfs::unlinkat(work, &dir, AtFlags::REMOVEDIR);
    matches!((file_bare, dir_bare), (Ok(true), Ok(true)))
}

/// Held while the tree changes (see [`Core::change_lock`]).
struct ChangeGuard<'a> {
    _lock: MutexGuard<'a, ()>,
    listings: &'a ListingCache,
}

impl Drop for ChangeGuard<'_> {
    fn drop(&mut self) {
        self.listings.invalidate_all();
    }
}

/// `mode` without setuid, and without setgid when group execute is set (setgid
/// without it marks mandatory locking, which the kernel keeps).
fn without_setid(mode: u32) -> u32 {
    let mode = mode & !0o4000;
    if mode & 0o010 != 0 {
        mode & !0o2000
    } else {
        mode
    }
}

fn split(path: &Path) -> (&Path, &OsStr) {
    (
        path.parent().unwrap_or(Path::new("")),
        path.file_name().unwrap_or(OsStr::new("")),
    )
}

fn exists(dir: &OwnedFd, path: &Path) -> bool {
    rfs::statat(dir, path, AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

fn times_of(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: rfs::Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rfs::Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn timespec_of(time: Option<fuser::TimeOrNow>) -> rfs::Timespec {
    match time {
        None => rfs::Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_OMIT,
        },
        Some(fuser::TimeOrNow::Now) => rfs::Timespec {
            tv_sec: 0,
            tv_nsec: rfs::UTIME_NOW,
        },
        Some(fuser::TimeOrNow::SpecificTime(t)) => {
            let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            rfs::Timespec {
                tv_sec: since.as_secs() as i64,
                tv_nsec: since.subsec_nanos() as _,
            }
        }
    }
}

/// Flags for opening the backing file: O_APPEND is dropped (the kernel sends the
/// offsets; pwrite on an O_APPEND fd would ignore them), write-only becomes read-write
/// (the writeback cache reads around partial pages), and symlinks are never followed.
fn open_flags(flags: i32) -> OFlags {
    let mut flags = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_NOCTTY | libc::O_APPEND);
    if flags & libc::O_ACCMODE == libc::O_WRONLY {
        flags = (flags & !libc::O_ACCMODE) | libc::O_RDWR;
    }
    OFlags::from_bits_retain(flags as u32) | OFlags::CLOEXEC | OFlags::NOFOLLOW
}
