//! The smoltcp side of the tap device. Frames are read from the tap by the stack (so it
//! can look at each one first, see [`crate::frame`]) and queued here; the interface
//! then consumes the queue through [`smoltcp::phy::Device`], and every frame it sends
//! is written to the tap at once. The queue is bounded and buffers are reused, so a
//! flood from the container costs no memory beyond `RX_QUEUE` frames. A frame the tap
//! cannot take right now (its queue towards the container is full) is dropped, as a
//! NIC would; TCP retransmits.

use std::collections::VecDeque;
use std::io;

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::tap::{offload_header, Tap};

/// Frames read ahead of one interface poll.
pub const RX_QUEUE: usize = 64;

/// A frame read from the tap: `buf[start..end]`. Buffers keep their full length so
/// reading into them again costs no zeroing.
pub struct RxFrame {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RxFrame {
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The frame with the virtio-net header it was read with.
    pub fn with_header(&self) -> &[u8] {
        &self.buf[..self.end]
    }
}

pub struct TapDevice {
    tap: Tap,
    rx: VecDeque<RxFrame>,
    pool: Vec<Vec<u8>>,
    /// Always `frame_capacity` long; frames are written into a prefix.
    tx: Vec<u8>,
    frame_capacity: usize,
    /// Frames dropped because the tap refused them.
    pub tx_dropped: u64,
}

impl TapDevice {
    pub fn new(tap: Tap) -> TapDevice {
        // Ethernet header plus the largest IP packet the MTU allows.
        let frame_capacity = tap.header_len() + 14 + tap.mtu() as usize;
        TapDevice {
            tap,
            rx: VecDeque::with_capacity(RX_QUEUE),
            pool: Vec::new(),
            tx: vec![0; frame_capacity],
            frame_capacity,
            tx_dropped: 0,
        }
    }

    pub fn tap(&self) -> &Tap {
        &self.tap
    }

    /// Whether the queue has room for another frame.
    pub fn can_queue(&self) -> bool {
        self.rx.len() < RX_QUEUE
    }

    /// Reads one frame from the tap into a buffer (virtio-net header removed). Returns
    /// None when the tap has nothing to read. Datagrams too short to hold the header
    /// are skipped: answering None for one would stop the stack reading the frames
    /// behind it until the next wake-up, which may never come.
    pub fn read_frame(&mut self) -> io::Result<Option<RxFrame>> {
        let mut buf = self
            .pool
            .pop()
            .unwrap_or_else(|| vec![0; self.frame_capacity]);
        let start = self.tap.header_len();
        let read = loop {
            match self.tap.recv(&mut buf) {
                // A tap never reads empty; a socket standing in for one is at its end.
                Ok(0) => break Ok(None),
                Ok(n) if n < start => continue,
                Ok(n) => break Ok(Some(n)),
                Err(e) => break Err(e),
            }
        };
        match read {
            Ok(Some(n)) => Ok(Some(RxFrame { buf, start, end: n })),
            Ok(None) => {
                self.recycle(buf);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.recycle(buf);
                Ok(None)
            }
            Err(e) => {
                self.recycle(buf);
                Err(e)
            }
        }
    }

    /// Queues a frame for the interface.
    pub fn queue(&mut self, frame: RxFrame) {
        if self.can_queue() {
            self.rx.push_back(frame);
        } else {
            self.recycle(frame.buf);
        }
    }

    /// Gives a frame's buffer back without queueing it.
    pub fn discard(&mut self, frame: RxFrame) {
        self.recycle(frame.buf);
    }

    /// Returns a buffer to the pool.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < RX_QUEUE {
            self.pool.push(buf);
        }
    }

    /// Writes a frame built outside the interface (ICMP errors and echo replies).
    pub fn send_raw(&mut self, frame: &[u8]) {
        // Raw frames carry their own checksums: an all-zero virtio-net header.
        let header = self.tap.header_len();
        let Some(out) = self.tx.get_mut(..header + frame.len()) else {
            return;
        };
        out[..header].fill(0);
        out[header..].copy_from_slice(frame);
        if self.tap.send(out).is_err() {
            self.tx_dropped += 1;
        }
    }
}

pub struct RxToken<'a> {
    frame: RxFrame,
    pool: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let result = f(self.frame.bytes());
        if self.pool.len() < RX_QUEUE {
            self.pool.push(self.frame.buf);
        }
        result
    }
}

pub struct TxToken<'a> {
    tap: &'a Tap,
    buf: &'a mut Vec<u8>,
    dropped: &'a mut u64,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let header = self.tap.header_len();
        if self.buf.len() < header + len {
            // Larger than the MTU allows: smoltcp never asks for this.
            self.buf.resize(header + len, 0);
        }
        let out = &mut self.buf[..header + len];
        let result = f(&mut out[header..]);
        if header > 0 {
            let (vnet, frame) = out.split_at_mut(header);
            vnet.copy_from_slice(&offload_header(frame));
        }
        if self.tap.send(out).is_err() {
            *self.dropped += 1;
        }
        result
    }
}

impl phy::Device for TapDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((
            RxToken {
                frame,
                pool: &mut self.pool,
            },
            TxToken {
                tap: &self.tap,
                buf: &mut self.tx,
                dropped: &mut self.tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            tap: &self.tap,
            buf: &mut self.tx,
            dropped: &mut self.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 14 + self.tap.mtu() as usize;
        caps.max_burst_size = None;
        caps.checksum = checksums(self.tap.vnet_hdr());
        caps
    }
}

/// Frames from the container are never verified (the tap is memory to memory); with a
/// virtio-net header, TCP/UDP frames to the container are sent checksum-partial and
/// their checksums are not computed either.
fn checksums(vnet_hdr: bool) -> ChecksumCapabilities {
    let transport = if vnet_hdr {
        Checksum::None
    } else {
        Checksum::Tx
    };
    let mut caps = ChecksumCapabilities::default();
    caps.ipv4 = Checksum::Tx;
    caps.tcp = transport;
    caps.udp = transport;
    caps.icmpv4 = Checksum::Tx;
    caps.icmpv6 = Checksum::Tx;
    caps
}
