//! The L2 switch of one user-defined network: containers on the same network talk to
//! each other through it, by IP and (with the DNS of each container's stack consulting
//! a [`crate::NameSource`]) by name; containers on other networks use other switches
//! and cannot reach them.
//!
//! The switch is a process of its own ([`serve`]), started on first use and gone once
//! its last member has been gone for `idle_exit`. It listens on a unix
//! `SOCK_SEQPACKET` socket; each connection is a port ([`SwitchPort`] on the other
//! end), each datagram one frame with its virtio-net header exactly as the sending tap
//! produced it, so checksum-offloaded frames pass from tap to tap without the switch
//! touching them. The switch learns which port each source MAC address is behind and
//! forwards unicast frames there only; unknown unicast, broadcast and multicast go to
//! every other port ([`table`]). Like a real learning bridge it trusts source
//! addresses: a member can claim another's MAC, as on a shared Ethernet segment.
//!
//! The switch never blocks on a port: sends are non-blocking and a frame a port cannot
//! take right now is dropped and counted (TCP between the members retransmits); a port
//! whose peer has closed, or whose send fails otherwise, is dropped with everything
//! learned on it. Each turn reads a bounded batch from each readable port in turn, so
//! one busy member cannot starve the others.
//!
//! On the container's side, [`route`] decides which frames from its tap go to the
//! switch and which to its own stack (the gateway, DNS and NAT to the outside).

mod dispatch;
mod port;
mod table;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

pub use dispatch::{from_peer_allowed, route, Route};
pub use port::{is_congestion, Received, SwitchPort};
use table::{Forward, MacTable, PortId};

use crate::tap::VNET_HDR_LEN;

/// Frames read from one port before the next port's turn.
const BATCH: usize = 64;
/// Addresses learned at most (more are flooded).
const TABLE_CAPACITY: usize = 4096;
/// The largest frame: a virtio-net header, an Ethernet header and a 64 KiB packet.
pub const MAX_FRAME: usize = VNET_HDR_LEN + 14 + 65536;
const LISTENER: Token = Token(0);

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("cannot listen on the switch socket {}: {error}", path.display())]
    Bind { path: PathBuf, error: io::Error },
    #[error("a switch is already serving {}", .0.display())]
    InUse(PathBuf),
    #[error("cannot connect to the switch at {}: {error}", path.display())]
    Connect { path: PathBuf, error: io::Error },
    #[error("the switch's event loop failed: {0}")]
    Poll(io::Error),
}

/// Counters, for tests and debugging.
#[derive(Clone, Debug, Default)]
pub struct SwitchStats {
    pub frames: u64,
    pub flooded: u64,
    /// Frames a port could not take (its queue was full).
    pub dropped: u64,
    /// Datagrams too short to hold a header, or too long for the buffer.
    pub malformed: u64,
    pub ports_joined: u64,
    pub ports_lost: u64,
}

/// Serves the switch on `socket` until no port has been connected for `idle_exit`
/// (counted from the start, too), then removes the socket file and returns.
pub fn serve(socket: &Path, idle_exit: Duration) -> Result<(), SwitchError> {
    let listener = port::listen(socket)?;
    let result = Switch::new(listener).and_then(|mut switch| switch.run(idle_exit));
    let _ = std::fs::remove_file(socket);
    result.map(|_| ())
}

struct Switch {
    poll: Poll,
    listener: OwnedFd,
    ports: HashMap<PortId, OwnedFd>,
    /// Ports that may have more to read (mio is edge-triggered).
    readable: VecDeque<PortId>,
    table: MacTable,
    next_id: PortId,
    buf: Vec<u8>,
    stats: SwitchStats,
}

impl Switch {
    fn new(listener: OwnedFd) -> Result<Switch, SwitchError> {
        let poll = Poll::new().map_err(SwitchError::Poll)?;
        poll.registry()
            .register(
                &mut SourceFd(&listener.as_raw_fd()),
                LISTENER,
                Interest::READABLE,
            )
            .map_err(SwitchError::Poll)?;
        Ok(Switch {
            poll,
            listener,
            ports: HashMap::new(),
            readable: VecDeque::new(),
            table: MacTable::new(TABLE_CAPACITY),
            next_id: 1,
            buf: vec![0; MAX_FRAME],
            stats: SwitchStats::default(),
        })
    }

    fn run(&mut self, idle_exit: Duration) -> Result<SwitchStats, SwitchError> {
        let mut events = Events::with_capacity(256);
        let mut idle_since = Instant::now();
        loop {
            let timeout = match (self.ports.is_empty(), self.readable.is_empty()) {
                (true, _) => {
                    let idle = idle_since.elapsed();
                    if idle >= idle_exit {
                        return Ok(self.stats.clone());
                    }
                    Some(idle_exit - idle)
                }
                (false, false) => Some(Duration::ZERO),
                (false, true) => None,
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SwitchError::Poll(e)),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all()?,
                    Token(id) => {
                        if !self.readable.contains(&id) {
                            self.readable.push_back(id);
                        }
                    }
                }
            }
            let had_ports = !self.ports.is_empty();
            self.read_round();
            if had_ports && self.ports.is_empty() {
                idle_since = Instant::now();
            }
        }
    }

    fn accept_all(&mut self) -> Result<(), SwitchError> {
        while let Some(fd) = port::accept(self.listener.as_fd()).map_err(SwitchError::Poll)? {
            let id = self.next_id;
            self.next_id += 1;
            self.poll
                .registry()
                .register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    Token(id),
                    Interest::READABLE,
                )
                .map_err(SwitchError::Poll)?;
            self.ports.insert(id, fd);
            self.readable.push_back(id);
            self.stats.ports_joined += 1;
        }
        Ok(())
    }

    /// Reads up to [`BATCH`] frames from each port that may be readable.
    fn read_round(&mut self) {
        for _ in 0..self.readable.len() {
            let Some(id) = self.readable.pop_front() else {
                break;
            };
            if self.read_port(id) {
                self.readable.push_back(id);
            }
        }
    }

    /// Returns whether the port may have more to read.
    fn read_port(&mut self, id: PortId) -> bool {
        for _ in 0..BATCH {
            let Some(fd) = self.ports.get(&id) else {
                return false;
            };
            match port::recv(fd.as_fd(), &mut self.buf) {
                Ok(Received::Frame(n)) => self.forward(id, n),
                Ok(Received::Truncated) => self.stats.malformed += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Ok(Received::Closed) | Err(_) => {
                    self.drop_port(id);
                    return false;
                }
            }
        }
        true
    }

    /// Forwards the frame in `self.buf[..len]` that came from port `from`.
    fn forward(&mut self, from: PortId, len: usize) {
        let frame = &self.buf[..len];
        let Some(ethernet) = frame.get(VNET_HDR_LEN..VNET_HDR_LEN + 14) else {
            self.stats.malformed += 1;
            return;
        };
        let mut dst = [0; 6];
        let mut src = [0; 6];
        dst.copy_from_slice(&ethernet[..6]);
        src.copy_from_slice(&ethernet[6..12]);
        self.stats.frames += 1;
        self.table.learn(src, from);
        let mut lost = Vec::new();
        let mut send =
            |id: PortId, fd: &OwnedFd, stats: &mut SwitchStats| match port::send(fd.as_fd(), frame)
            {
                Ok(()) => {}
                Err(e) if port::is_congestion(&e) => stats.dropped += 1,
                Err(_) => lost.push(id),
            };
        match self.table.forward(dst, from) {
            Forward::To(id) => match self.ports.get(&id) {
                Some(fd) => send(id, fd, &mut self.stats),
                None => self.table.forget_port(id),
            },
            Forward::Flood => {
                self.stats.flooded += 1;
                for (&id, fd) in &self.ports {
                    if id != from {
                        send(id, fd, &mut self.stats);
                    }
                }
            }
            Forward::Drop => {}
        }
        for id in lost {
            self.drop_port(id);
        }
    }

    fn drop_port(&mut self, id: PortId) {
        if let Some(fd) = self.ports.remove(&id) {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
            self.stats.ports_lost += 1;
        }
        self.readable.retain(|&r| r != id);
        self.table.forget_port(id);
    }
}

#[cfg(test)]
mod tests;
