//! Small syscall helpers over `rustix` shared by the overlay and the unpacker: xattrs read
//! into owned buffers, and a sparse-aware file copy.

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt;
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

/// `listxattrat(dir, path, AT_SYMLINK_NOFOLLOW)` into `buf`: the attribute names of
/// `path` relative to the directory `dir`, so the kernel walks only that relative path
/// (not the layer's whole host path). `None` where the kernel has no such call (before
/// Linux 6.13): the caller falls back to an absolute path.
pub fn listxattr_at<P: rustix::path::Arg>(
    dir: BorrowedFd<'_>,
    path: P,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    /// Set once the kernel answered ENOSYS: no further tries.
    static MISSING: AtomicBool = AtomicBool::new(false);
    // The syscall number is the same on every architecture (the unified table).
    const SYS_LISTXATTRAT: libc::c_long = 465;
    if MISSING.load(Ordering::Relaxed) {
        return None;
    }
    let result = path.into_with_c_str(|path| {
        // SAFETY: `path` is a NUL-terminated string and `buf` a writable buffer of the
        // length passed, both alive across the call; `dir` is an open descriptor.
        let len = unsafe {
            libc::syscall(
                SYS_LISTXATTRAT,
                dir.as_raw_fd(),
                path.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        syscall_result(len)
    });
    at_result(result, &MISSING)
}

/// `getxattrat(dir, path, AT_SYMLINK_NOFOLLOW, name)` into `buf`: the value's length,
/// ENODATA when there is no such attribute. `None` where the kernel has no such call
/// (before Linux 6.13): the caller falls back to an absolute path.
pub fn getxattr_at<P: rustix::path::Arg>(
    dir: BorrowedFd<'_>,
    path: P,
    name: &CStr,
    buf: &mut [u8],
) -> Option<io::Result<usize>> {
    static MISSING: AtomicBool = AtomicBool::new(false);
    const SYS_GETXATTRAT: libc::c_long = 464;
    /// The kernel's `struct xattr_args` (version 0).
    #[repr(C)]
    struct XattrArgs {
        value: u64,
        size: u32,
        flags: u32,
    }
    if MISSING.load(Ordering::Relaxed) {
        return None;
    }
    let mut args = XattrArgs {
        value: buf.as_mut_ptr() as u64,
        size: u32::try_from(buf.len()).unwrap_or(u32::MAX),
        flags: 0,
    };
    let result = path.into_with_c_str(|path| {
        // SAFETY: `path` and `name` are NUL-terminated strings, `args` points at `buf`
        // (writable, of the size given) and is passed with its own size; all live
        // across the call; `dir` is an open descriptor.
        let len = unsafe {
            libc::syscall(
                SYS_GETXATTRAT,
                dir.as_raw_fd(),
                path.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW as libc::c_uint,
                name.as_ptr(),
                &mut args as *mut XattrArgs,
                std::mem::size_of::<XattrArgs>(),
            )
        };
        syscall_result(len)
    });
    at_result(result, &MISSING)
}

fn syscall_result(ret: libc::c_long) -> rustix::io::Result<usize> {
    if ret >= 0 {
        Ok(ret as usize)
    } else {
        Err(Errno::from_raw_os_error(
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        ))
    }
}

/// Maps an `*xattrat` result, remembering in `missing` a kernel without the call.
fn at_result(result: rustix::io::Result<usize>, missing: &AtomicBool) -> Option<io::Result<usize>> {
    match result {
        Err(Errno::NOSYS) => {
            missing.store(true, Ordering::Relaxed);
            None
        }
        Ok(len) => Some(Ok(len)),
        Err(e) => Some(Err(e.into())),
    }
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

/// Copies `len` bytes from `start` of `from` to the same offset of `to` with
/// sendfile (which writes at `to`'s file position, so that is set first).
fn send_range(
    from: std::os::fd::BorrowedFd<'_>,
    to: std::os::fd::BorrowedFd<'_>,
    start: u64,
    len: u64,
) -> io::Result<()> {
    rfs::seek(to, SeekFrom::Start(start))?;
    let mut off_in = start;
    let end = start + len;
    while off_in < end {
        let chunk = (end - off_in).min(1 << 30) as usize;
        if rfs::sendfile(to, from, Some(&mut off_in), chunk)? == 0 {
            break; // source shrank
        }
    }
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
                    // Across filesystems: sendfile still copies inside the kernel
                    // (page cache to page cache, no trip through a user buffer).
                    if send_range(from, to, off_in, len - copied).is_ok() {
                        return Ok(());
                    }
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

/// Puts the calling thread in the `SCHED_IDLE` class: it runs only on a CPU that has
/// nothing else to run, so its work never delays another thread's.
pub fn schedule_only_when_idle() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{File, OpenOptions};
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};

    use super::copy_file_sparse;

    fn scratch(base: &Path, name: &str) -> PathBuf {
        let dir = base.join(format!("burrow-fs-sys-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// A file with data, a hole in the middle and a trailing hole, copied to `dest`.
    /// `label` keeps the tests' source files apart (they run in parallel).
    fn copies_data_and_holes(dest: &Path, label: &str) {
        let src_dir = scratch(&std::env::temp_dir(), &format!("src-{label}"));
        let src_path = src_dir.join("sparse");
        let mut src = File::create(&src_path).expect("create source");
        src.write_all(&[7u8; 70_000]).expect("write");
        src.seek(SeekFrom::Start(8 << 20)).expect("seek");
        src.write_all(b"tail data").expect("write");
        src.set_len(12 << 20).expect("extend");
        let src = File::open(&src_path).expect("open source");
        let out_path = dest.join("copy");
        let out = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&out_path)
            .expect("create copy");
        copy_file_sparse(&src, &out, 12 << 20).expect("copy");
        let copied = std::fs::read(&out_path).expect("read copy");
        let original = std::fs::read(&src_path).expect("read source");
        assert!(
            copied == original,
            "the copy differs: {} bytes, first difference at {:?}",
            copied.len(),
            copied.iter().zip(&original).position(|(a, b)| a != b)
        );
        let blocks = std::fs::metadata(&out_path).expect("stat").blocks();
        assert!(blocks * 512 < 1 << 20, "holes filled: {blocks} blocks");
        let _ = std::fs::remove_dir_all(&src_dir);
    }

    #[test]
    fn a_sparse_copy_on_one_filesystem_keeps_data_and_holes() {
        let dir = scratch(&std::env::temp_dir(), "same");
        copies_data_and_holes(&dir, "same");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_sparse_copy_across_filesystems_keeps_data_and_holes() {
        // /dev/shm is a tmpfs on Linux; the source lives in the temp dir.
        let shm = Path::new("/dev/shm");
        let tmp_dev = std::fs::metadata(std::env::temp_dir()).map(|m| m.dev());
        match (std::fs::metadata(shm).map(|m| m.dev()), tmp_dev) {
            (Ok(a), Ok(b)) if a != b => {}
            _ => {
                eprintln!("skipped: /dev/shm is missing or on the temp dir's filesystem");
                return;
            }
        }
        let dir = scratch(shm, "cross");
        copies_data_and_holes(&dir, "cross");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
