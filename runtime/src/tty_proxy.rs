//! Being the console of a foreground container: receive the pty master,
//! put our terminal in raw mode, and copy bytes both ways until the
//! container's init exits.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result, RuntimeError};

/// Receives one descriptor sent with SCM_RIGHTS on `stream`.
pub fn receive_fd(stream: &UnixStream) -> Result<OwnedFd> {
    let mut data = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .context(|| "cannot receive the pty master".into())?;
    for cmsg in msg.cmsgs().context(|| "bad control message".into())? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(RuntimeError::Other(
        "console socket: no descriptor received".into(),
    ))
}

/// Restores the terminal mode when dropped.
struct RawMode {
    saved: Option<nix::sys::termios::Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// Copies stdin → master and master → stdout until `pid` exits; its exit code.
pub fn proxy_until_exit(master: &OwnedFd, pid: i32) -> Result<i32> {
    if let Ok((rows, cols)) = crate::sys::window_size(std::io::stdin().as_raw_fd()) {
        let _ = crate::sys::set_window_size(master.as_raw_fd(), rows, cols);
    }
    let _raw = RawMode::enter();
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if let Some(code) = reap(pid, WaitPidFlag::WNOHANG)? {
            drain(master, &mut buf);
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::from(100u8)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context(|| "poll failed".into()),
        }
        let master_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let stdin_ready = stdin_open
            && fds
                .get(1)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty());
        drop(fds);
        if master_ready && !copy_once(master, std::io::stdout().as_fd(), &mut buf) {
            // The pty's last user closed it: the process is exiting.
            return Ok(reap(pid, WaitPidFlag::empty())?.unwrap_or(0));
        }
        if stdin_ready && !copy_once(stdin.as_fd(), master.as_fd(), &mut buf) {
            stdin_open = false;
        }
    }
}

fn drain(master: &OwnedFd, buf: &mut [u8]) {
    let _ = nix::fcntl::fcntl(
        master.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while copy_once(master, std::io::stdout().as_fd(), buf) {}
}

/// One read + full write; false at EOF or error.
fn copy_once(from: impl AsFd, to: impl AsFd, buf: &mut [u8]) -> bool {
    let n = match nix::unistd::read(from.as_fd().as_raw_fd(), buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    let mut written = 0;
    while written < n {
        match nix::unistd::write(to.as_fd(), &buf[written..n]) {
            Ok(w) => written += w,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

fn reap(pid: i32, flags: WaitPidFlag) -> Result<Option<i32>> {
    loop {
        match waitpid(Pid::from_raw(pid), Some(flags)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(|| format!("cannot wait for pid {pid}")),
        }
    }
}
