//! Parent ⇄ child messages during container setup.
//!
//! The CLI (parent) and the processes it forks talk over a `SOCK_SEQPACKET`
//! socket pair, one JSON message per packet. The setup child asks the parent
//! for the things only the runtime's side can do (writing id maps with the
//! setuid helpers, running `createRuntime` hooks) and reports either `Ready`
//! or one `Failed` line; the parent answers with `Proceed`. A closed socket
//! without `Ready` means the child died.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Result};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub enum Message {
    /// Child → parent: write my uid/gid maps, then answer `Proceed`.
    NeedIdMaps,
    /// Child → parent: this is the host pid of the container's init.
    InitPid(i32),
    /// Child → parent: run the `prestart`/`createRuntime` hooks, then `Proceed`.
    RunCreateRuntimeHooks,
    /// Child → parent: setup is done; waiting for start.
    Ready,
    /// Child → parent: setup failed; the process will exit.
    Failed { message: String, exit_code: i32 },
    /// Parent → child: go on (with the host pid of the init when known).
    Proceed { pid: i32 },
}

/// One end of the setup channel.
pub struct Channel {
    fd: OwnedFd,
}

/// Creates a connected pair of channels (both close-on-exec), numbered at
/// least `min_fd` so they never land in the `--preserve-fds` range.
pub fn channel_pair(min_fd: u32) -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context(|| "cannot create setup socket pair".into())?;
    Ok((
        Channel {
            fd: above(a, min_fd)?,
        },
        Channel {
            fd: above(b, min_fd)?,
        },
    ))
}

fn above(fd: OwnedFd, min_fd: u32) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min_fd as i32 {
        return Ok(fd);
    }
    let raw = nix::fcntl::fcntl(
        fd.as_raw_fd(),
        nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(min_fd as i32),
    )
    .context(|| "cannot move the setup socket".into())?;
    // SAFETY: fcntl just returned this new descriptor; nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

impl Channel {
    pub fn send(&self, message: &Message) -> Result<()> {
        let bytes =
            serde_json::to_vec(message).map_err(|e| crate::RuntimeError::Other(e.to_string()))?;
        send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .context(|| "cannot send setup message".into())?;
        Ok(())
    }

    /// Waits for the next message; `None` when the peer closed the channel.
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    return serde_json::from_slice(&buf[..n])
                        .map(Some)
                        .map_err(|e| crate::RuntimeError::Other(format!("bad setup message: {e}")))
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context(|| "cannot read setup message".into()),
            }
        }
    }

    /// Waits for `Proceed` and returns its pid; anything else is an error.
    pub fn wait_proceed(&self) -> Result<i32> {
        match self.recv()? {
            Some(Message::Proceed { pid }) => Ok(pid),
            other => Err(crate::RuntimeError::Other(format!(
                "setup: expected Proceed from the runtime, got {other:?}"
            ))),
        }
    }
}
