//! TCP between the container and host sockets.
//!
//! Outbound (the container connects): on a SYN to a destination the policy forwards,
//! a non-blocking host connect starts and a smoltcp socket listens on exactly that
//! destination with its SYN-ACK held (`pause_synack`). The flow is `Connecting` until
//! the host socket becomes writable: connected → the SYN-ACK goes out and the flow is
//! `Open`; refused, unreachable or timed out → the socket aborts, which answers the
//! container with an RST, as the real destination would have.
//!
//! Inbound (a client connects to a published port): the accepted host stream is paired
//! with a smoltcp socket that connects to the container's port from the client's
//! address (the gateway's for the host's loopback), so the container sees the real
//! client where it can; a container that refuses makes the stack close the stream.
//!
//! `Open` flows copy bytes directly between the host socket and the smoltcp socket
//! buffers, each way until the reader would block or the writer is full. Half-close is
//! carried both ways: EOF from the host → FIN to the container; FIN from the container
//! (once its data is written) → shutdown(SHUT_WR) on the host socket. A flow ends when
//! the smoltcp socket is closed or in TIME-WAIT; an error on either side aborts both.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::{Interest, Token};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

use super::slab::Slab;
use super::socket_pool::SocketPool;
use super::{endpoint, listen_endpoint, Listener, Stack, TCP_BASE};
use crate::policy::{self, Transport, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Host connect in progress, SYN-ACK held.
    Connecting {
        deadline: std::time::Instant,
    },
    Open,
}

pub(super) struct TcpFlow {
    handle: SocketHandle,
    host: mio::net::TcpStream,
    /// (container endpoint, the other endpoint as the container sees it)
    key: (SocketAddr, SocketAddr),
    phase: Phase,
    host_readable: bool,
    host_writable: bool,
    /// EOF read from the host, FIN queued to the container.
    host_eof: bool,
    /// The container's FIN passed on as shutdown(SHUT_WR).
    host_shut: bool,
}

/// Finished sockets kept for the next flows (see `socket_pool`): enough for a few
/// clients opening short connections at once.
const POOLED_SOCKETS: usize = 4;

pub(super) struct TcpTable {
    flows: Slab<TcpFlow>,
    by_key: HashMap<(SocketAddr, SocketAddr), usize>,
    pool: SocketPool<tcp::Socket<'static>>,
}

impl TcpTable {
    pub fn new(capacity: usize) -> TcpTable {
        TcpTable {
            flows: Slab::with_capacity(capacity),
            by_key: HashMap::new(),
            pool: SocketPool::new(POOLED_SOCKETS),
        }
    }

    pub fn note_event(&mut self, slot: usize, event: &mio::event::Event) {
        if let Some(flow) = self.flows.get_mut(slot) {
            flow.host_readable |= event.is_readable() || event.is_read_closed() || event.is_error();
            flow.host_writable |=
                event.is_writable() || event.is_write_closed() || event.is_error();
        }
    }
}

impl Stack {
    /// A closed socket: a finished one from the pool (the caller's `listen` or
    /// `connect` resets it), else a new one.
    fn new_tcp_socket(&mut self) -> tcp::Socket<'static> {
        let mut socket = match self.tcp.pool.take() {
            Some(socket) => socket,
            None => {
                let size = self.config.limits.tcp_buffer;
                tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; size]),
                    tcp::SocketBuffer::new(vec![0; size]),
                )
            }
        };
        socket.pause_synack(false);
        // The host side already coalesced what it sends; do not delay it again.
        socket.set_nagle_enabled(false);
        // Timestamps let the container's kernel accept a new connection on a port pair
        // still in TIME-WAIT there (published ports reuse the stack's ports quickly).
        socket.set_tsval_generator(Some(timestamp_ms));
        socket.set_timeout(Some(self.config.limits.tcp_unresponsive.into()));
        socket
    }

    /// Opens a flow for a SYN from the container; false when none was opened (the
    /// interface then answers the SYN with an RST, or it belongs to an existing flow).
    pub(super) fn open_outbound_tcp(&mut self, src: SocketAddr, dst: SocketAddr) -> bool {
        if self.tcp.by_key.contains_key(&(src, dst)) {
            return false; // a retransmitted SYN
        }
        let Verdict::Forward(target) = policy::decide(&self.config, Transport::Tcp, dst) else {
            self.stats.tcp_refused += 1;
            return false;
        };
        if self.tcp.flows.is_full() {
            self.stats.tcp_table_full += 1;
            return false;
        }
        let Ok(host) = mio::net::TcpStream::connect(target) else {
            self.stats.tcp_refused += 1;
            return false;
        };
        let mut socket = self.new_tcp_socket();
        socket.pause_synack(true);
        if socket.listen(listen_endpoint(dst)).is_err() {
            return false;
        }
        let handle = self.sockets.add(socket);
        let deadline = std::time::Instant::now() + self.config.limits.tcp_connect_timeout;
        let flow = TcpFlow {
            handle,
            host,
            key: (src, dst),
            phase: Phase::Connecting { deadline },
            host_readable: false,
            host_writable: false,
            host_eof: false,
            host_shut: false,
        };
        if !self.insert_tcp_flow(flow) {
            return false;
        }
        self.stats.tcp_opened += 1;
        true
    }

    fn insert_tcp_flow(&mut self, flow: TcpFlow) -> bool {
        let key = flow.key;
        let handle = flow.handle;
        let slot = match self.tcp.flows.insert(flow) {
            Ok(slot) => slot,
            Err(_) => {
                self.sockets.remove(handle);
                return false;
            }
        };
        let registry = self.poll.registry();
        let Some(flow) = self.tcp.flows.get_mut(slot) else {
            return false;
        };
        if registry
            .register(
                &mut flow.host,
                Token(TCP_BASE + slot),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.tcp.flows.remove(slot);
            self.sockets.remove(handle);
            return false;
        }
        self.tcp.by_key.insert(key, slot);
        true
    }

    /// Accepts clients of a published port (TCP) or notes a UDP port readable.
    pub(super) fn accept(&mut self, index: usize) {
        let container_port = match self.listeners.get_mut(index) {
            Some(Listener::Tcp { container_port, .. }) => *container_port,
            Some(Listener::Udp { readable, .. }) => {
                *readable = true;
                return;
            }
            Some(Listener::Removed) | None => return,
        };
        loop {
            let accepted = match &self.listeners[index] {
                Listener::Tcp { listener, .. } => listener.accept(),
                Listener::Udp { .. } | Listener::Removed => return,
            };
            match accepted {
                Ok((stream, peer)) if peer.ip().is_loopback() && self.config.splice_loopback => {
                    self.open_spliced_tcp(stream, peer, container_port)
                }
                Ok((stream, peer)) => self.open_inbound_tcp(stream, peer, container_port),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return, // e.g. EMFILE: the client sees its connection closed
            }
        }
    }

    /// A loopback client: spliced to a connection inside the namespace when the helper
    /// there is available, else through the stack. A refused connection inside closes
    /// the client's, as an RST from the container would.
    fn open_spliced_tcp(
        &mut self,
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        container_port: u16,
    ) {
        let inside = match self.device.tap().namespace() {
            Some(namespace) => namespace.connect_loopback_tcp(container_port),
            None => return self.open_inbound_tcp(stream, peer, container_port),
        };
        match inside {
            Ok(fd) => {
                if self.open_splice(stream, fd) {
                    self.stats.tcp_opened += 1;
                }
            }
            Err(_) => self.stats.tcp_refused += 1,
        }
    }

    fn open_inbound_tcp(
        &mut self,
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        container_port: u16,
    ) {
        if self.tcp.flows.is_full() {
            self.stats.tcp_table_full += 1;
            return; // dropping the stream closes it
        }
        let container = SocketAddr::new(self.config.container_ip.into(), container_port);
        let source_ip = self.peer_as_seen_by_container(peer);
        let mut port = self.allocate_port();
        let mut source = SocketAddr::new(source_ip.into(), port);
        while self.tcp.by_key.contains_key(&(container, source)) {
            port = self.allocate_port();
            source = SocketAddr::new(source_ip.into(), port);
        }
        let mut socket = self.new_tcp_socket();
        if socket
            .connect(self.iface.context(), endpoint(container), endpoint(source))
            .is_err()
        {
            return;
        }
        let _ = stream.set_nodelay(true);
        let handle = self.sockets.add(socket);
        let flow = TcpFlow {
            handle,
            host: stream,
            key: (container, source),
            phase: Phase::Open,
            host_readable: true,
            host_writable: true,
            host_eof: false,
            host_shut: false,
        };
        if self.insert_tcp_flow(flow) {
            self.stats.tcp_opened += 1;
        }
    }

    /// Moves bytes for every flow; returns whether anything moved.
    pub(super) fn tcp_turn(&mut self) -> bool {
        let mut progress = false;
        let mut finished = Vec::new();
        for (slot, flow) in self.tcp.flows.iter_mut() {
            let socket = self.sockets.get_mut::<tcp::Socket>(flow.handle);
            if let Phase::Connecting { .. } = flow.phase {
                match connect_outcome(flow) {
                    None => continue,
                    Some(Ok(())) => {
                        socket.pause_synack(false);
                        flow.phase = Phase::Open;
                        progress = true;
                    }
                    Some(Err(_)) => {
                        socket.abort();
                        finished.push(slot);
                        continue;
                    }
                }
            }
            let (moved, done) = pump(flow, socket);
            progress |= moved;
            if done {
                finished.push(slot);
            }
        }
        for slot in finished {
            self.remove_tcp_flow(slot);
        }
        progress
    }

    fn remove_tcp_flow(&mut self, slot: usize) {
        if let Some(mut flow) = self.tcp.flows.remove(slot) {
            let _ = self.poll.registry().deregister(&mut flow.host);
            self.tcp.by_key.remove(&flow.key);
            // An aborted socket still owes the container its RST: let the interface send
            // it before the socket goes.
            let socket = self.sockets.get_mut::<tcp::Socket>(flow.handle);
            if socket.state() == tcp::State::Closed && socket.remote_endpoint().is_some() {
                self.iface.poll(
                    smoltcp::time::Instant::now(),
                    &mut self.device,
                    &mut self.sockets,
                );
            }
            if let smoltcp::socket::Socket::Tcp(mut socket) = self.sockets.remove(flow.handle) {
                // Out of the socket set it sends nothing; `listen`/`connect` reset it.
                socket.abort();
                self.tcp.pool.put(socket, std::time::Instant::now());
            }
        }
    }

    pub(super) fn tcp_expire(&mut self, now: std::time::Instant) {
        let mut late = Vec::new();
        for (slot, flow) in self.tcp.flows.iter_mut() {
            if let Phase::Connecting { deadline } = flow.phase {
                if now >= deadline {
                    self.sockets.get_mut::<tcp::Socket>(flow.handle).abort();
                    late.push(slot);
                }
            }
        }
        for slot in late {
            self.remove_tcp_flow(slot);
        }
        let flows_open = !self.tcp.flows.is_empty();
        self.tcp.pool.drain_if_idle(flows_open, now);
    }
}

/// TCP timestamp clock: milliseconds, wrapping (RFC 7323 needs only monotonicity).
fn timestamp_ms() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u32)
        .unwrap_or(0)
}

/// The result of a pending host connect, None while it is still in progress.
fn connect_outcome(flow: &mut TcpFlow) -> Option<io::Result<()>> {
    if !flow.host_writable {
        return None;
    }
    match flow.host.take_error() {
        Ok(Some(error)) | Err(error) => return Some(Err(error)),
        Ok(None) => {}
    }
    match flow.host.peer_addr() {
        Ok(_) => Some(Ok(())),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
            flow.host_writable = false;
            None
        }
        Err(e) => Some(Err(e)),
    }
}

enum HostRead {
    Data,
    Eof,
    Block,
    Failed,
}

/// Copies what can be copied each way; returns (bytes moved, flow finished).
fn pump(flow: &mut TcpFlow, socket: &mut tcp::Socket) -> (bool, bool) {
    let mut moved = false;
    // Container → host.
    while flow.host_writable && socket.can_recv() {
        let host = &mut flow.host;
        let written = socket.recv(|data| match host.write(data) {
            Ok(n) => (n, Ok(n)),
            Err(e) => (0, Err(e)),
        });
        match written {
            Ok(Ok(n)) if n > 0 => moved = true,
            Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => flow.host_writable = false,
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                socket.abort();
                return (moved, true);
            }
        }
    }
    let container_closed = matches!(
        socket.state(),
        tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait
    );
    if container_closed && !flow.host_shut && socket.recv_queue() == 0 {
        let _ = flow.host.shutdown(Shutdown::Write);
        flow.host_shut = true;
        moved = true;
    }
    // Host → container.
    while flow.host_readable && !flow.host_eof && socket.can_send() {
        let host = &mut flow.host;
        let read = socket.send(|buffer| match host.read(buffer) {
            Ok(0) => (0, HostRead::Eof),
            Ok(n) => (n, HostRead::Data),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => (0, HostRead::Block),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => (0, HostRead::Data),
            Err(_) => (0, HostRead::Failed),
        });
        match read {
            Ok(HostRead::Data) => moved = true,
            Ok(HostRead::Block) => flow.host_readable = false,
            Ok(HostRead::Eof) => {
                socket.close();
                flow.host_eof = true;
                moved = true;
            }
            Ok(HostRead::Failed) | Err(_) => {
                socket.abort();
                return (moved, true);
            }
        }
    }
    let done = matches!(socket.state(), tcp::State::Closed | tcp::State::TimeWait);
    (moved, done)
}
