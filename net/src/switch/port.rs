//! The switch's unix socket, both ends. The socket is `SOCK_SEQPACKET`: the kernel keeps
//! message boundaries (one send = one frame, whole) and reports a peer that closed, so
//! the switch sees a port go away. Both ends are non-blocking; a sender that finds the
//! other side's queue full drops the frame, as a NIC does, and TCP retransmits.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr,
};

use super::SwitchError;

/// Each end asks for this much socket buffer (the kernel caps it at `wmem_max`): with
/// 64 KiB frames, the default buffer holds only a few frames in flight.
const SOCKET_BUFFER: usize = 4 << 20;

/// What one receive got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A frame of this many bytes is at the start of the buffer.
    Frame(usize),
    /// A frame longer than the buffer arrived and was discarded.
    Truncated,
    /// The other end is gone.
    Closed,
}

fn seqpacket_socket() -> io::Result<OwnedFd> {
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let _ = socket::setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
    let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
    Ok(fd)
}

/// Binds and listens on `path`. A socket file left by a switch that is gone is
/// replaced; one with a live switch behind it is an error.
pub(super) fn listen(path: &Path) -> Result<OwnedFd, SwitchError> {
    let bind_error = |error: io::Error| SwitchError::Bind {
        path: path.to_path_buf(),
        error,
    };
    let fd = seqpacket_socket().map_err(bind_error)?;
    let addr = UnixAddr::new(path).map_err(|e| bind_error(e.into()))?;
    match socket::bind(fd.as_raw_fd(), &addr) {
        Ok(()) => {}
        Err(Errno::EADDRINUSE) => {
            if SwitchPort::connect(path).is_ok() {
                return Err(SwitchError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(bind_error)?;
            socket::bind(fd.as_raw_fd(), &addr).map_err(|e| bind_error(e.into()))?;
        }
        Err(e) => return Err(bind_error(e.into())),
    }
    let backlog = Backlog::new(128).map_err(|e| bind_error(e.into()))?;
    socket::listen(&fd, backlog).map_err(|e| bind_error(e.into()))?;
    Ok(fd)
}

/// Accepts one pending connection; None when there is none.
pub(super) fn accept(listener: BorrowedFd<'_>) -> io::Result<Option<OwnedFd>> {
    match crate::sys::accept_nonblocking(listener) {
        Ok(fd) => {
            let _ = socket::setsockopt(&fd, sockopt::SndBuf, &SOCKET_BUFFER);
            let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &SOCKET_BUFFER);
            Ok(Some(fd))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sends one frame without blocking.
pub(super) fn send(fd: BorrowedFd<'_>, frame: &[u8]) -> io::Result<()> {
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
    loop {
        match socket::send(fd.as_raw_fd(), frame, flags) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether a send failed only because the other side cannot take the frame now (its
/// queue is full, or the kernel is short of buffers): the frame is dropped, the
/// connection stays.
pub fn is_congestion(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock
        || matches!(
            error.raw_os_error(),
            Some(libc::ENOBUFS) | Some(libc::EMSGSIZE)
        )
}

/// Receives one frame without blocking.
pub(super) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    // MSG_TRUNC: the real length of a frame that did not fit is returned.
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
    loop {
        return match socket::recv(fd.as_raw_fd(), buf, flags) {
            Ok(0) => Ok(Received::Closed),
            Ok(n) if n > buf.len() => Ok(Received::Truncated),
            Ok(n) => Ok(Received::Frame(n)),
            Err(Errno::EINTR) => continue,
            Err(Errno::ECONNRESET) => Ok(Received::Closed),
            Err(e) => Err(e.into()),
        };
    }
}

/// A container's connection to a switch: one datagram per frame, each a virtio-net
/// header ([`crate::tap::VNET_HDR_LEN`] bytes, as a tap with `IFF_VNET_HDR` gives it)
/// followed by the Ethernet frame. Non-blocking; register [`SwitchPort::as_raw_fd`]
/// with a poller for readability.
#[derive(Debug)]
pub struct SwitchPort {
    fd: OwnedFd,
}

impl SwitchPort {
    /// Connects to the switch listening on `path`.
    pub fn connect(path: &Path) -> Result<SwitchPort, SwitchError> {
        let connect_error = |error: io::Error| SwitchError::Connect {
            path: path.to_path_buf(),
            error,
        };
        let fd = seqpacket_socket().map_err(connect_error)?;
        let addr = UnixAddr::new(path).map_err(|e| connect_error(e.into()))?;
        socket::connect(fd.as_raw_fd(), &addr).map_err(|e| connect_error(e.into()))?;
        Ok(SwitchPort { fd })
    }

    /// Sends one frame (header included); `WouldBlock` means the switch is behind and
    /// the frame was not sent.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        send(self.fd.as_fd(), frame)
    }

    /// Receives one frame (header included); `WouldBlock` when none is waiting.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        recv(self.fd.as_fd(), buf)
    }
}

impl AsRawFd for SwitchPort {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for SwitchPort {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
