//! The error type of FUSE handlers: one errno, mapped one to one onto the reply.

use std::io;

/// An errno as a handler result (`Result<T, Errno>`), convertible from the syscall
/// wrappers' errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

pub type FsResult<T> = Result<T, Errno>;

impl Errno {
    pub const PERM: Errno = Errno(libc::EPERM);
    pub const NOENT: Errno = Errno(libc::ENOENT);
    pub const IO: Errno = Errno(libc::EIO);
    pub const BADF: Errno = Errno(libc::EBADF);
    pub const EXIST: Errno = Errno(libc::EEXIST);
    pub const NOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const ISDIR: Errno = Errno(libc::EISDIR);
    pub const INVAL: Errno = Errno(libc::EINVAL);
    pub const NOTEMPTY: Errno = Errno(libc::ENOTEMPTY);
    pub const NODATA: Errno = Errno(libc::ENODATA);
    pub const NOSYS: Errno = Errno(libc::ENOSYS);
    pub const ROFS: Errno = Errno(libc::EROFS);
    pub const NAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const XDEV: Errno = Errno(libc::EXDEV);
    pub const NOSPC: Errno = Errno(libc::ENOSPC);
}

impl From<rustix::io::Errno> for Errno {
    fn from(e: rustix::io::Errno) -> Errno {
        Errno(e.raw_os_error())
    }
}

impl From<io::Error> for Errno {
    fn from(e: io::Error) -> Errno {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<Errno> for fuser::Errno {
    fn from(e: Errno) -> fuser::Errno {
        fuser::Errno::from_i32(e.0)
    }
}
