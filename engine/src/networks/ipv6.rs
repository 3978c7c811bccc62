//! IPv6 on user-defined networks (`network create --ipv6`): each network
//! gets a /64 — given with `--subnet`, or a ULA prefix derived from its IPv4
//! subnet (`fd62:7572:` followed by the IPv4 subnet's address: distinct IPv4
//! subnets give distinct prefixes). A member's IPv6 address is the prefix
//! plus its IPv4 address's offset in the IPv4 subnet, so the gateway
//! (`A.B.C.1`) is `PREFIX::1` and nothing more has to be allocated or
//! stored: the IPv4 address decides both.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::NetworkRecord;
use crate::error::{EngineError, Result};

/// Where derived prefixes come from (`fd62:7572::/32`).
pub const POOL: (Ipv6Addr, u8) = (Ipv6Addr::new(0xfd62, 0x7572, 0, 0, 0, 0, 0, 0), 32);

/// The only prefix length: the tap device and the stack use /64.
pub const PREFIX_LEN: u8 = 64;

/// `text` as an IPv6 /64 (`fdXX::/64`), its address cleared below the prefix.
pub fn parse_subnet(text: &str) -> Result<Ipv6Addr> {
    let invalid = || EngineError::Other(format!("invalid IPv6 subnet {text:?}: use PREFIX::/64"));
    let (address, len) = text.split_once('/').ok_or_else(invalid)?;
    let address: Ipv6Addr = address.parse().map_err(|_| invalid())?;
    if len.parse::<u8>().map_err(|_| invalid())? != PREFIX_LEN {
        return Err(EngineError::Other(format!(
            "invalid IPv6 subnet {text:?}: only /64 subnets are supported"
        )));
    }
    Ok(prefix_of(address))
}

/// The ULA /64 of a network whose IPv4 subnet starts at `base`.
pub fn derived_subnet(base: Ipv4Addr) -> Ipv6Addr {
    let [a, b, c, d] = base.octets();
    Ipv6Addr::new(
        0xfd62,
        0x7572,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
        0,
        0,
        0,
        0,
    )
}

fn prefix_of(address: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(address) & !(u128::from(u64::MAX)))
}

/// Whether two /64 prefixes are the same.
pub fn same_prefix(a: Ipv6Addr, b: Ipv6Addr) -> bool {
    prefix_of(a) == prefix_of(b)
}

impl NetworkRecord {
    /// The network's IPv6 /64, when it has IPv6.
    pub fn ipv6_prefix(&self) -> Result<Option<Ipv6Addr>> {
        self.subnet6.as_deref().map(parse_subnet).transpose()
    }

    /// The IPv6 address that goes with member address `ip`, when the network
    /// has IPv6.
    pub fn ipv6_of(&self, ip: Ipv4Addr) -> Result<Option<Ipv6Addr>> {
        let Some(prefix) = self.ipv6_prefix()? else {
            return Ok(None);
        };
        let (base, _) = self.prefix()?;
        let offset = u32::from(ip).wrapping_sub(u32::from(base));
        Ok(Some(Ipv6Addr::from(
            u128::from(prefix) | u128::from(offset),
        )))
    }

    /// The gateway's (and DNS server's) IPv6 address.
    pub fn gateway_ip6(&self) -> Result<Option<Ipv6Addr>> {
        self.ipv6_of(self.gateway_ip()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_64s_and_derived_ones_follow_the_ipv4_subnet() {
        assert_eq!(
            parse_subnet("fd00:1:2:3::/64").unwrap(),
            "fd00:1:2:3::".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            parse_subnet("fd00:1:2:3::99/64").unwrap(),
            "fd00:1:2:3::".parse::<Ipv6Addr>().unwrap()
        );
        assert!(parse_subnet("fd00::/48").is_err());
        assert!(parse_subnet("10.0.0.0/64").is_err());
        assert!(parse_subnet("fd00::").is_err());
        assert_eq!(
            derived_subnet(Ipv4Addr::new(10, 89, 3, 0)),
            "fd62:7572:a59:300::".parse::<Ipv6Addr>().unwrap()
        );
        assert!(!same_prefix(
            derived_subnet(Ipv4Addr::new(10, 89, 3, 0)),
            derived_subnet(Ipv4Addr::new(10, 89, 4, 0))
        ));
    }

    #[test]
    fn member_addresses_follow_their_ipv4_offset() {
        let mut record = super::super::builtin("bridge");
        record.subnet = "10.89.3.0/24".into();
        record.gateway = "10.89.3.1".into();
        assert_eq!(record.ipv6_of(Ipv4Addr::new(10, 89, 3, 7)).unwrap(), None);
        record.subnet6 = Some("fd62:7572:a59:300::/64".into());
        assert_eq!(
            record.ipv6_of(Ipv4Addr::new(10, 89, 3, 7)).unwrap(),
            Some("fd62:7572:a59:300::7".parse().unwrap())
        );
        assert_eq!(
            record.gateway_ip6().unwrap(),
            Some("fd62:7572:a59:300::1".parse().unwrap())
        );
    }
}
