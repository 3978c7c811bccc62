//! The errors of compiling and installing a seccomp filter.

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile uses something burrow does not implement yet.
    #[error("seccomp: {0}")]
    Unsupported(String),

    /// `args[].index` is not one of the six syscall arguments.
    #[error("seccomp argument index {index} in the rule for {syscalls} is out of range (0-5)")]
    ArgIndexOutOfRange { syscalls: String, index: usize },

    /// `errnoRet`/`defaultErrnoRet` does not fit `SECCOMP_RET_DATA`.
    #[error("seccomp errnoRet {value} in {origin} does not fit the 16-bit SECCOMP_RET_DATA field")]
    ReturnDataOutOfRange { origin: String, value: u32 },

    /// The compiled program is longer than the kernel accepts.
    #[error(
        "seccomp profile compiles to {len} BPF instructions, more than the kernel limit of \
         {max} (BPF_MAXINSNS); use fewer rules or argument conditions"
    )]
    TooLong { len: usize, max: usize },

    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed.
    #[error("failed to install seccomp filter: {errno}{hint}")]
    Install { errno: Errno, hint: &'static str },

    /// `SECCOMP_FILTER_FLAG_TSYNC` failed: another thread has a diverging filter.
    #[error("failed to install seccomp filter: thread {tid} cannot be synchronized (SECCOMP_FILTER_FLAG_TSYNC)")]
    ThreadSync { tid: libc::c_long },

    /// A bug in burrow's BPF generator, never a problem with the profile.
    #[error("seccomp BPF generator bug: {0}")]
    Internal(&'static str),
}
