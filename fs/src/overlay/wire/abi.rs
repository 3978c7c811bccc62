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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use fuser::{FileAttr, FileType, FopenFlags, INodeNo};

    use super::*;

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    fn sample_attr() -> FileAttr {
        FileAttr {
            ino: INodeNo(77),
            size: 1234,
            blocks: 8,
            atime: UNIX_EPOCH + Duration::new(100, 5),
            mtime: UNIX_EPOCH + Duration::new(200, 6),
            ctime: UNIX_EPOCH - Duration::new(1, 200_000_000),
            crtime: SystemTime::UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: 0o4755,
            nlink: 2,
            uid: 1000,
            gid: 1001,
            rdev: 9,
            blksize: 4096,
            flags: 0,
        }
    }

    #[test]
    fn fuse_attr_has_the_kernel_layout() {
        let bytes = attr(&sample_attr());
        assert_eq!(bytes.len(), 88);
        assert_eq!(u64_at(&bytes, 0), 77); // ino
        assert_eq!(u64_at(&bytes, 8), 1234); // size
        assert_eq!(u64_at(&bytes, 16), 8); // blocks
        assert_eq!(u64_at(&bytes, 24), 100); // atime
        assert_eq!(u64_at(&bytes, 32), 200); // mtime
                                             // Before the epoch: seconds down, nanoseconds up (as fuser encodes).
        assert_eq!(u64_at(&bytes, 40) as i64, -2); // ctime
        assert_eq!(u32_at(&bytes, 48), 5); // atimensec
        assert_eq!(u32_at(&bytes, 52), 6); // mtimensec
        assert_eq!(u32_at(&bytes, 56), 800_000_000); // ctimensec
        assert_eq!(u32_at(&bytes, 60), libc::S_IFREG | 0o4755); // mode
        assert_eq!(u32_at(&bytes, 64), 2); // nlink
        assert_eq!(u32_at(&bytes, 68), 1000); // uid
        assert_eq!(u32_at(&bytes, 72), 1001); // gid
        assert_eq!(u32_at(&bytes, 76), 9); // rdev
        assert_eq!(u32_at(&bytes, 80), 4096); // blksize
        assert_eq!(u32_at(&bytes, 84), 0); // flags
    }

    #[test]
    fn fuse_entry_out_is_128_bytes_with_the_attr_at_40() {
        let ttl = Duration::new(3, 250);
        let bytes = entry_out(&(sample_attr(), 5, ttl));
        assert_eq!(bytes.len(), 128);
        assert_eq!(u64_at(&bytes, 0), 77); // nodeid
        assert_eq!(u64_at(&bytes, 8), 5); // generation
        assert_eq!(u64_at(&bytes, 16), 3); // entry_valid
        assert_eq!(u64_at(&bytes, 24), 3); // attr_valid
        assert_eq!(u32_at(&bytes, 32), 250); // entry_valid_nsec
        assert_eq!(u32_at(&bytes, 36), 250); // attr_valid_nsec
        assert_eq!(bytes[40..], attr(&sample_attr()));
    }

    #[test]
    fn fuse_attr_out_is_104_bytes_with_the_attr_at_16() {
        let bytes = attr_out(&sample_attr(), Duration::new(86400, 7));
        assert_eq!(bytes.len(), 104);
        assert_eq!(u64_at(&bytes, 0), 86400);
        assert_eq!(u32_at(&bytes, 8), 7);
        assert_eq!(u32_at(&bytes, 12), 0);
        assert_eq!(bytes[16..], attr(&sample_attr()));
    }

    #[test]
    fn small_replies_have_the_kernel_sizes() {
        let opened = Opened {
            fh: 0x1122_3344_5566_7788,
            flags: FopenFlags::FOPEN_KEEP_CACHE | FopenFlags::FOPEN_CACHE_DIR,
        };
        let open = open_out(&opened);
        assert_eq!(open.len(), 16);
        assert_eq!(u64_at(&open, 0), 0x1122_3344_5566_7788);
        assert_eq!(u32_at(&open, 8), opened.flags.bits());
        assert_eq!(u32_at(&open, 12), 0); // backing_id
        let write = size_out(4096); // fuse_write_out, fuse_getxattr_out
        assert_eq!(
            (write.len(), u32_at(&write, 0), u32_at(&write, 4)),
            (8, 4096, 0)
        );
        let lseek = u64_out(1 << 40); // fuse_lseek_out
        assert_eq!((lseek.len(), u64_at(&lseek, 0)), (8, 1 << 40));
    }

    #[test]
    fn fuse_statfs_out_is_80_bytes() {
        let st = StatFs {
            blocks: 1,
            bfree: 2,
            bavail: 3,
            files: 4,
            ffree: 5,
            bsize: 6,
            namelen: 255,
            frsize: 7,
        };
        let bytes = statfs_out(&st);
        assert_eq!(bytes.len(), 80);
        let longs: Vec<u64> = (0..5).map(|i| u64_at(&bytes, i * 8)).collect();
        assert_eq!(longs, [1, 2, 3, 4, 5]);
        assert_eq!(
            [u32_at(&bytes, 40), u32_at(&bytes, 44), u32_at(&bytes, 48)],
            [6, 255, 7]
        );
        assert!(bytes[52..].iter().all(|&b| b == 0));
    }

    #[test]
    fn dirents_are_aligned_to_8() {
        assert_eq!(DIRENT_SIZE, 24);
        assert_eq!(DIRENTPLUS_SIZE, 152);
        assert_eq!(dirent_size(DIRENT_SIZE, 1), 32);
        assert_eq!(dirent_size(DIRENT_SIZE, 8), 32);
        assert_eq!(dirent_size(DIRENT_SIZE, 9), 40);
        assert_eq!(dirent_size(DIRENTPLUS_SIZE, 1), 160);
        for len in 0..40 {
            assert_eq!(dirent_size(DIRENTPLUS_SIZE, len) % 8, 0);
            assert!(dirent_size(DIRENTPLUS_SIZE, len) >= DIRENTPLUS_SIZE + len);
        }
        let bytes = dirent(5, 99, 3, libc::S_IFDIR);
        assert_eq!(u64_at(&bytes, 0), 5);
        assert_eq!(u64_at(&bytes, 8), 99);
        assert_eq!(u32_at(&bytes, 16), 3);
        assert_eq!(u32_at(&bytes, 20), libc::DT_DIR as u32);
    }

    #[test]
    fn readers_refuse_short_arguments_and_names_without_nul() {
        assert_eq!(Fields::new(&[0; 7], 8).err(), Some(Errno::INVAL));
        let mut f = Fields::new(&[1, 0, 0, 0, 2, 0, 0, 0], 8).unwrap();
        assert_eq!((f.u32(), f.u32()), (Ok(1), Ok(2)));
        assert_eq!(f.u32(), Err(Errno::INVAL));
        assert_eq!(split_name(b"abc").err(), Some(Errno::INVAL));
        let (name, rest) = split_name(b"ab\0cd\0").unwrap();
        assert_eq!((name, rest), (OsStr::new("ab"), &b"cd\0"[..]));
        assert_eq!(off_t(1 << 63), Err(Errno::INVAL));
        assert_eq!(off_t(i64::MAX as u64), Ok(i64::MAX as u64));
    }
}
