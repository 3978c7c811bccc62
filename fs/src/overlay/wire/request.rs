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
