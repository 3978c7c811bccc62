//! The overlay's FUSE operations, independent of how requests arrive: each takes the
//! request's decoded arguments and returns a protocol-neutral result ([`Entry`],
//! [`Attributes`], [`Opened`], [`Xattr`], [`StatFs`], ...) that a transport encodes —
//! `fuse.rs` into fuser's replies over /dev/fuse, `wire/` into the reply area of an
//! io_uring entry. [`Core`] does the merge; this layer adds what belongs to the
//! protocol: negative entries, open flags, the setuid/setgid dropping the kernel asks
//! the server to do, xattr size probes, a volume's directory handles. Every operation's
//! behaviour lives here once, so both transports answer alike.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{FileAttr, FileType, FopenFlags, INodeNo, TimeOrNow, WriteFlags};

use super::core::Core;
use super::errno::{Errno, FsResult};
use super::listing::{Listing, DOT, DOTDOT};
use super::prefetch::Prefetcher;

/// Largest read and write the kernel is asked to send (1 MiB).
pub const MAX_IO: u32 = 1 << 20;

/// The most one COPY_FILE_RANGE answered in 32 bits copies (half of u32::MAX, so the
/// count never looks negative).
pub const COPY_LIMIT_32: u64 = u32::MAX as u64 / 2;

/// A looked-up or created entry: attributes, generation, and how long the kernel may
/// keep both.
pub type Entry = (FileAttr, u64, Duration);

/// Attributes and how long the kernel may keep them.
#[derive(Clone, Copy, Debug)]
pub struct Attributes {
    pub attr: FileAttr,
    pub ttl: Duration,
}

/// An opened file or directory: its handle and the open flags for the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened {
    pub fh: u64,
    pub flags: FopenFlags,
}

/// The answer to a getxattr or listxattr: the size the caller probed for (a request
/// size of 0), or the value.
#[derive(Debug, PartialEq, Eq)]
pub enum Xattr {
    Size(u32),
    Data(Vec<u8>),
}

/// Filesystem statistics as FUSE reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// The changes a SETATTR asks for (None: leave as is).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
    /// The handle of a change made through an open file (fchmod, ftruncate ...).
    pub fh: Option<u64>,
}

/// Who made a request (the ids of its header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// A volume's open directory: a snapshot of the listing taken by the first read (the
/// host may change the directory underneath, so nothing is shared between opens); a
/// read from offset 0 after the first takes a new one (rewinddir).
struct DirStream {
    listing: Option<Arc<Listing>>,
    served: bool,
}

pub struct OverlayFs {
    pub(super) core: Arc<Core>,
    /// Reads ahead the directories a walk is about to read (see `prefetch.rs`).
    prefetcher: Prefetcher,
    /// Open directories of a volume (the overlay keeps no per-open state).
    dirs: Mutex<HashMap<u64, Arc<Mutex<DirStream>>>>,
    next_dir: AtomicU64,
    pub(super) writeback_cache: bool,
    /// Files may change underneath (a volume): no caches kept across opens.
    pub(super) passthrough: bool,
    /// The kernel can do without OPENDIR (FUSE_NO_OPENDIR_SUPPORT): the overlay
    /// answers it ENOSYS, so directories open and close with no round trip. Set by
    /// INIT, read by whichever transport serves the request.
    pub(super) no_opendir: AtomicBool,
    /// Whether INIT asks the kernel for FUSE over io_uring.
    pub(super) want_io_uring: AtomicBool,
    /// Set by INIT: whether the kernel accepted FUSE over io_uring (false when it
    /// was not asked for).
    pub(super) io_uring_accepted: Arc<OnceLock<bool>>,
    /// Whether a root caller keeps setuid/setgid through a truncate: only outside a
    /// user namespace, where root can hold CAP_FSETID in the initial namespace.
    root_keeps_setid: bool,
    /// Tells the kernel about changes it did not ask for (set once mounted).
    notifier: Arc<OnceLock<fuser::Notifier>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl OverlayFs {
    /// `prefetch`: read directories ahead of walks (never for a passthrough).
    pub fn new(core: Core, writeback_cache: bool, passthrough: bool, prefetch: bool) -> OverlayFs {
        let core = Arc::new(core);
        OverlayFs {
            prefetcher: Prefetcher::new(&core, prefetch && !passthrough),
            core,
            dirs: Mutex::new(HashMap::new()),
            next_dir: AtomicU64::new(1),
            writeback_cache,
            passthrough,
            no_opendir: AtomicBool::new(false),
            want_io_uring: AtomicBool::new(false),
            io_uring_accepted: Arc::new(OnceLock::new()),
            root_keeps_setid: !super::in_user_namespace(),
            notifier: Arc::new(OnceLock::new()),
        }
    }

    /// Where the session's notifier goes once the filesystem is mounted.
    pub fn notifier_slot(&self) -> Arc<OnceLock<fuser::Notifier>> {
        Arc::clone(&self.notifier)
    }

    /// Drops setuid/setgid of `ino` and, when that changed its mode, makes the kernel
    /// forget the attributes it holds (a write does not return them).
    fn drop_setid_and_tell(&self, ino: u64, fh: Option<u64>) -> FsResult<()> {
        if self.core.drop_setid(ino, fh)? {
            self.forget_attributes(ino);
        }
        Ok(())
    }

    /// Makes the kernel ask for `ino`'s attributes again.
    fn forget_attributes(&self, ino: u64) {
        if let Some(notifier) = self.notifier.get() {
            // Attributes only (a negative offset): no page-cache work, so this cannot
            // wait on the request being answered.
            let _ = notifier.inval_inode(INodeNo(ino), -1, 0);
        }
    }

    /// Whether a truncate by this caller drops setuid/setgid. The kernel asks that
    /// of the server (FATTR_KILL_SUIDGID, FUSE_OPEN_KILL_SUIDGID) when the caller
    /// lacks CAP_FSETID in the initial user namespace, but fuser does not pass those
    /// flags on: the caller's uid stands in for the capability.
    fn truncate_drops_setid(&self, uid: u32) -> bool {
        !(self.root_keeps_setid && uid == 0)
    }

    /// After a truncate: drops setuid/setgid where the kernel would (see
    /// [`Self::truncate_drops_setid`]); whether the mode changed.
    fn after_truncate(&self, uid: u32, ino: u64, fh: Option<u64>) -> FsResult<bool> {
        if self.truncate_drops_setid(uid) {
            return self.core.drop_setid(ino, fh);
        }
        Ok(false)
    }

    /// The open flags for files: keep the page cache unless files change underneath.
    fn file_open_flags(&self) -> FopenFlags {
        if self.passthrough {
            FopenFlags::empty()
        } else {
            FopenFlags::FOPEN_KEEP_CACHE
        }
    }

    /// Opens a volume's directory handle without listing: the snapshot is taken by
    /// the first read.
    fn open_dir(&self, ino: u64) -> FsResult<u64> {
        self.core.check_dir(ino)?;
        let fh = self.next_dir.fetch_add(1, Ordering::Relaxed);
        lock(&self.dirs).insert(
            fh,
            Arc::new(Mutex::new(DirStream {
                listing: None,
                served: false,
            })),
        );
        Ok(fh)
    }

    fn parent_of(&self, ino: u64) -> u64 {
        self.core.parent_of(ino).unwrap_or(ino)
    }

    // ---- operations ------------------------------------------------------------------

    /// LOOKUP: an absent name is a negative entry (node 0), which the kernel
    /// remembers for the upper TTL.
    pub fn lookup(&self, parent: u64, name: &OsStr) -> FsResult<Entry> {
        match self.core.lookup(parent, name) {
            Err(Errno::NOENT) => Ok((
                placeholder_attr(0, FileType::RegularFile),
                0,
                self.core.ttls.upper,
            )),
            other => other,
        }
    }

    /// GETATTR, through the open handle when the kernel names one.
    pub fn getattr(&self, ino: u64, fh: Option<u64>) -> FsResult<Attributes> {
        let attr = match fh {
            Some(fh) => self.core.getattr_open(ino, fh)?,
            None => self.core.getattr(ino)?,
        };
        Ok(Attributes {
            attr,
            ttl: self.core.ttl_of(ino),
        })
    }

    /// SETATTR by `uid`: a truncate also drops setuid/setgid where the kernel would,
    /// and then answers with the attributes after that.
    pub fn setattr(&self, uid: u32, ino: u64, change: &SetAttr) -> FsResult<Attributes> {
        let attr = self.core.setattr(
            ino,
            change.mode,
            change.uid,
            change.gid,
            change.size,
            change.atime,
            change.mtime,
            change.fh,
        )?;
        if change.size.is_none() || !self.after_truncate(uid, ino, change.fh)? {
            return Ok(Attributes {
                attr,
                ttl: self.core.ttl_of(ino),
            });
        }
        self.getattr(ino, change.fh)
    }

    /// OPEN by `uid`.
    pub fn open(&self, uid: u32, ino: u64, flags: i32) -> FsResult<Opened> {
        // An open that truncates drops setuid/setgid; the server's own truncation
        // may already do that on the disk, so whether the kernel's copy of the mode
        // is stale is known only from the mode before.
        let had_setid = flags & libc::O_TRUNC != 0
            && self.truncate_drops_setid(uid)
            && self
                .core
                .getattr(ino)
                .is_ok_and(|attr| attr.perm & 0o6000 != 0);
        let fh = self.core.open(ino, flags)?;
        if had_setid {
            self.core.drop_setid(ino, Some(fh))?;
            self.forget_attributes(ino);
        }
        Ok(Opened {
            fh,
            flags: self.file_open_flags(),
        })
    }

    /// CREATE by `caller`: the new entry, opened.
    pub fn create(
        &self,
        caller: Caller,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> FsResult<(Entry, Opened)> {
        let (attr, generation, ttl, fh) = self
            .core
            .create(parent, name, mode, flags, caller.uid, caller.gid)?;
        let opened = Opened {
            fh,
            flags: self.file_open_flags(),
        };
        Ok(((attr, generation, ttl), opened))
    }

    /// READ: fills `buffer` from `offset` (short only at the end of the file); the
    /// bytes read.
    pub fn read(&self, fh: u64, offset: u64, buffer: &mut [u8]) -> FsResult<usize> {
        let file = self.core.file(fh).ok_or(Errno::BADF)?;
        let mut filled = 0;
        while filled < buffer.len() {
            match file
                .file
                .read_at(&mut buffer[filled..], offset + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(filled)
    }

    /// WRITE: the bytes written (all of `data`).
    pub fn write(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
    ) -> FsResult<u32> {
        let file = self.core.file(fh).ok_or(Errno::BADF)?;
        // The kernel writes through, with this flag, when the write must drop
        // setuid/setgid (FUSE_HANDLE_KILLPRIV_V2).
        if write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            self.drop_setid_and_tell(ino, Some(fh))?;
        }
        match file.file.write_all_at(data, offset) {
            Ok(()) => Ok(data.len() as u32),
            // The kernel keeps a failed writeback's error only as ENOSPC or EIO
            // (`mapping_set_error`): a quota that runs out is nearest to ENOSPC.
            Err(e)
                if e.raw_os_error() == Some(libc::EDQUOT)
                    && write_flags.contains(WriteFlags::FUSE_WRITE_CACHE) =>
            {
                Err(Errno::NOSPC)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// FLUSH: nothing to do on close (no server-side locks; data goes at write and
    /// fsync). ENOSYS makes the kernel stop sending FLUSH at all, saving a round trip
    /// per close; it still writes dirty pages back and reports their errors.
    pub fn flush(&self) -> FsResult<()> {
        Err(Errno::NOSYS)
    }

    /// RELEASE.
    pub fn release(&self, fh: u64) {
        self.core.release(fh);
    }

    /// FSYNC.
    pub fn fsync(&self, fh: u64, datasync: bool) -> FsResult<()> {
        let file = self.core.file(fh).ok_or(Errno::BADF)?;
        let result = if datasync {
            file.file.sync_data()
        } else {
            file.file.sync_all()
        };
        result.map_err(Errno::from)
    }

    /// OPENDIR.
    pub fn opendir(&self, ino: u64) -> FsResult<Opened> {
        if self.passthrough {
            // A volume: a snapshot per open, no kernel cache of the listing.
            return Ok(Opened {
                fh: self.open_dir(ino)?,
                flags: FopenFlags::empty(),
            });
        }
        if self.no_opendir.load(Ordering::Relaxed) {
            // The overlay keeps no per-open state: after this ENOSYS the kernel sends
            // no OPENDIR or RELEASEDIR again and opens directories as if answered
            // KEEP_CACHE | CACHE_DIR with handle 0 (fs/fuse/file.c).
            return Err(Errno::NOSYS);
        }
        // The kernel may keep the listing (CACHE_DIR) across opens (KEEP_CACHE): every
        // change to a directory goes through the overlay, which makes the kernel drop
        // its copy, and the lowers do not change under a mount. Warm walks then send
        // no READDIR at all.
        self.core.check_dir(ino)?;
        Ok(Opened {
            fh: 0,
            flags: FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
        })
    }

    /// RELEASEDIR.
    pub fn releasedir(&self, fh: u64) {
        if self.passthrough {
            lock(&self.dirs).remove(&fh);
        }
    }

    /// ACCESS: with default_permissions the kernel checks modes itself.
    pub fn access(&self) -> FsResult<()> {
        Ok(())
    }

    /// STATFS.
    pub fn statfs(&self) -> FsResult<StatFs> {
        let st = self.core.statfs()?;
        Ok(StatFs {
            blocks: st.f_blocks,
            bfree: st.f_bfree,
            bavail: st.f_bavail,
            files: st.f_files,
            ffree: st.f_ffree,
            bsize: st.f_bsize as u32,
            namelen: 255,
            frsize: st.f_frsize as u32,
        })
    }

    /// GETXATTR into a buffer of `size` bytes (0: a probe for the size).
    pub fn getxattr(&self, ino: u64, name: &OsStr, size: u32) -> FsResult<Xattr> {
        xattr_answer(size, self.core.getxattr(ino, name)?)
    }

    /// LISTXATTR into a buffer of `size` bytes (0: a probe for the size).
    pub fn listxattr(&self, ino: u64, size: u32) -> FsResult<Xattr> {
        xattr_answer(size, self.core.listxattr(ino)?)
    }

    /// FALLOCATE.
    pub fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> FsResult<()> {
        let file = self.core.file(fh).ok_or(Errno::BADF)?;
        let flags = rustix::fs::FallocateFlags::from_bits_retain(mode as u32);
        rustix::fs::fallocate(&file.file, flags, offset, length).map_err(Errno::from)
    }

    /// LSEEK: the new position.
    pub fn lseek(&self, fh: u64, offset: i64, whence: i32) -> FsResult<i64> {
        let file = self.core.file(fh).ok_or(Errno::BADF)?;
        let position = match whence {
            libc::SEEK_DATA => rustix::fs::SeekFrom::Data(offset as u64),
            libc::SEEK_HOLE => rustix::fs::SeekFrom::Hole(offset as u64),
            libc::SEEK_SET => rustix::fs::SeekFrom::Start(offset as u64),
            libc::SEEK_CUR => rustix::fs::SeekFrom::Current(offset),
            libc::SEEK_END => rustix::fs::SeekFrom::End(offset),
            _ => return Err(Errno::INVAL),
        };
        Ok(rustix::fs::seek(&file.file, position)? as i64)
    }

    /// COPY_FILE_RANGE of at most `len` bytes: the bytes copied.
    ///
    /// A reply that counts in 32 bits (`fuse_write_out`) asks for at most
    /// [`COPY_LIMIT_32`] bytes.
    pub fn copy_file_range(
        &self,
        (fh_in, offset_in): (u64, u64),
        (fh_out, offset_out): (u64, u64),
        len: u64,
    ) -> FsResult<u64> {
        let (Some(from), Some(to)) = (self.core.file(fh_in), self.core.file(fh_out)) else {
            return Err(Errno::BADF);
        };
        let (mut off_in, mut off_out) = (offset_in, offset_out);
        let copied = rustix::fs::copy_file_range(
            &from.file,
            Some(&mut off_in),
            &to.file,
            Some(&mut off_out),
            len.min(usize::MAX as u64) as usize,
        )?;
        Ok(copied as u64)
    }

    // ---- directories -----------------------------------------------------------------

    /// The listing a read of `ino` at `offset` is served from: the volume handle's
    /// snapshot, or for the overlay (no handle) the shared, cached one.
    fn listing_for(&self, ino: u64, fh: u64, offset: u64) -> FsResult<Arc<Listing>> {
        if !self.passthrough {
            return self.core.listing(ino);
        }
        let stream = lock(&self.dirs).get(&fh).cloned().ok_or(Errno::BADF)?;
        let mut stream = lock(&stream);
        let listing = match stream.listing.take() {
            Some(listing) if !(offset == 0 && stream.served) => listing,
            _ => Arc::new(self.core.list(ino)?),
        };
        stream.listing = Some(listing.clone());
        stream.served = true;
        Ok(listing)
    }

    /// READDIR and READDIRPLUS: fills one reply from `offset` on: `.` and `..` first,
    /// then the merged entries in offset order (see `listing.rs`). For readdirplus
    /// each entry is also looked up (attributes, a lookup count), so the kernel needs
    /// no LOOKUP of its own when the names are then stat'ed.
    pub fn fill_dir<R: DirReply>(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        reply: &mut R,
    ) -> FsResult<()> {
        let listing = self.listing_for(ino, fh, offset)?;
        self.fill_from(ino, &listing, offset, reply);
        Ok(())
    }

    fn fill_from<R: DirReply>(&self, ino: u64, listing: &Listing, offset: u64, reply: &mut R) {
        let mut subdirs = Vec::new();
        self.fill_entries(ino, listing, offset, reply, &mut subdirs);
        // A walk reads these next: their listings are built ahead meanwhile.
        self.prefetcher.ask(ino, &subdirs);
    }

    /// Fills the reply; for readdirplus, adds the subdirectories sent to `subdirs`.
    fn fill_entries<R: DirReply>(
        &self,
        ino: u64,
        listing: &Listing,
        offset: u64,
        reply: &mut R,
        subdirs: &mut Vec<u64>,
    ) {
        let dots = [(ino, ".", DOT), (self.parent_of(ino), "..", DOTDOT)];
        let mut added = false;
        for (number, name, next) in dots {
            if offset >= next {
                continue;
            }
            let item = DirItem {
                ino: number,
                next,
                kind: FileType::Directory,
                name: OsStr::new(name),
            };
            // The kernel takes no entry or attributes from `.` and `..`.
            if reply.add(&item, None) {
                return;
            }
            added = true;
        }
        let mut dirs = listing.dirs();
        let start = listing.resume_at(offset);
        for (i, entry) in listing.entries.iter().enumerate().skip(start) {
            if added && listing.starts_run(i) {
                // Names sharing an offset go in one reply: end this one before them.
                return;
            }
            let item = DirItem {
                ino: entry.ino,
                next: entry.cookie,
                kind: entry.kind,
                name: &entry.name,
            };
            if !R::PLUS {
                if reply.add(&item, None) {
                    return;
                }
                added = true;
                continue;
            }
            let found = match self.core.lookup_listed(ino, listing, &dirs, entry) {
                Ok(found) => found,
                Err(_) => continue, // vanished since the listing was read
            };
            let number = found.0.ino.0;
            let is_dir = found.0.kind == FileType::Directory;
            if reply.add(&item, Some(found)) {
                // Not sent: undo the lookup it counted.
                self.core.forget(number, 1);
                return;
            }
            if is_dir {
                subdirs.push(number);
            }
            added = true;
        }
        // Served to the end: the open layer dirs go, so an idle listing holds no
        // descriptors (a seek back looks names up through their paths).
        dirs.clear();
    }
}

/// One entry of a directory reply.
pub struct DirItem<'a> {
    pub ino: u64,
    /// The offset the kernel asks for to continue after this entry.
    pub next: u64,
    pub kind: FileType,
    pub name: &'a OsStr,
}

/// A directory reply being filled (readdir or readdirplus, of either transport), so
/// one listing loop serves them all.
pub trait DirReply {
    /// Whether entries carry looked-up attributes (readdirplus).
    const PLUS: bool;
    /// Adds an entry; true when the reply is full and the entry was not added.
    fn add(&mut self, item: &DirItem, found: Option<Entry>) -> bool;
}

/// Attributes that carry nothing: negative entries, and `.`/`..` in readdirplus.
pub fn placeholder_attr(ino: u64, kind: FileType) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

/// A getxattr or listxattr answer for a buffer of `size` bytes: the size alone for a
/// probe (0), ERANGE when the value does not fit.
fn xattr_answer(size: u32, value: Vec<u8>) -> FsResult<Xattr> {
    if size == 0 {
        return Ok(Xattr::Size(value.len() as u32));
    }
    if value.len() > size as usize {
        return Err(Errno(libc::ERANGE));
    }
    Ok(Xattr::Data(value))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::ffi::OsString;
    use std::path::Path;

    use super::super::{Overlay, OverlayConfig};
    use super::*;

    /// A readdirplus reply with room for `room` entries.
    struct Collect {
        room: usize,
        got: Vec<(u64, u64, OsString)>,
    }

    impl Collect {
        fn with_room(room: usize) -> Collect {
            Collect {
                room,
                got: Vec::new(),
            }
        }

        fn names(&self) -> Vec<OsString> {
            self.got.iter().map(|g| g.2.clone()).collect()
        }

        fn last_offset(&self) -> u64 {
            self.got.last().map(|g| g.1).unwrap_or(0)
        }
    }

    impl DirReply for Collect {
        const PLUS: bool = true;

        fn add(&mut self, item: &DirItem, found: Option<(fuser::FileAttr, u64, Duration)>) -> bool {
            if self.got.len() == self.room {
                return true;
            }
            let ino = found.map(|f| f.0.ino.0).unwrap_or(item.ino);
            self.got.push((ino, item.next, item.name.to_os_string()));
            false
        }
    }

    fn touch(dir: &Path, names: impl IntoIterator<Item = String>) {
        std::fs::create_dir_all(dir).unwrap();
        for name in names {
            std::fs::write(dir.join(name), b"x").unwrap();
        }
    }

    fn overlay(lower: &Path, upper: Option<(&Path, &Path)>) -> Arc<OverlayFs> {
        let config = OverlayConfig {
            lowers: vec![lower.to_path_buf()],
            upper: upper.map(|u| u.0.to_path_buf()),
            work: upper.map(|u| u.1.to_path_buf()),
            ..OverlayConfig::default()
        };
        Overlay::new(config).unwrap().fs
    }

    /// Reads a whole directory from `offset`, `room` entries a reply.
    fn read_all(fs: &OverlayFs, ino: u64, room: usize) -> Vec<(u64, u64, OsString)> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let mut reply = Collect::with_room(room);
            fs.fill_dir(ino, 0, offset, &mut reply).unwrap();
            if reply.got.is_empty() {
                return all;
            }
            offset = reply.last_offset();
            all.extend(reply.got);
        }
    }

    #[test]
    fn readdirplus_counts_one_lookup_per_entry_sent_and_forgets_empty_the_table() {
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("l");
        touch(&lower, (0..100).map(|i| format!("f{i}")));
        for i in 0..5 {
            std::fs::create_dir(lower.join(format!("d{i}"))).unwrap();
        }
        let fs = overlay(&lower, None);
        assert_eq!(fs.core.node_count(), 1);

        // A reply with room for 40: the dots and 38 names, each one lookup; the
        // entry that did not fit counts none.
        let mut first = Collect::with_room(40);
        fs.fill_dir(1, 0, 0, &mut first).unwrap();
        assert_eq!(first.names()[..2], [".", ".."]);
        assert_eq!(fs.core.node_count(), 1 + 38);

        let mut rest = Vec::new();
        let mut offset = first.last_offset();
        loop {
            let mut reply = Collect::with_room(25);
            fs.fill_dir(1, 0, offset, &mut reply).unwrap();
            if reply.got.is_empty() {
                break;
            }
            offset = reply.last_offset();
            rest.extend(reply.got);
        }
        assert_eq!(fs.core.node_count(), 1 + 105);
        let mut names: Vec<OsString> = first.names()[2..].to_vec();
        names.extend(rest.iter().map(|g| g.2.clone()));
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!((names.len(), unique.len()), (105, 105));

        // A second read counts a second lookup of each; the kernel's FORGETs of
        // both leave the root alone.
        let again = read_all(&fs, 1, 1000);
        assert_eq!(again.len(), 107);
        for (ino, _, name) in &again[2..] {
            assert_ne!(name, "." as &str);
            fs.core.forget(*ino, 2);
        }
        assert_eq!(fs.core.node_count(), 1);
    }

    #[test]
    fn a_change_shows_in_the_next_read_and_names_keep_their_offsets() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper, work) = (
            tmp.path().join("l"),
            tmp.path().join("u"),
            tmp.path().join("w"),
        );
        touch(&lower, (0..300).map(|i| format!("f{i}")));
        std::fs::create_dir_all(&upper).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        let fs = overlay(&lower, Some((&upper, &work)));
        let before = read_all(&fs, 1, 50);
        assert_eq!(before.len(), 302);
        let (uid, gid) = (fs.core.euid, fs.core.egid);
        fs.core
            .create(1, OsStr::new("new"), 0o644, libc::O_WRONLY, uid, gid)
            .unwrap();
        fs.core.unlink(1, OsStr::new("f7"), false).unwrap();
        let after = read_all(&fs, 1, 50);
        let names: HashSet<OsString> = after.iter().map(|g| g.2.clone()).collect();
        assert!(names.contains(OsStr::new("new")));
        assert!(!names.contains(OsStr::new("f7")));
        assert_eq!(after.len(), 302);
        // Every name that stayed kept its offset.
        for (_, next, name) in &before {
            if let Some(same) = after.iter().find(|g| g.2 == *name) {
                assert_eq!(same.1, *next, "{name:?} moved");
            }
        }
    }

    #[test]
    fn a_run_of_names_sharing_an_offset_is_never_split_across_replies() {
        let tmp = tempfile::tempdir().unwrap();
        let lower = tmp.path().join("l");
        touch(&lower, (0..10).map(|i| format!("f{i}")));
        let fs = overlay(&lower, None);
        let mut listing = fs.core.list(1).unwrap();
        // Give f3, f4 and f5 one offset.
        let shared = listing.entries[3].cookie;
        for e in &mut listing.entries {
            if ["f3", "f4", "f5"].iter().any(|n| e.name == *n) {
                e.cookie = shared;
            }
        }
        listing
            .entries
            .sort_unstable_by(|a, b| (a.cookie, &a.name).cmp(&(b.cookie, &b.name)));
        let run_at = listing.entries.iter().position(|e| e.name == "f3").unwrap();
        let mut seen = Vec::new();
        let mut offset = 0;
        // Replies with room for exactly the entries up to the middle of the run.
        let mut room = 2 + run_at + 2;
        loop {
            let mut reply = Collect::with_room(room);
            fs.fill_from(1, &listing, offset, &mut reply);
            if reply.got.is_empty() {
                break;
            }
            let names = reply.names();
            let in_run = names
                .iter()
                .filter(|n| ["f3", "f4", "f5"].iter().any(|r| *n == r));
            assert!(matches!(in_run.count(), 0 | 3), "run split: {names:?}");
            offset = reply.last_offset();
            seen.extend(names);
            room = 4;
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (12, 12));
    }

    /// A readdirplus reply that keeps the attributes of every entry but the dots.
    #[derive(Default)]
    struct Attrs {
        got: Vec<(OsString, FileAttr)>,
    }

    impl DirReply for Attrs {
        const PLUS: bool = true;

        fn add(&mut self, item: &DirItem, found: Option<(FileAttr, u64, Duration)>) -> bool {
            if let Some((attr, _, _)) = found {
                self.got.push((item.name.to_os_string(), attr));
            }
            false
        }
    }

    fn readdirplus(fs: &OverlayFs, ino: u64) -> Vec<(OsString, FileAttr)> {
        let mut reply = Attrs::default();
        fs.fill_dir(ino, 0, 0, &mut reply).unwrap();
        reply.got.sort_by(|a, b| a.0.cmp(&b.0));
        reply.got
    }

    fn ino_of(entries: &[(OsString, FileAttr)], name: &str) -> u64 {
        entries.iter().find(|e| e.0 == name).unwrap().1.ino.0
    }

    /// Waits (at most 10 s) until the prefetch thread has built the listings of `dirs`.
    fn wait_for_prefetch(fs: &OverlayFs, dirs: &[u64]) {
        let start = std::time::Instant::now();
        while !dirs.iter().all(|d| fs.core.holds_listing(*d)) {
            assert!(start.elapsed().as_secs() < 10, "nothing was read ahead");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A lower tree `a/{f0..f19, link, b/{g0..g9}}` with varied modes, and an upper
    /// dir holding `a/new`.
    fn walk_tree(root: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let (lower, upper, work) = (root.join("l"), root.join("u"), root.join("w"));
        touch(&lower.join("a"), (0..20).map(|i| format!("f{i}")));
        touch(&lower.join("a/b"), (0..10).map(|i| format!("g{i}")));
        for i in 0..20 {
            let mode = 0o600 + i;
            std::fs::set_permissions(
                lower.join(format!("a/f{i}")),
                PermissionsExt::from_mode(mode),
            )
            .unwrap();
        }
        std::os::unix::fs::symlink("/etc/passwd", lower.join("a/link")).unwrap();
        touch(&upper.join("a"), ["new".to_string()]);
        std::fs::create_dir(&work).unwrap();
        (lower, upper, work)
    }

    #[test]
    fn a_walk_reads_lower_directories_ahead_and_answers_alike() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return; // no read-ahead on one CPU
        }
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper, work) = walk_tree(tmp.path());
        let ahead = overlay(&lower, Some((&upper, &work)));
        let root = readdirplus(&ahead, 1);
        let a = ino_of(&root, "a");
        wait_for_prefetch(&ahead, &[a]);

        // Lower entries were looked up ahead; the upper one is left to the reply.
        let listing = ahead.core.listing(a).unwrap();
        for entry in &listing.entries {
            let lower_entry = entry.name != "new";
            assert_eq!(
                entry.looked.get().is_some(),
                lower_entry,
                "{:?}",
                entry.name
            );
        }
        let in_a = readdirplus(&ahead, a);
        let b = ino_of(&in_a, "b");
        // a/b was found by the thread's own walk, before the kernel knew it.
        wait_for_prefetch(&ahead, &[b]);
        let in_b = readdirplus(&ahead, b);

        // The same answers as an overlay that reads nothing ahead.
        let (upper2, work2) = (tmp.path().join("u2"), tmp.path().join("w2"));
        touch(&upper2.join("a"), ["new".to_string()]);
        std::fs::create_dir(&work2).unwrap();
        let config = OverlayConfig {
            lowers: vec![lower.clone()],
            upper: Some(upper2),
            work: Some(work2),
            prefetch: false,
            ..OverlayConfig::default()
        };
        let plain = Overlay::new(config).unwrap().fs;
        let plain_root = readdirplus(&plain, 1);
        let plain_a = readdirplus(&plain, ino_of(&plain_root, "a"));
        let plain_b = readdirplus(&plain, ino_of(&plain_a, "b"));
        assert_eq!(
            ino_of(&plain_a, "b"),
            b,
            "a lower directory keeps its number"
        );
        let same = |x: &[(OsString, FileAttr)], y: &[(OsString, FileAttr)]| {
            assert_eq!(x.len(), y.len());
            for ((name, one), (_, two)) in x.iter().zip(y) {
                // The two upper dirs' own files differ in number and times.
                let own = |attr: &FileAttr| (attr.ino.0, attr.mtime, attr.ctime);
                let (mine, theirs) = if name == "new" {
                    Default::default()
                } else {
                    (Some(own(one)), Some(own(two)))
                };
                assert_eq!(
                    (name, one.kind, one.perm, one.size, one.nlink, one.uid, one.gid, mine),
                    (name, two.kind, two.perm, two.size, two.nlink, two.uid, two.gid, theirs)
                );
            }
        };
        same(&in_a, &plain_a);
        same(&in_b, &plain_b);
        assert_eq!(in_a.len(), 23);
        assert_eq!(in_b.len(), 10);
    }

    #[test]
    fn a_change_after_reading_ahead_drops_what_was_read() {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper, work) = walk_tree(tmp.path());
        let fs = overlay(&lower, Some((&upper, &work)));
        let a = ino_of(&readdirplus(&fs, 1), "a");
        wait_for_prefetch(&fs, &[a]);
        fs.core.mkdir(a, OsStr::new("made"), 0o755, 0, 0).unwrap();
        fs.core.unlink(a, OsStr::new("f3"), false).unwrap();
        let names: Vec<OsString> = readdirplus(&fs, a).into_iter().map(|e| e.0).collect();
        assert!(names.contains(&OsString::from("made")));
        assert!(!names.contains(&OsString::from("f3")));
        assert_eq!(names.len(), 23);
    }
}
