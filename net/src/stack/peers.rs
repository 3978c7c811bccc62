//! The container's side of a user-defined network's switch. Frames the container
//! sends to other members (by [`crate::switch::route`]) are passed to the switch with
//! the virtio-net header the tap gave them, and frames from the switch are written to
//! the tap as they are, so the checksum offload of one container's kernel is honoured
//! by the other's and no side touches the payload. Frames from peers posing as the
//! gateway are dropped ([`switch::from_peer_allowed`]). Neither direction blocks: a frame
//! the switch or the tap cannot take right now is dropped and counted. If the switch
//! goes away the container keeps its gateway, DNS and outside access but loses its
//! peers.

use std::io;
use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Poll};

use super::{Stack, StackError, SWITCH};
use crate::config::NetConfig;
use crate::device::{RxFrame, TapDevice, RX_QUEUE};
use crate::switch::{self, Received, SwitchPort};
use crate::tap::VNET_HDR_LEN;

/// Connects to the configured switch, if any, and registers it with the poll.
pub(super) fn connect_switch(
    config: &NetConfig,
    device: &TapDevice,
    poll: &Poll,
) -> Result<Option<SwitchPort>, StackError> {
    let Some(path) = &config.switch else {
        return Ok(None);
    };
    if !device.tap().vnet_hdr() {
        return Err(StackError::SwitchNeedsVnetHdr);
    }
    let port = SwitchPort::connect(path)?;
    poll.registry()
        .register(&mut SourceFd(&port.as_raw_fd()), SWITCH, Interest::READABLE)
        .map_err(StackError::Poll)?;
    Ok(Some(port))
}

impl Stack {
    /// Sends `frame` to the switch when it concerns peers; returns whether the stack
    /// must see it too.
    pub(super) fn pass_to_peers(&mut self, frame: &RxFrame) -> bool {
        let Some(port) = &self.switch else {
            return true;
        };
        let route = switch::route(&self.config, frame.bytes());
        if route.switch {
            match port.send(frame.with_header()) {
                Ok(()) => self.stats.switch_out += 1,
                Err(e) if switch::is_congestion(&e) => self.stats.switch_dropped += 1,
                Err(_) => self.lose_switch(),
            }
        }
        route.stack
    }

    /// Writes frames from the switch to the tap; returns whether any arrived.
    pub(super) fn switch_turn(&mut self) -> bool {
        if !self.switch_readable {
            return false;
        }
        let mut progress = false;
        for _ in 0..RX_QUEUE {
            let Some(port) = &self.switch else {
                self.switch_readable = false;
                break;
            };
            match port.recv(&mut self.switch_buf) {
                Ok(Received::Frame(n)) => {
                    progress = true;
                    self.stats.switch_in += 1;
                    let frame = &self.switch_buf[..n];
                    let allowed = frame
                        .get(VNET_HDR_LEN..)
                        .is_some_and(|eth| switch::from_peer_allowed(&self.config, eth));
                    if !allowed {
                        self.stats.malformed += 1;
                    } else if self.device.tap().send(frame).is_err() {
                        self.stats.switch_dropped += 1;
                    }
                }
                Ok(Received::Truncated) => self.stats.malformed += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.switch_readable = false;
                    break;
                }
                Ok(Received::Closed) | Err(_) => {
                    self.lose_switch();
                    break;
                }
            }
        }
        progress
    }

    fn lose_switch(&mut self) {
        if let Some(port) = self.switch.take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&port.as_raw_fd()));
        }
        self.switch_readable = false;
    }
}
