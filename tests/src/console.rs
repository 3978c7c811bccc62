//! The receiving end of `--console-socket`, as podman's conmon implements it.
//!
//! The test listens on a unix socket in its sandbox; the runtime connects during `create`
//! (or `run --detach`, `exec --detach --tty`) and sends the pty master with SCM_RIGHTS. A
//! background thread accepts one connection and receives the fd, so the runtime is never
//! blocked on the test. Reading the master afterwards returns what the container wrote to
//! its terminal, until EIO once every slave fd is closed.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::fsutil;
use crate::names::unique_name;
use crate::sandbox::Sandbox;

/// A listening console socket and the thread waiting for the pty master.
pub struct ConsoleSocket {
    path: PathBuf,
    receiver: Option<JoinHandle<Result<OwnedFd, String>>>,
}

impl ConsoleSocket {
    /// Listens on a new socket in the sandbox, connectable by the test user; gives up
    /// waiting for the runtime after `timeout`.
    pub fn listen(sandbox: &Sandbox, timeout: Duration) -> ConsoleSocket {
        let path = sandbox
            .dir()
            .join(format!("{}.sock", unique_name("console")));
        let listener = UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("cannot listen on {}: {e}", path.display()));
        fsutil::set_mode(&path, 0o777);
        fsutil::give_to_user(&path, sandbox.user());
        let receiver = std::thread::spawn(move || receive_master(listener, timeout));
        ConsoleSocket {
            path,
            receiver: Some(receiver),
        }
    }

    /// What `--console-socket` takes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the runtime sent; fails the test if none arrived in time.
    #[track_caller]
    pub fn master(mut self) -> OwnedFd {
        let receiver = self.receiver.take().expect("master() is called once");
        match receiver.join() {
            Ok(Ok(fd)) => fd,
            Ok(Err(message)) => panic!("console socket {}: {message}", self.path.display()),
            Err(_) => panic!("console socket thread panicked"),
        }
    }
}

fn receive_master(listener: UnixListener, timeout: Duration) -> Result<OwnedFd, String> {
    let deadline = Instant::now() + timeout;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(format!("the runtime did not connect within {timeout:?}"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    stream
        .set_nonblocking(false)
        .map_err(|e| format!("set_nonblocking: {e}"))?;
    let remaining = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream
        .set_read_timeout(Some(remaining))
        .map_err(|e| format!("set_read_timeout: {e}"))?;
    receive_fd(&stream).map_err(|e| format!("receiving the pty master: {e}"))
}

/// Receives one fd sent with SCM_RIGHTS (close-on-exec in this process); extra fds in the
/// same message are closed.
pub fn receive_fd(stream: &UnixStream) -> io::Result<OwnedFd> {
    let mut payload = [0u8; 4096];
    // Room for a few fds; u64 elements keep the buffer aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data for which all-zero bytes are a valid (empty) value.
    let mut message: libc::msghdr = unsafe { mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = mem::size_of_val(&control);
    // SAFETY: `message` points at `iov` and `control`, which outlive the call and whose
    // lengths are the ones given; recvmsg writes only within them.
    let received =
        unsafe { libc::recvmsg(stream.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds: Vec<OwnedFd> = Vec::new();
    // SAFETY: `message` was filled by a successful recvmsg; CMSG_FIRSTHDR/CMSG_NXTHDR walk
    // the control buffer within msg_controllen and return null at its end.
    let mut header = unsafe { libc::CMSG_FIRSTHDR(&message) };
    while !header.is_null() {
        // SAFETY: `header` is non-null and points into `control`, as CMSG_FIRSTHDR/NXTHDR
        // guarantee.
        let cmsg = unsafe { &*header };
        if cmsg.cmsg_level == libc::SOL_SOCKET && cmsg.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN(0) is a pure computation of the header size.
            let data_len = cmsg.cmsg_len as usize - unsafe { libc::CMSG_LEN(0) } as usize;
            let count = data_len / mem::size_of::<RawFd>();
            // SAFETY: an SCM_RIGHTS payload is `count` ints right after the header.
            let data = unsafe { libc::CMSG_DATA(header) }.cast::<RawFd>();
            for i in 0..count {
                // SAFETY: `i < count`, within the payload; read_unaligned because the data
                // need not be aligned for RawFd. The kernel just installed these fds in
                // this process and nothing else owns them.
                fds.push(unsafe { OwnedFd::from_raw_fd(data.add(i).read_unaligned()) });
            }
        }
        // SAFETY: same as CMSG_FIRSTHDR above.
        header = unsafe { libc::CMSG_NXTHDR(&message, header) };
    }
    if message.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("control message truncated"));
    }
    fds.into_iter()
        .next()
        .ok_or_else(|| io::Error::other(format!("a message of {received} bytes without an fd")))
}

/// Reads from a pty master until every slave is closed (EIO) or the peer hangs up.
/// Panics after `timeout` with what was read.
#[track_caller]
pub fn read_until_closed(master: &OwnedFd, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            panic!(
                "the pty stayed open for {timeout:?}; read so far: {:?}",
                String::from_utf8_lossy(&out)
            );
        }
        if !wait_readable(master.as_raw_fd(), remaining) {
            continue;
        }
        let mut buffer = [0u8; 4096];
        // SAFETY: reads at most buffer.len() bytes into `buffer`, which outlives the call.
        let n = unsafe { libc::read(master.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        match n {
            0 => return out,
            n if n > 0 => out.extend_from_slice(&buffer[..n as usize]),
            _ => {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EIO) => return out,
                    Some(libc::EINTR) | Some(libc::EAGAIN) => continue,
                    _ => panic!("reading the pty master: {error}"),
                }
            }
        }
    }
}

/// Writes all of `bytes` to the pty master (e.g. input for the container).
pub fn write_all(master: &OwnedFd, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writes at most rest.len() bytes from `rest`, which outlives the call.
        let n = unsafe { libc::write(master.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
        if n < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            panic!("writing to the pty master: {error}");
        }
        rest = &rest[n as usize..];
    }
}

fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: polls one pollfd that lives on this stack frame for the call's duration.
    let ready = unsafe { libc::poll(&mut poll, 1, millis) };
    ready > 0
}
