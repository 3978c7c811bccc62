//! Published ports: `-p [hostip:]hostport:containerport[/tcp|/udp]`, port ranges
//! (`8000-8002:80-82`), a random free host port for `-p containerport` or
//! `-p hostip::containerport`. The host listeners are bound here, before the container
//! starts, so a port already in use is a clear error and not a container that runs
//! unreachable. Without a host address a port is published on all addresses (0.0.0.0),
//! as Docker and Podman do; tests always name 127.0.0.1.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// One host port forwarded to one container port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub host_ip: IpAddr,
    /// 0: a random free port, chosen when binding.
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}->{}/{}",
            SocketAddr::new(self.host_ip, self.host_port),
            self.container_port,
            self.protocol
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("invalid port mapping {spec:?}: {reason}")]
    Invalid { spec: String, reason: String },
    #[error("cannot publish {mapping}: {} is already in use", SocketAddr::new(mapping.host_ip, mapping.host_port))]
    PortInUse { mapping: PortMapping },
    #[error("cannot publish {mapping}: {error}")]
    Bind {
        mapping: PortMapping,
        error: io::Error,
    },
}

/// Parses one `-p` value into its mappings (a range gives several).
pub fn parse_publish(spec: &str) -> Result<Vec<PortMapping>, PublishError> {
    let invalid = |reason: &str| PublishError::Invalid {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let (ports, protocol) = match spec.rsplit_once('/') {
        Some((ports, "tcp")) => (ports, Protocol::Tcp),
        Some((ports, "udp")) => (ports, Protocol::Udp),
        Some(_) => return Err(invalid("the protocol must be tcp or udp")),
        None => (spec, Protocol::Tcp),
    };
    let (host_ip, rest) = split_host_ip(ports).map_err(|r| invalid(&r))?;
    let (host_ports, container_ports) = match rest.rsplit_once(':') {
        Some((host, container)) => (host, container),
        None => ("", rest),
    };
    let container = parse_range(container_ports).map_err(|r| invalid(&r))?;
    let host = if host_ports.is_empty() {
        None
    } else {
        Some(parse_range(host_ports).map_err(|r| invalid(&r))?)
    };
    if let Some(host) = host {
        if host.1 - host.0 != container.1 - container.0 {
            return Err(invalid("the host and container ranges differ in length"));
        }
    }
    let host_ip = host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    Ok((container.0..=container.1)
        .enumerate()
        .map(|(i, container_port)| PortMapping {
            host_ip,
            host_port: host.map_or(0, |h| h.0 + i as u16),
            container_port,
            protocol,
        })
        .collect())
}

/// Splits a leading host address off `host:container` forms: `1.2.3.4:80:80`,
/// `[::1]:80:80`, `1.2.3.4::80`.
fn split_host_ip(ports: &str) -> Result<(Option<IpAddr>, &str), String> {
    if let Some(rest) = ports.strip_prefix('[') {
        let (ip, rest) = rest
            .split_once("]:")
            .ok_or("unclosed [ in the host address")?;
        let ip = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IP address"))?;
        return Ok((Some(ip), rest));
    }
    if ports.matches(':').count() < 2 {
        return Ok((None, ports));
    }
    let (ip, rest) = ports.split_once(':').ok_or("missing host address")?;
    let ip = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address"))?;
    Ok((Some(ip), rest))
}

fn parse_range(text: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{p:?} is not a port (1-65535)")),
        Ok(n) => Ok(n),
    };
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (port(low)?, port(high)?);
            if low > high {
                return Err(format!("empty range {text}"));
            }
            Ok((low, high))
        }
        None => {
            let p = port(text)?;
            Ok((p, p))
        }
    }
}

/// A published port with its host socket bound.
#[derive(Debug)]
pub enum BoundPort {
    Tcp {
        mapping: PortMapping,
        listener: TcpListener,
    },
    Udp {
        mapping: PortMapping,
        socket: UdpSocket,
    },
}

impl BoundPort {
    /// The mapping with the host port actually bound.
    pub fn mapping(&self) -> PortMapping {
        match self {
            BoundPort::Tcp { mapping, .. } | BoundPort::Udp { mapping, .. } => *mapping,
        }
    }
}

/// Binds every mapping's host socket (non-blocking), or fails on the first that cannot
/// be bound, naming it.
pub fn bind_published(mappings: &[PortMapping]) -> Result<Vec<BoundPort>, PublishError> {
    mappings.iter().map(bind_one).collect()
}

fn bind_one(mapping: &PortMapping) -> Result<BoundPort, PublishError> {
    let at = SocketAddr::new(mapping.host_ip, mapping.host_port);
    let error = |error: io::Error| match error.kind() {
        io::ErrorKind::AddrInUse => PublishError::PortInUse { mapping: *mapping },
        _ => PublishError::Bind {
            mapping: *mapping,
            error,
        },
    };
    let mut bound = *mapping;
    match mapping.protocol {
        Protocol::Tcp => {
            let listener = TcpListener::bind(at).map_err(error)?;
            listener.set_nonblocking(true).map_err(error)?;
            bound.host_port = listener.local_addr().map_err(error)?.port();
            Ok(BoundPort::Tcp {
                mapping: bound,
                listener,
            })
        }
        Protocol::Udp => {
            let socket = UdpSocket::bind(at).map_err(error)?;
            socket.set_nonblocking(true).map_err(error)?;
            bound.host_port = socket.local_addr().map_err(error)?.port();
            Ok(BoundPort::Udp {
                mapping: bound,
                socket,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortMapping {
        let mut all = parse_publish(spec).unwrap();
        assert_eq!(all.len(), 1, "{spec}");
        all.remove(0)
    }

    #[test]
    fn the_docker_forms_parse() {
        let m = one("8080:80");
        assert_eq!(
            (m.host_ip, m.host_port, m.container_port),
            ("0.0.0.0".parse().unwrap(), 8080, 80)
        );
        assert_eq!(m.protocol, Protocol::Tcp);
        let m = one("127.0.0.1:8080:80/udp");
        assert_eq!(
            (m.host_ip, m.host_port, m.container_port),
            ("127.0.0.1".parse().unwrap(), 8080, 80)
        );
        assert_eq!(m.protocol, Protocol::Udp);
        let m = one("80");
        assert_eq!((m.host_port, m.container_port), (0, 80));
        let m = one("127.0.0.1::80");
        assert_eq!((m.host_ip, m.host_port), ("127.0.0.1".parse().unwrap(), 0));
        let m = one("[::1]:8080:80/tcp");
        assert_eq!(m.host_ip, "::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ranges_expand_pairwise() {
        let all = parse_publish("127.0.0.1:9000-9002:8000-8002").unwrap();
        let pairs: Vec<(u16, u16)> = all
            .iter()
            .map(|m| (m.host_port, m.container_port))
            .collect();
        assert_eq!(pairs, [(9000, 8000), (9001, 8001), (9002, 8002)]);
        let random: Vec<u16> = parse_publish("7000-7001")
            .unwrap()
            .iter()
            .map(|m| m.host_port)
            .collect();
        assert_eq!(random, [0, 0]);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for spec in [
            "",
            "x",
            "0",
            "80:0",
            "70000",
            "1-2:3",
            "9-8",
            "80/sctp",
            "nope:80:80",
            "[::1:80:80",
        ] {
            let error = parse_publish(spec).unwrap_err();
            assert!(
                matches!(error, PublishError::Invalid { .. }),
                "{spec}: {error}"
            );
        }
    }

    #[test]
    fn a_port_in_use_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mapping = one(&format!("127.0.0.1:{port}:80"));
        let error = bind_published(&[mapping]).unwrap_err();
        assert!(matches!(error, PublishError::PortInUse { .. }), "{error}");
        assert!(
            error
                .to_string()
                .contains(&format!("127.0.0.1:{port} is already in use")),
            "{error}"
        );
    }

    #[test]
    fn random_ports_are_filled_in_when_bound() {
        let bound = bind_published(&parse_publish("127.0.0.1::80/udp").unwrap()).unwrap();
        assert_ne!(bound[0].mapping().host_port, 0);
    }
}
