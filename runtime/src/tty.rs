//! The container's terminal: a pty opened inside the container (from its own
//! devpts instance), whose master end is handed to the caller over a unix
//! socket with SCM_RIGHTS, exactly as runc's `--console-socket` does; the
//! peer becomes the process's controlling terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::OFlag;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::error::{Context, Result};
use crate::sys;

/// Opens a new pty in the current mount namespace; returns (master, peer).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let raw = nix::fcntl::open(
        "/dev/ptmx",
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "cannot open /dev/ptmx (is devpts mounted at /dev/pts?)".into())?;
    // SAFETY: open just returned this descriptor and nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(raw) };
    sys::unlock_pty(master.as_raw_fd()).context(|| "cannot unlock the pty".into())?;
    let peer =
        sys::open_pty_peer(master.as_raw_fd()).context(|| "cannot open the pty peer".into())?;
    // SAFETY: the ioctl just returned this descriptor and nothing else owns it.
    Ok((master, unsafe { OwnedFd::from_raw_fd(peer) }))
}

/// Sends `fd` over the connected unix socket `socket`, with `name` as data.
pub fn send_fd(socket: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let fds = [fd];
    let control = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(socket, &iov, &control, MsgFlags::empty(), None)
        .context(|| "cannot send the pty master over the console socket".into())?;
    Ok(())
}

/// Makes `peer` the controlling terminal and stdin/stdout/stderr.
pub fn become_console(peer: &OwnedFd) -> Result<()> {
    sys::set_controlling_tty(peer.as_raw_fd())
        .context(|| "cannot set the controlling terminal".into())?;
    for target in 0..=2 {
        nix::unistd::dup2(peer.as_raw_fd(), target)
            .context(|| "cannot attach stdio to the pty".into())?;
    }
    Ok(())
}
