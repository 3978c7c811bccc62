//! Decoding one request of an io_uring entry into an [`Op`]: the first argument (the
//! per-operation struct) comes from `op_in`, names and data from `payload`, and every
//! flag is turned into what fuser hands its `Filesystem` for the same request (setattr's
//! `valid` bits into options, FATTR_*_NOW into `TimeOrNow::Now`, `off_t` offsets
//! checked), so both transports call the operations with the same arguments.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{TimeOrNow, WriteFlags};

use super::abi::{fattr, off_t, opcode, split_name, Fields, FSYNC_FDATASYNC, GETATTR_FH};
use crate::overlay::errno::{Errno, FsResult};
use crate::overlay::ops::SetAttr;
use crate::overlay::uring::InHeader;

/// `fuse_setxattr_in` as the kernel sends it without FUSE_SETXATTR_EXT, which neither
/// fuser nor burrow negotiates (the 16-byte form carries `setxattr_flags` too).
const SETXATTR_IN_SIZE: usize = 8;

/// A decoded request.
#[derive(Debug, PartialEq)]
pub enum Op<'a> {
    Lookup {
        name: &'a OsStr,
    },
    GetAttr {
        fh: Option<u64>,
    },
    SetAttr(SetAttr),
    ReadLink,
    Symlink {
        name: &'a OsStr,
        target: &'a Path,
    },
    Mknod {
        name: &'a OsStr,
        mode: u32,
        rdev: u32,
    },
    Mkdir {
        name: &'a OsStr,
        mode: u32,
    },
    Unlink {
        name: &'a OsStr,
    },
    Rmdir {
        name: &'a OsStr,
    },
    Rename {
        name: &'a OsStr,
        new_parent: u64,
        new_name: &'a OsStr,
        flags: u32,
    },
    /// LINK: `ino` gets the name `new_name` in the request's node.
    Link {
        ino: u64,
        new_name: &'a OsStr,
    },
    Open {
        flags: i32,
    },
    Read {
        fh: u64,
        offset: u64,
        size: u32,
    },
    Write {
        fh: u64,
        offset: u64,
        data: &'a [u8],
        flags: WriteFlags,
    },
    StatFs,
    Release {
        fh: u64,
    },
    Fsync {
        fh: u64,
        datasync: bool,
    },
    SetXattr {
        name: &'a OsStr,
        value: &'a [u8],
        flags: i32,
    },
    GetXattr {
        name: &'a OsStr,
        size: u32,
    },
    ListXattr {
        size: u32,
    },
    RemoveXattr {
        name: &'a OsStr,
    },
    Flush,
    OpenDir,
    ReadDir {
        fh: u64,
        offset: u64,
        size: u32,
        plus: bool,
    },
    ReleaseDir {
        fh: u64,
    },
    FsyncDir,
    Access,
    Create {
        name: &'a OsStr,
        mode: u32,
        flags: i32,
    },
    Fallocate {
        fh: u64,
        offset: u64,
        length: u64,
        mode: i32,
    },
    Lseek {
        fh: u64,
        offset: i64,
        whence: i32,
    },
    /// COPY_FILE_RANGE, or with `wide` COPY_FILE_RANGE_64 (a 64-bit count back).
    CopyFileRange {
        fh_in: u64,
        offset_in: u64,
        fh_out: u64,
        offset_out: u64,
        len: u64,
        wide: bool,
    },
    Destroy,
    /// Everything else: answered ENOSYS, as fuser's defaults do.
    Unsupported,
}

/// `SystemTime` from the wire's seconds and nanoseconds (negative before the epoch,
/// as fuser reads them); out of range is EINVAL.
fn time_from(secs: i64, nsecs: u32) -> FsResult<SystemTime> {
    let span = Duration::from_secs(secs.unsigned_abs())
        .checked_add(Duration::from_nanos(u64::from(nsecs)))
        .ok_or(Errno::INVAL)?;
    let time = if secs >= 0 {
        UNIX_EPOCH.checked_add(span)
    } else {
        UNIX_EPOCH.checked_sub(span)
    };
    time.ok_or(Errno::INVAL)
}

/// `fuse_setattr_in`.
fn setattr(op_in: &[u8]) -> FsResult<SetAttr> {
    let mut f = Fields::new(op_in, 88)?;
    let valid = f.u32()?;
    f.skip(4)?;
    let fh = f.u64()?;
    let size = f.u64()?;
    f.skip(8)?; // lock_owner
    let (atime, mtime) = (f.i64()?, f.i64()?);
    f.skip(8)?; // ctime
    let (atimensec, mtimensec) = (f.u32()?, f.u32()?);
    f.skip(4)?; // ctimensec
    let mode = f.u32()?;
    f.skip(4)?;
    let (uid, gid) = (f.u32()?, f.u32()?);
    let has = |bit: u32| valid & bit != 0;
    let time = |bit: u32, now: u32, secs: i64, nsecs: u32| -> FsResult<Option<TimeOrNow>> {
        if !has(bit) {
            return Ok(None);
        }
        if has(now) {
            return Ok(Some(TimeOrNow::Now));
        }
        Ok(Some(TimeOrNow::SpecificTime(time_from(secs, nsecs)?)))
    };
    Ok(SetAttr {
        mode: has(fattr::MODE).then_some(mode),
        uid: has(fattr::UID).then_some(uid),
        gid: has(fattr::GID).then_some(gid),
        size: has(fattr::SIZE).then_some(size),
        atime: time(fattr::ATIME, fattr::ATIME_NOW, atime, atimensec)?,
        mtime: time(fattr::MTIME, fattr::MTIME_NOW, mtime, mtimensec)?,
        fh: has(fattr::FH).then_some(fh),
    })
}

/// The one name a request's payload holds.
fn name(payload: &[u8]) -> FsResult<&OsStr> {
    Ok(split_name(payload)?.0)
}

/// Two names back to back (rename's old and new, symlink's name and target).
fn two_names(payload: &[u8]) -> FsResult<(&OsStr, &OsStr)> {
    let (first, rest) = split_name(payload)?;
    Ok((first, split_name(rest)?.0))
}

/// `fuse_read_in` (READ, READDIR, READDIRPLUS): handle, offset, size.
fn read_in(op_in: &[u8]) -> FsResult<(u64, u64, u32)> {
    let mut f = Fields::new(op_in, 40)?;
    Ok((f.u64()?, f.u64()?, f.u32()?))
}

/// The handle a `fuse_release_in`, `fuse_fsync_in` ... starts with.
fn fh_in(op_in: &[u8], size: usize) -> FsResult<u64> {
    Fields::new(op_in, size)?.u64()
}

/// Decodes a request; EINVAL for arguments shorter than their opcode needs.
pub fn decode<'a>(header: &InHeader, op_in: &'a [u8], payload: &'a [u8]) -> FsResult<Op<'a>> {
    Ok(match header.opcode {
        opcode::LOOKUP => Op::Lookup {
            name: name(payload)?,
        },
        opcode::GETATTR => {
            let mut f = Fields::new(op_in, 16)?;
            let flags = f.u32()?;
            f.skip(4)?;
            let fh = f.u64()?;
            Op::GetAttr {
                fh: (flags & GETATTR_FH != 0).then_some(fh),
            }
        }
        opcode::SETATTR => Op::SetAttr(setattr(op_in)?),
        opcode::READLINK => Op::ReadLink,
        opcode::SYMLINK => {
            let (name, target) = two_names(payload)?;
            Op::Symlink {
                name,
                target: Path::new(target),
            }
        }
        opcode::MKNOD => {
            let mut f = Fields::new(op_in, 8)?;
            Op::Mknod {
                mode: f.u32()?,
                rdev: f.u32()?,
                name: name(payload)?,
            }
        }
        opcode::MKDIR => Op::Mkdir {
            mode: Fields::new(op_in, 8)?.u32()?,
            name: name(payload)?,
        },
        opcode::UNLINK => Op::Unlink {
            name: name(payload)?,
        },
        opcode::RMDIR => Op::Rmdir {
            name: name(payload)?,
        },
        opcode::RENAME | opcode::RENAME2 => {
            let wide = header.opcode == opcode::RENAME2;
            let mut f = Fields::new(op_in, if wide { 16 } else { 8 })?;
            let new_parent = f.u64()?;
            let flags = if wide { f.u32()? } else { 0 };
            let (name, new_name) = two_names(payload)?;
            Op::Rename {
                name,
                new_parent,
                new_name,
                flags,
            }
        }
        opcode::LINK => Op::Link {
            ino: Fields::new(op_in, 8)?.u64()?,
            new_name: name(payload)?,
        },
        opcode::OPEN => Op::Open {
            flags: Fields::new(op_in, 8)?.i32()?,
        },
        opcode::READ => {
            let (fh, offset, size) = read_in(op_in)?;
            Op::Read {
                fh,
                offset: off_t(offset)?,
                size,
            }
        }
        opcode::WRITE => {
            let mut f = Fields::new(op_in, 40)?;
            let (fh, offset) = (f.u64()?, f.u64()?);
            let (size, flags) = (f.u32()?, f.u32()?);
            Op::Write {
                fh,
                offset: off_t(offset)?,
                data: payload.get(..size as usize).ok_or(Errno::INVAL)?,
                flags: WriteFlags::from_bits_retain(flags),
            }
        }
        opcode::STATFS => Op::StatFs,
        opcode::RELEASE => Op::Release {
            fh: fh_in(op_in, 24)?,
        },
        opcode::FSYNC | opcode::FSYNCDIR => {
            let mut f = Fields::new(op_in, 16)?;
            let fh = f.u64()?;
            let datasync = f.u32()? & FSYNC_FDATASYNC != 0;
            if header.opcode == opcode::FSYNCDIR {
                Op::FsyncDir
            } else {
                Op::Fsync { fh, datasync }
            }
        }
        opcode::SETXATTR => {
            let mut f = Fields::new(op_in, SETXATTR_IN_SIZE)?;
            let (size, flags) = (f.u32()?, f.i32()?);
            let (name, rest) = split_name(payload)?;
            Op::SetXattr {
                name,
                value: rest.get(..size as usize).ok_or(Errno::INVAL)?,
                flags,
            }
        }
        opcode::GETXATTR => Op::GetXattr {
            size: Fields::new(op_in, 8)?.u32()?,
            name: name(payload)?,
        },
        opcode::LISTXATTR => Op::ListXattr {
            size: Fields::new(op_in, 8)?.u32()?,
        },
        opcode::REMOVEXATTR => Op::RemoveXattr {
            name: name(payload)?,
        },
        opcode::FLUSH => Op::Flush,
        opcode::OPENDIR => Op::OpenDir,
        opcode::READDIR | opcode::READDIRPLUS => {
            let (fh, offset, size) = read_in(op_in)?;
            Op::ReadDir {
                fh,
                offset,
                size,
                plus: header.opcode == opcode::READDIRPLUS,
            }
        }
        opcode::RELEASEDIR => Op::ReleaseDir {
            fh: fh_in(op_in, 24)?,
        },
        opcode::ACCESS => Op::Access,
        opcode::CREATE => {
            let mut f = Fields::new(op_in, 16)?;
            let (flags, mode) = (f.i32()?, f.u32()?);
            Op::Create {
                name: name(payload)?,
                mode,
                flags,
            }
        }
        opcode::FALLOCATE => {
            let mut f = Fields::new(op_in, 32)?;
            let (fh, offset, length) = (f.u64()?, f.u64()?, f.u64()?);
            Op::Fallocate {
                fh,
                offset: off_t(offset)?,
                length: off_t(length)?,
                mode: f.i32()?,
            }
        }
        opcode::LSEEK => {
            let mut f = Fields::new(op_in, 24)?;
            Op::Lseek {
                fh: f.u64()?,
                offset: f.i64()?,
                whence: f.i32()?,
            }
        }
        opcode::COPY_FILE_RANGE | opcode::COPY_FILE_RANGE_64 => {
            let mut f = Fields::new(op_in, 56)?;
            let (fh_in, offset_in) = (f.u64()?, f.u64()?);
            f.skip(8)?; // nodeid_out
            let (fh_out, offset_out, len) = (f.u64()?, f.u64()?, f.u64()?);
            Op::CopyFileRange {
                fh_in,
                offset_in: off_t(offset_in)?,
                fh_out,
                offset_out: off_t(offset_out)?,
                len,
                wide: header.opcode == opcode::COPY_FILE_RANGE_64,
            }
        }
        opcode::DESTROY => Op::Destroy,
        _ => Op::Unsupported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An argument built field by field, as the kernel lays it out.
    #[derive(Default)]
    struct Arg(Vec<u8>);

    impl Arg {
        fn u32(mut self, v: u32) -> Arg {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }

        fn u64(mut self, v: u64) -> Arg {
            self.0.extend_from_slice(&v.to_ne_bytes());
            self
        }

        /// As it sits in a ring entry: 128 bytes, zero past the struct.
        fn op_in(&self) -> Vec<u8> {
            let mut area = self.0.clone();
            area.resize(128, 0);
            area
        }
    }

    fn header(opcode: u32) -> InHeader {
        InHeader {
            opcode,
            nodeid: 1,
            ..InHeader::default()
        }
    }

    /// Decodes with the argument cut to its struct's size (a transport may pass
    /// exactly that) and in its 128-byte area: both must read alike.
    fn decoded<'a>(opcode: u32, arg: &Arg, payload: &'a [u8]) -> Op<'a> {
        let exact = decode(&header(opcode), &arg.0, payload).map(|op| format!("{op:?}"));
        let area = arg.op_in();
        let padded = decode(&header(opcode), &area, payload).map(|op| format!("{op:?}"));
        assert_eq!(exact, padded, "opcode {opcode}");
        // Decode again from a leaked copy so the result can outlive this call.
        let area: &'static [u8] = Box::leak(area.into_boxed_slice());
        decode(&header(opcode), area, payload).unwrap()
    }

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn requests_whose_first_argument_is_empty_take_names_from_the_payload() {
        let none = Arg::default();
        assert_eq!(
            decoded(opcode::LOOKUP, &none, b"etc\0"),
            Op::Lookup { name: name("etc") }
        );
        assert_eq!(
            decoded(opcode::UNLINK, &none, b"f\0"),
            Op::Unlink { name: name("f") }
        );
        assert_eq!(
            decoded(opcode::RMDIR, &none, b"d\0"),
            Op::Rmdir { name: name("d") }
        );
        assert_eq!(
            decoded(opcode::REMOVEXATTR, &none, b"user.x\0"),
            Op::RemoveXattr {
                name: name("user.x")
            }
        );
        assert_eq!(
            decoded(opcode::SYMLINK, &none, b"link\0../target\0"),
            Op::Symlink {
                name: name("link"),
                target: Path::new("../target")
            }
        );
        assert_eq!(decoded(opcode::READLINK, &none, b""), Op::ReadLink);
        assert_eq!(decoded(opcode::STATFS, &none, b""), Op::StatFs);
        assert_eq!(decoded(opcode::DESTROY, &none, b""), Op::Destroy);
    }

    #[test]
    fn getattr_passes_the_handle_only_with_getattr_fh() {
        let with = Arg::default().u32(GETATTR_FH).u32(0).u64(42);
        assert_eq!(
            decoded(opcode::GETATTR, &with, b""),
            Op::GetAttr { fh: Some(42) }
        );
        let without = Arg::default().u32(0).u32(0).u64(42);
        assert_eq!(
            decoded(opcode::GETATTR, &without, b""),
            Op::GetAttr { fh: None }
        );
    }

    fn setattr_in(valid: u32) -> Arg {
        Arg::default()
            .u32(valid)
            .u32(0)
            .u64(7) // fh
            .u64(4096) // size
            .u64(0) // lock_owner
            .u64(100) // atime
            .u64(-5i64 as u64) // mtime, before the epoch
            .u64(300) // ctime
            .u32(1) // atimensec
            .u32(2) // mtimensec
            .u32(3) // ctimensec
            .u32(0o100600) // mode
            .u32(0)
            .u32(1000) // uid
            .u32(1001) // gid
            .u32(0)
    }

    #[test]
    fn setattr_turns_valid_bits_into_options_as_fuser_does() {
        assert_eq!(setattr_in(0).0.len(), 88);
        let all = fattr::MODE
            | fattr::UID
            | fattr::GID
            | fattr::SIZE
            | fattr::ATIME
            | fattr::MTIME
            | fattr::FH;
        let Op::SetAttr(change) = decoded(opcode::SETATTR, &setattr_in(all), b"") else {
            panic!("not a setattr");
        };
        assert_eq!(
            change,
            SetAttr {
                mode: Some(0o100600),
                uid: Some(1000),
                gid: Some(1001),
                size: Some(4096),
                atime: Some(TimeOrNow::SpecificTime(UNIX_EPOCH + Duration::new(100, 1))),
                mtime: Some(TimeOrNow::SpecificTime(UNIX_EPOCH - Duration::new(5, 2))),
                fh: Some(7),
            }
        );
        let Op::SetAttr(chmod) = decoded(opcode::SETATTR, &setattr_in(fattr::MODE), b"") else {
            panic!("not a setattr");
        };
        assert_eq!(
            chmod,
            SetAttr {
                mode: Some(0o100600),
                ..SetAttr::default()
            }
        );
        let now = fattr::ATIME | fattr::ATIME_NOW | fattr::MTIME | fattr::MTIME_NOW;
        let Op::SetAttr(touch) = decoded(opcode::SETATTR, &setattr_in(now), b"") else {
            panic!("not a setattr");
        };
        assert_eq!(
            (touch.atime, touch.mtime, touch.fh),
            (Some(TimeOrNow::Now), Some(TimeOrNow::Now), None)
        );
    }

    #[test]
    fn namespace_requests_decode_their_struct_and_names() {
        let mknod = Arg::default().u32(0o20644).u32(0x0103).u32(0o022).u32(0);
        assert_eq!(
            decoded(opcode::MKNOD, &mknod, b"tty\0"),
            Op::Mknod {
                name: name("tty"),
                mode: 0o20644,
                rdev: 0x0103
            }
        );
        let mkdir = Arg::default().u32(0o40755).u32(0o022);
        assert_eq!(
            decoded(opcode::MKDIR, &mkdir, b"d\0"),
            Op::Mkdir {
                name: name("d"),
                mode: 0o40755
            }
        );
        let rename = Arg::default().u64(9);
        assert_eq!(
            decoded(opcode::RENAME, &rename, b"a\0b\0"),
            Op::Rename {
                name: name("a"),
                new_parent: 9,
                new_name: name("b"),
                flags: 0
            }
        );
        let rename2 = Arg::default().u64(9).u32(libc::RENAME_NOREPLACE).u32(0);
        assert_eq!(
            decoded(opcode::RENAME2, &rename2, b"a\0b\0"),
            Op::Rename {
                name: name("a"),
                new_parent: 9,
                new_name: name("b"),
                flags: libc::RENAME_NOREPLACE
            }
        );
        let link = Arg::default().u64(33);
        assert_eq!(
            decoded(opcode::LINK, &link, b"hard\0"),
            Op::Link {
                ino: 33,
                new_name: name("hard")
            }
        );
        let create = Arg::default()
            .u32((libc::O_RDWR | libc::O_CREAT) as u32)
            .u32(0o100644)
            .u32(0o022)
            .u32(0);
        assert_eq!(
            decoded(opcode::CREATE, &create, b"new\0"),
            Op::Create {
                name: name("new"),
                mode: 0o100644,
                flags: libc::O_RDWR | libc::O_CREAT
            }
        );
    }

    fn read_in(fh: u64, offset: u64, size: u32) -> Arg {
        Arg::default()
            .u64(fh)
            .u64(offset)
            .u32(size)
            .u32(0)
            .u64(0)
            .u32(0)
            .u32(0)
    }

    #[test]
    fn io_requests_decode_handles_offsets_and_data() {
        let open = Arg::default().u32(libc::O_RDONLY as u32).u32(0);
        assert_eq!(
            decoded(opcode::OPEN, &open, b""),
            Op::Open {
                flags: libc::O_RDONLY
            }
        );
        assert_eq!(
            decoded(opcode::READ, &read_in(3, 8192, 4096), b""),
            Op::Read {
                fh: 3,
                offset: 8192,
                size: 4096
            }
        );
        let write = Arg::default()
            .u64(3)
            .u64(10)
            .u32(5)
            .u32(WriteFlags::FUSE_WRITE_CACHE.bits())
            .u64(0)
            .u32(0)
            .u32(0);
        // Bytes past the declared size (an extension) are not data.
        assert_eq!(
            decoded(opcode::WRITE, &write, b"helloEXTRA"),
            Op::Write {
                fh: 3,
                offset: 10,
                data: b"hello",
                flags: WriteFlags::FUSE_WRITE_CACHE
            }
        );
        let release = Arg::default().u64(3).u32(0).u32(0).u64(0);
        assert_eq!(
            decoded(opcode::RELEASE, &release, b""),
            Op::Release { fh: 3 }
        );
        assert_eq!(
            decoded(opcode::RELEASEDIR, &release, b""),
            Op::ReleaseDir { fh: 3 }
        );
        let fsync = Arg::default().u64(3).u32(FSYNC_FDATASYNC).u32(0);
        assert_eq!(
            decoded(opcode::FSYNC, &fsync, b""),
            Op::Fsync {
                fh: 3,
                datasync: true
            }
        );
        assert_eq!(decoded(opcode::FSYNCDIR, &fsync, b""), Op::FsyncDir);
        let flush = Arg::default().u64(3).u32(0).u32(0).u64(0);
        assert_eq!(decoded(opcode::FLUSH, &flush, b""), Op::Flush);
        assert_eq!(decoded(opcode::OPENDIR, &open, b""), Op::OpenDir);
        assert_eq!(
            decoded(opcode::READDIRPLUS, &read_in(0, 77, 65536), b""),
            Op::ReadDir {
                fh: 0,
                offset: 77,
                size: 65536,
                plus: true
            }
        );
        assert_eq!(
            decoded(opcode::READDIR, &read_in(0, 77, 65536), b""),
            Op::ReadDir {
                fh: 0,
                offset: 77,
                size: 65536,
                plus: false
            }
        );
        let access = Arg::default().u32(libc::R_OK as u32).u32(0);
        assert_eq!(decoded(opcode::ACCESS, &access, b""), Op::Access);
        let fallocate = Arg::default()
            .u64(3)
            .u64(0)
            .u64(1 << 20)
            .u32(libc::FALLOC_FL_KEEP_SIZE as u32)
            .u32(0);
        assert_eq!(
            decoded(opcode::FALLOCATE, &fallocate, b""),
            Op::Fallocate {
                fh: 3,
                offset: 0,
                length: 1 << 20,
                mode: libc::FALLOC_FL_KEEP_SIZE
            }
        );
        let lseek = Arg::default()
            .u64(3)
            .u64(512)
            .u32(libc::SEEK_DATA as u32)
            .u32(0);
        assert_eq!(
            decoded(opcode::LSEEK, &lseek, b""),
            Op::Lseek {
                fh: 3,
                offset: 512,
                whence: libc::SEEK_DATA
            }
        );
        let copy = Arg::default()
            .u64(3)
            .u64(1)
            .u64(99)
            .u64(4)
            .u64(2)
            .u64(1 << 33)
            .u64(0);
        let expected = |wide| Op::CopyFileRange {
            fh_in: 3,
            offset_in: 1,
            fh_out: 4,
            offset_out: 2,
            len: 1 << 33,
            wide,
        };
        assert_eq!(
            decoded(opcode::COPY_FILE_RANGE, &copy, b""),
            expected(false)
        );
        assert_eq!(
            decoded(opcode::COPY_FILE_RANGE_64, &copy, b""),
            expected(true)
        );
    }

    #[test]
    fn xattr_requests_decode_sizes_names_and_values() {
        let setxattr = Arg::default().u32(3).u32(libc::XATTR_CREATE as u32);
        assert_eq!(
            decoded(opcode::SETXATTR, &setxattr, b"user.a\0xyz"),
            Op::SetXattr {
                name: name("user.a"),
                value: b"xyz",
                flags: libc::XATTR_CREATE
            }
        );
        let getxattr = Arg::default().u32(0).u32(0);
        assert_eq!(
            decoded(opcode::GETXATTR, &getxattr, b"user.a\0"),
            Op::GetXattr {
                name: name("user.a"),
                size: 0
            }
        );
        let listxattr = Arg::default().u32(256).u32(0);
        assert_eq!(
            decoded(opcode::LISTXATTR, &listxattr, b""),
            Op::ListXattr { size: 256 }
        );
    }

    #[test]
    fn what_fuser_does_not_serve_is_unsupported() {
        // FORGET, GETLK, SETLK, SETLKW, INTERRUPT, BMAP, IOCTL, POLL, BATCH_FORGET,
        // SYNCFS, TMPFILE, STATX, and numbers no kernel sends.
        for opcode in [
            2, 31, 32, 33, 36, 37, 39, 40, 42, 50, 51, 52, 54, 4096, 9999,
        ] {
            assert_eq!(
                decode(&header(opcode), &[0; 128], b"x\0").unwrap(),
                Op::Unsupported,
                "opcode {opcode}"
            );
        }
    }

    #[test]
    fn malformed_requests_are_einval() {
        let bad = |opcode: u32, op_in: &[u8], payload: &[u8]| {
            assert_eq!(
                decode(&header(opcode), op_in, payload).err(),
                Some(Errno::INVAL),
                "opcode {opcode}"
            );
        };
        // Names without their NUL.
        bad(opcode::LOOKUP, &[0; 128], b"etc");
        bad(opcode::LOOKUP, &[0; 128], b"");
        bad(opcode::SYMLINK, &[0; 128], b"link\0target");
        bad(opcode::RENAME, &[0; 128], b"a\0b");
        bad(opcode::MKDIR, &[0; 128], b"d");
        // First arguments shorter than their struct.
        bad(opcode::GETATTR, &[0; 15], b"");
        bad(opcode::SETATTR, &[0; 87], b"");
        bad(opcode::READ, &[0; 39], b"");
        bad(opcode::WRITE, &[0; 20], b"data");
        bad(opcode::RENAME2, &[0; 8], b"a\0b\0");
        bad(opcode::COPY_FILE_RANGE, &[0; 55], b"");
        bad(opcode::CREATE, &[], b"f\0");
        // Less data than declared.
        let write = read_in(1, 0, 10).op_in(); // fuse_write_in has read_in's layout
        bad(opcode::WRITE, &write, b"short");
        let setxattr = Arg::default().u32(10).u32(0).op_in();
        bad(opcode::SETXATTR, &setxattr, b"user.a\0short");
        // Offsets past off_t.
        bad(opcode::READ, &read_in(1, 1 << 63, 1).op_in(), b"");
        // A time SystemTime cannot hold.
        let mut far = setattr_in(fattr::ATIME).op_in();
        far[32..40].copy_from_slice(&i64::MIN.to_ne_bytes()); // atime
        far[56..60].copy_from_slice(&2_000_000_000u32.to_ne_bytes()); // atimensec
        bad(opcode::SETATTR, &far, b"");
    }
}
