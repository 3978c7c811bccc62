//! Published TCP ports for clients on the host's loopback, without a TCP stack in
//! between (pasta's "splice" path; opt-in, [`crate::NetConfig::splice_loopback`]): the stack asks the helper kept in the container's
//! namespaces for a connection to the container port on the namespace's loopback, and
//! copies bytes between the two kernel sockets. The container sees the client as
//! 127.0.0.1 — no less true than the gateway address the smoltcp path shows for a
//! loopback client, which has no address of its own inside the container. Clients
//! from other addresses keep the smoltcp path, so the container sees their address.
//!
//! Each direction has one bounded buffer: the stack reads into its free tail while
//! earlier bytes are still being written, and a full buffer stops reading, so a slow
//! reader holds back its writer. (splice(2) through a pipe was measured slower than
//! this copy on the loopback here.) EOF is passed on as shutdown(SHUT_WR) once
//! the buffer is flushed; the pair ends when both directions are closed, or at the
//! first error (dropping both sockets).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::OwnedFd;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::slab::Slab;
use super::{Stack, SPLICE_BASE};

const BUFFER: usize = 256 * 1024;

/// One direction: bytes read from one side, not yet written to the other.
struct Pipe {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    shut: bool,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            shut: false,
        }
    }
}

struct Side {
    stream: TcpStream,
    readable: bool,
    writable: bool,
}

pub(super) struct SpliceFlow {
    sides: [Side; 2],
    /// pipes[0]: side 0 → side 1; pipes[1]: side 1 → side 0.
    pipes: [Pipe; 2],
}

pub(super) struct SpliceTable {
    flows: Slab<SpliceFlow>,
}

impl SpliceTable {
    pub fn new(capacity: usize) -> SpliceTable {
        SpliceTable {
            flows: Slab::with_capacity(capacity),
        }
    }

    pub fn note_event(&mut self, index: usize, event: &mio::event::Event) {
        if let Some(flow) = self.flows.get_mut(index / 2) {
            let side = &mut flow.sides[index % 2];
            side.readable |= event.is_readable() || event.is_read_closed() || event.is_error();
            side.writable |= event.is_writable() || event.is_write_closed() || event.is_error();
        }
    }
}

enum Step {
    Moved,
    Idle,
    Failed,
}

impl Stack {
    /// Pairs an accepted client with a connection inside the namespace.
    pub(super) fn open_splice(&mut self, client: TcpStream, inside: OwnedFd) -> bool {
        let inside = TcpStream::from_std(std::net::TcpStream::from(inside));
        let _ = client.set_nodelay(true);
        let _ = inside.set_nodelay(true);
        let flow = SpliceFlow {
            sides: [
                Side {
                    stream: client,
                    readable: true,
                    writable: true,
                },
                Side {
                    stream: inside,
                    readable: false,
                    writable: false,
                },
            ],
            pipes: [Pipe::new(), Pipe::new()],
        };
        let Ok(slot) = self.splice.flows.insert(flow) else {
            return false;
        };
        let registry = self.poll.registry();
        let Some(flow) = self.splice.flows.get_mut(slot) else {
            return false;
        };
        for (i, side) in flow.sides.iter_mut().enumerate() {
            let token = Token(SPLICE_BASE + slot * 2 + i);
            if registry
                .register(
                    &mut side.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                self.remove_splice(slot);
                return false;
            }
        }
        true
    }

    pub(super) fn splice_turn(&mut self) -> bool {
        let mut progress = false;
        let mut finished = Vec::new();
        for (slot, flow) in self.splice.flows.iter_mut() {
            let mut failed = false;
            for direction in 0..2 {
                match pump(flow, direction) {
                    Step::Moved => progress = true,
                    Step::Idle => {}
                    Step::Failed => failed = true,
                }
            }
            let closed = flow.pipes.iter().all(|p| p.shut);
            if failed || closed {
                finished.push(slot);
            }
        }
        for slot in finished {
            self.remove_splice(slot);
        }
        progress
    }

    fn remove_splice(&mut self, slot: usize) {
        if let Some(mut flow) = self.splice.flows.remove(slot) {
            for side in &mut flow.sides {
                let _ = self.poll.registry().deregister(&mut side.stream);
            }
        }
    }
}

/// Moves bytes of one direction as far as the sockets allow: reads into the buffer's
/// free tail while earlier bytes are still being written, so both sockets stay busy.
fn pump(flow: &mut SpliceFlow, direction: usize) -> Step {
    let (from, to) = (direction, 1 - direction);
    let mut moved = false;
    loop {
        let mut progressed = false;
        let pipe = &mut flow.pipes[direction];
        if pipe.start < pipe.end && flow.sides[to].writable {
            match flow.sides[to].stream.write(&pipe.buf[pipe.start..pipe.end]) {
                Ok(n) => {
                    pipe.start += n;
                    progressed = n > 0;
                    if pipe.start == pipe.end {
                        pipe.start = 0;
                        pipe.end = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => flow.sides[to].writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => progressed = true,
                Err(_) => return Step::Failed,
            }
        }
        if pipe.buf.is_empty() {
            pipe.buf = vec![0; BUFFER];
        }
        if !pipe.eof && pipe.end < pipe.buf.len() && flow.sides[from].readable {
            match flow.sides[from].stream.read(&mut pipe.buf[pipe.end..]) {
                Ok(0) => {
                    pipe.eof = true;
                    progressed = true;
                }
                Ok(n) => {
                    pipe.end += n;
                    progressed = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    flow.sides[from].readable = false
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => progressed = true,
                Err(_) => return Step::Failed,
            }
        }
        if pipe.eof && pipe.start == pipe.end && !pipe.shut {
            let _ = flow.sides[to].stream.shutdown(Shutdown::Write);
            pipe.shut = true;
            progressed = true;
        }
        if !progressed {
            break;
        }
        moved = true;
    }
    match moved {
        true => Step::Moved,
        false => Step::Idle,
    }
}
