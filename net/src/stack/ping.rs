//! ICMP echo (`ping`) from the container to forwarded destinations.
//!
//! The stack answers echo requests to its own addresses (the interface does). Others
//! go out through unprivileged ICMP sockets (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`), one per (destination, echo identifier), where the host's
//! `net.ipv4.ping_group_range` admits the user; the kernel picks the identifier on the
//! wire and the stack puts the container's back into each reply. Where ping sockets
//! are not allowed or ICMP forwarding is off ([`crate::NetConfig::icmp_forward`]), or
//! the destination is refused by policy, the container gets a
//! "communication administratively prohibited" destination-unreachable from the
//! gateway at once — a clear answer instead of silence. Echo requests to multicast
//! and broadcast addresses are dropped. Flows idle for 10 s close.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

use mio::{Interest, Token};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4DstUnreachable,
    Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Packet, Ipv4Repr,
};

use super::slab::Slab;
use super::{Stack, GATEWAY_MAC, PING_BASE};
use crate::policy::{self, Transport, Verdict};
use crate::sys;

const PING_IDLE: Duration = Duration::from_secs(10);

struct PingFlow {
    socket: mio::net::UdpSocket,
    container_mac: EthernetAddress,
    container_ip: Ipv4Addr,
    /// The address the container pinged.
    destination: Ipv4Addr,
    ident: u16,
    readable: bool,
    last_active: Instant,
}

pub(super) struct PingTable {
    flows: Slab<PingFlow>,
    by_key: HashMap<(Ipv4Addr, u16), usize>,
    /// Why ping sockets cannot be used, once known.
    unavailable: Option<io::ErrorKind>,
}

impl PingTable {
    pub fn new(capacity: usize) -> PingTable {
        PingTable {
            flows: Slab::with_capacity(capacity),
            by_key: HashMap::new(),
            unavailable: None,
        }
    }

    pub fn note_event(&mut self, slot: usize) {
        if let Some(flow) = self.flows.get_mut(slot) {
            flow.readable = true;
        }
    }
}

impl Stack {
    pub(super) fn echo_request(
        &mut self,
        frame: &[u8],
        src_mac: EthernetAddress,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ident: u16,
        seq: u16,
    ) {
        self.stats.pings += 1;
        let target = match policy::decide(
            &self.config,
            Transport::Icmp,
            SocketAddr::new(dst.into(), 0),
        ) {
            Verdict::Forward(target) => target,
            Verdict::Local | Verdict::Refuse => return self.prohibited(frame, src_mac),
        };
        let IpAddr::V4(target_ip) = target.ip() else {
            return self.prohibited(frame, src_mac);
        };
        let slot = match self.ping.by_key.get(&(dst, ident)) {
            Some(&slot) => Some(slot),
            None => self.open_ping_flow(src_mac, src, dst, target_ip, ident),
        };
        let Some(flow) = slot.and_then(|slot| self.ping.flows.get_mut(slot)) else {
            return self.prohibited(frame, src_mac);
        };
        let Some(data) = echo_data(frame) else { return };
        let mut request = vec![8u8, 0, 0, 0];
        request.extend_from_slice(&ident.to_be_bytes());
        request.extend_from_slice(&seq.to_be_bytes());
        request.extend_from_slice(data);
        // The kernel fills in the identifier and the checksum.
        let _ = flow.socket.send(&request);
        flow.last_active = Instant::now();
    }

    fn open_ping_flow(
        &mut self,
        container_mac: EthernetAddress,
        container_ip: Ipv4Addr,
        destination: Ipv4Addr,
        target: Ipv4Addr,
        ident: u16,
    ) -> Option<usize> {
        if self.ping.unavailable.is_some() || self.ping.flows.is_full() {
            return None;
        }
        let fd = match sys::ping_socket() {
            Ok(fd) => fd,
            Err(e) => {
                self.ping.unavailable = Some(e.kind());
                return None;
            }
        };
        // SAFETY: `fd` is a datagram socket we own; UdpSocket only sends, receives and
        // connects on it, which an ICMP datagram socket supports.
        let socket = unsafe { std::net::UdpSocket::from_raw_fd(fd.into_raw_fd()) };
        socket.connect(SocketAddr::new(target.into(), 0)).ok()?;
        let flow = PingFlow {
            socket: mio::net::UdpSocket::from_std(socket),
            container_mac,
            container_ip,
            destination,
            ident,
            readable: false,
            last_active: Instant::now(),
        };
        let slot = self.ping.flows.insert(flow).ok()?;
        let flow = self.ping.flows.get_mut(slot)?;
        if self
            .poll
            .registry()
            .register(
                &mut flow.socket,
                Token(PING_BASE + slot),
                Interest::READABLE,
            )
            .is_err()
        {
            self.ping.flows.remove(slot);
            return None;
        }
        self.ping.by_key.insert((destination, ident), slot);
        Some(slot)
    }

    /// Answers a frame with "communication administratively prohibited".
    fn prohibited(&mut self, frame: &[u8], container_mac: EthernetAddress) {
        let Some((original, data)) = original_header(frame) else {
            return;
        };
        let icmp = Icmpv4Repr::DstUnreachable {
            reason: Icmpv4DstUnreachable::CommProhibited,
            header: original,
            data,
        };
        let reply = build_icmp_frame(
            container_mac,
            self.config.gateway_ip,
            original.src_addr,
            &icmp,
        );
        self.device.send_raw(&reply);
    }

    pub(super) fn ping_turn(&mut self) -> bool {
        let mut progress = false;
        for (_, flow) in self.ping.flows.iter_mut() {
            while flow.readable {
                let n = match flow.socket.recv(&mut self.scratch) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        flow.readable = false;
                        break;
                    }
                };
                progress = true;
                flow.last_active = Instant::now();
                let reply = &self.scratch[..n];
                // type 0 (echo reply), the kernel's identifier, then seq and data.
                if n < 8 || reply[0] != 0 {
                    continue;
                }
                let icmp = Icmpv4Repr::EchoReply {
                    ident: flow.ident,
                    seq_no: u16::from_be_bytes([reply[6], reply[7]]),
                    data: &reply[8..],
                };
                let frame = build_icmp_frame(
                    flow.container_mac,
                    flow.destination,
                    flow.container_ip,
                    &icmp,
                );
                self.device.send_raw(&frame);
            }
        }
        progress
    }

    pub(super) fn ping_expire(&mut self, now: Instant) {
        let stale: Vec<usize> = self
            .ping
            .flows
            .iter_mut()
            .filter(|(_, flow)| now.duration_since(flow.last_active) >= PING_IDLE)
            .map(|(slot, _)| slot)
            .collect();
        for slot in stale {
            if let Some(mut flow) = self.ping.flows.remove(slot) {
                let _ = self.poll.registry().deregister(&mut flow.socket);
                self.ping.by_key.remove(&(flow.destination, flow.ident));
            }
        }
    }
}

/// The data of an echo request frame (after the 8-byte ICMP header).
fn echo_data(frame: &[u8]) -> Option<&[u8]> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    Icmpv4Packet::new_checked(ip.payload()).ok()?;
    ip.payload().get(8..)
}

/// The IPv4 header and first 8 payload bytes of a frame, as an ICMP error quotes them.
fn original_header(frame: &[u8]) -> Option<(Ipv4Repr, &[u8])> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let mut caps = ChecksumCapabilities::ignored();
    caps.ipv4 = smoltcp::phy::Checksum::None;
    let repr = Ipv4Repr::parse(&ip, &caps).ok()?;
    let payload = ip.payload();
    Some((repr, &payload[..payload.len().min(8)]))
}

/// An Ethernet frame from the gateway's MAC carrying `icmp` from `src` to `dst`.
fn build_icmp_frame(
    dst_mac: EthernetAddress,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp: &Icmpv4Repr,
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: GATEWAY_MAC,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut bytes = vec![0; eth.buffer_len() + ip.buffer_len() + icmp.buffer_len()];
    let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
    eth.emit(&mut frame);
    let caps = ChecksumCapabilities::default();
    let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
    ip.emit(&mut packet, &caps);
    icmp.emit(
        &mut Icmpv4Packet::new_unchecked(packet.payload_mut()),
        &caps,
    );
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prohibited_answer_quotes_the_request() {
        let request = Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: b"payload",
        };
        let container = Ipv4Addr::new(10, 0, 2, 100);
        let frame = build_icmp_frame(
            EthernetAddress([2, 0, 0, 0, 0, 9]),
            container,
            Ipv4Addr::new(192, 0, 2, 1),
            &request,
        );
        let (header, data) = original_header(&frame).unwrap();
        assert_eq!(header.src_addr, container);
        assert_eq!(data.len(), 8);
        assert_eq!(echo_data(&frame), Some(&b"payload"[..]));
        assert_eq!(original_header(&frame[..20]), None);
    }
}
