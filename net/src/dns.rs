//! The container's DNS server (the stack's DNS address, UDP port 53). A query for a
//! name the stack knows ([`crate::NetConfig::answered_names`]) is answered at once;
//! every other query is forwarded unchanged except for its ID to the host's resolvers
//! — those of the host's `/etc/resolv.conf`, loopback ones such as 127.0.0.53 included,
//! since the stack's sockets live in the host's namespace — and the answer is relayed
//! back with the container's ID. A resolver that does not answer within the timeout is
//! skipped for the next one; the table of pending queries is bounded. Only the header
//! and the first question are parsed, with bounds checks on every read.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot read {path}: {error}")]
    ReadResolvConf { path: String, error: std::io::Error },
    #[error("{path} names no nameserver")]
    NoResolver { path: String },
}

/// The host's resolvers from `path` (normally /etc/resolv.conf), port 53.
pub fn host_resolvers(path: &Path) -> Result<Vec<SocketAddr>, DnsError> {
    let text = std::fs::read_to_string(path).map_err(|error| DnsError::ReadResolvConf {
        path: path.display().to_string(),
        error,
    })?;
    let resolvers = parse_resolv_conf(&text);
    if resolvers.is_empty() {
        return Err(DnsError::NoResolver {
            path: path.display().to_string(),
        });
    }
    Ok(resolvers)
}

/// `nameserver` lines of a resolv.conf (IPv6 zone suffixes are not supported).
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Names that change while a stack runs — the members of a user-defined network, which
/// join and leave — consulted by the DNS server on every query it does not answer from
/// its fixed names, before forwarding. `name` is lower-case, without the trailing dot.
pub trait NameSource: Send + Sync {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr>;

    /// The name's IPv6 address, on networks with IPv6.
    fn lookup6(&self, _name: &str) -> Option<std::net::Ipv6Addr> {
        None
    }
}

impl std::fmt::Debug for dyn NameSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NameSource")
    }
}

/// A fixed list of names (matched without regard to case).
#[derive(Clone, Debug, Default)]
pub struct StaticNames(Vec<(String, Ipv4Addr)>);

impl StaticNames {
    pub fn new(names: impl IntoIterator<Item = (String, Ipv4Addr)>) -> StaticNames {
        StaticNames(
            names
                .into_iter()
                .map(|(name, ip)| (name.trim_end_matches('.').to_ascii_lowercase(), ip))
                .collect(),
        )
    }
}

impl NameSource for StaticNames {
    fn lookup(&self, name: &str) -> Option<Ipv4Addr> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, ip)| *ip)
    }
}

const HEADER_LEN: usize = 12;
const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// The first question of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower-case, dot-separated, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just past the question.
    pub end: usize,
}

/// The ID of a DNS message.
pub fn message_id(message: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*message.first()?, *message.get(1)?]))
}

/// Sets the ID of a DNS message (no-op on a message shorter than a header).
pub fn set_message_id(message: &mut [u8], id: u16) {
    if let Some(bytes) = message.get_mut(..2) {
        bytes.copy_from_slice(&id.to_be_bytes());
    }
}

/// Whether `message` is a query (QR clear, opcode QUERY) with one question.
pub fn parse_query(message: &[u8]) -> Option<Question> {
    let header = message.get(..HEADER_LEN)?;
    let is_query = header[2] & 0x80 == 0 && (header[2] >> 3) & 0x0f == 0;
    let questions = u16::from_be_bytes([header[4], header[5]]);
    if !is_query || questions != 1 {
        return None;
    }
    let mut at = HEADER_LEN;
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = usize::from(*message.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None; // compression pointers do not appear in a lone question
        }
        let label = message.get(at..at + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += len;
        if at > 255 + HEADER_LEN {
            return None;
        }
    }
    let qtype = u16::from_be_bytes([*message.get(at)?, *message.get(at + 1)?]);
    let qclass = u16::from_be_bytes([*message.get(at + 2)?, *message.get(at + 3)?]);
    Some(Question {
        name: labels.join("."),
        qtype,
        qclass,
        end: at + 4,
    })
}

/// An answer to `query` from the stack itself: an A record for `address` or an AAAA
/// record for `address6` when the question asks for one that is known, otherwise an
/// empty NOERROR answer (the name exists, with no record of that type).
pub fn local_answer(
    query: &[u8],
    question: &Question,
    address: Ipv4Addr,
    address6: Option<std::net::Ipv6Addr>,
) -> Vec<u8> {
    let mut reply = query[..question.end].to_vec();
    let recursion_desired = reply[2] & 0x01;
    reply[2] = 0x80 | 0x04 | recursion_desired; // QR, AA, RD copied
    reply[3] = 0x80; // RA, RCODE 0
    let record: Option<(u16, Vec<u8>)> = match (question.qtype, question.qclass) {
        (TYPE_A, CLASS_IN) => Some((TYPE_A, address.octets().to_vec())),
        (TYPE_AAAA, CLASS_IN) => address6.map(|a| (TYPE_AAAA, a.octets().to_vec())),
        _ => None,
    };
    let answers: u16 = record.is_some().into();
    reply[6..8].copy_from_slice(&answers.to_be_bytes());
    reply[8..12].fill(0); // no authority, no additional records
    if let Some((rtype, data)) = record {
        reply.extend_from_slice(&[0xc0, HEADER_LEN as u8]); // the question's name
        reply.extend_from_slice(&rtype.to_be_bytes());
        reply.extend_from_slice(&CLASS_IN.to_be_bytes());
        reply.extend_from_slice(&60u32.to_be_bytes());
        reply.extend_from_slice(&(data.len() as u16).to_be_bytes());
        reply.extend_from_slice(&data);
    }
    reply
}

/// A SERVFAIL answer to `query`, when no resolver answered.
pub fn servfail(query: &[u8], question: &Question) -> Vec<u8> {
    let mut reply = query[..question.end].to_vec();
    reply[2] = 0x80 | (reply[2] & 0x01);
    reply[3] = 0x80 | 2;
    reply[6..12].fill(0);
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A query as `nslookup` sends it.
    pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&id.to_be_bytes());
        q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    #[test]
    fn resolv_conf_nameservers_are_read_loopback_included() {
        let text = "# comment\nnameserver 127.0.0.53\nsearch example\nnameserver ::1\nnameserver bogus\noptions edns0\n";
        assert_eq!(
            parse_resolv_conf(text),
            [
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }

    #[test]
    fn a_question_is_parsed_case_insensitively() {
        let q = query(7, "Host.Containers.Internal", TYPE_A);
        let question = parse_query(&q).unwrap();
        assert_eq!(question.name, "host.containers.internal");
        assert_eq!((question.qtype, question.end), (TYPE_A, q.len()));
        assert_eq!(message_id(&q), Some(7));
    }

    #[test]
    fn local_answers_carry_the_address() {
        let q = query(9, "web", TYPE_A);
        let question = parse_query(&q).unwrap();
        let reply = local_answer(&q, &question, Ipv4Addr::new(10, 0, 2, 2), None);
        assert_eq!(message_id(&reply), Some(9));
        assert_eq!(reply[2] & 0x80, 0x80, "a response");
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1);
        assert_eq!(&reply[reply.len() - 4..], &[10, 0, 2, 2]);
        let aaaa = query(9, "web", 28);
        let aaaa_question = parse_query(&aaaa).unwrap();
        let reply = local_answer(&aaaa, &aaaa_question, Ipv4Addr::LOCALHOST, None);
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 0);
        let v6: std::net::Ipv6Addr = "fd62:7572:a59:300::7".parse().unwrap();
        let reply = local_answer(&aaaa, &aaaa_question, Ipv4Addr::LOCALHOST, Some(v6));
        assert_eq!(u16::from_be_bytes([reply[6], reply[7]]), 1);
        assert_eq!(&reply[reply.len() - 16..], &v6.octets());
        assert_eq!(
            &reply[reply.len() - 26..reply.len() - 24],
            &TYPE_AAAA.to_be_bytes()
        );
    }

    #[test]
    fn answers_and_garbage_are_not_queries() {
        let mut q = query(1, "a.b", TYPE_A);
        q[2] |= 0x80;
        assert_eq!(parse_query(&q), None);
        assert_eq!(parse_query(&[1, 2, 3]), None);
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(question) = parse_query(&bytes) {
                let _ = local_answer(&bytes, &question, Ipv4Addr::LOCALHOST, Some(std::net::Ipv6Addr::LOCALHOST));
                let _ = servfail(&bytes, &question);
            }
            let mut copy = bytes.clone();
            set_message_id(&mut copy, 5);
        }
    }

    #[test]
    fn static_names_match_without_regard_to_case() {
        let names = StaticNames::new([("Web.".to_string(), Ipv4Addr::new(10, 89, 1, 3))]);
        let source: &dyn NameSource = &names;
        assert_eq!(source.lookup("web"), Some(Ipv4Addr::new(10, 89, 1, 3)));
        assert_eq!(source.lookup("db"), None);
        assert_eq!(format!("{source:?}"), "NameSource");
    }
}
