//! The /dev/fuse transport: fuser's `Filesystem` trait over the shared [`OverlayFs`].
//! Each handler decodes nothing itself (fuser did), calls the one protocol-neutral
//! operation of `ops.rs` and turns its result into exactly one reply. INIT, which only
//! this transport sees, negotiates the kernel's features here.

use std::ffi::OsStr;
use std::io;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, BsdFileFlags, FileHandle, Filesystem, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::errno::FsResult;
use super::ops::{
    placeholder_attr, Attributes, Caller, DirItem, DirReply, Entry, Opened, OverlayFs, SetAttr,
    Xattr, COPY_LIMIT_32, MAX_IO,
};

/// The value fuser's session owns: a handle on the overlay the io_uring queues share.
pub struct FuserFs(Arc<OverlayFs>);

impl FuserFs {
    pub fn new(fs: Arc<OverlayFs>) -> FuserFs {
        FuserFs(fs)
    }
}

impl Deref for FuserFs {
    type Target = OverlayFs;

    fn deref(&self) -> &OverlayFs {
        &self.0
    }
}

/// Reads up to this size reuse their thread's buffer; larger ones get their own.
const KEPT_READ_BUFFER: usize = 64 * 1024;

thread_local! {
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads into `buffer` and replies with what was read.
fn reply_read(fs: &OverlayFs, fh: u64, offset: u64, buffer: &mut [u8], reply: ReplyData) {
    match fs.read(fh, offset, buffer) {
        Ok(filled) => reply.data(&buffer[..filled]),
        Err(e) => reply.error(e.into()),
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

impl DirReply for ReplyDirectory {
    const PLUS: bool = false;

    fn add(&mut self, item: &DirItem, _found: Option<Entry>) -> bool {
        ReplyDirectory::add(self, INodeNo(item.ino), item.next, item.kind, item.name)
    }
}

impl DirReply for ReplyDirectoryPlus {
    const PLUS: bool = true;

    fn add(&mut self, item: &DirItem, found: Option<Entry>) -> bool {
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

fn reply_entry(reply: ReplyEntry, result: FsResult<Entry>) {
    match result {
        Ok((attr, generation, ttl)) => reply.entry(&ttl, &attr, Generation(generation)),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_attr(reply: ReplyAttr, result: FsResult<Attributes>) {
    match result {
        Ok(got) => reply.attr(&got.ttl, &got.attr),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_open(reply: ReplyOpen, result: FsResult<Opened>) {
    match result {
        Ok(opened) => reply.opened(FileHandle(opened.fh), opened.flags),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_empty(reply: ReplyEmpty, result: FsResult<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_write(reply: ReplyWrite, result: FsResult<u32>) {
    match result {
        Ok(written) => reply.written(written),
        Err(e) => reply.error(e.into()),
    }
}

fn reply_xattr(reply: ReplyXattr, result: FsResult<Xattr>) {
    match result {
        Ok(Xattr::Size(size)) => reply.size(size),
        Ok(Xattr::Data(data)) => reply.data(&data),
        Err(e) => reply.error(e.into()),
    }
}

impl Filesystem for FuserFs {
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
        let no_opendir = !self.passthrough
            && config
                .add_capabilities(InitFlags::FUSE_NO_OPENDIR_SUPPORT)
                .is_ok();
        self.no_opendir.store(no_opendir, Ordering::Relaxed);
        // The kernel offers io_uring queues only when root enabled them
        // (`fuse.enable_uring`); the transport registers them once this is accepted.
        let io_uring = self.want_io_uring.load(Ordering::Relaxed)
            && config
                .add_capabilities(InitFlags::FUSE_OVER_IO_URING)
                .is_ok();
        let _ = self.io_uring_accepted.set(io_uring);
        let _ = config.set_max_write(MAX_IO);
        let _ = config.set_max_readahead(MAX_IO);
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        reply_entry(reply, OverlayFs::lookup(self, parent.0, name));
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.core.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        reply_attr(reply, OverlayFs::getattr(self, ino.0, fh.map(|f| f.0)));
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
        let change = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh: fh.map(|f| f.0),
        };
        reply_attr(reply, OverlayFs::setattr(self, req.uid(), ino.0, &change));
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
        reply_open(reply, OverlayFs::open(self, req.uid(), ino.0, flags.0));
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
        let size = (size as usize).min(MAX_IO as usize * 2);
        if size > KEPT_READ_BUFFER {
            // Freed after the reply: an idle server (one per container) keeps no
            // large buffer, at the price of fresh pages for each large read.
            let mut buffer = vec![0; size];
            return reply_read(self, fh.0, offset, &mut buffer, reply);
        }
        READ_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            if buffer.len() < size {
                buffer.resize(size, 0);
            }
            reply_read(self, fh.0, offset, &mut buffer[..size], reply)
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
        reply_write(
            reply,
            OverlayFs::write(self, ino.0, fh.0, offset, data, write_flags),
        );
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, OverlayFs::flush(self));
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
        OverlayFs::release(self, fh.0);
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
        reply_empty(reply, OverlayFs::fsync(self, fh.0, datasync));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply_open(reply, OverlayFs::opendir(self, ino.0));
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
        OverlayFs::releasedir(self, fh.0);
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
        match OverlayFs::statfs(self) {
            Ok(st) => reply.statfs(
                st.blocks, st.bfree, st.bavail, st.files, st.ffree, st.bsize, st.namelen, st.frsize,
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
        reply_xattr(reply, OverlayFs::getxattr(self, ino.0, name, size));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, OverlayFs::listxattr(self, ino.0, size));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.core.removexattr(ino.0, name));
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply_empty(reply, OverlayFs::access(self));
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
        match OverlayFs::create(self, caller(req), parent.0, name, mode, flags) {
            Ok(((attr, generation, ttl), opened)) => reply.created(
                &ttl,
                &attr,
                Generation(generation),
                FileHandle(opened.fh),
                opened.flags,
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
        reply_empty(
            reply,
            OverlayFs::fallocate(self, fh.0, offset, length, mode),
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
        match OverlayFs::lseek(self, fh.0, offset, whence) {
            Ok(at) => reply.offset(at),
            Err(e) => reply.error(e.into()),
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
        // The reply counts in 32 bits.
        let len = len.min(COPY_LIMIT_32);
        let copied =
            OverlayFs::copy_file_range(self, (fh_in.0, offset_in), (fh_out.0, offset_out), len);
        reply_write(reply, copied.map(|n| n as u32));
    }
}
