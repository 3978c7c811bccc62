//! A container made of a smoltcp interface, on the other end of a socket pair that the
//! stack takes for its tap device; the test drives both sides step by step. Host-side
//! peers are servers of the test's own on 127.0.0.1 (the gateway is the host's
//! loopback here), and [`Harness::inject`] drops every crafted frame that would make the
//! stack open a host socket to anything else, so no test traffic leaves the machine or
//! reaches another program's port.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use burrow_net::frame::{self, Frame};
use burrow_net::policy::{self, Transport, Verdict};
use burrow_net::{NetConfig, Stack, Tap};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

pub const VNET_HDR_LEN: usize = 10;
pub const MTU: u32 = 1500;
pub const CONTAINER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);

/// The container's end of the socket pair, as a smoltcp device. Frames carry an
/// all-zero virtio-net header; checksums of received frames are not verified (the
/// stack sends TCP/UDP checksum-partial, as to a real tap).
pub struct FrameFd {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl FrameFd {
    pub fn send(&self, frame: &[u8]) -> bool {
        let mut out = vec![0u8; VNET_HDR_LEN + frame.len()];
        out[VNET_HDR_LEN..].copy_from_slice(frame);
        self.send_with_header(&out)
    }

    /// Sends bytes as they are, virtio-net header included (or not: any bytes).
    pub fn send_with_header(&self, bytes: &[u8]) -> bool {
        nix::unistd::write(self.fd.as_fd(), bytes).is_ok()
    }

    fn recv(&mut self) -> Option<Vec<u8>> {
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&self.fd), &mut self.buf) {
            Ok(n) if n > VNET_HDR_LEN => Some(self.buf[VNET_HDR_LEN..n].to_vec()),
            _ => None,
        }
    }
}

pub struct RxToken(Vec<u8>);
pub struct TxToken<'a>(&'a OwnedFd);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut out = vec![0u8; VNET_HDR_LEN + len];
        let result = f(&mut out[VNET_HDR_LEN..]);
        let _ = nix::unistd::write(self.0.as_fd(), &out);
        result
    }
}

impl phy::Device for FrameFd {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: SmolInstant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.recv()?;
        Some((RxToken(frame), TxToken(&self.fd)))
    }

    fn transmit(&mut self, _now: SmolInstant) -> Option<TxToken<'_>> {
        Some(TxToken(&self.fd))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 14 + MTU as usize;
        let mut checksum = ChecksumCapabilities::default();
        checksum.ipv4 = Checksum::Tx;
        checksum.tcp = Checksum::Tx;
        checksum.udp = Checksum::Tx;
        checksum.icmpv4 = Checksum::Tx;
        checksum.icmpv6 = Checksum::Tx;
        caps.checksum = checksum;
        caps
    }
}

/// A TCP echo server on 127.0.0.1, one thread per connection, until the test ends.
pub struct EchoServer {
    pub addr: SocketAddr,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let addr = listener.local_addr().expect("echo server address");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stream.read(&mut buf) {
                        if n == 0 || stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        EchoServer { addr }
    }
}

pub struct Harness {
    pub stack: Stack,
    pub config: NetConfig,
    pub iface: Interface,
    pub device: FrameFd,
    pub sockets: SocketSet<'static>,
    /// Host addresses the stack may open sockets to: the test's own servers.
    pub allowed: Vec<SocketAddr>,
    next_port: u16,
}

/// The configuration the harness runs with: the host's loopback behind the gateway,
/// DNS forwarded to `dns_upstream` (a socket of the test's), small tables.
pub fn config(dns_upstream: SocketAddr) -> NetConfig {
    let mut config = NetConfig {
        mtu: MTU,
        host_loopback: true,
        icmp_forward: false,
        dns_upstreams: vec![dns_upstream],
        local_names: vec![("probe.test".into(), Ipv4Addr::new(10, 0, 2, 77))],
        ..NetConfig::default()
    };
    config.limits.max_tcp_flows = 32;
    config.limits.max_udp_flows = 32;
    config.limits.max_dns_pending = 16;
    config.limits.tcp_buffer = 64 * 1024;
    config
}

impl Harness {
    pub fn new(config: NetConfig, allowed: Vec<SocketAddr>) -> Harness {
        let (stack_end, container_end) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        )
        .expect("socket pair");
        let tap = Tap::from_frame_socket(stack_end, true, config.mtu);
        let stack = Stack::new(config.clone(), tap, Vec::new()).expect("start the stack");
        let mut device = FrameFd {
            fd: container_end,
            buf: vec![0; VNET_HDR_LEN + 14 + 65536],
        };
        let mut iface_config = Config::new(HardwareAddress::Ethernet(CONTAINER_MAC));
        iface_config.random_seed = 7;
        let mut iface = Interface::new(iface_config, &mut device, SmolInstant::now());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(config.container_ip), 24));
        });
        let gateway = config.gateway_ip;
        iface
            .routes_mut()
            .add_default_ipv4_route(gateway)
            .expect("default route");
        Harness {
            stack,
            config,
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            allowed,
            next_port: 50000,
        }
    }

    /// One step of each side.
    pub fn step(&mut self) {
        self.stack
            .run_once(Duration::from_millis(1))
            .expect("the stack runs");
        self.iface
            .poll(SmolInstant::now(), &mut self.device, &mut self.sockets);
    }

    /// Steps until `done` holds; panics after `limit` (a hang is a failure, not a wait).
    pub fn step_until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&mut Harness) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(Instant::now() < deadline, "stalled waiting for {what}");
            self.step();
        }
    }

    /// Whether the stack would open a host socket for `bytes` to somewhere other than
    /// the test's own servers.
    pub fn leaves_the_test(&self, bytes: &[u8]) -> bool {
        let (transport, dst) = match frame::inspect(bytes) {
            Frame::TcpSyn { dst, .. } => (Transport::Tcp, dst),
            Frame::Udp { dst, .. } => (Transport::Udp, dst),
            Frame::EchoRequest { dst, .. } => (Transport::Icmp, SocketAddr::new(dst.into(), 0)),
            _ => return false,
        };
        match policy::decide(&self.config, transport, dst) {
            Verdict::Forward(target) => !self.allowed.contains(&target),
            Verdict::Local | Verdict::Refuse => false,
        }
    }

    /// Whether `bytes` is ARP announcing the container's own address at another MAC.
    /// That moves the container there, as `ip link set eth0 address` would, and the
    /// stack rightly follows; the harness's container cannot, so it never sends one.
    pub fn moves_the_container(&self, bytes: &[u8]) -> bool {
        let (Some(ethertype), Some(sender_mac), Some(sender_ip)) =
            (bytes.get(12..14), bytes.get(22..28), bytes.get(28..32))
        else {
            return false;
        };
        ethertype == [0x08, 0x06]
            && sender_ip == self.config.container_ip.octets()
            && sender_mac != CONTAINER_MAC.as_bytes()
    }

    /// Writes a crafted frame (no virtio-net header) from the container, unless it would
    /// reach outside the test or move the container; returns whether it was written.
    pub fn inject(&mut self, bytes: &[u8]) -> bool {
        if self.leaves_the_test(bytes) || self.moves_the_container(bytes) {
            return false;
        }
        // A full socket buffer: let the stack drain it, as a tap's queue would.
        for _ in 0..100 {
            if self.device.send(bytes) {
                return true;
            }
            self.step();
        }
        false
    }

    /// Bytes with an arbitrary virtio-net header part (possibly shorter than one).
    pub fn inject_raw(&mut self, bytes: &[u8]) {
        // An empty datagram reads as the end of the socket; a tap never gives one.
        if bytes.is_empty() {
            return;
        }
        let frame = bytes.get(VNET_HDR_LEN..).unwrap_or(&[]);
        if self.leaves_the_test(frame) || self.moves_the_container(frame) {
            return;
        }
        for _ in 0..100 {
            if self.device.send_with_header(bytes) {
                return;
            }
            self.step();
        }
    }

    /// Connects a TCP socket of the container to `dst` and waits until established.
    pub fn connect(&mut self, dst: SocketAddr) -> SocketHandle {
        self.try_connect(dst)
            .unwrap_or_else(|| panic!("the connection to {dst} was refused"))
    }

    /// Like [`Harness::connect`], None when the connection is refused.
    pub fn try_connect(&mut self, dst: SocketAddr) -> Option<SocketHandle> {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 16 * 1024]),
            tcp::SocketBuffer::new(vec![0; 16 * 1024]),
        );
        self.next_port += 1;
        socket
            .connect(
                self.iface.context(),
                (IpAddress::from(dst.ip()), dst.port()),
                self.next_port,
            )
            .expect("connect");
        let handle = self.sockets.add(socket);
        self.step_until("a TCP connection", Duration::from_secs(10), |h| {
            let socket = h.sockets.get::<tcp::Socket>(handle);
            socket.state() == tcp::State::Closed || socket.may_send()
        });
        if self.sockets.get::<tcp::Socket>(handle).state() == tcp::State::Closed {
            self.sockets.remove(handle);
            return None;
        }
        Some(handle)
    }

    /// Sends `message` on an established connection and waits for it to come back.
    pub fn echo(&mut self, handle: SocketHandle, message: &[u8]) {
        let sent = self
            .sockets
            .get_mut::<tcp::Socket>(handle)
            .send_slice(message)
            .expect("send on the established connection");
        assert_eq!(sent, message.len());
        let mut received = Vec::new();
        self.step_until("the echo", Duration::from_secs(10), |h| {
            let socket = h.sockets.get_mut::<tcp::Socket>(handle);
            assert!(socket.is_active(), "the established connection was closed");
            if socket.can_recv() {
                let _ = socket.recv(|data| {
                    received.extend_from_slice(data);
                    (data.len(), ())
                });
            }
            received.len() >= message.len()
        });
        assert_eq!(received, message);
    }
}

/// A UDP socket of the test's, to stand for the DNS upstream (it never answers).
pub fn silent_udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket")
}

/// An Ethernet frame from the container to the gateway's MAC carrying IPv4 `protocol`.
fn ipv4_frame(src: SocketAddrV4, dst: SocketAddrV4, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20];
    frame[..6].copy_from_slice(&[0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
    frame[6..12].copy_from_slice(CONTAINER_MAC.as_bytes());
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    frame[14] = 0x45;
    frame[16..18].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    frame[22] = 64;
    frame[23] = protocol;
    frame[26..30].copy_from_slice(&src.ip().octets());
    frame[30..34].copy_from_slice(&dst.ip().octets());
    frame.extend_from_slice(payload);
    frame
}

/// A TCP SYN (checksums are not checked on the tap path).
pub fn syn_frame(src: SocketAddrV4, dst: SocketAddrV4) -> Vec<u8> {
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&1000u32.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    ipv4_frame(src, dst, 6, &tcp)
}

/// A UDP datagram.
pub fn udp_frame(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let mut udp = vec![0u8; 8];
    udp[0..2].copy_from_slice(&src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(payload);
    ipv4_frame(src, dst, 17, &udp)
}

/// The process's resident set, KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Open file descriptors of the process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
