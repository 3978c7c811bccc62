//! Protection against CVE-2019-5736: a container must not be able to
//! overwrite the runtime's binary through `/proc/PID/exe`.
//!
//! If the binary we run from is writable by us (so also by the container's
//! root, which is us on the host), we re-execute from a sealed memfd copy
//! before touching any container; `/proc/self/exe` then names a read-only,
//! anonymous file. A binary we cannot write (a system install) needs no copy.

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;

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
    let mut binary =
        std::fs::File::open("/proc/self/exe").context(|| "cannot open /proc/self/exe".into())?;
    let memfd = memfd_create(
        MEMFD_NAME,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .context(|| "cannot create a memfd for the sealed binary".into())?;
    let mut file = std::fs::File::from(memfd);
    // std::io::copy between files uses copy_file_range/sendfile: no userspace copy.
    std::io::copy(&mut binary, &mut file)
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
