//! Thin wrappers around the few system calls that `nix` does not cover the way
//! the runtime needs them. Every unsafe block is here, each with its reason.

use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::unistd::Pid;

/// What a fork-like `clone` returned to the caller.
pub enum CloneResult {
    Parent(Pid),
    Child,
}

/// `clone(2)` without a new stack: like `fork`, but with namespace flags and
/// `CLONE_PARENT`. The process must be single-threaded (the CLI is).
pub fn fork_with_flags(flags: libc::c_long) -> nix::Result<CloneResult> {
    // SAFETY: no CLONE_VM, so the child gets a copy of this (single-threaded)
    // address space and continues on its own copy of the stack, as with fork(2).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_long,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Marks every descriptor from `first` upwards close-on-exec.
pub fn cloexec_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only changes descriptor flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Closes every descriptor from `first` upwards.
pub fn close_from(first: u32) -> nix::Result<()> {
    // SAFETY: close_range only closes descriptors; callers own nothing above `first`.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    Errno::result(ret).map(drop)
}

/// Clears close-on-exec on one descriptor (for `--preserve-fds`).
pub fn clear_cloexec(fd: RawFd) -> nix::Result<()> {
    // SAFETY: F_GETFD/F_SETFD on an integer descriptor touch only its flags.
    let flags = Errno::result(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// Immediately ends the calling process without running destructors or atexit
/// handlers: the only correct way out of a forked child.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `setdomainname(2)`, which nix does not wrap.
pub fn set_domainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, read only.
    let ret = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    Errno::result(ret).map(drop)
}

/// `umask(2)`.
pub fn set_umask(mask: u32) {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Makes `fd` the controlling terminal of the calling (session leader) process.
pub fn set_controlling_tty(fd: RawFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument; fd is a terminal we opened.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) };
    Errno::result(ret).map(drop)
}

/// Sets the window size of terminal `fd`.
pub fn set_window_size(fd: RawFd, rows: u16, cols: u16) -> nix::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct that outlives the call.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &size) };
    Errno::result(ret).map(drop)
}

/// Reads the window size of terminal `fd`.
pub fn window_size(fd: RawFd) -> nix::Result<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct we own.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) };
    Errno::result(ret).map(|_| (size.ws_row, size.ws_col))
}

/// Opens the peer (slave) side of pty master `master` (TIOCGPTPEER).
pub fn open_pty_peer(master: RawFd) -> nix::Result<RawFd> {
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor.
    let ret = unsafe {
        libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    Errno::result(ret)
}

/// Unlocks pty master `master` so its peer can be opened.
pub fn unlock_pty(master: RawFd) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int that outlives the call.
    let ret = unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock) };
    Errno::result(ret).map(drop)
}

/// Sends one signal to `pid`; a thin wrapper so callers need no unsafe.
pub fn send_signal(pid: i32, signal: i32) -> nix::Result<()> {
    // SAFETY: kill(2) has no memory effects.
    Errno::result(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// The parent of the user namespace `ns` (`NS_GET_PARENT`), as a new descriptor.
pub fn parent_user_namespace(ns: &impl std::os::fd::AsFd) -> nix::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    const NS_GET_PARENT: libc::c_ulong = 0xb702; // _IO(0xb7, 0x2)
                                                 // SAFETY: the ioctl takes no argument and returns a new descriptor or -1.
    let fd = Errno::result(unsafe { libc::ioctl(ns.as_fd().as_raw_fd(), NS_GET_PARENT) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
