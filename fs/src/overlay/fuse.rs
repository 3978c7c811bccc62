//! The FUSE protocol side: fuser's `Filesystem` trait mapped onto [`Core`]. Each handler
//! runs a `Result<_, Errno>` body and turns it into exactly one reply.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::core::Core;
use super::errno::{Errno, FsResult};
use super::listing::{Listing, DOT, DOTDOT};

/// Largest read and write the kernel is asked to send (1 MiB).
pub const MAX_IO: u32 = 1 << 20;

/// A volume's open directory: a snapshot of the listing taken by the first read (the
/// host may change the directory underneath, so nothing is shared between opens); a
/// read from offset 0 after the first takes a new one (rewinddir).
struct DirStream {
    listing: Option<Arc<Listing>>,
    served: bool,
}

pub struct OverlayFs {
    core: Core,
    /// Open directories of a volume (the overlay keeps no per-open state).
    dirs: Mutex<HashMap<u64, Arc<Mutex<DirStream>>>>,
    next_dir: AtomicU64,
    writeback_cache: bool,
    /// Files may change underneath (a volume): no caches kept across opens.
    passthrough: bool,
    /// The kernel can do without OPENDIR (FUSE_NO_OPENDIR_SUPPORT): the overlay
    /// answers it ENOSYS, so directories open and close with no round trip.
    no_opendir: bool,
    /// Whether a root caller keeps setuid/setgid through a truncate: only outside a
    /// user namespace, where root can hold CAP_FSETID in the initial namespace.
    root_keeps_setid: bool,
    /// Tells the kernel about changes it did not ask for (set once mounted).
    notifier: Arc<OnceLock<fuser::Notifier>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads up to this size reuse their thread's buffer; larger ones get their own.
const KEPT_READ_BUFFER: usize = 64 * 1024;

/// Fills `buffer` from `file` at `offset` (short only at the end of the file) and
/// replies with what was read.
fn reply_read(file: &std::fs::File, buffer: &mut [u8], offset: u64, reply: ReplyData) {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return reply.error(Errno::from(e).into()),
        }
    }
    reply.data(&buffer[..filled]);
}

thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl OverlayFs {
    pub fn new(core: Core, writeback_cache: bool, passthrough: bool) -> OverlayFs {
        OverlayFs {
            core,
            dirs: Mutex::new(HashMap::new()),
            next_dir: AtomicU64::new(1),
            writeback_cache,
            passthrough,
            no_opendir: false,
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
    fn truncate_drops_setid(&self, req: &Request) -> bool {
        !(self.root_keeps_setid && req.uid() == 0)
    }

    /// After a truncate: drops setuid/setgid where the kernel would (see
    /// [`Self::truncate_drops_setid`]); whether the mode changed.
    fn after_truncate(&self, req: &Request, ino: u64, fh: Option<u64>) -> FsResult<bool> {
        if self.truncate_drops_setid(req) {
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

    /// Fills one readdir or readdirplus reply from `offset` on: `.` and `..` first,
    /// then the merged entries in offset order (see `listing.rs`). For readdirplus
    /// each entry is also looked up (attributes, a lookup count), so the kernel needs
    /// no LOOKUP of its own when the names are then stat'ed.
    fn fill_dir<R: DirReply>(&self, ino: u64, fh: u64, offset: u64, reply: &mut R) -> FsResult<()> {
        let listing = self.listing_for(ino, fh, offset)?;
        self.fill_from(ino, &listing, offset, reply);
        Ok(())
    }

    fn fill_from<R: DirReply>(&self, ino: u64, listing: &Listing, offset: u64, reply: &mut R) {
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
            if reply.add(&item, Some(found)) {
                // Not sent: undo the lookup it counted.
                self.core.forget(number, 1);
                return;
            }
            added = true;
        }
        // Served to the end: the open layer dirs go, so an idle listing holds no
        // descriptors (a seek back looks names up through their paths).
        dirs.clear();
    }
}

/// One entry of a directory reply.
struct DirItem<'a> {
    ino: u64,
    /// The offset the kernel asks for to continue after this entry.
    next: u64,
    kind: FileType,
    name: &'a OsStr,
}

/// The two directory replies, so one listing loop serves both.
trait DirReply {
    /// Whether entries carry looked-up attributes (readdirplus).
    const PLUS: bool;
    /// Adds an entry; true when the reply is full and the entry was not added.
    fn add(&mut self, item: &DirItem, found: Option<(fuser::FileAttr, u64, Duration)>) -> bool;
}

impl DirReply for ReplyDirectory {
    const PLUS: bool = false;

    fn add(&mut self, item: &DirItem, _found: Option<(fuser::FileAttr, u64, Duration)>) -> bool {
        ReplyDirectory::add(self, INodeNo(item.ino), item.next, item.kind, item.name)
    }
}

impl DirReply for ReplyDirectoryPlus {
    const PLUS: bool = true;

    fn add(&mut self, item: &DirItem, found: Option<(fuser::FileAttr, u64, Duration)>) -> bool {
        let (attr, generation, ttl) =
            found.unwrap_or_else(|| (placeholder_attr(item.ino, item.kind), 0, Duration::ZERO));
        ReplyDirectoryPlus::add(
            self,
            attr.ino,
            item.next,
            item.name,
            &ttl,
            &attr,
            Generation(generation),
        )
    }
}

/// Attributes that carry nothing: negative entries, and `.`/`..` in readdirplus.
fn placeholder_attr(ino: u64, kind: FileType) -> fuser::FileAttr {
    fuser::FileAttr {
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

fn reply_entry(reply: ReplyEntry, result: FsResult<(fuser::FileAttr, u64, Duration)>) {
    match result {
        Ok((attr, generation, ttl)) => reply.entry(&ttl, &attr, Generation(generation)),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_empty(reply: ReplyEmpty, result: FsResult<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_xattr(reply: ReplyXattr, size: u32, result: FsResult<Vec<u8>>) {
    match result {
        Ok(data) if size == 0 => reply.size(data.len() as u32),
        Ok(data) if data.len() > size as usize => reply.error(fuser::Errno::from_i32(libc::ERANGE)),
        Ok(data) => reply.data(&data),
        Err(e) => reply.error(e.into()),
    }
}

impl Filesystem for OverlayFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        // Every directory read is a readdirplus: with READDIRPLUS_AUTO the kernel
        // asks for plain entries after the first reply unless a lookup came in
        // between, so a `find` or `du` of a big directory then sends one LOOKUP per
        // remaining name; plus replies answer those lookups in bulk.
        let mut wanted = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_CACHE_SYMLINKS
            | InitFlags::FUSE_ASYNC_DIO
            | InitFlags::FUSE_BIG_WRITES;
        if self.core.has_upper {
            // The server drops setuid/setgid on write, truncate and chown itself:
            // the kernel then marks files without them as needing no check
            // (SB_NOSEC), so a write no longer asks for security.capability first
            // (one GETXATTR round trip per write() call), and a chown no longer
            // re-reads the attributes.
            wanted |= InitFlags::FUSE_HANDLE_KILLPRIV_V2;
        }
        if self.writeback_cache && self.core.has_upper {
            wanted |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        for flag in wanted.iter() {
            let _ = config.add_capabilities(flag);
        }
        // Only a kernel that says it can do without OPENDIR (Linux 5.1 on) takes an
        // ENOSYS there for "no open needed"; an older one would fail the open.
        self.no_opendir = !self.passthrough
            && config
                .add_capabilities(InitFlags::FUSE_NO_OPENDIR_SUPPORT)
                .is_ok();
        let _ = config.set_max_write(MAX_IO);
        let _ = config.set_max_readahead(MAX_IO);
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.core.lookup(parent.0, name) {
            Err(Errno::NOENT) => {
                // A negative entry: the kernel remembers the name is absent.
                let ttl = self.core.ttls.upper;
                let attr = placeholder_attr(0, FileType::RegularFile);
                reply.entry(&ttl, &attr, Generation(0));
            }
            other => reply_entry(reply, other),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let result = match fh {
            Some(fh) => self.core.getattr_open(ino.0, fh.0),
            None => self.core.getattr(ino.0),
        };
        match result {
            Ok(attr) => reply.attr(&self.core.ttl_of(ino.0), &attr),
            Err(e) => reply.error(e.into()),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let fh = fh.map(|f| f.0);
        let result = self
            .core
            .setattr(ino.0, mode, uid, gid, size, atime, mtime, fh)
            .and_then(|attr| {
                if size.is_none() || !self.after_truncate(req, ino.0, fh)? {
                    return Ok(attr);
                }
                match fh {
                    Some(fh) => self.core.getattr_open(ino.0, fh),
                    None => self.core.getattr(ino.0),
                }
            });
        match result {
            Ok(attr) => reply.attr(&self.core.ttl_of(ino.0), &attr),
            Err(e) => reply.error(e.into()),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.core.readlink(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e.into()),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.core
                .mknod(parent.0, name, mode, rdev, req.uid(), req.gid()),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.core.mkdir(parent.0, name, mode, req.uid(), req.gid()),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.core.unlink(parent.0, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.core.unlink(parent.0, name, true));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply_entry(
            reply,
            self.core
                .symlink(parent.0, link_name, target, req.uid(), req.gid()),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.core
                .rename(parent.0, name, newparent.0, newname, flags.bits()),
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.core.link(ino.0, newparent.0, newname));
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        // An open that truncates drops setuid/setgid; the server's own truncation
        // may already do that on the disk, so whether the kernel's copy of the mode
        // is stale is known only from the mode before.
        let had_setid = flags.0 & libc::O_TRUNC != 0
            && self.truncate_drops_setid(req)
            && self
                .core
                .getattr(ino.0)
                .is_ok_and(|attr| attr.perm & 0o6000 != 0);
        let opened = self.core.open(ino.0, flags.0).and_then(|fh| {
            if had_setid {
                self.core.drop_setid(ino.0, Some(fh))?;
                self.forget_attributes(ino.0);
            }
            Ok(fh)
        });
        match opened {
            Ok(fh) => reply.opened(FileHandle(fh), self.file_open_flags()),
            Err(e) => reply.error(e.into()),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(file) = self.core.file(fh.0) else {
            return reply.error(Errno::BADF.into());
        };
        let size = (size as usize).min(MAX_IO as usize * 2);
        if size > KEPT_READ_BUFFER {
            // Freed after the reply: an idle server (one per container) keeps no
            // large buffer, at the price of fresh pages for each large read.
            let mut buffer = vec![0; size];
            return reply_read(&file.file, &mut buffer, offset, reply);
        }
        READ_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            if buffer.len() < size {
                buffer.resize(size, 0);
            }
            reply_read(&file.file, &mut buffer[..size], offset, reply)
        });
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let Some(file) = self.core.file(fh.0) else {
            return reply.error(Errno::BADF.into());
        };
        // The kernel writes through, with this flag, when the write must drop
        // setuid/setgid (FUSE_HANDLE_KILLPRIV_V2).
        if write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            if let Err(e) = self.drop_setid_and_tell(ino.0, Some(fh.0)) {
                return reply.error(e.into());
            }
        }
        match file.file.write_all_at(data, offset) {
            Ok(()) => reply.written(data.len() as u32),
            // The kernel keeps a failed writeback's error only as ENOSPC or EIO
            // (`mapping_set_error`): a quota that runs out is nearest to ENOSPC.
            Err(e)
                if e.raw_os_error() == Some(libc::EDQUOT)
                    && write_flags.contains(WriteFlags::FUSE_WRITE_CACHE) =>
            {
                reply.error(Errno::NOSPC.into())
            }
            Err(e) => reply.error(Errno::from(e).into()),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to do on close (no server-side locks; data goes at write and
        // fsync). ENOSYS makes the kernel stop sending FLUSH at all, saving a round
        // trip per close; it still writes dirty pages back and reports their errors.
        reply.error(Errno::NOSYS.into());
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.core.release(fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let Some(file) = self.core.file(fh.0) else {
            return reply.error(Errno::BADF.into());
        };
        let result = if datasync {
            file.file.sync_data()
        } else {
            file.file.sync_all()
        };
        reply_empty(reply, result.map_err(Errno::from));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if self.passthrough {
            // A volume: a snapshot per open, no kernel cache of the listing.
            return match self.open_dir(ino.0) {
                Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
                Err(e) => reply.error(e.into()),
            };
        }
        if self.no_opendir {
            // The overlay keeps no per-open state: after this ENOSYS the kernel sends
            // no OPENDIR or RELEASEDIR again and opens directories as if answered
            // KEEP_CACHE | CACHE_DIR with handle 0 (fs/fuse/file.c).
            return reply.error(Errno::NOSYS.into());
        }
        // The kernel may keep the listing (CACHE_DIR) across opens (KEEP_CACHE): every
        // change to a directory goes through the overlay, which makes the kernel drop
        // its copy, and the lowers do not change under a mount. Warm walks then send
        // no READDIR at all.
        match self.core.check_dir(ino.0) {
            Ok(()) => reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
            ),
            Err(e) => reply.error(e.into()),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        match self.fill_dir(ino.0, fh.0, offset, &mut reply) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e.into()),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        match self.fill_dir(ino.0, fh.0, offset, &mut reply) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e.into()),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        if self.passthrough {
            lock(&self.dirs).remove(&fh.0);
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.core.fsyncdir(ino.0));
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.core.statfs() {
            Ok(st) => reply.statfs(
                st.f_blocks,
                st.f_bfree,
                st.f_bavail,
                st.f_files,
                st.f_ffree,
                st.f_bsize as u32,
                255,
                st.f_frsize as u32,
            ),
            Err(e) => reply.error(e.into()),
        }
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.core.setxattr(ino.0, name, value, flags));
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, self.core.getxattr(ino.0, name));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, size, self.core.listxattr(ino.0));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.core.removexattr(ino.0, name));
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // default_permissions: the kernel checks modes itself.
        reply.ok();
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self
            .core
            .create(parent.0, name, mode, flags, req.uid(), req.gid())
        {
            Ok((attr, generation, ttl, fh)) => reply.created(
                &ttl,
                &attr,
                Generation(generation),
                FileHandle(fh),
                self.file_open_flags(),
            ),
            Err(e) => reply.error(e.into()),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let Some(file) = self.core.file(fh.0) else {
            return reply.error(Errno::BADF.into());
        };
        let flags = rustix::fs::FallocateFlags::from_bits_retain(mode as u32);
        reply_empty(
            reply,
            rustix::fs::fallocate(&file.file, flags, offset, length).map_err(Errno::from),
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let Some(file) = self.core.file(fh.0) else {
            return reply.error(Errno::BADF.into());
        };
        let position = match whence {
            libc::SEEK_DATA => rustix::fs::SeekFrom::Data(offset as u64),
            libc::SEEK_HOLE => rustix::fs::SeekFrom::Hole(offset as u64),
            libc::SEEK_SET => rustix::fs::SeekFrom::Start(offset as u64),
            libc::SEEK_CUR => rustix::fs::SeekFrom::Current(offset),
            libc::SEEK_END => rustix::fs::SeekFrom::End(offset),
            _ => return reply.error(Errno::INVAL.into()),
        };
        match rustix::fs::seek(&file.file, position) {
            Ok(at) => reply.offset(at as i64),
            Err(e) => reply.error(Errno::from(e).into()),
        }
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        fh_in: FileHandle,
        offset_in: u64,
        _ino_out: INodeNo,
        fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        _flags: fuser::CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        let (Some(from), Some(to)) = (self.core.file(fh_in.0), self.core.file(fh_out.0)) else {
            return reply.error(Errno::BADF.into());
        };
        let (mut off_in, mut off_out) = (offset_in, offset_out);
        match rustix::fs::copy_file_range(
            &from.file,
            Some(&mut off_in),
            &to.file,
            Some(&mut off_out),
            len.min(u32::MAX as u64 / 2) as usize,
        ) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(Errno::from(e).into()),
        }
    }
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

    fn overlay(lower: &Path, upper: Option<(&Path, &Path)>) -> OverlayFs {
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
}
