//! Real filters in the real kernel: each test forks, installs a filter in the child, makes
//! syscalls there and reports what it saw through its exit status.
//!
//! Between `fork` and `_exit` the child only makes raw syscalls (no allocation, no
//! locks), because the test harness is multi-threaded. `libc::syscall` is used instead
//! of the libc wrappers so no libc fallback can hide what the filter returned.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::panic::AssertUnwindSafe;

use libc::{c_long, c_ulong};
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use serde_json::json;

use super::long_profile::docker_like_json;
use super::profile;
use crate::seccomp::{compile, SeccompProgram};

/// Exit codes of the child before its own checks start.
const NO_NEW_PRIVS_FAILED: i32 = 100;
const INSTALL_FAILED: i32 = 101;
const PANICKED: i32 = 102;

/// Runs `body` in a forked child and returns how the child ended.
fn in_child(body: impl FnOnce() -> i32) -> WaitStatus {
    // SAFETY: the child runs `body`, which only makes raw syscalls, then `_exit`s; it never
    // returns into the harness or touches locks another thread may have held at fork.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(PANICKED);
            // SAFETY: `_exit` ends the child at once, without running the parent's
            // destructors or atexit handlers twice.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => waitpid(child, None).expect("waitpid"),
    }
}

/// Sets no_new_privs and installs `program` in the calling (child) process.
fn enter(program: &SeccompProgram) -> Result<(), i32> {
    nix::sys::prctl::set_no_new_privs().map_err(|_| NO_NEW_PRIVS_FAILED)?;
    program.install().map_err(|_| INSTALL_FAILED)
}

/// A raw syscall with three arguments: `Ok(return value)` or `Err(errno)`.
fn raw_syscall(nr: c_long, a: c_ulong, b: c_ulong, c: c_ulong) -> Result<c_long, Errno> {
    // SAFETY: callers only pass syscalls whose pointer arguments are null or point to
    // live buffers of the size they pass; the others take plain integers.
    let result = unsafe { libc::syscall(nr, a, b, c) };
    if result == -1 {
        Err(Errno::last())
    } else {
        Ok(result)
    }
}

fn expect_exit_zero(status: WaitStatus, steps: &[(i32, &str)]) {
    let WaitStatus::Exited(_, code) = status else {
        panic!("child did not exit normally: {status:?}");
    };
    let step = steps
        .iter()
        .find(|(number, _)| *number == code)
        .map_or("setup (see the exit codes in install.rs)", |(_, what)| what);
    assert_eq!(code, 0, "child failed at: {step}");
}

fn compile_json(json: serde_json::Value) -> SeccompProgram {
    compile(&profile(json)).expect("profile compiles")
}

#[test]
fn errno_rules_reach_the_process() {
    let program = compile_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
        ]
    }));
    let dir = tempfile::tempdir().expect("tempdir");
    let blocked = dir.path().join("blocked");
    let path = CString::new(blocked.as_os_str().as_bytes()).expect("path without NUL");
    let path_ptr = path.as_ptr() as c_ulong;
    let at_fdcwd = libc::AT_FDCWD as c_ulong;

    let status = in_child(|| {
        if let Err(code) = enter(&program) {
            return code;
        }
        if raw_syscall(libc::SYS_mkdirat, at_fdcwd, path_ptr, 0o700) != Err(Errno::EPERM) {
            return 1;
        }
        #[cfg(target_arch = "x86_64")]
        if raw_syscall(libc::SYS_mkdir, path_ptr, 0o700, 0) != Err(Errno::EPERM) {
            return 2;
        }
        let mut buffer = [0u8; 512];
        let buffer_ptr = buffer.as_mut_ptr() as c_ulong;
        if raw_syscall(libc::SYS_getcwd, buffer_ptr, buffer.len() as c_ulong, 0)
            != Err(Errno::ENOSYS)
        {
            return 3;
        }
        // Everything else is still allowed.
        if raw_syscall(libc::SYS_getppid, 0, 0, 0).is_err() {
            return 4;
        }
        0
    });
    expect_exit_zero(
        status,
        &[
            (NO_NEW_PRIVS_FAILED, "PR_SET_NO_NEW_PRIVS"),
            (INSTALL_FAILED, "installing the filter"),
            (1, "mkdirat did not fail with EPERM"),
            (2, "mkdir did not fail with EPERM"),
            (3, "getcwd did not fail with ENOSYS"),
            (4, "getppid was not allowed"),
        ],
    );
    assert!(!blocked.exists(), "the filter let mkdir through");
}

#[test]
fn the_kernel_accepts_a_docker_like_profile() {
    let architectures: &[&str] = if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    };
    let json = docker_like_json(architectures);
    let parsed = serde_json::from_str(&json).expect("profile parses");
    let program = compile(&parsed).expect("profile compiles");
    let status = in_child(|| {
        if let Err(code) = enter(&program) {
            return code;
        }
        if raw_syscall(libc::SYS_getppid, 0, 0, 0).is_err() {
            return 1;
        }
        // acct is not in the allow list: default action, EPERM.
        if raw_syscall(libc::SYS_acct, 0, 0, 0) != Err(Errno::EPERM) {
            return 2;
        }
        if raw_syscall(libc::SYS_clone3, 0, 0, 0) != Err(Errno::ENOSYS) {
            return 3;
        }
        let vsock = raw_syscall(libc::SYS_socket, 40, libc::SOCK_STREAM as c_ulong, 0);
        if vsock != Err(Errno::EPERM) {
            return 4;
        }
        match raw_syscall(libc::SYS_socket, libc::AF_UNIX as c_ulong, 1, 0) {
            Ok(fd) => {
                let _ = raw_syscall(libc::SYS_close, fd as c_ulong, 0, 0);
            }
            Err(_) => return 5,
        }
        0
    });
    expect_exit_zero(
        status,
        &[
            (NO_NEW_PRIVS_FAILED, "PR_SET_NO_NEW_PRIVS"),
            (
                INSTALL_FAILED,
                "installing the filter (kernel refused the program?)",
            ),
            (1, "getppid was not allowed"),
            (2, "acct did not fail with EPERM"),
            (3, "clone3 did not fail with ENOSYS"),
            (4, "socket(AF_VSOCK) did not fail with EPERM"),
            (5, "socket(AF_UNIX) was not allowed"),
        ],
    );
}

/// x32 syscalls can be made from any x86_64 process (the number carries the ABI), and
/// seccomp sees them before the kernel decides whether it supports x32 at all.
#[cfg(target_arch = "x86_64")]
#[test]
fn x32_syscalls_are_killed_unless_listed() {
    const X32: c_long = 0x4000_0000;
    let unlisted = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let status = in_child(|| {
        if let Err(code) = enter(&unlisted) {
            return code;
        }
        let _ = raw_syscall(libc::SYS_getppid | X32, 0, 0, 0);
        0
    });
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "x32 syscall was not killed: {status:?}"
    );

    let listed = compile_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 7},
            {"names": ["readv"], "action": "SCMP_ACT_ERRNO", "errnoRet": 8}
        ]
    }));
    let status = in_child(|| {
        if let Err(code) = enter(&listed) {
            return code;
        }
        if raw_syscall(libc::SYS_getppid | X32, 0, 0, 0) != Err(Errno::E2BIG) {
            return 1;
        }
        if raw_syscall(libc::SYS_readv, 0, 0, 0) != Err(Errno::ENOEXEC) {
            return 2;
        }
        // x32 readv is 515; x86_64's number 19 with the x32 bit is not readv and must
        // reach the kernel (which refuses it), not the readv rule.
        if raw_syscall(515 | X32, 0, 0, 0) != Err(Errno::ENOEXEC) {
            return 3;
        }
        if raw_syscall(libc::SYS_readv | X32, 0, 0, 0) != Err(Errno::ENOSYS) {
            return 4;
        }
        0
    });
    expect_exit_zero(
        status,
        &[
            (NO_NEW_PRIVS_FAILED, "PR_SET_NO_NEW_PRIVS"),
            (INSTALL_FAILED, "installing the filter with TSYNC|LOG"),
            (1, "x32 getppid did not get errno 7"),
            (2, "x86_64 readv did not get errno 8"),
            (3, "x32 readv (515) did not get errno 8"),
            (4, "x32 number 19 matched the x86_64 readv rule"),
        ],
    );
}

/// An i386 syscall through `int 0x80` from a 64-bit process reports AUDIT_ARCH_I386.
#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_are_killed_unless_listed() {
    const I386_GETPPID: u32 = 64;
    fn int80_getppid() -> u32 {
        let mut eax = I386_GETPPID;
        // SAFETY: `int 0x80` with eax = 64 is getppid in the i386 ABI, which reads no
        // memory. The 32-bit entry path may zero r8-r15, which are declared clobbered.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("eax") eax,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                options(nostack),
            );
        }
        eax
    }

    let unlisted = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let status = in_child(|| {
        if let Err(code) = enter(&unlisted) {
            return code;
        }
        int80_getppid();
        0
    });
    if matches!(status, WaitStatus::Signaled(_, Signal::SIGSEGV, _)) {
        eprintln!("skipped: this kernel has no i386 emulation (int 0x80 faults)");
        return;
    }
    assert!(
        matches!(status, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
        "i386 syscall was not killed: {status:?}"
    );

    let listed = compile_json(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 9}]
    }));
    let status = in_child(|| {
        if let Err(code) = enter(&listed) {
            return code;
        }
        // The i386 ABI returns -errno in eax.
        if int80_getppid() != (-9i32) as u32 {
            return 1;
        }
        0
    });
    expect_exit_zero(
        status,
        &[
            (INSTALL_FAILED, "installing the filter"),
            (1, "i386 getppid did not get errno 9"),
        ],
    );
}

#[test]
fn install_reports_the_kernel_error() {
    // No no_new_privs in this child: root with CAP_SYS_ADMIN may still install; anyone
    // else must get EACCES with a hint.
    let program = compile_json(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    let status = in_child(|| match program.install() {
        Ok(()) => 0,
        Err(crate::seccomp::SeccompError::Install {
            errno: Errno::EACCES,
            ..
        }) => 1,
        Err(_) => 2,
    });
    let privileged = caps::has_cap(
        None,
        caps::CapSet::Effective,
        caps::Capability::CAP_SYS_ADMIN,
    )
    .unwrap_or(false);
    let expected = if privileged { 0 } else { 1 };
    assert!(
        matches!(status, WaitStatus::Exited(_, code) if code == expected),
        "expected exit {expected} (0: installed, 1: EACCES, 2: other error), got {status:?}"
    );
}
