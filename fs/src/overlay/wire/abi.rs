//! The kernel's FUSE structures (`include/uapi/linux/fuse.h`, protocol 7.45 of Linux
//! 6.18), read from and written to bytes in native byte order. Only what burrow serves
//! is here. Every reader checks the length it is given and answers EINVAL for a short
//! argument, so a malformed request never panics the server.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType};

use crate::overlay::errno::{Errno, FsResult};
use crate::overlay::ops::{Entry, Opened, StatFs};

/// `enum fuse_opcode`: the requests burrow serves.
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const DESTROY: u32 = 38;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
    pub const LSEEK: u32 = 46;
    pub const COPY_FILE_RANGE: u32 = 47;
    pub const COPY_FILE_RANGE_64: u32 = 53;
}

/// `fuse_getattr_in.getattr_flags`: `fh` is meaningful.
pub const GETATTR_FH: u32 = 1 << 0;

/// `fuse_setattr_in.valid` bits.
pub mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const FH: u32 = 1 << 6;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
}

/// `fuse_fsync_in.fsync_flags`: data only.
pub const FSYNC_FDATASYNC: u32 = 1 << 0;

/// Reads the fields of one argument in order; a read past its end is EINVAL.
pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    /// The fields of an argument that must be at least `size` bytes long.
    pub fn new(bytes: &'a [u8], size: usize) -> FsResult<Fields<'a>> {
        let bytes = bytes.get(..size).ok_or(Errno::INVAL)?;
        Ok(Fields { bytes, at: 0 })
    }

    fn take<const N: usize>(&mut self) -> FsResult<[u8; N]> {
        let end = self.at.checked_add(N).ok_or(Errno::INVAL)?;
        let field = self.bytes.get(self.at..end).ok_or(Errno::INVAL)?;
        self.at = end;
        field.try_into().map_err(|_| Errno::INVAL)
    }

    pub fn u32(&mut self) -> FsResult<u32> {
        Ok(u32::from_ne_bytes(self.take()?))
    }

    pub fn i32(&mut self) -> FsResult<i32> {
        Ok(i32::from_ne_bytes(self.take()?))
    }

    pub fn u64(&mut self) -> FsResult<u64> {
        Ok(u64::from_ne_bytes(self.take()?))
    }

    pub fn i64(&mut self) -> FsResult<i64> {
        Ok(i64::from_ne_bytes(self.take()?))
    }

    /// Skips `n` bytes (padding, fields burrow does not use).
    pub fn skip(&mut self, n: usize) -> FsResult<()> {
        let end = self.at.checked_add(n).ok_or(Errno::INVAL)?;
        if end > self.bytes.len() {
            return Err(Errno::INVAL);
        }
        self.at = end;
        Ok(())
    }
}

/// Splits a NUL-terminated name off the front of `bytes`: the name and the rest.
pub fn split_name(bytes: &[u8]) -> FsResult<(&OsStr, &[u8])> {
    let end = bytes.iter().position(|&b| b == 0).ok_or(Errno::INVAL)?;
    Ok((OsStr::from_bytes(&bytes[..end]), &bytes[end + 1..]))
}

/// An offset the kernel sends as u64 but that is an `off_t`: above i64::MAX is EINVAL
/// (as fuser checks).
pub fn off_t(value: u64) -> FsResult<u64> {
    if value > i64::MAX as u64 {
        return Err(Errno::INVAL);
    }
    Ok(value)
}

/// Writes the fields of one reply structure in order into a fixed-size array.
struct Out<const N: usize> {
    bytes: [u8; N],
    at: usize,
}

impl<const N: usize> Out<N> {
    fn new() -> Out<N> {
        Out {
            bytes: [0; N],
            at: 0,
        }
    }

    fn put(&mut self, field: &[u8]) {
        self.bytes[self.at..self.at + field.len()].copy_from_slice(field);
        self.at += field.len();
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_ne_bytes());
        self
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_ne_bytes());
        self
    }

    fn i64(&mut self, v: i64) -> &mut Self {
        self.put(&v.to_ne_bytes());
        self
    }

    fn finish(&self) -> [u8; N] {
        debug_assert_eq!(self.at, N, "reply structure not filled");
        self.bytes
    }
}

/// `struct fuse_attr`.
pub const ATTR_SIZE: usize = 88;
/// `struct fuse_entry_out`.
pub const ENTRY_OUT_SIZE: usize = 40 + ATTR_SIZE;
/// `struct fuse_attr_out`.
pub const ATTR_OUT_SIZE: usize = 16 + ATTR_SIZE;
/// `struct fuse_open_out`.
pub const OPEN_OUT_SIZE: usize = 16;
/// `struct fuse_write_out`, `fuse_getxattr_out`, `fuse_lseek_out`,
/// `fuse_copy_file_range_out`: one 8-byte field or a u32 and its padding.
pub const SMALL_OUT_SIZE: usize = 8;
/// `struct fuse_statfs_out` (`fuse_kstatfs`).
pub const STATFS_OUT_SIZE: usize = 80;
/// `struct fuse_dirent` without its name.
pub const DIRENT_SIZE: usize = 24;
/// `struct fuse_direntplus` without its name.
pub const DIRENTPLUS_SIZE: usize = ENTRY_OUT_SIZE + DIRENT_SIZE;

/// Seconds and nanoseconds since the epoch, negative before it (as fuser converts).
fn wire_time(time: SystemTime) -> (i64, u32) {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => match i64::try_from(d.as_secs()) {
            Ok(secs) => (secs, d.subsec_nanos()),
            Err(_) => (i64::MAX, 999_999_999),
        },
        Err(before) => {
            let d = before.duration();
            match i64::try_from(d.as_secs()) {
                Ok(secs) if d.subsec_nanos() == 0 => (-secs, 0),
                Ok(secs) => (-secs - 1, 1_000_000_000 - d.subsec_nanos()),
                Err(_) => (i64::MIN, 0),
            }
        }
    }
}

/// The `S_IFMT` bits of a file type.
pub fn type_bits(kind: FileType) -> u32 {
    match kind {
        FileType::NamedPipe => libc::S_IFIFO,
        FileType::CharDevice => libc::S_IFCHR,
        FileType::BlockDevice => libc::S_IFBLK,
        FileType::Directory => libc::S_IFDIR,
        FileType::RegularFile => libc::S_IFREG,
        FileType::Symlink => libc::S_IFLNK,
        FileType::Socket => libc::S_IFSOCK,
    }
}

/// `struct fuse_attr`.
pub fn attr(attr: &FileAttr) -> [u8; ATTR_SIZE] {
    let (atime, atimensec) = wire_time(attr.atime);
    let (mtime, mtimensec) = wire_time(attr.mtime);
    let (ctime, ctimensec) = wire_time(attr.ctime);
    Out::<ATTR_SIZE>::new()
        .u64(attr.ino.0)
        .u64(attr.size)
        .u64(attr.blocks)
        .i64(atime)
        .i64(mtime)
        .i64(ctime)
        .u32(atimensec)
        .u32(mtimensec)
        .u32(ctimensec)
        .u32(type_bits(attr.kind) | u32::from(attr.perm))
        .u32(attr.nlink)
        .u32(attr.uid)
        .u32(attr.gid)
        .u32(attr.rdev)
        .u32(attr.blksize)
        .u32(0) // flags: no submount, no DAX
        .finish()
}

/// `struct fuse_entry_out`: one TTL for the entry and its attributes.
pub fn entry_out(entry: &Entry) -> [u8; ENTRY_OUT_SIZE] {
    let (attr_of, generation, ttl) = entry;
    let mut out = Out::<ENTRY_OUT_SIZE>::new();
    out.u64(attr_of.ino.0)
        .u64(*generation)
        .u64(ttl.as_secs())
        .u64(ttl.as_secs())
        .u32(ttl.subsec_nanos())
        .u32(ttl.subsec_nanos());
    out.put(&attr(attr_of));
    out.finish()
}

/// `struct fuse_attr_out`.
pub fn attr_out(attr_of: &FileAttr, ttl: Duration) -> [u8; ATTR_OUT_SIZE] {
    let mut out = Out::<ATTR_OUT_SIZE>::new();
    out.u64(ttl.as_secs()).u32(ttl.subsec_nanos()).u32(0);
    out.put(&attr(attr_of));
    out.finish()
}

/// `struct fuse_open_out` (no backing file).
pub fn open_out(opened: &Opened) -> [u8; OPEN_OUT_SIZE] {
    Out::<OPEN_OUT_SIZE>::new()
        .u64(opened.fh)
        .u32(opened.flags.bits())
        .u32(0)
        .finish()
}

/// `struct fuse_write_out` (and `fuse_getxattr_out`: a size and padding).
pub fn size_out(size: u32) -> [u8; SMALL_OUT_SIZE] {
    Out::<SMALL_OUT_SIZE>::new().u32(size).u32(0).finish()
}

/// `struct fuse_lseek_out` and `fuse_copy_file_range_out`: one 64-bit value.
pub fn u64_out(value: u64) -> [u8; SMALL_OUT_SIZE] {
    Out::<SMALL_OUT_SIZE>::new().u64(value).finish()
}

/// `struct fuse_statfs_out`.
pub fn statfs_out(st: &StatFs) -> [u8; STATFS_OUT_SIZE] {
    let mut out = Out::<STATFS_OUT_SIZE>::new();
    out.u64(st.blocks)
        .u64(st.bfree)
        .u64(st.bavail)
        .u64(st.files)
        .u64(st.ffree)
        .u32(st.bsize)
        .u32(st.namelen)
        .u32(st.frsize)
        .u32(0);
    out.put(&[0; 24]); // spare[6]
    out.finish()
}

/// Bytes a directory entry with header `header` and a name of `name_len` bytes takes
/// in a reply: padded to 8.
pub fn dirent_size(header: usize, name_len: usize) -> usize {
    (header + name_len).next_multiple_of(8)
}

/// `struct fuse_dirent` without its name.
pub fn dirent(ino: u64, next: u64, name_len: u32, type_bits: u32) -> [u8; DIRENT_SIZE] {
    Out::<DIRENT_SIZE>::new()
        .u64(ino)
        .u64(next)
        .u32(name_len)
        .u32(type_bits >> 12)
        .finish()
}
