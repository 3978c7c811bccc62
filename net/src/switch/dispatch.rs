//! Which frames from a container's tap go to its network's switch and which to its own
//! stack. The stack is the gateway and DNS server (MAC [`GATEWAY_MAC`]) and carries all
//! traffic to the outside; the switch carries traffic to the other members, which the
//! container finds by ARP. So: frames to the gateway's MAC stay in the stack; frames
//! to any other unicast MAC are for a peer; an ARP request goes to the stack when it
//! asks for the gateway or DNS address and to the switch when it asks for another
//! address of the subnet; other broadcast and multicast frames go to both (the stack
//! ignores what does not concern it).
//!
//! Frames from the switch go to the container, except those that pretend to come from
//! its gateway: the gateway's MAC as source, or ARP claiming the gateway's or DNS
//! address. Each member's stack is that member's own gateway, so a peer that says
//! otherwise is spoofing and could redirect the container's outside traffic to itself.
//! The same holds for IPv6: router advertisements and redirects from a peer, and
//! neighbour advertisements for the gateway's address, are dropped; so is IPv6 with
//! extension headers (they could hide either), which members have no use for.

use crate::config::NetConfig;
use crate::frame::{self, Frame};
use crate::stack::GATEWAY_MAC;

/// Where a frame from the container goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub stack: bool,
    pub switch: bool,
}

const STACK: Route = Route {
    stack: true,
    switch: false,
};
const SWITCH: Route = Route {
    stack: false,
    switch: true,
};
const BOTH: Route = Route {
    stack: true,
    switch: true,
};

/// Decides where the Ethernet frame `bytes` (no virtio-net header) goes.
pub fn route(config: &NetConfig, bytes: &[u8]) -> Route {
    let Some(dst) = bytes.get(..6) else {
        return STACK; // counted as malformed there
    };
    if dst == GATEWAY_MAC.as_bytes() {
        return STACK;
    }
    if dst[0] & 1 == 0 {
        return SWITCH;
    }
    match frame::inspect(bytes) {
        Frame::ArpRequest { target } if target == config.gateway_ip || target == config.dns_ip => {
            STACK
        }
        Frame::ArpRequest { target } if config.in_subnet(target) => SWITCH,
        Frame::ArpRequest { .. } | Frame::Malformed => STACK,
        _ => BOTH,
    }
}

/// Whether a frame from the switch (no virtio-net header) may reach the container.
pub fn from_peer_allowed(config: &NetConfig, bytes: &[u8]) -> bool {
    let Some(src) = bytes.get(6..12) else {
        return false;
    };
    if src == GATEWAY_MAC.as_bytes() {
        return false;
    }
    if bytes.get(12..14) == Some(&[0x86, 0xdd]) {
        return ipv6_from_peer_allowed(config, &bytes[14..]);
    }
    if bytes.get(12..14) != Some(&[0x08, 0x06]) {
        return true;
    }
    // ARP: the sender's protocol address, request or reply.
    let Some(sender) = bytes.get(14 + 14..14 + 18) else {
        return false;
    };
    let sender = std::net::Ipv4Addr::new(sender[0], sender[1], sender[2], sender[3]);
    sender != config.gateway_ip && sender != config.dns_ip
}

/// An IPv6 packet (from its fixed header on) from a peer: TCP, UDP and ICMPv6 other
/// than what would make the peer the container's router.
fn ipv6_from_peer_allowed(config: &NetConfig, packet: &[u8]) -> bool {
    const ICMPV6: u8 = 58;
    const ROUTER_ADVERTISEMENT: u8 = 134;
    const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    const REDIRECT: u8 = 137;
    match packet.get(6) {
        Some(6 | 17) => true,
        Some(&ICMPV6) => match packet.get(40) {
            Some(&ROUTER_ADVERTISEMENT | &REDIRECT) | None => false,
            Some(&NEIGHBOR_ADVERTISEMENT) => {
                let Some(target) = packet.get(48..64) else {
                    return false;
                };
                let target =
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(target).unwrap_or([0; 16]));
                target != config.gateway_ip6 && target != config.dns_ip6
            }
            Some(_) => true,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
        EthernetRepr,
    };

    const CONTAINER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn network() -> NetConfig {
        NetConfig {
            container_ip: Ipv4Addr::new(10, 89, 1, 2),
            gateway_ip: Ipv4Addr::new(10, 89, 1, 1),
            dns_ip: Ipv4Addr::new(10, 89, 1, 1),
            ..NetConfig::default()
        }
    }

    fn arp_request(target: Ipv4Addr) -> Vec<u8> {
        let arp = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: CONTAINER_MAC,
            source_protocol_addr: Ipv4Addr::new(10, 89, 1, 2),
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        };
        let eth = EthernetRepr {
            src_addr: CONTAINER_MAC,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut bytes = vec![0; eth.buffer_len() + arp.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        bytes
    }

    fn ipv4_to(dst: EthernetAddress) -> Vec<u8> {
        let mut bytes = vec![0; 14 + 20];
        bytes[..6].copy_from_slice(dst.as_bytes());
        bytes[6..12].copy_from_slice(CONTAINER_MAC.as_bytes());
        bytes[12..14].copy_from_slice(&[0x08, 0x00]);
        bytes[14] = 0x45;
        bytes[16..18].copy_from_slice(&20u16.to_be_bytes());
        bytes
    }

    #[test]
    fn arp_for_the_gateway_stays_and_arp_for_a_peer_goes_to_the_switch() {
        let config = network();
        assert_eq!(
            route(&config, &arp_request(Ipv4Addr::new(10, 89, 1, 1))),
            STACK
        );
        assert_eq!(
            route(&config, &arp_request(Ipv4Addr::new(10, 89, 1, 3))),
            SWITCH
        );
        // Gratuitous ARP announces the container to its peers.
        assert_eq!(
            route(&config, &arp_request(Ipv4Addr::new(10, 89, 1, 2))),
            SWITCH
        );
        // Outside the subnet: nobody answers, the stack drops it.
        assert_eq!(
            route(&config, &arp_request(Ipv4Addr::new(192, 0, 2, 1))),
            STACK
        );
    }

    #[test]
    fn unicast_follows_the_destination_mac() {
        let config = network();
        assert_eq!(route(&config, &ipv4_to(GATEWAY_MAC)), STACK);
        assert_eq!(route(&config, &ipv4_to(PEER_MAC)), SWITCH);
    }

    #[test]
    fn peers_cannot_pose_as_the_gateway() {
        let config = network();
        let mut from_gateway = ipv4_to(CONTAINER_MAC);
        from_gateway[6..12].copy_from_slice(GATEWAY_MAC.as_bytes());
        assert!(!from_peer_allowed(&config, &from_gateway));
        let mut from_peer = ipv4_to(CONTAINER_MAC);
        from_peer[6..12].copy_from_slice(PEER_MAC.as_bytes());
        assert!(from_peer_allowed(&config, &from_peer));
        // arp_request() claims to be sent by 10.89.1.2, a member.
        assert!(from_peer_allowed(
            &config,
            &arp_request(Ipv4Addr::new(10, 89, 1, 3))
        ));
        let mut spoofed = arp_request(Ipv4Addr::new(10, 89, 1, 3));
        spoofed[28..32].copy_from_slice(&[10, 89, 1, 1]);
        assert!(!from_peer_allowed(&config, &spoofed));
        assert!(!from_peer_allowed(&config, &spoofed[..20]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        /// The switch's routing reads frames from the container and from peers: any
        /// bytes at all give an answer, never a panic.
        #[test]
        fn routing_never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            arp in proptest::prelude::any::<bool>(),
        ) {
            let config = network();
            let mut bytes = bytes;
            if arp && bytes.len() >= 14 {
                bytes[12..14].copy_from_slice(&[0x08, 0x06]);
            }
            let _ = route(&config, &bytes);
            let _ = from_peer_allowed(&config, &bytes);
        }
    }

    /// An IPv6 frame from a peer: `next_header`, then `payload` after the fixed header.
    fn ipv6_from_peer(next_header: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0; 14 + 40];
        bytes[..6].copy_from_slice(CONTAINER_MAC.as_bytes());
        bytes[6..12].copy_from_slice(PEER_MAC.as_bytes());
        bytes[12..14].copy_from_slice(&[0x86, 0xdd]);
        bytes[14] = 0x60;
        bytes[14 + 6] = next_header;
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn ipv6_peers_cannot_pose_as_the_router() {
        let mut config = network();
        config.gateway_ip6 = "fd62:7572:a59:100::1".parse().unwrap();
        config.dns_ip6 = config.gateway_ip6;
        let advert = |target: std::net::Ipv6Addr| {
            let mut icmp = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
            icmp.extend_from_slice(&target.octets());
            ipv6_from_peer(58, &icmp)
        };
        let peer: std::net::Ipv6Addr = "fd62:7572:a59:100::3".parse().unwrap();
        assert!(from_peer_allowed(&config, &advert(peer)));
        assert!(!from_peer_allowed(&config, &advert(config.gateway_ip6)));
        assert!(from_peer_allowed(
            &config,
            &ipv6_from_peer(58, &[128, 0, 0, 0])
        ));
        assert!(!from_peer_allowed(
            &config,
            &ipv6_from_peer(58, &[134, 0, 0, 0])
        ));
        assert!(!from_peer_allowed(
            &config,
            &ipv6_from_peer(58, &[137, 0, 0, 0])
        ));
        assert!(from_peer_allowed(&config, &ipv6_from_peer(6, &[0; 20])));
        assert!(from_peer_allowed(&config, &ipv6_from_peer(17, &[0; 8])));
        // Hop-by-hop options could hide a router advertisement.
        assert!(!from_peer_allowed(
            &config,
            &ipv6_from_peer(0, &[58, 0, 0, 0, 0, 0, 0, 0, 134])
        ));
        let truncated = advert(peer);
        assert!(!from_peer_allowed(&config, &truncated[..14 + 40 + 10]));
        assert!(!from_peer_allowed(&config, &truncated[..14 + 3]));
    }

    #[test]
    fn other_broadcast_and_multicast_go_to_both() {
        let config = network();
        assert_eq!(route(&config, &ipv4_to(EthernetAddress::BROADCAST)), BOTH);
        let multicast = EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 0xfb]);
        assert_eq!(route(&config, &ipv4_to(multicast)), BOTH);
        assert_eq!(route(&config, &[0xff; 3]), STACK);
    }
}
