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

pub struct TapDevice {
    tap: Tap,
    rx: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
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
            tx: Vec::with_capacity(frame_capacity),
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
    /// None when the tap has nothing to read.
    pub fn read_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.resize(self.frame_capacity, 0);
        match self.tap.recv(&mut buf) {
            Ok(n) => {
                let header = self.tap.header_len();
                if n < header {
                    self.recycle(buf);
                    return Ok(None);
                }
                buf.truncate(n);
                buf.drain(..header);
                Ok(Some(buf))
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
    pub fn queue(&mut self, frame: Vec<u8>) {
        if self.can_queue() {
            self.rx.push_back(frame);
        } else {
            self.recycle(frame);
        }
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
        self.tx.clear();
        self.tx.resize(header, 0);
        self.tx.extend_from_slice(frame);
        if self.tap.send(&self.tx).is_err() {
            self.tx_dropped += 1;
        }
    }
}

pub struct RxToken<'a> {
    frame: Vec<u8>,
    pool: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let result = f(&self.frame);
        if self.pool.len() < RX_QUEUE {
            self.pool.push(self.frame);
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
        self.buf.clear();
        self.buf.resize(header + len, 0);
        let result = f(&mut self.buf[header..]);
        if header > 0 {
            let (vnet, frame) = self.buf.split_at_mut(header);
            vnet.copy_from_slice(&offload_header(frame));
        }
        if self.tap.send(self.buf).is_err() {
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
