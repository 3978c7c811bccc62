//! The rtnetlink requests that configure the container's interfaces: bring `lo` and
//! `eth0` up with an MTU, give `eth0` its address, add the default route.
//!
//! They are built here as plain bytes, before the process forks into the container's
//! namespaces, because the forked child must not allocate (the parent may have other
//! threads holding the allocator's locks); the child only patches in `eth0`'s ifindex,
//! which it learns after creating the device, and sends them. Raw netlink rather than
//! the `rtnetlink` crate (async, needs a tokio runtime) or `neli`/`netlink-packet-route`
//! (whose builders allocate, and whose APIs changed in each recent release): these are
//! four fixed messages of well-known layout, checked by the tests below.

use std::net::IpAddr;

const NLMSG_HDRLEN: usize = 16;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const IFLA_MTU: u16 = 4;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RTN_UNICAST: u8 = 1;
const IFF_UP: u32 = 0x1;
/// The loopback device has this index in every network namespace.
pub const LOOPBACK_IFINDEX: u32 = 1;

/// One request, with the place where the target interface's index goes.
#[derive(Clone, Debug)]
pub struct Request {
    bytes: Vec<u8>,
    ifindex_at: Vec<usize>,
    /// What the request does, for error messages.
    pub what: &'static str,
}

impl Request {
    /// The message bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Writes `ifindex` into the message (does not allocate).
    pub fn set_ifindex(&mut self, ifindex: u32) {
        for &at in &self.ifindex_at {
            self.bytes[at..at + 4].copy_from_slice(&ifindex.to_ne_bytes());
        }
    }
}

struct Builder {
    bytes: Vec<u8>,
    ifindex_at: Vec<usize>,
}

impl Builder {
    fn new(kind: u16, flags: u16, seq: u32) -> Builder {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set by finish
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        bytes.extend_from_slice(&seq.to_ne_bytes());
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel
        Builder {
            bytes,
            ifindex_at: Vec::new(),
        }
    }

    fn push(&mut self, data: &[u8]) -> &mut Builder {
        self.bytes.extend_from_slice(data);
        self
    }

    /// A u32 interface index, patched later when `ifindex` is None.
    fn push_ifindex(&mut self, ifindex: Option<u32>) -> &mut Builder {
        if ifindex.is_none() {
            self.ifindex_at.push(self.bytes.len());
        }
        self.push(&ifindex.unwrap_or(0).to_ne_bytes())
    }

    fn attribute(&mut self, kind: u16, data: &[u8]) -> &mut Builder {
        let len = 4 + data.len();
        self.push(&(len as u16).to_ne_bytes())
            .push(&kind.to_ne_bytes());
        self.push(data);
        self.pad()
    }

    fn ifindex_attribute(&mut self, kind: u16, ifindex: Option<u32>) -> &mut Builder {
        self.push(&8u16.to_ne_bytes()).push(&kind.to_ne_bytes());
        self.push_ifindex(ifindex)
    }

    fn pad(&mut self) -> &mut Builder {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self
    }

    fn finish(mut self, what: &'static str) -> Request {
        let len = self.bytes.len() as u32;
        self.bytes[..4].copy_from_slice(&len.to_ne_bytes());
        Request {
            bytes: self.bytes,
            ifindex_at: self.ifindex_at,
            what,
        }
    }
}

/// Sets an interface up, with an MTU if given. `ifindex` None: patched in later.
pub fn link_up(ifindex: Option<u32>, mtu: Option<u32>, seq: u32, what: &'static str) -> Request {
    let mut b = Builder::new(RTM_NEWLINK, 0, seq);
    b.push(&[libc::AF_UNSPEC as u8, 0])
        .push(&0u16.to_ne_bytes());
    b.push_ifindex(ifindex);
    b.push(&IFF_UP.to_ne_bytes()).push(&IFF_UP.to_ne_bytes());
    if let Some(mtu) = mtu {
        b.attribute(IFLA_MTU, &mtu.to_ne_bytes());
    }
    b.finish(what)
}

/// Adds `address/prefix_len` to the interface (patched in later).
pub fn add_address(address: IpAddr, prefix_len: u8, seq: u32, what: &'static str) -> Request {
    let mut b = Builder::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, seq);
    let (family, flags, bytes) = family_and_bytes(address);
    let flags = if family == libc::AF_INET6 as u8 {
        flags | IFA_F_NODAD
    } else {
        flags
    };
    b.push(&[family, prefix_len, flags, 0]); // scope: universe
    b.push_ifindex(None);
    b.attribute(IFA_LOCAL, &bytes)
        .attribute(IFA_ADDRESS, &bytes);
    b.finish(what)
}

/// Adds the default route via `gateway` through the interface (patched in later).
pub fn default_route(gateway: IpAddr, seq: u32, what: &'static str) -> Request {
    let mut b = Builder::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, seq);
    let (family, _, bytes) = family_and_bytes(gateway);
    // family, dst_len, src_len, tos, table, protocol, scope (universe), type; flags
    b.push(&[family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0, RTN_UNICAST]);
    b.push(&0u32.to_ne_bytes());
    b.attribute(RTA_GATEWAY, &bytes);
    b.ifindex_attribute(RTA_OIF, None);
    b.finish(what)
}

fn family_and_bytes(address: IpAddr) -> (u8, u8, Vec<u8>) {
    match address {
        IpAddr::V4(v4) => (libc::AF_INET as u8, 0, v4.octets().to_vec()),
        IpAddr::V6(v6) => (libc::AF_INET6 as u8, 0, v6.octets().to_vec()),
    }
}

/// The errno of a netlink acknowledgement (0 for success), None when `reply` is not
/// an NLMSG_ERROR message.
pub fn ack_errno(reply: &[u8]) -> Option<i32> {
    const NLMSG_ERROR: u16 = 2;
    let kind = u16::from_ne_bytes(reply.get(4..6)?.try_into().ok()?);
    if kind != NLMSG_ERROR {
        return None;
    }
    let error = i32::from_ne_bytes(reply.get(NLMSG_HDRLEN..NLMSG_HDRLEN + 4)?.try_into().ok()?);
    Some(-error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_ne_bytes(bytes[at..at + 2].try_into().unwrap())
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn link_up_sets_the_up_flag_and_the_mtu() {
        let mut request = link_up(None, Some(65520), 7, "eth0 up");
        request.set_ifindex(3);
        let b = request.bytes();
        assert_eq!(u32_at(b, 0) as usize, b.len());
        assert_eq!(u16_at(b, 4), RTM_NEWLINK);
        assert_eq!(u16_at(b, 6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32_at(b, 8), 7);
        assert_eq!(u32_at(b, 16 + 4), 3, "ifi_index");
        assert_eq!(u32_at(b, 16 + 8), IFF_UP, "ifi_flags");
        assert_eq!(u32_at(b, 16 + 12), IFF_UP, "ifi_change");
        assert_eq!((u16_at(b, 32), u16_at(b, 34)), (8, IFLA_MTU));
        assert_eq!(u32_at(b, 36), 65520);
        assert_eq!(b.len(), 40);
    }

    #[test]
    fn loopback_needs_no_patching() {
        let request = link_up(Some(LOOPBACK_IFINDEX), None, 1, "lo up");
        assert_eq!(u32_at(request.bytes(), 20), 1);
        assert_eq!(request.bytes().len(), 32);
    }

    #[test]
    fn an_ipv4_address_carries_local_and_address_attributes() {
        let mut request = add_address("10.0.2.100".parse().unwrap(), 24, 2, "address");
        request.set_ifindex(2);
        let b = request.bytes();
        assert_eq!(u16_at(b, 4), RTM_NEWADDR);
        assert_eq!(&b[16..20], &[libc::AF_INET as u8, 24, 0, 0]);
        assert_eq!(u32_at(b, 20), 2);
        assert_eq!((u16_at(b, 24), u16_at(b, 26)), (8, IFA_LOCAL));
        assert_eq!(&b[28..32], &[10, 0, 2, 100]);
        assert_eq!((u16_at(b, 32), u16_at(b, 34)), (8, IFA_ADDRESS));
        assert_eq!(b.len(), 40);
    }

    #[test]
    fn an_ipv6_address_skips_duplicate_detection() {
        let request = add_address("fd00::100".parse().unwrap(), 64, 2, "address");
        let b = request.bytes();
        assert_eq!(b[16], libc::AF_INET6 as u8);
        assert_eq!(b[18], IFA_F_NODAD);
        assert_eq!(b.len(), 16 + 8 + 20 + 20);
    }

    #[test]
    fn the_default_route_goes_via_the_gateway_out_of_the_interface() {
        let mut request = default_route("10.0.2.2".parse().unwrap(), 3, "route");
        request.set_ifindex(2);
        let b = request.bytes();
        assert_eq!(u16_at(b, 4), RTM_NEWROUTE);
        assert_eq!(b[16 + 1], 0, "dst_len 0: default");
        assert_eq!(b[16 + 4], RT_TABLE_MAIN);
        assert_eq!((u16_at(b, 28), u16_at(b, 30)), (8, RTA_GATEWAY));
        assert_eq!(&b[32..36], &[10, 0, 2, 2]);
        assert_eq!((u16_at(b, 36), u16_at(b, 38)), (8, RTA_OIF));
        assert_eq!(u32_at(b, 40), 2);
    }

    #[test]
    fn acks_are_decoded() {
        let mut ack = vec![0u8; 36];
        ack[4..6].copy_from_slice(&2u16.to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(0));
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(ack_errno(&ack), Some(17));
        assert_eq!(ack_errno(&ack[..10]), None);
        ack[4..6].copy_from_slice(&3u16.to_ne_bytes());
        assert_eq!(ack_errno(&ack), None);
    }
}
