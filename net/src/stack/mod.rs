//! The host side of a container's network: one thread, one mio poll loop, one smoltcp
//! interface on the tap device.
//!
//! Each turn of the loop reads the frames the container sent, looks at each before the
//! interface does ([`crate::frame`]) to open what smoltcp cannot open by itself — a
//! socket listening on a SYN's exact destination, a UDP socket bound to a datagram's
//! destination, an ICMP echo — then lets the interface process them, moves bytes between
//! smoltcp sockets and host sockets ([`tcp`], [`udp`], [`dns_server`], [`ping`]), and
//! polls the interface again to send what that produced. The interface runs in AnyIP
//! mode: it accepts packets for every destination address, and the per-flow sockets
//! decide what exists. ARP is answered only for the gateway and DNS addresses, so the
//! rest of the subnet does not exist — except on a user-defined network, where the
//! rest of the subnet is other containers behind the network's switch ([`peers`]).
//!
//! Host sockets are edge-triggered: a flow remembers that its host socket was readable
//! or writable until an operation returns WouldBlock, and the loop does not block while
//! a turn made progress. Every table is bounded ([`crate::Limits`]).

mod control;
mod dns_server;
mod limits;
mod peers;
mod ping;
mod slab;
mod socket_pool;
mod splice;
mod tcp;
mod udp;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::time::Instant;
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint,
};

use crate::config::NetConfig;
use crate::device::{TapDevice, RX_QUEUE};
use crate::frame::{self, Frame};
use crate::publish::BoundPort;
use crate::switch::{SwitchError, SwitchPort};
use crate::tap::Tap;

use control::ControlQueue;
pub use control::{ControlError, PortControl, PortId};
use dns_server::DnsServer;
use limits::LimitWarnings;
use ping::PingTable;
use splice::SpliceTable;
use tcp::TcpTable;
use udp::UdpTable;

/// The stack's own MAC address (locally administered).
pub const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);

const TAP: Token = Token(0);
const STOP: Token = Token(1);
const DNS_UPSTREAM: Token = Token(2);
const SWITCH: Token = Token(3);
const CONTROL: Token = Token(4);
const LISTENER_BASE: usize = 1 << 8;
const TCP_BASE: usize = 1 << 24;
const UDP_BASE: usize = 2 << 24;
const PING_BASE: usize = 3 << 24;
const SPLICE_BASE: usize = 4 << 24;
const KIND_MASK: usize = !((1 << 24) - 1);
// Splice flows use two tokens each.
const _: () = assert!(SPLICE_BASE + 2 * (1 << 23) <= 5 << 24);

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("cannot set up the event loop: {0}")]
    Poll(io::Error),
    #[error("cannot read from the tap device: {0}")]
    TapRead(io::Error),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error("a switched network needs a tap device with virtio-net headers")]
    SwitchNeedsVnetHdr,
}

/// Counters, for tests, benchmarks and debugging.
#[derive(Clone, Debug, Default)]
pub struct StackStats {
    pub frames_in: u64,
    pub malformed: u64,
    pub tcp_opened: u64,
    pub tcp_refused: u64,
    pub tcp_table_full: u64,
    pub udp_opened: u64,
    pub udp_table_full: u64,
    pub dns_forwarded: u64,
    pub dns_local: u64,
    pub pings: u64,
    /// Frames to and from the network's switch, and frames either way that the other
    /// side could not take.
    pub switch_out: u64,
    pub switch_in: u64,
    pub switch_dropped: u64,
    /// Lines printed about full flow tables ([`limits`]).
    pub limit_warnings: u64,
}

/// A published port's host socket.
enum Listener {
    Tcp {
        listener: mio::net::TcpListener,
        container_port: u16,
    },
    Udp {
        socket: mio::net::UdpSocket,
        container_port: u16,
        readable: bool,
    },
    /// A port closed while the stack runs ([`control`]); its index stays taken.
    Removed,
}

/// One container's network stack.
pub struct Stack {
    config: NetConfig,
    iface: Interface,
    device: TapDevice,
    sockets: SocketSet<'static>,
    poll: Poll,
    listeners: Vec<Listener>,
    tcp: TcpTable,
    udp: UdpTable,
    dns: DnsServer,
    ping: PingTable,
    splice: SpliceTable,
    switch: Option<SwitchPort>,
    switch_readable: bool,
    tap_readable: bool,
    next_port: u16,
    scratch: Vec<u8>,
    /// Frames from the switch (up to [`crate::switch::MAX_FRAME`]), allocated only on
    /// a switched network.
    switch_buf: Vec<u8>,
    stats: StackStats,
    limit_warnings: LimitWarnings,
    control: ControlQueue,
}

impl Stack {
    /// A stack on `tap` serving `config`, with the published ports already bound.
    pub fn new(
        config: NetConfig,
        tap: Tap,
        published: Vec<BoundPort>,
    ) -> Result<Stack, StackError> {
        crate::sys::fresh_pages_for_large_allocations();
        let mut device = TapDevice::new(tap);
        let mut iface_config = Config::new(HardwareAddress::Ethernet(GATEWAY_MAC));
        iface_config.random_seed = random_seed();
        let mut iface = Interface::new(iface_config, &mut device, Instant::now());
        iface.update_ip_addrs(|addrs| {
            for ip in [config.gateway_ip, config.dns_ip] {
                let cidr = IpCidr::new(IpAddress::Ipv4(ip), config.prefix_len);
                if !addrs.contains(&cidr) {
                    let _ = addrs.push(cidr);
                }
            }
            if config.ipv6 {
                for ip in [config.gateway_ip6, config.dns_ip6] {
                    let _ = addrs.push(IpCidr::new(IpAddress::Ipv6(ip), 64));
                }
            }
        });
        let _ = iface.routes_mut().add_default_ipv4_route(config.gateway_ip);
        if config.ipv6 {
            let _ = iface
                .routes_mut()
                .add_default_ipv6_route(config.gateway_ip6);
        }
        iface.set_any_ip(true);
        let poll = Poll::new().map_err(StackError::Poll)?;
        let tap_fd = device.tap().as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&tap_fd), TAP, Interest::READABLE)
            .map_err(StackError::Poll)?;
        let switch = peers::connect_switch(&config, &device, &poll)?;
        let mut sockets = SocketSet::new(Vec::new());
        let dns = DnsServer::new(&config, &mut sockets, &poll).map_err(StackError::Poll)?;
        let mut stack = Stack {
            tcp: TcpTable::new(config.limits.max_tcp_flows),
            udp: UdpTable::new(config.limits.max_udp_flows),
            ping: PingTable::new(config.limits.max_ping_flows),
            splice: SpliceTable::new(config.limits.max_tcp_flows),
            dns,
            config,
            iface,
            device,
            sockets,
            poll,
            listeners: Vec::new(),
            switch_readable: switch.is_some(),
            switch,
            tap_readable: true,
            next_port: 0,
            scratch: vec![0; 65536],
            switch_buf: Vec::new(),
            stats: StackStats::default(),
            limit_warnings: LimitWarnings::default(),
            control: ControlQueue::default(),
        };
        if stack.switch.is_some() {
            stack.switch_buf = vec![0; crate::switch::MAX_FRAME];
        }
        for port in published {
            stack.add_listener(port)?;
        }
        Ok(stack)
    }

    fn add_listener(&mut self, port: BoundPort) -> Result<(), StackError> {
        let token = Token(LISTENER_BASE + self.listeners.len());
        let registry = self.poll.registry();
        let listener = match port {
            BoundPort::Tcp { mapping, listener } => {
                let mut listener = mio::net::TcpListener::from_std(listener);
                registry
                    .register(&mut listener, token, Interest::READABLE)
                    .map_err(StackError::Poll)?;
                Listener::Tcp {
                    listener,
                    container_port: mapping.container_port,
                }
            }
            BoundPort::Udp { mapping, socket } => {
                let mut socket = mio::net::UdpSocket::from_std(socket);
                registry
                    .register(&mut socket, token, Interest::READABLE)
                    .map_err(StackError::Poll)?;
                Listener::Udp {
                    socket,
                    container_port: mapping.container_port,
                    readable: true,
                }
            }
        };
        self.listeners.push(listener);
        Ok(())
    }

    pub fn stats(&self) -> &StackStats {
        &self.stats
    }

    /// Runs until `stop` (a pidfd, an eventfd, a pipe) becomes readable, or forever.
    pub fn run(&mut self, stop: Option<RawFd>) -> Result<(), StackError> {
        self.run_until(stop.as_slice())
    }

    /// Runs until any of `stops` becomes readable (none: forever).
    pub fn run_until(&mut self, stops: &[RawFd]) -> Result<(), StackError> {
        for fd in stops {
            self.poll
                .registry()
                .register(&mut SourceFd(fd), STOP, Interest::READABLE)
                .map_err(StackError::Poll)?;
        }
        let mut events = Events::with_capacity(256);
        let mut busy = true;
        loop {
            match self.wait_and_turn(&mut events, busy, None)? {
                Some(moved) => busy = moved,
                None => return Ok(()),
            }
        }
    }

    /// One turn of the loop, for harnesses that drive the stack step by step (tests,
    /// fuzzers): waits at most `max_wait` for events (not at all while frames are
    /// pending), then does what is ready. Returns whether anything moved.
    pub fn run_once(&mut self, max_wait: Duration) -> Result<bool, StackError> {
        let mut events = Events::with_capacity(256);
        Ok(self
            .wait_and_turn(&mut events, false, Some(max_wait))?
            .unwrap_or(false))
    }

    /// Waits for events (not at all when `busy`), then turns; None when a stop fd fired.
    fn wait_and_turn(
        &mut self,
        events: &mut Events,
        busy: bool,
        max_wait: Option<Duration>,
    ) -> Result<Option<bool>, StackError> {
        let timeout = if busy || self.tap_readable || self.switch_readable {
            Some(Duration::ZERO)
        } else {
            match (self.next_wakeup(), max_wait) {
                (Some(wakeup), Some(max)) => Some(wakeup.min(max)),
                (wakeup, max) => wakeup.or(max),
            }
        };
        match self.poll.poll(events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Some(true)),
            Err(e) => return Err(StackError::Poll(e)),
        }
        for event in events.iter() {
            if event.token() == STOP {
                return Ok(None);
            }
            self.note_event(event);
        }
        self.turn().map(Some)
    }

    /// smoltcp sockets in use (flows of every kind plus the DNS server's): what a
    /// flood can grow, and what the table limits bound.
    pub fn sockets_in_use(&self) -> usize {
        self.sockets.iter().count()
    }

    fn note_event(&mut self, event: &mio::event::Event) {
        let Token(token) = event.token();
        match token {
            _ if event.token() == TAP => self.tap_readable = true,
            _ if event.token() == DNS_UPSTREAM => self.dns.upstream_readable = true,
            _ if event.token() == SWITCH => self.switch_readable = true,
            _ if event.token() == CONTROL => self.apply_control(),
            t if t & KIND_MASK == TCP_BASE => self.tcp.note_event(t - TCP_BASE, event),
            t if t & KIND_MASK == UDP_BASE => self.udp.note_event(t - UDP_BASE),
            t if t & KIND_MASK == PING_BASE => self.ping.note_event(t - PING_BASE),
            t if t & KIND_MASK == SPLICE_BASE => self.splice.note_event(t - SPLICE_BASE, event),
            t if t >= LISTENER_BASE => self.accept(t - LISTENER_BASE),
            _ => {}
        }
    }

    /// One turn: frames in, interface, flows, interface. Returns whether anything moved.
    fn turn(&mut self) -> Result<bool, StackError> {
        let mut progress = self.ingress()?;
        progress |= self.switch_turn();
        self.poll_iface();
        progress |= self.tcp_turn();
        progress |= self.udp_turn();
        progress |= self.dns_turn();
        progress |= self.ping_turn();
        progress |= self.udp_listener_turn();
        progress |= self.splice_turn();
        self.poll_iface();
        self.expire();
        Ok(progress)
    }

    fn poll_iface(&mut self) {
        let now = Instant::now();
        self.iface.poll(now, &mut self.device, &mut self.sockets);
    }

    /// When the loop must wake up even without events.
    fn next_wakeup(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let iface = self
            .iface
            .poll_delay(now, &self.sockets)
            .map(|d| Duration::from_micros(d.total_micros()));
        // Flow timers (UDP idle, DNS and connect timeouts) are checked once a second.
        let timers = Some(Duration::from_secs(1));
        [iface, timers].into_iter().flatten().min()
    }

    /// Reads and admits frames from the tap; returns whether any was read.
    fn ingress(&mut self) -> Result<bool, StackError> {
        if !self.tap_readable {
            return Ok(false);
        }
        let mut read = 0;
        while read < RX_QUEUE && self.device.can_queue() {
            let Some(frame) = self.device.read_frame().map_err(StackError::TapRead)? else {
                self.tap_readable = false;
                break;
            };
            read += 1;
            self.stats.frames_in += 1;
            if !self.pass_to_peers(&frame) {
                self.device.discard(frame);
                continue;
            }
            match self.admit(frame.bytes()) {
                Admit::Queue => self.device.queue(frame),
                Admit::QueueAndFlush => {
                    self.device.queue(frame);
                    // A new listening socket must take its own SYN before another SYN
                    // to the same destination reaches the interface.
                    self.poll_iface();
                }
                Admit::Drop => self.device.discard(frame),
            }
        }
        Ok(read > 0)
    }

    /// Decides what to do with one frame, opening flows it starts.
    fn admit(&mut self, bytes: &[u8]) -> Admit {
        match frame::inspect(bytes) {
            Frame::Malformed => {
                self.stats.malformed += 1;
                Admit::Drop
            }
            Frame::ArpRequest { target } => {
                if target == self.config.gateway_ip || target == self.config.dns_ip {
                    Admit::Queue
                } else {
                    Admit::Drop
                }
            }
            Frame::TcpSyn { src, dst } => match self.open_outbound_tcp(src, dst) {
                true => Admit::QueueAndFlush,
                false => Admit::Queue,
            },
            Frame::Udp { src, dst } => {
                self.open_outbound_udp(src, dst);
                Admit::Queue
            }
            Frame::EchoRequest {
                src_mac,
                src,
                dst,
                ident,
                seq,
            } => {
                if dst == self.config.gateway_ip || dst == self.config.dns_ip {
                    return Admit::Queue; // the interface answers for itself
                }
                self.echo_request(bytes, src_mac, src, dst, ident, seq);
                Admit::Drop
            }
            // AnyIP would make the interface answer echo requests to every address.
            Frame::EchoRequest6 { dst } => {
                match dst == self.config.gateway_ip6 || dst == self.config.dns_ip6 {
                    true => Admit::Queue,
                    false => Admit::Drop,
                }
            }
            Frame::Tcp { .. } | Frame::Other => Admit::Queue,
        }
    }

    /// A port on the stack's side for a connection or flow it opens towards the container.
    fn allocate_port(&mut self) -> u16 {
        const FIRST: u16 = 32768;
        self.next_port = match self.next_port {
            p if p < FIRST || p == u16::MAX => FIRST,
            p => p + 1,
        };
        self.next_port
    }

    /// The address a host peer appears as inside the container: its own address when
    /// that is routable there, the gateway for the host's loopback and for IPv6 peers.
    fn peer_as_seen_by_container(&self, peer: SocketAddr) -> IpAddress {
        match peer.ip() {
            IpAddr::V4(v4)
                if !v4.is_loopback() && !v4.is_unspecified() && !self.config.in_subnet(v4) =>
            {
                IpAddress::Ipv4(v4)
            }
            _ => IpAddress::Ipv4(self.config.gateway_ip),
        }
    }

    fn expire(&mut self) {
        let now = std::time::Instant::now();
        self.warn_about_limits();
        self.tcp_expire(now);
        self.udp_expire(now);
        self.dns_expire(now);
        self.ping_expire(now);
    }
}

enum Admit {
    Queue,
    QueueAndFlush,
    Drop,
}

fn endpoint(addr: SocketAddr) -> IpEndpoint {
    IpEndpoint::new(addr.ip().into(), addr.port())
}

fn listen_endpoint(addr: SocketAddr) -> IpListenEndpoint {
    IpListenEndpoint {
        addr: Some(addr.ip().into()),
        port: addr.port(),
    }
}

fn socket_addr(endpoint: IpEndpoint) -> SocketAddr {
    SocketAddr::new(endpoint.addr.into(), endpoint.port)
}

/// Seed for smoltcp's initial sequence numbers.
pub(super) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.finish()
}
