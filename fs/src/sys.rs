//! Small syscall helpers over `rustix` shared by the overlay and the unpacker: xattrs read
//! into owned buffers, and a sparse-aware file copy.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{self as rfs, SeekFrom};
use rustix::io::Errno;

const FIRST_TRY: usize = 256;

/// `lgetxattr` into a fresh buffer; `Ok(None)` when the attribute is absent.
pub fn lgetxattr<P: rustix::path::Arg + Copy>(path: P, name: &str) -> io::Result<Option<Vec<u8>>> {
    read_sized(
        |buf| rfs::lgetxattr(path, name, buf),
        || rfs::lgetxattr_query(path, name),
    )
}

/// The names `llistxattr` reports.
pub fn llistxattr<P: rustix::path::Arg + Copy>(path: P) -> io::Result<Vec<OsString>> {
    let raw = read_sized(
        |buf| rfs::llistxattr(path, buf),
        || rfs::llistxattr_query(path),
    )?
    .unwrap_or_default();
    Ok(split_names(&raw))
}

/// `listxattrat(dir, name, AT_SYMLINK_NOFOLLOW)` into `buf`: the attribute names of
/// `name` in the directory `dir`, resolved as one path component. `None` where the
/// kernel has no such call (before Linux 6.13): the caller falls back to a path.
pub fn listxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    /// Set once the kernel answered ENOSYS: no further tries.
    static MISSING: AtomicBool = AtomicBool::new(false);
    // The syscall number is the same on every architecture (the unified table).
    const SYS_LISTXATTRAT: libc::c_long = 465;
    if MISSING.load(Ordering::Relaxed) {
        return None;
    }
    let name = match CString::new(name.as_bytes()) {
        Ok(name) => name,
        Err(_) => return Some(Err(io::Error::from(Errno::INVAL))),
    };
    // SAFETY: `name` is a NUL-terminated string and `buf` a writable buffer of the
    // length passed, both alive across the call; `dir` is an open descriptor.
    let len = unsafe {
        libc::syscall(
            SYS_LISTXATTRAT,
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if len >= 0 {
        return Some(Ok(len as usize));
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ENOSYS) {
        MISSING.store(true, Ordering::Relaxed);
        return None;
    }
    Some(Err(error))
}

fn split_names(raw: &[u8]) -> Vec<OsString> {
    raw.split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| OsString::from_vec(name.to_vec()))
        .collect()
}

/// Reads a variable-sized value: a small buffer first, the queried size on ERANGE.
fn read_sized(
    mut read: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>,
    mut query: impl FnMut() -> rustix::io::Result<usize>,
) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; FIRST_TRY];
    for _ in 0..4 {
        match read(&mut buf) {
            Ok(len) => {
                buf.truncate(len);
                return Ok(Some(buf));
            }
            Err(Errno::NODATA) => return Ok(None),
            Err(Errno::RANGE) => {
                let size = query()?;
                buf = vec![0u8; size.max(1)];
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::from(Errno::RANGE))
}

/// Copies `len` bytes of `from` to `to` at the same offsets, keeping holes: only the data
/// extents (`SEEK_DATA`/`SEEK_HOLE`) are copied, with `copy_file_range` (which reflinks
/// where the filesystem can) and a read/write loop where it is refused (across
/// filesystems on old kernels, or special files). `to` must be empty; its size is set to
/// `len` at the end so a trailing hole survives.
pub fn copy_file_sparse<A: AsFd, B: AsFd>(from: A, to: B, len: u64) -> io::Result<()> {
    let (from, to) = (from.as_fd(), to.as_fd());
    let mut offset = 0u64;
    while offset < len {
        let data = match rfs::seek(from, SeekFrom::Data(offset)) {
            Ok(data) => data,
            Err(Errno::NXIO) => break, // only a hole is left
            Err(Errno::INVAL) | Err(Errno::OPNOTSUPP) => offset,
            Err(e) => return Err(e.into()),
        };
        let hole = match rfs::seek(from, SeekFrom::Hole(data)) {
            Ok(hole) => hole.min(len),
            Err(_) => len,
        };
        copy_range(from, to, data, hole - data)?;
        offset = hole;
    }
    rfs::ftruncate(to, len)?;
    Ok(())
}

fn copy_range(
    from: std::os::fd::BorrowedFd<'_>,
    to: std::os::fd::BorrowedFd<'_>,
    start: u64,
    len: u64,
) -> io::Result<()> {
    let mut copied = 0u64;
    let mut use_cfr = true;
    let mut buf = Vec::new();
    while copied < len {
        let mut off_in = start + copied;
        let mut off_out = start + copied;
        let chunk = (len - copied).min(1 << 30) as usize;
        if use_cfr {
            match rfs::copy_file_range(from, Some(&mut off_in), to, Some(&mut off_out), chunk) {
                Ok(0) => return Ok(()), // source shrank
                Ok(n) => {
                    copied += n as u64;
                    continue;
                }
                Err(Errno::XDEV | Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {
                    use_cfr = false;
                    buf = vec![0u8; 1 << 20];
                }
                Err(e) => return Err(e.into()),
            }
        }
        let want = chunk.min(buf.len());
        let n = rustix::io::pread(from, &mut buf[..want], off_in)?;
        if n == 0 {
            return Ok(());
        }
        let mut written = 0;
        while written < n {
            written += rustix::io::pwrite(to, &buf[written..n], off_out + written as u64)?;
        }
        copied += n as u64;
    }
    Ok(())
}
