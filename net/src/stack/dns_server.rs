//! The DNS server on the stack's DNS address (see [`crate::dns`] for what it answers
//! and where it forwards). Forwarded queries get a fresh ID; the answer must come from
//! the resolver the query was sent to and carry that ID, or it is ignored. A query not
//! answered within `dns_timeout` goes to the next resolver, and after the last one the
//! container gets SERVFAIL. Names are looked up in the fixed list first, then in the
//! configured [`crate::NameSource`] (asked again on every query: members come and go).
//! An internal network forwards nothing: other names get SERVFAIL at once.
//!
//! Each resolver gets a socket of its own, connected to it, so the kernel drops
//! datagrams from anyone else and no socket on the host accepts from anyone;
//! forwarded IDs come from a randomly seeded sequence. An internal network
//! opens none.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use mio::{Interest, Poll};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::udp::{self, UdpMetadata};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint};

use super::udp::new_udp_socket;
use super::{Stack, DNS_UPSTREAM};
use crate::config::NetConfig;
use crate::dns;

struct Pending {
    client: IpEndpoint,
    client_id: u16,
    query: Vec<u8>,
    upstream: usize,
    deadline: Instant,
}

pub(super) struct DnsServer {
    /// The IPv4 socket, then the IPv6 one when IPv6 is on.
    handles: Vec<SocketHandle>,
    upstreams: Vec<SocketAddr>,
    /// A socket connected to each upstream, in the same order; empty on an
    /// internal network.
    upstream_sockets: Vec<mio::net::UdpSocket>,
    pub upstream_readable: bool,
    pending: HashMap<u16, Pending>,
    next_id: u16,
    names: Vec<(String, Ipv4Addr)>,
}

impl DnsServer {
    pub fn new(
        config: &NetConfig,
        sockets: &mut SocketSet<'static>,
        poll: &Poll,
    ) -> io::Result<DnsServer> {
        let mut addresses = vec![IpAddr::V4(config.dns_ip)];
        if config.ipv6 {
            addresses.push(IpAddr::V6(config.dns_ip6));
        }
        let mut handles = Vec::new();
        for address in addresses {
            let mut socket = new_udp_socket();
            socket
                .bind(IpListenEndpoint {
                    addr: Some(address.into()),
                    port: 53,
                })
                .map_err(|e| io::Error::other(format!("bind the DNS socket: {e}")))?;
            handles.push(sockets.add(socket));
        }
        let candidates: Vec<SocketAddr> = match (config.internal, config.dns_upstreams.is_empty()) {
            (true, _) => Vec::new(),
            (false, true) => dns::host_resolvers(Path::new("/etc/resolv.conf")).unwrap_or_default(),
            (false, false) => config.dns_upstreams.clone(),
        };
        // A resolver the host cannot route to is left out, not fatal.
        let (mut upstreams, mut upstream_sockets) = (Vec::new(), Vec::new());
        for upstream in candidates {
            if let Ok(mut socket) = connected_socket(upstream) {
                poll.registry()
                    .register(&mut socket, DNS_UPSTREAM, Interest::READABLE)?;
                upstreams.push(upstream);
                upstream_sockets.push(socket);
            }
        }
        Ok(DnsServer {
            handles,
            upstreams,
            upstream_sockets,
            upstream_readable: false,
            pending: HashMap::new(),
            next_id: super::random_seed() as u16,
            names: config.answered_names(),
        })
    }

    fn fresh_id(&mut self) -> u16 {
        loop {
            self.next_id = self.next_id.wrapping_mul(25173).wrapping_add(13849);
            if !self.pending.contains_key(&self.next_id) {
                return self.next_id;
            }
        }
    }

    fn send_upstream(&self, pending: &Pending, id: u16) {
        let Some(socket) = self.upstream_sockets.get(pending.upstream) else {
            return;
        };
        let mut query = pending.query.clone();
        dns::set_message_id(&mut query, id);
        let _ = socket.send(&query);
    }
}

/// A UDP socket on an ephemeral port that takes datagrams from `upstream` only.
fn connected_socket(upstream: SocketAddr) -> io::Result<mio::net::UdpSocket> {
    let any: IpAddr = match upstream {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => std::net::Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = mio::net::UdpSocket::bind(SocketAddr::new(any, 0))?;
    socket.connect(upstream)?;
    Ok(socket)
}

impl Stack {
    pub(super) fn dns_turn(&mut self) -> bool {
        let mut progress = false;
        // Queries from the container.
        for index in 0..self.dns.handles.len() {
            loop {
                let socket = self.sockets.get_mut::<udp::Socket>(self.dns.handles[index]);
                let Ok((query, meta)) = socket.recv() else {
                    break;
                };
                progress = true;
                let query = query.to_vec();
                self.handle_query(query, meta.endpoint);
            }
        }
        // Answers from upstream (one readiness for all their sockets: drain each).
        if self.dns.upstream_readable {
            self.dns.upstream_readable = false;
            for upstream in 0..self.dns.upstream_sockets.len() {
                progress |= self.upstream_answers(upstream);
            }
        }
        progress
    }

    /// Forwards the answers waiting on upstream `index`'s socket; whether any came.
    fn upstream_answers(&mut self, index: usize) -> bool {
        let mut progress = false;
        loop {
            let received = match self.dns.upstream_sockets.get(index) {
                Some(socket) => socket.recv(&mut self.scratch),
                None => return progress,
            };
            let n = match received {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return progress,
            };
            progress = true;
            let answer = &mut self.scratch[..n];
            let Some(id) = dns::message_id(answer) else {
                continue;
            };
            // The answer must come from the resolver the query went to last.
            if self.dns.pending.get(&id).map(|p| p.upstream) != Some(index) {
                continue;
            }
            let Some(pending) = self.dns.pending.remove(&id) else {
                continue;
            };
            dns::set_message_id(answer, pending.client_id);
            let scratch = std::mem::take(&mut self.scratch);
            self.reply_dns(pending.client, &scratch[..n]);
            self.scratch = scratch;
        }
    }

    fn handle_query(&mut self, query: Vec<u8>, client: IpEndpoint) {
        let Some(question) = dns::parse_query(&query) else {
            return;
        };
        let fixed = self
            .dns
            .names
            .iter()
            .find(|(name, _)| *name == question.name)
            .map(|(_, ip)| (*ip, None));
        let local = fixed.or_else(|| {
            let source = self.config.names.as_ref()?;
            let address = source.lookup(&question.name)?;
            Some((address, source.lookup6(&question.name)))
        });
        if let Some((address, address6)) = local {
            self.stats.dns_local += 1;
            let answer = dns::local_answer(&query, &question, address, address6);
            self.reply_dns(client, &answer);
            return;
        }
        if self.dns.upstream_sockets.is_empty() {
            self.reply_dns(client, &dns::servfail(&query, &question));
            return;
        }
        if self.dns.pending.len() >= self.config.limits.max_dns_pending {
            return; // the container's resolver retries
        }
        let Some(client_id) = dns::message_id(&query) else {
            return;
        };
        let pending = Pending {
            client,
            client_id,
            query,
            upstream: 0,
            deadline: Instant::now() + self.config.limits.dns_timeout,
        };
        let id = self.dns.fresh_id();
        self.dns.send_upstream(&pending, id);
        self.dns.pending.insert(id, pending);
        self.stats.dns_forwarded += 1;
    }

    fn reply_dns(&mut self, client: IpEndpoint, answer: &[u8]) {
        let (local, handle) = match client.addr {
            smoltcp::wire::IpAddress::Ipv6(_) if self.dns.handles.len() > 1 => {
                (IpAddr::V6(self.config.dns_ip6), self.dns.handles[1])
            }
            _ => (IpAddr::V4(self.config.dns_ip), self.dns.handles[0]),
        };
        let meta = UdpMetadata {
            endpoint: client,
            local_address: Some(local.into()),
            meta: Default::default(),
        };
        let socket = self.sockets.get_mut::<udp::Socket>(handle);
        let _ = socket.send_slice(answer, meta);
    }

    pub(super) fn dns_expire(&mut self, now: Instant) {
        let late: Vec<u16> = self
            .dns
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(&id, _)| id)
            .collect();
        for id in late {
            let Some(mut pending) = self.dns.pending.remove(&id) else {
                continue;
            };
            pending.upstream += 1;
            if pending.upstream < self.dns.upstreams.len() {
                pending.deadline = now + self.config.limits.dns_timeout;
                let id = self.dns.fresh_id();
                self.dns.send_upstream(&pending, id);
                self.dns.pending.insert(id, pending);
            } else if let Some(question) = dns::parse_query(&pending.query) {
                let mut answer = dns::servfail(&pending.query, &question);
                dns::set_message_id(&mut answer, pending.client_id);
                self.reply_dns(pending.client, &answer);
            }
        }
    }
}
