//! The few raw system calls of the crate, behind safe functions: the fork into the
//! container's namespaces that creates the tap device, passing its fd back with
//! SCM_RIGHTS, and tap I/O and ioctls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::netlink::{self, Request};

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
const TUN_F_CSUM: libc::c_uint = 0x01;
const IFREQ_LEN: usize = 40;

/// Steps of the child, for error messages; requests follow at `FIRST_REQUEST_STEP`.
pub(crate) const STEP_NAMES: [&str; 7] = [
    "join the user namespace",
    "join the network namespace",
    "open /dev/net/tun",
    "create the tap device (TUNSETIFF)",
    "open a socket in the namespace",
    "look up the tap device's index",
    "open a netlink socket",
];
pub(crate) const FIRST_REQUEST_STEP: i32 = 16;
const STEP_SEND_FD: i32 = 15;

/// What the forked child does, all prepared before the fork.
pub(crate) struct ChildSetup<'a> {
    pub user_ns: Option<BorrowedFd<'a>>,
    pub net_ns: BorrowedFd<'a>,
    pub ifreq: [u8; IFREQ_LEN],
    pub requests: &'a mut [Request],
    /// Keep the child as a socket factory inside the namespace ([`NsChannel`]).
    pub serve_sockets: bool,
    /// The device named in `ifreq` exists already: the child only runs the
    /// requests on it and reports success without an fd.
    pub existing_device: bool,
}

/// The forked child kept alive inside the container's namespaces: it opens TCP
/// connections to the namespace's loopback on request and passes their fds back. Dropping
/// the channel ends the child (its request read returns EOF) and reaps it.
#[derive(Debug)]
pub struct NsChannel {
    channel: OwnedFd,
    pid: libc::pid_t,
}

impl NsChannel {
    /// A non-blocking TCP socket connecting (possibly still in progress) to
    /// 127.0.0.1:`port` inside the namespace.
    pub fn connect_loopback_tcp(&self, port: u16) -> io::Result<OwnedFd> {
        let request = [port.to_be_bytes()[0], port.to_be_bytes()[1], 0, 0];
        // SAFETY: request is 4 readable bytes; the channel is open.
        let sent = unsafe {
            libc::send(
                self.channel.as_raw_fd(),
                request.as_ptr().cast(),
                request.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        match receive_result(self.channel.as_raw_fd())? {
            Ok(fd) => Ok(fd),
            Err((_, errno)) => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

impl Drop for NsChannel {
    fn drop(&mut self) {
        // SAFETY: shutdown on an open fd; the child sees EOF and exits.
        unsafe { libc::shutdown(self.channel.as_raw_fd(), libc::SHUT_RDWR) };
        let mut status = 0;
        // SAFETY: pid is our child, reaped only here; status is a valid int.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// An `ifreq` naming a tap device with `IFF_NO_PI` (and `IFF_VNET_HDR`).
pub(crate) fn tap_ifreq(name: &str, vnet_hdr: bool) -> [u8; IFREQ_LEN] {
    let mut ifreq = [0u8; IFREQ_LEN];
    let len = name.len().min(libc::IFNAMSIZ - 1);
    ifreq[..len].copy_from_slice(&name.as_bytes()[..len]);
    let mut flags = IFF_TAP | IFF_NO_PI;
    if vnet_hdr {
        flags |= IFF_VNET_HDR;
    }
    ifreq[libc::IFNAMSIZ..libc::IFNAMSIZ + 2].copy_from_slice(&flags.to_ne_bytes());
    ifreq
}

/// Failure of one step in the child: (step, errno).
pub(crate) type ChildFailure = (i32, i32);

/// Forks a child that joins the namespaces, creates and configures the tap device and
/// sends its fd back; waits for it. Safe to call from a multi-threaded process: the
/// child makes only async-signal-safe calls on memory prepared before the fork.
pub(crate) fn create_tap_in_namespaces(
    setup: ChildSetup<'_>,
) -> io::Result<Result<(OwnedFd, Option<NsChannel>), ChildFailure>> {
    let serve = setup.serve_sockets;
    let (parent_end, pid) = fork_child(setup)?;
    let received = receive_result(parent_end.as_raw_fd());
    if serve && matches!(received, Ok(Ok(_))) {
        let channel = NsChannel {
            channel: parent_end,
            pid,
        };
        return received.map(|r| r.map(|fd| (fd, Some(channel))));
    }
    drop(parent_end);
    reap(pid);
    received.map(|r| r.map(|fd| (fd, None)))
}

/// Forks a child that joins the namespaces and runs `setup.requests` on the
/// existing device named in `setup.ifreq`; waits for it.
pub(crate) fn configure_device_in_namespaces(
    mut setup: ChildSetup<'_>,
) -> io::Result<Result<(), ChildFailure>> {
    setup.existing_device = true;
    setup.serve_sockets = false;
    let (parent_end, pid) = fork_child(setup)?;
    let mut message = [0i32; 2];
    // SAFETY: message is 8 writable bytes; the socket is open.
    let n = unsafe { libc::recv(parent_end.as_raw_fd(), message.as_mut_ptr().cast(), 8, 0) };
    let received = match n {
        8 => Ok(match message {
            [0, 0] => Ok(()),
            [step, errno] => Err((step, errno)),
        }),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the namespace helper died without reporting",
        )),
    };
    reap(pid);
    received
}

/// Forks the child of `setup` ([`child_main`]); returns our end of the
/// socket it reports on, and its pid.
fn fork_child(setup: ChildSetup<'_>) -> io::Result<(OwnedFd, libc::pid_t)> {
    let mut pair = [0 as RawFd; 2];
    // SAFETY: `pair` is a valid array of two ints for socketpair to fill.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded, so both fds are open and owned by nobody else.
    let (parent_end, child_end) =
        unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    // SAFETY: fork has no memory-safety preconditions; the child below only makes
    // async-signal-safe system calls on memory prepared before the fork and leaves by
    // _exit, so locks held by other threads of the parent do not matter.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: we are the forked child; see `child_main`.
        unsafe { child_main(setup, child_end.as_raw_fd()) }
    }
    Ok((parent_end, pid))
}

/// Waits for the child `pid` to end.
fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: pid is our child, reaped only here; status is a valid int.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// The child after fork: never returns.
///
/// # Safety
/// Must only be called in a freshly forked child; makes only async-signal-safe calls.
unsafe fn child_main(setup: ChildSetup<'_>, report_fd: RawFd) -> ! {
    let fail = |step: i32| -> ! {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        let message = [step, errno];
        // SAFETY: message is 8 readable bytes; _exit ends the child without unwinding.
        unsafe {
            libc::send(report_fd, message.as_ptr().cast(), 8, 0);
            libc::_exit(1)
        }
    };
    // SAFETY: plain system calls on fds that are open in this process and on buffers
    // owned by `setup` or this stack frame, each sized as passed.
    unsafe {
        // Never outlive the stack that asked for us.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if let Some(user_ns) = setup.user_ns {
            if libc::setns(user_ns.as_raw_fd(), libc::CLONE_NEWUSER) < 0 {
                fail(0);
            }
        }
        if libc::setns(setup.net_ns.as_raw_fd(), libc::CLONE_NEWNET) < 0 {
            fail(1);
        }
        let mut ifreq = setup.ifreq;
        let tun = match setup.existing_device {
            true => -1,
            false => libc::open(
                c"/dev/net/tun".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            ),
        };
        if tun < 0 && !setup.existing_device {
            fail(2);
        }
        if tun >= 0 && libc::ioctl(tun, TUNSETIFF, ifreq.as_mut_ptr()) < 0 {
            fail(3);
        }
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            fail(4);
        }
        let mut index_req = [0u8; IFREQ_LEN];
        index_req[..libc::IFNAMSIZ].copy_from_slice(&ifreq[..libc::IFNAMSIZ]);
        if libc::ioctl(sock, libc::SIOCGIFINDEX, index_req.as_mut_ptr()) < 0 {
            fail(5);
        }
        let ifindex =
            u32::from_ne_bytes([index_req[16], index_req[17], index_req[18], index_req[19]]);
        let nl = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        );
        if nl < 0 {
            fail(6);
        }
        let mut reply = [0u8; 512];
        for (i, request) in setup.requests.iter_mut().enumerate() {
            let step = FIRST_REQUEST_STEP + i as i32;
            request.set_ifindex(ifindex);
            let bytes = request.bytes();
            if libc::send(nl, bytes.as_ptr().cast(), bytes.len(), 0) < 0 {
                fail(step);
            }
            let n = libc::recv(nl, reply.as_mut_ptr().cast(), reply.len(), 0);
            if n < 0 {
                fail(step);
            }
            match netlink::ack_errno(&reply[..n as usize]) {
                Some(0) => {}
                Some(errno) => {
                    *libc::__errno_location() = errno;
                    fail(step);
                }
                None => {
                    *libc::__errno_location() = libc::EPROTO;
                    fail(step);
                }
            }
        }
        if setup.existing_device {
            let done = [0i32, 0i32];
            libc::send(report_fd, done.as_ptr().cast(), 8, 0);
            libc::_exit(0)
        }
        if send_fd(report_fd, tun) < 0 {
            fail(STEP_SEND_FD);
        }
        libc::close(tun);
        if setup.serve_sockets {
            serve_sockets(report_fd);
        }
        libc::_exit(0)
    }
}

/// The socket factory loop of the kept child (see [`NsChannel`]). Async-signal-safe.
///
/// # Safety
/// Must only be called in the forked child; `channel` must be open.
unsafe fn serve_sockets(channel: RawFd) {
    let mut request = [0u8; 4];
    // SAFETY: plain system calls on `channel` and on buffers of this frame, each
    // sized as passed; sockaddr_in is plain data.
    unsafe {
        loop {
            let n = libc::recv(channel, request.as_mut_ptr().cast(), request.len(), 0);
            if n <= 0 {
                return;
            }
            let port = u16::from_be_bytes([request[0], request[1]]);
            let fd = libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            );
            let mut failure = if fd < 0 { Some(errno()) } else { None };
            if failure.is_none() {
                let mut addr: libc::sockaddr_in = std::mem::zeroed();
                addr.sin_family = libc::AF_INET as libc::sa_family_t;
                addr.sin_port = port.to_be();
                addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
                let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                if libc::connect(fd, (&raw const addr).cast(), len) < 0
                    && errno() != libc::EINPROGRESS
                {
                    failure = Some(errno());
                }
            }
            match failure {
                None => {
                    send_fd(channel, fd);
                }
                Some(error) => {
                    let message = [1i32, error];
                    libc::send(channel, message.as_ptr().cast(), 8, libc::MSG_NOSIGNAL);
                }
            }
            if fd >= 0 {
                libc::close(fd);
            }
        }
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Sends `fd` with an all-zero status message. Async-signal-safe.
///
/// # Safety
/// `socket` and `fd` must be open file descriptors.
unsafe fn send_fd(socket: RawFd, fd: RawFd) -> isize {
    #[repr(C)]
    struct CmsgBuffer {
        _align: [u64; 0],
        bytes: [u8; 64],
    }
    let message = [0i32, 0i32];
    let mut iov = libc::iovec {
        iov_base: message.as_ptr() as *mut libc::c_void,
        iov_len: 8,
    };
    let mut control = CmsgBuffer {
        _align: [],
        bytes: [0; 64],
    };
    // SAFETY: msghdr is plain data; every pointer set below points into this frame and
    // the lengths match the buffers; the CMSG macros stay within `control`, which is
    // CMSG_SPACE(4) <= 64 bytes and 8-byte aligned.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.bytes.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(socket, &msg, 0)
    }
}

/// Reads the child's report: the tap fd, or the failed step and errno.
fn receive_result(socket: RawFd) -> io::Result<Result<OwnedFd, ChildFailure>> {
    #[repr(C)]
    struct CmsgBuffer {
        _align: [u64; 0],
        bytes: [u8; 64],
    }
    let mut message = [0i32; 2];
    let mut iov = libc::iovec {
        iov_base: message.as_mut_ptr().cast(),
        iov_len: 8,
    };
    let mut control = CmsgBuffer {
        _align: [],
        bytes: [0; 64],
    };
    // SAFETY: as in send_fd: the msghdr points at `iov` and `control` in this frame with
    // their true lengths; the kernel writes at most those lengths. A received fd is new
    // in this process and owned by nobody else (MSG_CMSG_CLOEXEC).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.bytes.as_mut_ptr().cast();
        msg.msg_controllen = control.bytes.len();
        let n = libc::recvmsg(socket, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n < 8 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the namespace helper died without reporting",
            ));
        }
        if message[0] != 0 || message[1] != 0 {
            return Ok(Err((message[0], message[1])));
        }
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the namespace helper sent no fd",
            ));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
        Ok(Ok(OwnedFd::from_raw_fd(fd)))
    }
}

/// Turns on checksum offload on a tap opened with `IFF_VNET_HDR`: the container's
/// kernel then leaves TCP/UDP checksums to the device (the stack, which needs none).
pub(crate) fn enable_checksum_offload(tap: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes an unsigned int by value; the fd is open.
    if unsafe { libc::ioctl(tap.as_raw_fd(), TUNSETOFFLOAD, TUN_F_CSUM) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// read(2) on a non-blocking fd.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of buf.len() bytes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// write(2) on a non-blocking fd.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for reads of buf.len() bytes.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// (device, inode) of an open namespace file, to tell whether two are the same.
pub(crate) fn file_identity(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data filled by fstat.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open and `stat` is a valid buffer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut stat) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((stat.st_dev, stat.st_ino))
}

/// A pidfd for `pid`, readable when the process exits.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// An unprivileged ICMP ("ping") socket for IPv4, if `net.ipv4.ping_group_range`
/// allows this process's group.
pub(crate) fn ping_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes plain integers.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just created and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes glibc serve allocations of 64 KiB and more (TCP socket buffers, tap frame
/// buffers) with fresh mmap'ed pages, always: they come zeroed without a memset and
/// only touched pages cost memory (an idle container's few frame buffers stay a
/// page or two each instead of 64 KiB). By default glibc raises this threshold after the first such block is
/// freed, and every new connection then zeroes its buffers by hand (about a fourth of
/// the time of a short connection). Process-wide; harmless elsewhere.
pub(crate) fn fresh_pages_for_large_allocations() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; it is thread-safe in glibc.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 * 1024);
    }
}

/// accept4(2) on a non-blocking listening socket; the new socket is non-blocking and
/// close-on-exec.
pub(crate) fn accept_nonblocking(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: null address pointers are allowed (the peer address is not wanted); the
    // listener fd is open for the duration of the borrow.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: accept4 returned a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
