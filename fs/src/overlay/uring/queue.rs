//! One io_uring queue: a thread pinned to one CPU that registers its ring entries with
//! the kernel and then answers the requests they bring, one at a time.
//!
//! Each entry is registered once (`FUSE_IO_URING_CMD_REGISTER`, two iovecs: header
//! area, payload area); its completion means a request now fills the buffers. The
//! answer goes back in the same buffers, and one `FUSE_IO_URING_CMD_COMMIT_AND_FETCH`
//! both commits it and hands the entry back for the next request. A registration the
//! kernel refuses with EAGAIN (the connection's INIT not answered yet) is retried; any
//! other failure, and the kernel's end of the connection (unmount), ends the thread.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::{InHeader, RingHandler, RingReply, RingRequest, IN_HEADER_SIZE};

/// `enum fuse_uring_cmd`.
const CMD_REGISTER: u32 = 1;
const CMD_COMMIT_AND_FETCH: u32 = 2;

/// `struct fuse_uring_req_header`: in/out header, per-op header, entry bookkeeping.
const IN_OUT_SIZE: usize = 128;
const OP_IN_SIZE: usize = 128;
const HEADER_AREA_SIZE: usize = IN_OUT_SIZE + OP_IN_SIZE + 32;
/// Offsets in the header area of `fuse_uring_ent_in_out`'s fields.
const COMMIT_ID_AT: usize = IN_OUT_SIZE + OP_IN_SIZE + 8;
const PAYLOAD_SIZE_AT: usize = IN_OUT_SIZE + OP_IN_SIZE + 16;
/// `struct fuse_out_header`.
const OUT_HEADER_SIZE: usize = 16;

/// Request payloads up to this size are copied aside before the handler runs, so the
/// reply can be built in the payload area in place (a READ's data is read straight
/// into it). Larger ones (WRITE data, SETXATTR values) have small replies, built
/// aside and copied in.
const COPIED_REQUEST: usize = 16 * 1024;
const SIDE_REPLY: usize = 64 * 1024;

/// Payload bytes of each entry kept resident between requests; what a large request
/// touched beyond that is given back to the kernel once the queue has been idle for
/// [`TRIM_WHEN_IDLE_FOR`] (an idle container then holds no megabytes of old I/O).
const KEEP_RESIDENT: usize = 64 * 1024;
const TRIM_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// How long a registration refused with EAGAIN (INIT not answered yet) is retried.
const REGISTER_PATIENCE: Duration = Duration::from_secs(10);

/// How a queue is set up.
#[derive(Clone, Copy, Debug)]
pub struct QueueConfig {
    /// Ring entries: requests of this CPU the kernel can hand over at once.
    pub depth: usize,
    /// Bytes of each entry's payload area (at least the connection's max_write).
    pub payload_size: usize,
}

/// One ring entry's buffers. The kernel keeps their addresses from registration on,
/// so they are never moved or freed while the ring may still use them.
struct Entry {
    header: Box<[u8; HEADER_AREA_SIZE]>,
    payload: Box<[u8]>,
    iov: Box<[libc::iovec; 2]>,
    registering: bool,
    /// Payload bytes used since the last trim.
    touched: usize,
}

impl Entry {
    fn new(payload_size: usize) -> Entry {
        let mut header = Box::new([0u8; HEADER_AREA_SIZE]);
        // Zeroed and large: the allocator maps it, pages come on first touch.
        let mut payload = vec![0u8; payload_size].into_boxed_slice();
        let iov = Box::new([
            libc::iovec {
                iov_base: header.as_mut_ptr().cast(),
                iov_len: HEADER_AREA_SIZE,
            },
            libc::iovec {
                iov_base: payload.as_mut_ptr().cast(),
                iov_len: payload.len(),
            },
        ]);
        Entry {
            header,
            payload,
            iov,
            registering: true,
            touched: 0,
        }
    }

    /// Gives back the payload pages past [`KEEP_RESIDENT`] that requests touched.
    fn trim(&mut self) {
        if self.touched <= KEEP_RESIDENT {
            return;
        }
        let page = 4096;
        let base = self.payload.as_mut_ptr() as usize;
        let start = (base + KEEP_RESIDENT).next_multiple_of(page);
        let end = (base + self.touched.min(self.payload.len())) & !(page - 1);
        if end > start {
            // SAFETY: [start, end) lies inside this entry's payload allocation, which
            // nothing borrows now; MADV_DONTNEED only replaces its pages with zero
            // pages on next touch, and no request is in it (the kernel fills an entry
            // from this thread's own task work, never during this call).
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
        self.touched = 0;
    }

    fn commit_id(&self) -> u64 {
        u64::from_ne_bytes(
            self.header[COMMIT_ID_AT..COMMIT_ID_AT + 8]
                .try_into()
                .unwrap(),
        )
    }

    fn request_payload_size(&self) -> usize {
        let size = u32::from_ne_bytes(
            self.header[PAYLOAD_SIZE_AT..PAYLOAD_SIZE_AT + 4]
                .try_into()
                .unwrap(),
        );
        (size as usize).min(self.payload.len())
    }

    /// Writes the out header and the reply's size for the commit.
    fn finish_reply(&mut self, unique: u64, error: i32, len: usize) {
        let total = (OUT_HEADER_SIZE + len) as u32;
        self.header[0..4].copy_from_slice(&total.to_ne_bytes());
        self.header[4..8].copy_from_slice(&error.to_ne_bytes());
        self.header[8..16].copy_from_slice(&unique.to_ne_bytes());
        self.header[PAYLOAD_SIZE_AT..PAYLOAD_SIZE_AT + 4]
            .copy_from_slice(&(len as u32).to_ne_bytes());
    }
}

/// Per-thread scratch space for the two ways a request and its reply share an entry.
struct Scratch {
    request: Vec<u8>,
    reply: Vec<u8>,
}

/// Answers the request in `entry` with `handler`.
fn answer(entry: &mut Entry, handler: &dyn RingHandler, scratch: &mut Scratch) {
    let Some(header) = InHeader::parse(&entry.header[..IN_HEADER_SIZE]) else {
        return;
    };
    let payload_size = entry.request_payload_size();
    let op_in: [u8; OP_IN_SIZE] = entry.header[IN_OUT_SIZE..IN_OUT_SIZE + OP_IN_SIZE]
        .try_into()
        .unwrap();
    let (error, len) = if payload_size <= COPIED_REQUEST {
        scratch.request.clear();
        scratch
            .request
            .extend_from_slice(&entry.payload[..payload_size]);
        let request = RingRequest {
            header,
            op_in: &op_in,
            payload: &scratch.request,
        };
        let mut reply = RingReply::new(&mut entry.payload);
        handler.handle(&request, &mut reply);
        (reply.error_code(), reply.len())
    } else {
        if scratch.reply.len() < SIDE_REPLY {
            scratch.reply.resize(SIDE_REPLY, 0);
        }
        let request = RingRequest {
            header,
            op_in: &op_in,
            payload: &entry.payload[..payload_size],
        };
        let mut reply = RingReply::new(&mut scratch.reply);
        handler.handle(&request, &mut reply);
        let (error, len) = (reply.error_code(), reply.len());
        entry.payload[..len].copy_from_slice(&scratch.reply[..len]);
        (error, len)
    };
    entry.touched = entry.touched.max(payload_size).max(len);
    entry.finish_reply(header.unique, error, len);
}

/// The SQE of a ring command for entry `index` of queue `qid`.
fn command(
    dev: i32,
    cmd_op: u32,
    qid: u16,
    commit_id: u64,
    index: usize,
    iov: Option<&[libc::iovec; 2]>,
) -> squeue::Entry128 {
    // struct fuse_uring_cmd_req { u64 flags; u64 commit_id; u16 qid; u8 padding[6]; }
    let mut cmd = [0u8; 80];
    cmd[8..16].copy_from_slice(&commit_id.to_ne_bytes());
    cmd[16..18].copy_from_slice(&qid.to_ne_bytes());
    let mut sqe = opcode::UringCmd80::new(types::Fd(dev), cmd_op).cmd(cmd);
    if let Some(iov) = iov {
        sqe = sqe.addr(Some(iov.as_ptr() as u64));
    }
    let sqe = sqe.build().user_data(index as u64);
    match iov {
        Some(iov) => with_len(sqe, iov.len() as u32),
        None => sqe,
    }
}

/// Sets the SQE's `len` field (the iovec count a registration carries), which the
/// io-uring crate's URING_CMD builder does not expose.
fn with_len(sqe: squeue::Entry128, len: u32) -> squeue::Entry128 {
    // SAFETY: Entry128 is repr(C): a 64-byte `struct io_uring_sqe` then 64 bytes of
    // command data, with no padding and no invalid bit patterns; `len` is the u32 at
    // offset 24 of `struct io_uring_sqe` (include/uapi/linux/io_uring.h).
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above, the bytes came from an Entry128 and stay a valid one.
    unsafe { std::mem::transmute::<[u8; 128], squeue::Entry128>(raw) }
}

/// Pins the calling thread to `cpu` (best effort: a CPU may be offline).
fn pin_to_cpu(cpu: usize) {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

fn push(ring: &mut IoUring<squeue::Entry128, cqueue::Entry>, sqe: &squeue::Entry128) {
    // SAFETY: every SQE points only at an entry's iovecs and buffers, which live (and
    // never move) for as long as the ring does.
    let pushed = unsafe { ring.submission().push(sqe) };
    // The ring has room for every entry's one command in flight.
    debug_assert!(pushed.is_ok());
}

/// Serves queue `qid` (pinned to CPU `qid`) until the connection ends.
pub fn serve_queue(
    qid: u16,
    dev: Arc<OwnedFd>,
    handler: Arc<dyn RingHandler>,
    config: QueueConfig,
) -> io::Result<()> {
    pin_to_cpu(qid as usize);
    let depth = config.depth.max(1);
    let mut ring: IoUring<squeue::Entry128, cqueue::Entry> = IoUring::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .build((depth as u32).next_power_of_two())?;
    let mut entries: Vec<Entry> = (0..depth)
        .map(|_| Entry::new(config.payload_size))
        .collect();
    let fd = dev.as_raw_fd();
    for (index, entry) in entries.iter().enumerate() {
        push(
            &mut ring,
            &command(fd, CMD_REGISTER, qid, 0, index, Some(&entry.iov)),
        );
    }
    let mut scratch = Scratch {
        request: Vec::new(),
        reply: Vec::new(),
    };
    let started = std::time::Instant::now();
    let mut live = depth;
    let mut done: Vec<(usize, i32)> = Vec::with_capacity(depth);
    while live > 0 {
        let waited = if entries.iter().any(|e| e.touched > KEEP_RESIDENT) {
            let idle = types::Timespec::from(TRIM_WHEN_IDLE_FOR);
            let args = types::SubmitArgs::new().timespec(&idle);
            ring.submitter().submit_with_args(1, &args)
        } else {
            ring.submit_and_wait(1)
        };
        match waited {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {
                entries.iter_mut().for_each(Entry::trim);
                continue;
            }
            Err(e) => {
                // Entries may still be registered: the kernel could write into them
                // later, so their buffers are never freed or reused.
                entries.leak();
                return Err(e);
            }
        }
        done.clear();
        done.extend(
            ring.completion()
                .map(|cqe| (cqe.user_data() as usize, cqe.result())),
        );
        for &(index, result) in &done {
            let Some(entry) = entries.get_mut(index) else {
                continue;
            };
            if result == -libc::EAGAIN && entry.registering && started.elapsed() < REGISTER_PATIENCE
            {
                std::thread::sleep(Duration::from_millis(1));
                push(
                    &mut ring,
                    &command(fd, CMD_REGISTER, qid, 0, index, Some(&entry.iov)),
                );
                continue;
            }
            if result < 0 {
                let errno = -result;
                if !matches!(
                    errno,
                    libc::ENOTCONN | libc::ECONNABORTED | libc::ENODEV | libc::ECANCELED
                ) {
                    log::warn!(
                        "FUSE io_uring queue {qid}: the kernel ended an entry: {}",
                        io::Error::from_raw_os_error(errno)
                    );
                }
                live -= 1;
                continue;
            }
            entry.registering = false;
            answer(entry, handler.as_ref(), &mut scratch);
            let commit_id = entry.commit_id();
            push(
                &mut ring,
                &command(fd, CMD_COMMIT_AND_FETCH, qid, commit_id, index, None),
            );
        }
    }
    // Every entry's command has completed: the kernel holds none of the buffers now.
    drop(entries);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_sqe_carries_the_iovecs_and_their_count() {
        let entry = Entry::new(4096);
        let sqe = command(7, CMD_REGISTER, 3, 0, 5, Some(&entry.iov));
        // SAFETY: see `with_len`: Entry128 is 128 plain bytes.
        let raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        assert_eq!(raw[0], io_uring::opcode::UringCmd80::CODE);
        assert_eq!(i32::from_ne_bytes(raw[4..8].try_into().unwrap()), 7);
        assert_eq!(
            u32::from_ne_bytes(raw[8..12].try_into().unwrap()),
            CMD_REGISTER
        );
        assert_eq!(
            u64::from_ne_bytes(raw[16..24].try_into().unwrap()),
            entry.iov.as_ptr() as u64
        );
        assert_eq!(u32::from_ne_bytes(raw[24..28].try_into().unwrap()), 2);
        assert_eq!(u64::from_ne_bytes(raw[32..40].try_into().unwrap()), 5);
        // The command area starts at byte 48: flags, commit_id, qid.
        assert_eq!(u16::from_ne_bytes(raw[64..66].try_into().unwrap()), 3);
    }

    #[test]
    fn trimming_gives_back_what_large_requests_touched_and_keeps_the_first_64_kib() {
        let mut entry = Entry::new(1 << 20);
        entry.payload[..512 * 1024].fill(0xaa);
        entry.touched = 512 * 1024;
        entry.trim();
        assert_eq!(entry.touched, 0);
        assert!(entry.payload[..KEEP_RESIDENT].iter().all(|b| *b == 0xaa));
        // Past the first page boundary after 64 KiB, the pages were dropped (zero).
        let from = KEEP_RESIDENT + 4096;
        assert!(entry.payload[from..512 * 1024 - 4096]
            .iter()
            .all(|b| *b == 0));
        // Nothing touched beyond 64 KiB: nothing to give back.
        entry.payload[..100].fill(0xbb);
        entry.touched = 100;
        entry.trim();
        assert_eq!(entry.payload[99], 0xbb);
    }

    struct Echo;

    impl RingHandler for Echo {
        fn handle(&self, request: &RingRequest<'_>, reply: &mut RingReply<'_>) {
            if request.header.opcode == 99 {
                return reply.error(libc::ENOSYS);
            }
            let _ = reply.push(&request.payload[..request.payload.len().min(8)]);
            let _ = reply.push(&request.op_in[..4]);
        }
    }

    fn request_in(entry: &mut Entry, opcode: u32, unique: u64, payload: &[u8]) {
        entry.header[4..8].copy_from_slice(&opcode.to_ne_bytes());
        entry.header[8..16].copy_from_slice(&unique.to_ne_bytes());
        entry.header[IN_OUT_SIZE..IN_OUT_SIZE + 4].copy_from_slice(b"opin");
        entry.header[PAYLOAD_SIZE_AT..PAYLOAD_SIZE_AT + 4]
            .copy_from_slice(&(payload.len() as u32).to_ne_bytes());
        entry.payload[..payload.len()].copy_from_slice(payload);
    }

    fn out_header(entry: &Entry) -> (u32, i32, u64, u32) {
        let h = &entry.header;
        (
            u32::from_ne_bytes(h[0..4].try_into().unwrap()),
            i32::from_ne_bytes(h[4..8].try_into().unwrap()),
            u64::from_ne_bytes(h[8..16].try_into().unwrap()),
            u32::from_ne_bytes(h[PAYLOAD_SIZE_AT..PAYLOAD_SIZE_AT + 4].try_into().unwrap()),
        )
    }

    #[test]
    fn small_and_large_requests_get_their_replies_in_the_payload_area() {
        let mut scratch = Scratch {
            request: Vec::new(),
            reply: Vec::new(),
        };
        let mut entry = Entry::new(COPIED_REQUEST * 4);
        request_in(&mut entry, 1, 41, b"name\0");
        answer(&mut entry, &Echo, &mut scratch);
        assert_eq!(out_header(&entry), (16 + 9, 0, 41, 9));
        assert_eq!(&entry.payload[..9], b"name\0opin");

        let big: Vec<u8> = (0..COPIED_REQUEST * 2).map(|i| i as u8).collect();
        request_in(&mut entry, 16, 42, &big);
        answer(&mut entry, &Echo, &mut scratch);
        assert_eq!(out_header(&entry), (16 + 12, 0, 42, 12));
        assert_eq!(&entry.payload[..8], &big[..8]);
        assert_eq!(&entry.payload[8..12], b"opin");

        request_in(&mut entry, 99, 43, b"");
        answer(&mut entry, &Echo, &mut scratch);
        assert_eq!(out_header(&entry), (16, -libc::ENOSYS, 43, 0));
    }
}
