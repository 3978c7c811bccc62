//! Finished smoltcp TCP sockets kept for the next connection.
//!
//! Each TCP socket owns a receive and a send buffer of `Limits::tcp_buffer` bytes (1 MiB
//! each by default). Allocating them is an mmap of fresh pages and freeing them an
//! munmap, and the first bytes of every connection fault their pages in again: for a
//! stream of short connections through a published port that is most of what a
//! connection costs the stack. A finished socket is therefore kept here (out of the
//! interface's socket set, so it never sends anything) and handed to the next flow,
//! which resets it with `listen` or `connect`.
//!
//! Limits: at most `capacity` sockets wait here, and the pool empties once no TCP flow
//! has been open for `IDLE_DRAIN`, so a container that once moved bulk data (which
//! touches every page of its buffers) returns to its idle memory.

use std::time::{Duration, Instant};

/// How long the pool survives with no TCP flow open.
pub const IDLE_DRAIN: Duration = Duration::from_secs(1);

pub struct SocketPool<T> {
    idle: Vec<T>,
    capacity: usize,
    /// When the last socket came back.
    last_put: Option<Instant>,
}

impl<T> SocketPool<T> {
    pub fn new(capacity: usize) -> SocketPool<T> {
        SocketPool {
            idle: Vec::with_capacity(capacity),
            capacity,
            last_put: None,
        }
    }

    pub fn take(&mut self) -> Option<T> {
        self.idle.pop()
    }

    /// Keeps `socket` for reuse, or drops it when the pool is full.
    pub fn put(&mut self, socket: T, now: Instant) {
        if self.idle.len() < self.capacity {
            self.idle.push(socket);
        }
        self.last_put = Some(now);
    }

    /// Frees every kept socket once no flow has been open for `IDLE_DRAIN`.
    pub fn drain_if_idle(&mut self, flows_open: bool, now: Instant) {
        if flows_open || self.idle.is_empty() {
            return;
        }
        let idle_long = self
            .last_put
            .is_none_or(|at| now.saturating_duration_since(at) >= IDLE_DRAIN);
        if idle_long {
            self.idle = Vec::new();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.idle.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::socket::tcp;
    use smoltcp::wire::{IpAddress, IpListenEndpoint};

    #[test]
    fn the_pool_is_bounded_and_empties_when_idle() {
        let start = Instant::now();
        let mut pool = SocketPool::new(2);
        for n in 0..3 {
            pool.put(n, start);
        }
        assert_eq!(pool.len(), 2);
        pool.drain_if_idle(false, start + IDLE_DRAIN / 2);
        assert_eq!(pool.len(), 2, "drained before the idle time");
        pool.drain_if_idle(true, start + IDLE_DRAIN * 2);
        assert_eq!(pool.len(), 2, "drained while a flow is open");
        assert_eq!(pool.take(), Some(1));
        pool.drain_if_idle(false, start + IDLE_DRAIN);
        assert_eq!(pool.len(), 0);
        assert_eq!(pool.take(), None);
    }

    /// A socket aborted in any state (here while listening) can listen again, as the
    /// stack does when it takes one from the pool.
    #[test]
    fn an_aborted_socket_listens_again() {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64]),
            tcp::SocketBuffer::new(vec![0; 64]),
        );
        let endpoint = IpListenEndpoint {
            addr: Some(IpAddress::v4(10, 0, 2, 2)),
            port: 80,
        };
        socket.listen(endpoint).unwrap();
        socket.abort();
        let other = IpListenEndpoint {
            addr: Some(IpAddress::v4(10, 0, 2, 2)),
            port: 81,
        };
        assert!(socket.listen(other).is_ok());
        assert_eq!(socket.state(), tcp::State::Listen);
        assert_eq!(socket.listen_endpoint().port, 81);
    }
}
