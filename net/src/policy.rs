//! Where a packet from the container may go. Every flow the container opens is
//! decided here before any host socket exists (IPv6 follows the same rules with its
//! own gateway, DNS address and /64, and also refuses link-local and v4-mapped
//! destinations):
//!
//! - the gateway address is the host's loopback (127.0.0.1, ::1) when the user opted in, and
//!   unreachable otherwise (the container learns it by an RST or an ICMP error);
//! - the DNS address is served by the stack itself (UDP port 53 only);
//! - other addresses of the container's own subnet do not exist;
//! - the subnets of the engine's other networks (`refused_subnets`) are never NATed:
//!   a container reaches them through an interface on that network or not at all,
//!   and its traffic must not leave for the host (refused at once, RST or ICMP);
//! - loopback, unspecified, multicast and broadcast destinations are never forwarded;
//! - everything else is forwarded to the same address and port from a host socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::config::NetConfig;

/// What to do with a flow the container opens towards a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Open a host socket to this address.
    Forward(SocketAddr),
    /// The stack answers itself (its DNS server).
    Local,
    /// Refuse: TCP gets an RST, UDP an ICMP port-unreachable.
    Refuse,
}

/// The transport of a flow, for [`decide`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
}

/// Decides where a flow to `dst` goes. On an internal network nothing is forwarded.
pub fn decide(config: &NetConfig, transport: Transport, dst: SocketAddr) -> Verdict {
    match decide_any(config, transport, dst) {
        Verdict::Forward(_) if config.internal => Verdict::Refuse,
        verdict => verdict,
    }
}

fn decide_any(config: &NetConfig, transport: Transport, dst: SocketAddr) -> Verdict {
    let ip = match dst.ip() {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(ip) => return decide6(config, transport, ip, dst.port()),
    };
    // DNS first: one address may be both the DNS server and the gateway.
    if ip == config.dns_ip
        && matches!(
            (transport, dst.port()),
            (Transport::Udp, 53) | (Transport::Icmp, _)
        )
    {
        return Verdict::Local;
    }
    if ip == config.gateway_ip {
        return match config.host_loopback {
            true => Verdict::Forward(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), dst.port())),
            false => Verdict::Refuse,
        };
    }
    if ip == config.dns_ip {
        return Verdict::Refuse;
    }
    if config.in_subnet(ip)
        || config.is_refused(ip)
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || dst.port() == 0 && transport != Transport::Icmp
    {
        return Verdict::Refuse;
    }
    Verdict::Forward(dst)
}

fn decide6(config: &NetConfig, transport: Transport, ip: Ipv6Addr, port: u16) -> Verdict {
    if !config.ipv6 {
        return Verdict::Refuse;
    }
    if ip == config.gateway_ip6 {
        return match config.host_loopback {
            true => Verdict::Forward(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)),
            false => Verdict::Refuse,
        };
    }
    if ip == config.dns_ip6 {
        return match (transport, port) {
            (Transport::Udp, 53) | (Transport::Icmp, _) => Verdict::Local,
            _ => Verdict::Refuse,
        };
    }
    let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
    if config.in_subnet6(ip)
        || config.is_refused6(ip)
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || link_local
        || ip.to_ipv4_mapped().is_some()
        || port == 0 && transport != Transport::Icmp
    {
        return Verdict::Refuse;
    }
    Verdict::Forward(SocketAddr::new(ip.into(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_other_subnets_are_refused() {
        let mut config = NetConfig::default();
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 89, 3, 7], 80)),
            Verdict::Forward(at([10, 89, 3, 7], 80))
        );
        config.refused_subnets = vec![(std::net::Ipv4Addr::new(10, 89, 0, 0), 16)];
        for transport in [Transport::Tcp, Transport::Udp, Transport::Icmp] {
            assert_eq!(
                decide(&config, transport, at([10, 89, 3, 7], 80)),
                Verdict::Refuse
            );
        }
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 90, 3, 7], 80)),
            Verdict::Forward(at([10, 90, 3, 7], 80))
        );
        let member6: SocketAddr = "[fd62:7572:a59:300::7]:80".parse().unwrap();
        let elsewhere6: SocketAddr = "[2001:db8::7]:80".parse().unwrap();
        assert_eq!(
            decide(&config, Transport::Tcp, member6),
            Verdict::Forward(member6)
        );
        config.refused_subnets6 = vec![("fd62:7572::".parse().unwrap(), 32)];
        for transport in [Transport::Tcp, Transport::Udp, Transport::Icmp] {
            assert_eq!(decide(&config, transport, member6), Verdict::Refuse);
        }
        assert_eq!(
            decide(&config, Transport::Tcp, elsewhere6),
            Verdict::Forward(elsewhere6)
        );
    }

    fn at(ip: [u8; 4], port: u16) -> SocketAddr {
        SocketAddr::from((ip, port))
    }

    #[test]
    fn the_gateway_is_the_host_loopback_only_with_the_opt_in() {
        let mut config = NetConfig::default();
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 0, 2, 2], 80)),
            Verdict::Refuse
        );
        config.host_loopback = true;
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 0, 2, 2], 80)),
            Verdict::Forward(at([127, 0, 0, 1], 80))
        );
    }

    #[test]
    fn dns_is_local_and_the_rest_of_the_subnet_does_not_exist() {
        let config = NetConfig::default();
        assert_eq!(
            decide(&config, Transport::Udp, at([10, 0, 2, 3], 53)),
            Verdict::Local
        );
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 0, 2, 3], 53)),
            Verdict::Refuse
        );
        assert_eq!(
            decide(&config, Transport::Tcp, at([10, 0, 2, 9], 80)),
            Verdict::Refuse
        );
        assert_eq!(
            decide(&config, Transport::Udp, at([127, 0, 0, 1], 53)),
            Verdict::Refuse
        );
        assert_eq!(
            decide(&config, Transport::Udp, at([224, 0, 0, 251], 5353)),
            Verdict::Refuse
        );
    }

    #[test]
    fn ipv6_follows_the_same_plan() {
        let mut config = NetConfig::default();
        let gateway: SocketAddr = "[fd00::2]:80".parse().unwrap();
        assert_eq!(decide(&config, Transport::Tcp, gateway), Verdict::Refuse);
        config.host_loopback = true;
        assert_eq!(
            decide(&config, Transport::Tcp, gateway),
            Verdict::Forward("[::1]:80".parse().unwrap())
        );
        for refused in [
            "[fd00::9]:80",
            "[fe80::1]:80",
            "[ff02::1]:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            let dst: SocketAddr = refused.parse().unwrap();
            assert_eq!(
                decide(&config, Transport::Tcp, dst),
                Verdict::Refuse,
                "{dst}"
            );
        }
        let dns: SocketAddr = "[fd00::3]:53".parse().unwrap();
        assert_eq!(decide(&config, Transport::Udp, dns), Verdict::Local);
        let far: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(decide(&config, Transport::Tcp, far), Verdict::Forward(far));
        config.ipv6 = false;
        assert_eq!(decide(&config, Transport::Tcp, far), Verdict::Refuse);
    }

    #[test]
    fn other_destinations_are_forwarded_unchanged() {
        let config = NetConfig::default();
        let dst = at([192, 0, 2, 1], 443);
        assert_eq!(decide(&config, Transport::Tcp, dst), Verdict::Forward(dst));
    }

    #[test]
    fn one_address_can_be_gateway_and_dns() {
        let config = NetConfig {
            container_ip: Ipv4Addr::new(10, 89, 1, 2),
            gateway_ip: Ipv4Addr::new(10, 89, 1, 1),
            dns_ip: Ipv4Addr::new(10, 89, 1, 1),
            ..NetConfig::default()
        };
        let both = [10, 89, 1, 1];
        assert_eq!(
            decide(&config, Transport::Udp, at(both, 53)),
            Verdict::Local
        );
        assert_eq!(
            decide(&config, Transport::Icmp, at(both, 0)),
            Verdict::Local
        );
        assert_eq!(
            decide(&config, Transport::Tcp, at(both, 53)),
            Verdict::Refuse
        );
        assert_eq!(
            decide(&config, Transport::Udp, at(both, 54)),
            Verdict::Refuse
        );
    }

    #[test]
    fn an_internal_network_forwards_nothing() {
        let config = NetConfig {
            internal: true,
            host_loopback: true,
            ..NetConfig::default()
        };
        for transport in [Transport::Tcp, Transport::Udp, Transport::Icmp] {
            assert_eq!(
                decide(&config, transport, at([192, 0, 2, 1], 443)),
                Verdict::Refuse
            );
            assert_eq!(
                decide(&config, transport, at([10, 0, 2, 2], 80)),
                Verdict::Refuse
            );
        }
        let far: SocketAddr = "[2001:db8::1]:443".parse().unwrap();
        assert_eq!(decide(&config, Transport::Tcp, far), Verdict::Refuse);
        assert_eq!(
            decide(&config, Transport::Udp, at([10, 0, 2, 3], 53)),
            Verdict::Local
        );
    }
}
