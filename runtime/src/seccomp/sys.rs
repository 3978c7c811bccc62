//! The one raw syscall of this module: `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`.
//! Neither libc nor nix wraps it.

use libc::{c_long, c_ulong, sock_filter, sock_fprog};
use nix::errno::Errno;

use super::SeccompError;

/// Attaches `filter` to the calling thread (to every thread with
/// `SECCOMP_FILTER_FLAG_TSYNC`). Allocates nothing on success, so it may run between
/// `fork` and `exec`.
pub(crate) fn set_mode_filter(filter: &[sock_filter], flags: c_ulong) -> Result<(), SeccompError> {
    let too_long = || SeccompError::TooLong {
        len: filter.len(),
        max: super::bpf::MAX_INSTRUCTIONS,
    };
    let len = u16::try_from(filter.len()).map_err(|_| too_long())?;
    let program = sock_fprog {
        len,
        // The kernel copies the program and never writes through this pointer.
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `program` describes `len` initialised `sock_filter`s borrowed from `filter`,
    // both alive for the whole call; SECCOMP_SET_MODE_FILTER only reads them and takes
    // exactly (operation, flags, pointer to sock_fprog) as arguments.
    let result: c_long = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            &program as *const sock_fprog,
        )
    };
    match result {
        0 => Ok(()),
        tid if tid > 0 => Err(SeccompError::ThreadSync { tid }),
        _ => {
            let errno = Errno::last();
            Err(SeccompError::Install {
                errno,
                hint: hint_for(errno),
            })
        }
    }
}

fn hint_for(errno: Errno) -> &'static str {
    match errno {
        Errno::EACCES => " (set no_new_privs first, or hold CAP_SYS_ADMIN)",
        Errno::EINVAL => " (a flag, action or instruction this kernel does not support)",
        Errno::ENOMEM => " (the filters attached to this process exceed the kernel limit)",
        _ => "",
    }
}
