//! FUSE over io_uring (Linux 6.14+, when root has set `fuse.enable_uring=1`): the
//! kernel hands each request to a queue of the CPU that made it, and a server thread
//! pinned to that CPU answers it through an io_uring command. A synchronous request
//! then costs a switch between two threads on one CPU instead of a wake-up of another
//! CPU: on a VM whose idle CPUs halt, that is the difference between ~10 and ~90 µs
//! per round trip.
//!
//! Theory of operation. Every ring entry is a pair of buffers registered with the
//! kernel: a header area (`fuse_in_header`, then the request's first argument — its
//! per-operation struct — then the entry's own bookkeeping) and a payload area (the
//! remaining arguments: names, data). A request arrives as a completion on the ring of
//! its CPU; the [`RingHandler`] writes the reply's arguments into the payload area
//! (laid out as on /dev/fuse, without the out header) and the queue thread commits it
//! and asks for the next request in one command. INIT, FORGET and INTERRUPT keep going
//! through /dev/fuse, served by fuser's session threads.

mod queue;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use self::queue::QueueConfig;

/// The request header the kernel fills in (`struct fuse_in_header`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InHeader {
    pub len: u32,
    pub opcode: u32,
    pub unique: u64,
    pub nodeid: u64,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    pub total_extlen: u16,
}

/// Size of `struct fuse_in_header` on the wire.
pub const IN_HEADER_SIZE: usize = 40;

impl InHeader {
    /// Reads a header from its wire form (native endian); None when too short.
    pub fn parse(bytes: &[u8]) -> Option<InHeader> {
        let bytes = bytes.get(..IN_HEADER_SIZE)?;
        let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
        Some(InHeader {
            len: u32_at(0),
            opcode: u32_at(4),
            unique: u64_at(8),
            nodeid: u64_at(16),
            uid: u32_at(24),
            gid: u32_at(28),
            pid: u32_at(32),
            total_extlen: u16::from_ne_bytes([bytes[36], bytes[37]]),
        })
    }
}

/// One request taken from a ring entry.
pub struct RingRequest<'a> {
    pub header: InHeader,
    /// The request's first argument (its per-operation struct, e.g. `fuse_read_in`);
    /// 128 bytes of which only the struct's size is meaningful, all zero for
    /// operations whose first argument is empty (LOOKUP, UNLINK, ...).
    pub op_in: &'a [u8],
    /// The remaining arguments back to back (names with their NUL, write data).
    pub payload: &'a [u8],
}

/// The reply being built in a ring entry's payload area.
pub struct RingReply<'a> {
    payload: &'a mut [u8],
    len: usize,
    error: i32,
}

/// The reply does not fit the payload area.
#[derive(Debug, PartialEq, Eq)]
pub struct ReplyFull;

impl<'a> RingReply<'a> {
    pub fn new(payload: &'a mut [u8]) -> RingReply<'a> {
        RingReply {
            payload,
            len: 0,
            error: 0,
        }
    }

    /// Bytes the payload area holds.
    pub fn capacity(&self) -> usize {
        self.payload.len()
    }

    /// Appends `bytes` to the reply.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), ReplyFull> {
        let end = self.len.checked_add(bytes.len()).ok_or(ReplyFull)?;
        self.payload
            .get_mut(self.len..end)
            .ok_or(ReplyFull)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// The unused rest of the payload area, to fill in place (then [`Self::advance`]).
    pub fn spare(&mut self) -> &mut [u8] {
        &mut self.payload[self.len..]
    }

    /// Counts `n` bytes written into [`Self::spare`] as part of the reply.
    pub fn advance(&mut self, n: usize) {
        self.len = (self.len + n).min(self.payload.len());
    }

    /// Makes this an error reply (a positive errno); drops anything pushed.
    pub fn error(&mut self, errno: i32) {
        self.error = -errno.abs();
        self.len = 0;
    }

    /// Bytes of reply arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The out header's error field: 0 or a negative errno.
    pub fn error_code(&self) -> i32 {
        self.error
    }
}

/// What answers the requests a ring delivers.
pub trait RingHandler: Send + Sync {
    /// Answers one request: fills `reply` (or calls [`RingReply::error`]).
    fn handle(&self, request: &RingRequest<'_>, reply: &mut RingReply<'_>);
}

/// The kernel's queue count: one per possible CPU (`nr_cpu_ids`), every one of which
/// must have entries before the kernel sends a request through the rings.
pub fn possible_cpus() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|list| highest_cpu(&list))
        .map(|highest| highest + 1)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The highest CPU number of a kernel CPU list ("0-3,8").
fn highest_cpu(list: &str) -> Option<usize> {
    list.trim()
        .split(',')
        .filter_map(|range| range.rsplit('-').next()?.trim().parse().ok())
        .max()
}

/// The queue threads of one connection.
pub struct Rings {
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl Rings {
    /// Starts one queue thread per possible CPU on the connection of `dev` (the
    /// mount's /dev/fuse fd, or a duplicate). The kernel must have accepted
    /// FUSE_OVER_IO_URING in INIT; registrations made before INIT is answered are
    /// retried.
    pub fn start(
        dev: OwnedFd,
        handler: Arc<dyn RingHandler>,
        config: QueueConfig,
    ) -> io::Result<Rings> {
        let dev = Arc::new(dev);
        let mut threads = Vec::new();
        for qid in 0..possible_cpus() {
            let qid = u16::try_from(qid).map_err(|_| io::Error::other("too many CPUs"))?;
            let (dev, handler) = (Arc::clone(&dev), Arc::clone(&handler));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("fuse-ring-{qid}"))
                    .spawn(move || queue::serve_queue(qid, dev, handler, config))?,
            );
        }
        Ok(Rings { threads })
    }

    /// Waits for every queue to end (the connection's end ends them).
    pub fn join(self) {
        for thread in self.threads {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("a FUSE io_uring queue failed: {e}"),
                Err(_) => log::warn!("a FUSE io_uring queue panicked"),
            }
        }
    }
}

/// How long the queues wait for the connection's INIT to be answered.
const INIT_PATIENCE: Duration = Duration::from_secs(30);

/// The queues of one mount, started once INIT says whether the kernel accepted
/// FUSE_OVER_IO_URING (fuser answers INIT on its own thread, after the mount).
pub struct RingService {
    done: mpsc::Receiver<()>,
    thread: JoinHandle<()>,
}

impl RingService {
    /// Waits (on its own thread) for `accepted` to be set by INIT; if true, serves
    /// the queues on `dev` until the connection ends.
    pub fn start_when_accepted(
        dev: OwnedFd,
        handler: Arc<dyn RingHandler>,
        accepted: Arc<OnceLock<bool>>,
        config: QueueConfig,
    ) -> io::Result<RingService> {
        let (tell_done, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fuse-uring-start".into())
            .spawn(move || {
                let since = Instant::now();
                let accepted = loop {
                    if let Some(&accepted) = accepted.get() {
                        break accepted;
                    }
                    if since.elapsed() > INIT_PATIENCE {
                        break false;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                };
                if accepted {
                    match Rings::start(dev, handler, config) {
                        Ok(rings) => rings.join(),
                        Err(e) => log::warn!("cannot start the FUSE io_uring queues: {e}"),
                    }
                }
                let _ = tell_done.send(());
            })?;
        Ok(RingService { done, thread })
    }

    /// After the connection ended (unmount): waits up to `patience` for the queues to
    /// stop, then leaves them (a queue the kernel never released must not hang the
    /// unmount).
    pub fn finish(self, patience: Duration) {
        match self.done.recv_timeout(patience) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = self.thread.join();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                log::warn!("the FUSE io_uring queues did not stop with the connection");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_give_their_highest_cpu() {
        assert_eq!(highest_cpu("0-1\n"), Some(1));
        assert_eq!(highest_cpu("0"), Some(0));
        assert_eq!(highest_cpu("0,2-3,8"), Some(8));
        assert_eq!(highest_cpu(""), None);
    }
}
