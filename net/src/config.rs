//! What one container's network looks like: addresses, MTU, the host-loopback opt-in,
//! DNS upstreams, published ports and the bounds on the flow tables.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::dns::NameSource;

use crate::publish::PortMapping;

/// The network of one container.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// MTU of `eth0` and of the stack's interface.
    pub mtu: u32,
    /// The container's address on `eth0`.
    pub container_ip: Ipv4Addr,
    /// Prefix length of the container's subnet.
    pub prefix_len: u8,
    /// The stack's address: the container's default gateway.
    pub gateway_ip: Ipv4Addr,
    /// The stack's DNS address (written to the container's resolv.conf).
    pub dns_ip: Ipv4Addr,
    /// IPv6 alongside IPv4: the container gets `container_ip6/64` (a ULA prefix, as
    /// slirp4netns's fd00::/64 plan) with the stack at `gateway_ip6` and `dns_ip6`.
    pub ipv6: bool,
    pub container_ip6: Ipv6Addr,
    pub gateway_ip6: Ipv6Addr,
    pub dns_ip6: Ipv6Addr,
    /// Map the gateway address to the host's 127.0.0.1 (off by default, like
    /// slirp4netns `--disable-host-loopback`).
    pub host_loopback: bool,
    /// Carry ICMP echo to forwarded destinations through ping sockets; when false (or
    /// when ping sockets are not allowed) the container is told "prohibited".
    pub icmp_forward: bool,
    /// Connect published TCP ports' loopback clients to the container port through the
    /// namespace's own loopback, without the userspace TCP stack (pasta's splice; the
    /// container sees the client as 127.0.0.1 instead of the gateway). Off by default:
    /// measured here, the stack path is as fast for short connections and faster for
    /// bulk transfers (see bench/RESULTS.md).
    pub splice_loopback: bool,
    /// Resolvers that DNS queries are forwarded to; empty means the host's
    /// `/etc/resolv.conf` (see [`crate::dns::host_resolvers`]).
    pub dns_upstreams: Vec<SocketAddr>,
    /// Names the stack's DNS server answers itself, before forwarding.
    pub local_names: Vec<(String, Ipv4Addr)>,
    /// Names that change while the stack runs (a user network's members), asked on
    /// every query after `local_names` and before forwarding.
    pub names: Option<Arc<dyn NameSource>>,
    /// The unix socket of the user-defined network's switch ([`crate::switch`]): frames
    /// for other members of the subnet go there. Needs a tap with virtio-net headers;
    /// IPv6 should be off (every container would get the same `container_ip6`).
    pub switch: Option<PathBuf>,
    /// Docker's `--internal`: nothing outside the subnet is reachable (no NAT, no
    /// host loopback, no upstream DNS); the stack's DNS still answers members' names.
    pub internal: bool,
    /// Subnets never forwarded to the host (the engine's user-defined networks):
    /// flows to them are refused inside the stack.
    pub refused_subnets: Vec<(Ipv4Addr, u8)>,
    /// The same for IPv6.
    pub refused_subnets6: Vec<(Ipv6Addr, u8)>,
    /// Ports published on the host.
    pub publish: Vec<PortMapping>,
    pub limits: Limits,
}

/// Bounds that keep a container that floods SYNs or datagrams from growing the stack.
#[derive(Clone, Debug)]
pub struct Limits {
    /// TCP connections (both directions) at once; a SYN beyond it is answered with RST.
    pub max_tcp_flows: usize,
    /// UDP flows at once; a datagram that would open one more is dropped.
    pub max_udp_flows: usize,
    /// DNS queries waiting for an upstream answer; more are dropped.
    pub max_dns_pending: usize,
    /// ICMP echo flows at once.
    pub max_ping_flows: usize,
    /// A UDP flow with no datagram either way for this long is closed.
    pub udp_idle: Duration,
    /// ... or for this long while the UDP table is full, so that after a flood of
    /// datagrams to many destinations new flows open again within seconds, not a minute.
    pub udp_idle_when_full: Duration,
    /// A host-side connect that has not finished by then is refused to the container.
    pub tcp_connect_timeout: Duration,
    /// A container that leaves the stack's TCP segments unanswered this long loses the
    /// connection: a handshake it never completes (a SYN flood from spoofed or
    /// firewalled sources), or data it never acknowledges. Without it such flows would
    /// hold their table slots forever and a flood would refuse new connections for good.
    pub tcp_unresponsive: Duration,
    /// An upstream DNS server that has not answered by then is skipped.
    pub dns_timeout: Duration,
    /// Receive and send buffer of each smoltcp TCP socket, bytes.
    pub tcp_buffer: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_tcp_flows: 1024,
            max_udp_flows: 512,
            max_dns_pending: 256,
            max_ping_flows: 64,
            udp_idle: Duration::from_secs(60),
            udp_idle_when_full: Duration::from_secs(5),
            tcp_connect_timeout: Duration::from_secs(30),
            tcp_unresponsive: Duration::from_secs(60),
            dns_timeout: Duration::from_secs(2),
            tcp_buffer: 1024 * 1024,
        }
    }
}

impl Default for NetConfig {
    fn default() -> NetConfig {
        NetConfig {
            mtu: 65520,
            container_ip: Ipv4Addr::new(10, 0, 2, 100),
            prefix_len: 24,
            gateway_ip: Ipv4Addr::new(10, 0, 2, 2),
            dns_ip: Ipv4Addr::new(10, 0, 2, 3),
            ipv6: true,
            container_ip6: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x100),
            gateway_ip6: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2),
            dns_ip6: Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3),
            host_loopback: false,
            icmp_forward: true,
            splice_loopback: false,
            dns_upstreams: Vec::new(),
            local_names: Vec::new(),
            names: None,
            switch: None,
            internal: false,
            refused_subnets: Vec::new(),
            refused_subnets6: Vec::new(),
            publish: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl NetConfig {
    /// Whether `addr` is inside the container's subnet.
    pub fn in_subnet(&self, addr: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.prefix_len);
        u32::from(addr) & mask == u32::from(self.container_ip) & mask
    }

    /// Whether `addr` is in one of `refused_subnets`.
    pub fn is_refused(&self, addr: Ipv4Addr) -> bool {
        self.refused_subnets.iter().any(|(base, len)| {
            u32::from(addr) & prefix_mask(*len) == u32::from(*base) & prefix_mask(*len)
        })
    }

    /// Whether `addr` is in one of `refused_subnets6`.
    pub fn is_refused6(&self, addr: Ipv6Addr) -> bool {
        self.refused_subnets6.iter().any(|(base, len)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            u128::from(addr) & mask == u128::from(*base) & mask
        })
    }

    /// Whether `addr` is inside the container's IPv6 subnet (a /64).
    pub fn in_subnet6(&self, addr: Ipv6Addr) -> bool {
        addr.segments()[..4] == self.container_ip6.segments()[..4]
    }

    /// The names the DNS server answers itself: the configured ones, plus
    /// `host.containers.internal` and `host.docker.internal` for the gateway when the
    /// host's loopback is reachable (not on an internal network).
    pub fn answered_names(&self) -> Vec<(String, Ipv4Addr)> {
        let mut names = self.local_names.clone();
        if self.host_loopback && !self.internal {
            for name in ["host.containers.internal", "host.docker.internal"] {
                names.push((name.to_string(), self.gateway_ip));
            }
        }
        names
    }
}

fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n if n >= 32 => u32::MAX,
        n => u32::MAX << (32 - u32::from(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_subnet_is_slirp4netns_plan() {
        let config = NetConfig::default();
        assert!(config.in_subnet(Ipv4Addr::new(10, 0, 2, 7)));
        assert!(!config.in_subnet(Ipv4Addr::new(10, 0, 3, 7)));
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(32), u32::MAX);
    }

    #[test]
    fn host_names_exist_only_with_the_loopback_opt_in() {
        let mut config = NetConfig::default();
        assert!(config.answered_names().is_empty());
        config.host_loopback = true;
        assert!(config
            .answered_names()
            .contains(&("host.containers.internal".into(), config.gateway_ip)));
    }
}
