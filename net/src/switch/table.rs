//! The switch's forwarding table: which port each source MAC address was last seen on.
//! A frame to a learned unicast address goes to that port only; a frame to an unknown
//! unicast address, to broadcast or to multicast is flooded to every other port; a
//! frame to an address learned on the port it came from is dropped (the destination
//! already saw it). The table is bounded: once full, new addresses are not learned and
//! frames to them are flooded, which costs bandwidth but never correctness.

use std::collections::HashMap;

/// A port of the switch, as numbered by the server (never reused while it runs).
pub(super) type PortId = usize;

/// An Ethernet address as it appears in a frame.
pub(super) type Mac = [u8; 6];

/// Where one frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Forward {
    To(PortId),
    Flood,
    Drop,
}

pub(super) struct MacTable {
    entries: HashMap<Mac, PortId>,
    capacity: usize,
}

fn is_group(mac: &Mac) -> bool {
    mac[0] & 1 == 1
}

impl MacTable {
    pub fn new(capacity: usize) -> MacTable {
        MacTable {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// Notes that `src` sent from `port`; an address that moves follows its new port.
    pub fn learn(&mut self, src: Mac, port: PortId) {
        if is_group(&src) || src == [0; 6] {
            return; // never a valid source
        }
        if self.entries.len() < self.capacity || self.entries.contains_key(&src) {
            self.entries.insert(src, port);
        }
    }

    pub fn forward(&self, dst: Mac, from: PortId) -> Forward {
        if is_group(&dst) {
            return Forward::Flood;
        }
        match self.entries.get(&dst) {
            Some(&port) if port == from => Forward::Drop,
            Some(&port) => Forward::To(port),
            None => Forward::Flood,
        }
    }

    /// Forgets every address learned on a port that went away.
    pub fn forget_port(&mut self, port: PortId) {
        self.entries.retain(|_, learned| *learned != port);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Mac = [2, 0, 0, 0, 0, 0xa];
    const B: Mac = [2, 0, 0, 0, 0, 0xb];
    const BROADCAST: Mac = [0xff; 6];
    const MULTICAST: Mac = [0x33, 0x33, 0, 0, 0, 1];

    #[test]
    fn learned_addresses_get_unicast_and_the_rest_is_flooded() {
        let mut table = MacTable::new(16);
        assert_eq!(table.forward(B, 1), Forward::Flood);
        table.learn(A, 1);
        table.learn(B, 2);
        assert_eq!(table.forward(B, 1), Forward::To(2));
        assert_eq!(table.forward(A, 2), Forward::To(1));
        assert_eq!(table.forward(A, 1), Forward::Drop);
        assert_eq!(table.forward(BROADCAST, 1), Forward::Flood);
        assert_eq!(table.forward(MULTICAST, 1), Forward::Flood);
    }

    #[test]
    fn group_and_zero_sources_are_not_learned_and_addresses_move() {
        let mut table = MacTable::new(16);
        table.learn(BROADCAST, 1);
        table.learn(MULTICAST, 1);
        table.learn([0; 6], 1);
        assert_eq!(table.len(), 0);
        table.learn(A, 1);
        table.learn(A, 3);
        assert_eq!(table.forward(A, 2), Forward::To(3));
    }

    #[test]
    fn a_lost_port_is_forgotten() {
        let mut table = MacTable::new(16);
        table.learn(A, 1);
        table.learn(B, 2);
        table.forget_port(1);
        assert_eq!(table.forward(A, 2), Forward::Flood);
        assert_eq!(table.forward(B, 1), Forward::To(2));
    }

    #[test]
    fn a_full_table_floods_new_addresses_but_keeps_moving_known_ones() {
        let mut table = MacTable::new(1);
        table.learn(A, 1);
        table.learn(B, 2);
        assert_eq!(table.forward(B, 1), Forward::Flood);
        table.learn(A, 2);
        assert_eq!(table.forward(A, 1), Forward::To(2));
    }
}
