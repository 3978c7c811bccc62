//! Protection against CVE-2019-5736: a container must not be able to
//! overwrite the runtime's binary through `/proc/PID/exe`.
//!
//! If the binary we run from is writable by us (so also by the container's
//! root, which is us on the host), we re-execute from a sealed memfd copy
//! before touching any container; `/proc/self/exe` then names a read-only,
//! anonymous file. A binary we cannot write (a system install) needs no copy.

use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::unistd::{access, AccessFlags};

use crate::error::{Context, Result};

const MEMFD_NAME: &CStr = c"burrow-sealed";

/// Whether this process already runs from the sealed copy.
pub fn running_sealed() -> bool {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().starts_with("/memfd:burrow-sealed"))
        .unwrap_or(false)
}

/// Re-executes from a sealed copy when the binary on disk is writable by us.
/// Returns only when no copy is needed.
pub fn ensure_sealed() -> Result<()> {
    if running_sealed() || access("/proc/self/exe", AccessFlags::W_OK).is_err() {
        return Ok(());
    }
    let binary = std::fs::read("/proc/self/exe").context(|| "cannot read /proc/self/exe".into())?;
    let memfd = memfd_create(
        MEMFD_NAME,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .context(|| "cannot create a memfd for the sealed binary".into())?;
    // SAFETY: memfd_create just returned this descriptor; the File takes ownership.
    let mut file = unsafe { std::fs::File::from_raw_fd(memfd.as_raw_fd()) };
    std::mem::forget(memfd);
    file.write_all(&binary)
        .context(|| "cannot copy the binary into the memfd".into())?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .context(|| "cannot seal the memfd".into())?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()).unwrap_or_default())
        .collect();
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect();
    let err = nix::unistd::fexecve(file.as_raw_fd(), &args, &env).unwrap_err();
    Err(err).context(|| "cannot re-execute from the sealed binary".into())
}
