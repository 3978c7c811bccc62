//! UDP between the container and host sockets, and UDP published ports.
//!
//! Outbound: a datagram from the container to a forwarded destination opens a flow —
//! a host socket connected to the destination — keyed by (container endpoint,
//! destination). smoltcp delivers datagrams by destination, so each destination gets
//! one smoltcp socket bound to exactly it, shared by every flow towards it; replies go
//! out from that address, so the container sees the peer it talked to. A refused
//! destination has no socket and the interface answers "port unreachable".
//!
//! Published: a datagram on a published port opens a flow per client: a smoltcp socket
//! bound to a fresh port on the gateway's side sends to the container's port, and its
//! replies go back to the client from the published socket.
//!
//! A flow with no datagram either way for `udp_idle` is closed; the table is bounded
//! and a datagram that would open a flow beyond it is dropped. While the table is full,
//! flows idle for `udp_idle_when_full` are closed too, so a flood that filled it does
//! not keep new flows out for long after it stops.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use mio::{Interest, Token};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::wire::IpListenEndpoint;

use super::slab::Slab;
use super::{endpoint, listen_endpoint, socket_addr, Listener, Stack, UDP_BASE};
use crate::policy::{self, Transport, Verdict};

const PACKETS: usize = 64;
const PAYLOAD_BYTES: usize = 256 * 1024;

enum HostSide {
    /// A host socket connected to the destination.
    Connected {
        socket: mio::net::UdpSocket,
        readable: bool,
    },
    /// A client of published port `listener`.
    Published { listener: usize, client: SocketAddr },
}

pub(super) struct UdpFlow {
    /// (container endpoint, other endpoint as the container sees it)
    key: (SocketAddr, SocketAddr),
    handle: SocketHandle,
    host: HostSide,
    last_active: Instant,
}

pub(super) struct UdpTable {
    flows: Slab<UdpFlow>,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
    /// Published flows by (listener, client).
    by_client: HashMap<(usize, SocketAddr), usize>,
    /// Outbound smoltcp sockets by destination, with the number of flows using each.
    by_destination: HashMap<SocketAddr, (SocketHandle, usize)>,
}

impl UdpTable {
    pub fn new(capacity: usize) -> UdpTable {
        UdpTable {
            flows: Slab::with_capacity(capacity),
            by_key: HashMap::new(),
            by_client: HashMap::new(),
            by_destination: HashMap::new(),
        }
    }

    pub fn note_event(&mut self, slot: usize) {
        if let Some(UdpFlow {
            host: HostSide::Connected { readable, .. },
            ..
        }) = self.flows.get_mut(slot)
        {
            *readable = true;
        }
    }
}

pub(super) fn new_udp_socket() -> udp::Socket<'static> {
    udp::Socket::new(
        PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0; PAYLOAD_BYTES]),
        PacketBuffer::new(vec![PacketMetadata::EMPTY; PACKETS], vec![0; PAYLOAD_BYTES]),
    )
}

fn unspecified_like(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

impl Stack {
    /// Makes sure a datagram from `src` to `dst` has a flow to go to.
    pub(super) fn open_outbound_udp(&mut self, src: SocketAddr, dst: SocketAddr) {
        if let Some(&slot) = self.udp.by_key.get(&(src, dst)) {
            if let Some(flow) = self.udp.flows.get_mut(slot) {
                flow.last_active = Instant::now();
            }
            return;
        }
        let target = match policy::decide(&self.config, Transport::Udp, dst) {
            Verdict::Forward(target) => target,
            Verdict::Local | Verdict::Refuse => return,
        };
        if self.udp.flows.is_full() {
            self.stats.udp_table_full += 1;
            return;
        }
        let Ok(socket) = std::net::UdpSocket::bind(unspecified_like(target)) else {
            return;
        };
        if socket.connect(target).is_err() || socket.set_nonblocking(true).is_err() {
            return;
        }
        let handle = match self.udp.by_destination.get_mut(&dst) {
            Some((handle, users)) => {
                *users += 1;
                *handle
            }
            None => {
                let mut smol = new_udp_socket();
                if smol.bind(listen_endpoint(dst)).is_err() {
                    return;
                }
                let handle = self.sockets.add(smol);
                self.udp.by_destination.insert(dst, (handle, 1));
                handle
            }
        };
        let flow = UdpFlow {
            key: (src, dst),
            handle,
            host: HostSide::Connected {
                socket: mio::net::UdpSocket::from_std(socket),
                readable: true,
            },
            last_active: Instant::now(),
        };
        self.insert_udp_flow(flow);
        self.stats.udp_opened += 1;
    }

    fn insert_udp_flow(&mut self, flow: UdpFlow) -> Option<usize> {
        let key = flow.key;
        let slot = match self.udp.flows.insert(flow) {
            Ok(slot) => slot,
            Err(flow) => {
                self.release_udp_socket(&flow);
                return None;
            }
        };
        if let Some(UdpFlow {
            host: HostSide::Connected { socket, .. },
            ..
        }) = self.udp.flows.get_mut(slot)
        {
            if self
                .poll
                .registry()
                .register(socket, Token(UDP_BASE + slot), Interest::READABLE)
                .is_err()
            {
                self.remove_udp_flow(slot);
                return None;
            }
        }
        self.udp.by_key.insert(key, slot);
        Some(slot)
    }

    fn release_udp_socket(&mut self, flow: &UdpFlow) {
        match flow.host {
            HostSide::Connected { .. } => {
                let destination = flow.key.1;
                if let Some((handle, users)) = self.udp.by_destination.get_mut(&destination) {
                    *users -= 1;
                    if *users == 0 {
                        self.sockets.remove(*handle);
                        self.udp.by_destination.remove(&destination);
                    }
                }
            }
            HostSide::Published { .. } => {
                self.sockets.remove(flow.handle);
            }
        }
    }

    fn remove_udp_flow(&mut self, slot: usize) {
        let Some(mut flow) = self.udp.flows.remove(slot) else {
            return;
        };
        self.udp.by_key.remove(&flow.key);
        match &mut flow.host {
            HostSide::Connected { socket, .. } => {
                let _ = self.poll.registry().deregister(socket);
            }
            HostSide::Published { listener, client } => {
                self.udp.by_client.remove(&(*listener, *client));
            }
        }
        self.release_udp_socket(&flow);
    }

    /// Moves datagrams both ways; returns whether any moved.
    pub(super) fn udp_turn(&mut self) -> bool {
        let mut progress = false;
        let now = Instant::now();
        // Container → host, outbound flows (by destination socket).
        for (&destination, &(handle, _)) in &self.udp.by_destination {
            let socket = self.sockets.get_mut::<udp::Socket>(handle);
            while let Ok((data, meta)) = socket.recv() {
                let key = (socket_addr(meta.endpoint), destination);
                let flow = self
                    .udp
                    .by_key
                    .get(&key)
                    .and_then(|&slot| self.udp.flows.get_mut(slot));
                if let Some(UdpFlow {
                    host: HostSide::Connected { socket: host, .. },
                    last_active,
                    ..
                }) = flow
                {
                    let _ = host.send(data);
                    *last_active = now;
                    progress = true;
                }
            }
        }
        // Host → container, and container → host for published flows.
        for (_, flow) in self.udp.flows.iter_mut() {
            let socket = self.sockets.get_mut::<udp::Socket>(flow.handle);
            match &mut flow.host {
                HostSide::Connected {
                    socket: host,
                    readable,
                } => {
                    while *readable && socket.can_send() {
                        match host.recv(&mut self.scratch) {
                            Ok(n) => {
                                let meta = UdpMetadata {
                                    endpoint: endpoint(flow.key.0),
                                    local_address: Some(flow.key.1.ip().into()),
                                    meta: Default::default(),
                                };
                                let _ = socket.send_slice(&self.scratch[..n], meta);
                                flow.last_active = now;
                                progress = true;
                            }
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(_) => *readable = false,
                        }
                    }
                }
                HostSide::Published { listener, client } => {
                    let Some(Listener::Udp {
                        socket: published, ..
                    }) = self.listeners.get(*listener)
                    else {
                        continue;
                    };
                    while let Ok((data, _)) = socket.recv() {
                        let _ = published.send_to(data, *client);
                        flow.last_active = now;
                        progress = true;
                    }
                }
            }
        }
        progress
    }

    /// Datagrams from clients of UDP published ports.
    pub(super) fn udp_listener_turn(&mut self) -> bool {
        let mut progress = false;
        for index in 0..self.listeners.len() {
            loop {
                let (n, client, container_port) = match &mut self.listeners[index] {
                    Listener::Udp {
                        socket,
                        container_port,
                        readable,
                    } if *readable => match socket.recv_from(&mut self.scratch) {
                        Ok((n, client)) => (n, client, *container_port),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => {
                            *readable = false;
                            break;
                        }
                    },
                    _ => break,
                };
                progress = true;
                let Some(slot) = self.published_udp_flow(index, client, container_port) else {
                    continue;
                };
                let Some(flow) = self.udp.flows.get_mut(slot) else {
                    continue;
                };
                flow.last_active = Instant::now();
                let meta = UdpMetadata::from(endpoint(flow.key.0));
                let socket = self.sockets.get_mut::<udp::Socket>(flow.handle);
                let _ = socket.send_slice(&self.scratch[..n], meta);
            }
        }
        progress
    }

    fn published_udp_flow(
        &mut self,
        listener: usize,
        client: SocketAddr,
        container_port: u16,
    ) -> Option<usize> {
        if let Some(&slot) = self.udp.by_client.get(&(listener, client)) {
            return Some(slot);
        }
        if self.udp.flows.is_full() {
            self.stats.udp_table_full += 1;
            return None;
        }
        let container = SocketAddr::new(self.config.container_ip.into(), container_port);
        let source = SocketAddr::new(
            self.peer_as_seen_by_container(client).into(),
            self.allocate_port(),
        );
        let mut socket = new_udp_socket();
        socket
            .bind(IpListenEndpoint {
                addr: Some(source.ip().into()),
                port: source.port(),
            })
            .ok()?;
        let handle = self.sockets.add(socket);
        let flow = UdpFlow {
            key: (container, source),
            handle,
            host: HostSide::Published { listener, client },
            last_active: Instant::now(),
        };
        let slot = self.insert_udp_flow(flow)?;
        self.udp.by_client.insert((listener, client), slot);
        self.stats.udp_opened += 1;
        Some(slot)
    }

    pub(super) fn udp_expire(&mut self, now: Instant) {
        let limits = &self.config.limits;
        let idle = match self.udp.flows.is_full() {
            true => limits.udp_idle.min(limits.udp_idle_when_full),
            false => limits.udp_idle,
        };
        let stale: Vec<usize> = self
            .udp
            .flows
            .iter_mut()
            .filter(|(_, flow)| now.duration_since(flow.last_active) >= idle)
            .map(|(slot, _)| slot)
            .collect();
        for slot in stale {
            self.remove_udp_flow(slot);
        }
    }
}
