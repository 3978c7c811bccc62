//! Seccomp: compiles the `linux.seccomp` profile of an OCI bundle into a classic-BPF
//! program and installs it with `seccomp(2)`, without libseccomp.
//!
//! # Theory of operation
//!
//! [`compile`] first turns the profile into return values and rules, with runc's
//! semantics: `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` carry `errnoRet` (EPERM when absent),
//! rules whose return value equals the default action's are dropped, conditions on
//! distinct arguments are ANDed, and a rule naming the same argument twice becomes one
//! rule per condition. `SCMP_ACT_NOTIFY` is refused: there is no listener yet.
//!
//! The program has three levels, each ending in a `ret`:
//!
//! 1. **Arch dispatch**: load `seccomp_data.arch` and jump to the section of the matching
//!    `AUDIT_ARCH_*`. The native ABI (x86_64 or aarch64) always has a section; compat ABIs
//!    (x86 and x32 on x86_64, arm on aarch64) only when listed in `architectures`. Listed
//!    architectures of other machines can never reach the filter and are ignored. Any
//!    other arch gets `SECCOMP_RET_KILL_PROCESS`; runc gets libseccomp's default, kill
//!    *thread*, which can leave a process with missing threads behind.
//! 2. **Syscall dispatch**, per section: load `seccomp_data.nr` and test it against each
//!    syscall that has rules. On x86_64, numbers with the x32 bit (0x40000000) go to the
//!    x32 table when SCMP_ARCH_X32 is listed and are killed otherwise, so x86_64 rules
//!    never apply to x32 numbers. Syscalls whose only rule is unconditional are grouped
//!    by return value into runs of `jeq`s that share one `ret`; syscalls with argument
//!    conditions get a block of their own. Names an ABI does not have are skipped for
//!    that ABI, as runc does.
//! 3. **Rules**, per conditional syscall, in profile order: the first rule whose
//!    conditions all hold returns its action, and if none holds the default action is
//!    returned. (libseccomp orders overlapping rules by its own priorities instead, so
//!    profiles whose rules for one syscall overlap with different actions may differ.)
//!    A 64-bit comparison looks at the high words and, when they are equal, the low
//!    words; for 32-bit ABIs (x86, x32, arm) only the low word is compared, as libseccomp
//!    does.
//!
//! Classic-BPF conditional jumps reach at most 255 instructions ahead. The generator
//! writes labels and the assembler (`bpf.rs`) inserts `ja` trampolines where a branch is
//! longer, so any layout is correct; the layout keeps such branches rare. A profile
//! shaped like Docker's default (~450 names) is about 1,130 instructions on x86_64 with
//! x86 and x32, 730 on aarch64 with arm. Programs over `BPF_MAXINSNS` (4096) are refused
//! with [`SeccompError::TooLong`].
//!
//! [`SeccompProgram::install`] attaches the program with the `flags` of the profile. It
//! does not set `no_new_privs`: without it, installing needs `CAP_SYS_ADMIN`, and the
//! runtime decides the order of those steps.
//!
//! Unknown `SCMP_ARCH_*`, action, operator and flag strings never get here: oci-spec's
//! parser rejects them with `unknown variant …`. Not done yet: runc's ENOSYS stub for
//! syscalls newer than the profile (they get the default action), libseccomp's i386
//! `socketcall`/`ipc` multiplexing (a rule on `socket` does not cover
//! `socketcall(SYS_SOCKET)`), a binary-search syscall dispatch, and `SCMP_ACT_NOTIFY`.

#![deny(unsafe_code)]

mod actions;
mod arch;
mod bpf;
mod compile;
mod docker;
mod error;
#[allow(unsafe_code)]
mod sys;

#[cfg(test)]
mod tests;

use std::fmt;

pub use compile::compile;
pub use docker::DOCKER_BLOCKED;
pub use error::SeccompError;

/// A compiled filter, ready to be installed in the current process.
#[derive(Clone)]
pub struct SeccompProgram {
    instructions: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits passed to `seccomp(2)`.
    flags: libc::c_ulong,
}

impl SeccompProgram {
    /// Attaches the filter to the calling thread (every thread with TSYNC). The caller
    /// sets `no_new_privs` first unless it holds `CAP_SYS_ADMIN`. Allocates nothing on
    /// success, so it may run in a child between `fork` and `exec`.
    pub fn install(&self) -> Result<(), SeccompError> {
        sys::set_mode_filter(&self.instructions, self.flags)
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Never true for a compiled program (it has at least one `ret`); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }
}

impl fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeccompProgram")
            .field("instructions", &self.instructions.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}
