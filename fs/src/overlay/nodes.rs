//! The inode table: what the kernel knows by node id, and where each node lives now.
//!
//! fuser hands the attribute's `ino` to the kernel as the node id, so node id, `st_ino`
//! and the table key are one number, derived from the file's identity: its inode number
//! in the layer it was found in (tagged with the layer's device index when layers sit on
//! several filesystems), or, for a file copied up, the number it had before (kept in the
//! `user.burrow.origin` xattr). So a number stays the same across copy-up, across
//! forget/lookup and across remounts, and hard links share it.
//!
//! A node has one or more links (parent id, name) — more than one only for hard links —
//! its current layer (0 is the upper dir when there is one) and, for directories, the
//! layers whose directory at that path is merged into it, top first, cut at an opaque
//! directory or a whiteout. The root is node 1 and is never forgotten.
//!
//! A node also keeps what the server learnt about its file's xattrs ([`Known`]): the
//! ownership record, whether a program could see any xattr, and for a directory
//! whether its upper copy may hold whiteouts. The upper dir changes only through the
//! overlay while it is mounted and the lowers never change (the contract the kernel
//! overlay has too), so these stay true until the overlay itself changes the file:
//! every such change (copy-up, chown/chmod through a record, setxattr, removexattr,
//! a whiteout added) updates or clears them. A passthrough (a volume the host may
//! change) never fills them in.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::ownership::OverrideStat;

pub const ROOT: u64 = 1;

#[derive(Clone, Debug)]
pub struct Node {
    /// `S_IFMT` bits of the node as the overlay shows it.
    pub kind: u32,
    pub links: Vec<(u64, OsString)>,
    pub layer: usize,
    pub dir_layers: Vec<usize>,
    pub lookups: u64,
    pub generation: u64,
    /// [`Known`] in bits (its record, when there is one, is in the table's map):
    /// nodes stay small, the table holds one per file a walk has seen.
    facts: u8,
}

const RECORD_KNOWN: u8 = 1;
const HAS_RECORD: u8 = 2;
const NO_XATTRS: u8 = 4;
const NO_WHITEOUTS: u8 = 8;

/// Facts about a node's file the server read or wrote itself, so it need not ask the
/// disk again (see the module comment for why they stay true).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The ownership record: None when not known, Some(None) when known absent.
    pub record: Option<Option<OverrideStat>>,
    /// The file carries no xattr but the overlay's own (getxattr can answer ENODATA).
    pub no_xattrs: bool,
    /// A directory whose upper copy holds no `.wh.` whiteout (made by the overlay).
    pub no_whiteouts: bool,
}

impl Known {
    /// What both say (both read from the same file, unchanged since).
    fn merged(self, other: Known) -> Known {
        Known {
            record: self.record.or(other.record),
            no_xattrs: self.no_xattrs || other.no_xattrs,
            no_whiteouts: self.no_whiteouts || other.no_whiteouts,
        }
    }
}

impl Node {
    /// A node as just resolved, with its one link and no facts yet.
    pub fn new(
        kind: u32,
        links: Vec<(u64, OsString)>,
        layer: usize,
        dir_layers: Vec<usize>,
    ) -> Node {
        Node {
            kind,
            links,
            layer,
            dir_layers,
            lookups: 0,
            generation: 0,
            facts: 0,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
}

/// What the same file read again at `fresh_layer` tells a node at `layer` that knew
/// `current`: merged at the same layer, replacing at a higher one (copied up through
/// another name: what was known is of the lower file), nothing at a lower one.
fn take_known(current: Known, layer: usize, fresh: Known, fresh_layer: usize) -> Known {
    match fresh_layer.cmp(&layer) {
        std::cmp::Ordering::Equal => current.merged(fresh),
        std::cmp::Ordering::Less => fresh,
        std::cmp::Ordering::Greater => Known::default(),
    }
}

#[derive(Default)]
pub struct NodeTable {
    nodes: HashMap<u64, Node>,
    /// Counts the changes the overlay made to files' xattrs or owners: facts read
    /// from the disk while it moved may predate a change and are not kept.
    epoch: u64,
    /// The ownership records of the nodes known to have one (few files do).
    records: HashMap<u64, OverrideStat>,
    /// For a node whose upper file is open for writing: one such handle, through
    /// which its attributes are read and changed without walking its path.
    upper_handles: HashMap<u64, u64>,
}

impl NodeTable {
    pub fn new(root: Node) -> NodeTable {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, root);
        NodeTable {
            nodes,
            ..NodeTable::default()
        }
    }

    /// How many nodes the table holds (the root included).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn get(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    /// The node's path relative to the layer roots (empty for the root), through its
    /// first link; None for a node that no longer has a name.
    pub fn path_of(&self, ino: u64) -> Option<PathBuf> {
        // Two passes over the parent chain, so the path is built in one allocation
        // from its end, with no copy of each name.
        let mut len = 0;
        let mut current = ino;
        let mut depth = 0;
        while current != ROOT {
            let (parent, name) = self.nodes.get(&current)?.links.first()?;
            len += name.len() + 1;
            current = *parent;
            depth += 1;
            if depth > 4096 {
                return None; // a cycle would be a bug; never loop forever
            }
        }
        let mut out = vec![b'/'; len.saturating_sub(1)];
        let mut end = out.len();
        current = ino;
        while current != ROOT {
            let (parent, name) = self.nodes.get(&current)?.links.first()?;
            let bytes = name.as_bytes();
            out[end - bytes.len()..end].copy_from_slice(bytes);
            end = (end - bytes.len()).saturating_sub(1);
            current = *parent;
        }
        Some(PathBuf::from(OsString::from_vec(out)))
    }

    /// Records a lookup of `ino` through (parent, name). `fresh` describes the node as
    /// just resolved, with that one link, and `known` what was read of its file; an
    /// existing node keeps its place unless the fresh one is higher. `epoch` is what
    /// [`NodeTable::epoch`] said before `known` was read. Returns the node.
    pub fn remember(
        &mut self,
        ino: u64,
        parent: u64,
        name: &OsStr,
        fresh: Node,
        known: Known,
        epoch: u64,
    ) -> Option<&Node> {
        let known = if epoch == self.epoch {
            known
        } else {
            Known::default()
        };
        let current = self.known(ino);
        let fresh_layer = fresh.layer;
        let now = match self.nodes.entry(ino) {
            Entry::Vacant(vacant) => {
                vacant.insert(Node {
                    lookups: 1,
                    ..fresh
                });
                known
            }
            Entry::Occupied(occupied) => {
                let node = occupied.into_mut();
                let now = if node.links.is_empty() || node.kind != fresh.kind {
                    // A deleted node whose number came back: a new file for the kernel.
                    let generation = node.generation + 1;
                    *node = Node {
                        lookups: node.lookups,
                        generation,
                        ..fresh
                    };
                    known
                } else if node.is_dir() {
                    let now = take_known(current, node.layer, known, fresh_layer);
                    node.links = fresh.links;
                    node.layer = fresh_layer;
                    node.dir_layers = fresh.dir_layers;
                    now
                } else {
                    let link = (parent, name.to_os_string());
                    if fresh_layer < node.layer {
                        node.links.retain(|l| *l != link);
                        node.links.insert(0, link);
                    } else if !node.links.contains(&link) {
                        node.links.push(link);
                    }
                    if fresh_layer <= node.layer {
                        let now = take_known(current, node.layer, known, fresh_layer);
                        node.layer = fresh_layer;
                        now
                    } else {
                        current
                    }
                };
                node.lookups += 1;
                now
            }
        };
        self.store(ino, now);
        self.nodes.get(&ino)
    }

    /// The change count to read before reading facts from the disk.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// What is known of the node's file (nothing for an unknown node).
    pub fn known(&self, ino: u64) -> Known {
        let Some(node) = self.nodes.get(&ino) else {
            return Known::default();
        };
        let bits = node.facts;
        let record = match (bits & RECORD_KNOWN != 0, bits & HAS_RECORD != 0) {
            (false, _) => None,
            (true, false) => Some(None),
            (true, true) => Some(self.records.get(&ino).copied()),
        };
        Known {
            record,
            no_xattrs: bits & NO_XATTRS != 0,
            no_whiteouts: bits & NO_WHITEOUTS != 0,
        }
    }

    /// Sets what is known of the node's file.
    pub fn store(&mut self, ino: u64, known: Known) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        let mut bits = 0;
        match known.record {
            None => {}
            Some(None) => bits |= RECORD_KNOWN,
            Some(Some(_)) => bits |= RECORD_KNOWN | HAS_RECORD,
        }
        if known.no_xattrs {
            bits |= NO_XATTRS;
        }
        if known.no_whiteouts {
            bits |= NO_WHITEOUTS;
        }
        node.facts = bits;
        match known.record {
            Some(Some(record)) => {
                self.records.insert(ino, record);
            }
            _ => {
                if !self.records.is_empty() {
                    self.records.remove(&ino);
                }
            }
        }
    }

    /// Stores facts read from the file at `layer` when nothing changed since `epoch`.
    pub fn learn(&mut self, ino: u64, layer: usize, epoch: u64, known: Known) {
        if epoch != self.epoch || self.nodes.get(&ino).map(|n| n.layer) != Some(layer) {
            return;
        }
        let now = self.known(ino).merged(known);
        self.store(ino, now);
    }

    /// Records a change of the file's xattrs or owner: `update` says what is known now.
    pub fn change(&mut self, ino: u64, update: impl FnOnce(&mut Known)) {
        self.epoch += 1;
        let mut known = self.known(ino);
        update(&mut known);
        self.store(ino, known);
    }

    /// The handle of the node's upper file kept by [`NodeTable::set_upper_handle`].
    pub fn upper_handle(&self, ino: u64) -> Option<u64> {
        if self.upper_handles.is_empty() {
            return None;
        }
        self.upper_handles.get(&ino).copied()
    }

    pub fn set_upper_handle(&mut self, ino: u64, fh: u64) {
        if self.nodes.contains_key(&ino) {
            self.upper_handles.insert(ino, fh);
        }
    }

    /// Forgets `fh` as the node's upper handle (it was released).
    pub fn drop_upper_handle(&mut self, ino: u64, fh: u64) {
        if self.upper_handles.get(&ino) == Some(&fh) {
            self.upper_handles.remove(&ino);
        }
    }

    /// Drops `count` lookups; the node goes when none are left.
    pub fn forget(&mut self, ino: u64, count: u64) {
        if ino == ROOT {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(count);
            if node.lookups == 0 {
                self.nodes.remove(&ino);
                self.records.remove(&ino);
                self.upper_handles.remove(&ino);
            }
        }
    }

    /// Removes the link (parent, name) from whichever node has it.
    pub fn unlink(&mut self, ino: u64, parent: u64, name: &OsString) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.links.retain(|(p, n)| !(*p == parent && n == name));
        }
    }

    /// Moves the link (parent, name) of `ino` to (new_parent, new_name).
    pub fn relink(&mut self, ino: u64, from: (u64, &OsString), to: (u64, &OsString)) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            for link in node.links.iter_mut() {
                if link.0 == from.0 && link.1 == *from.1 {
                    *link = (to.0, to.1.clone());
                }
            }
        }
    }

    /// Every node below `ino` (excluded), by following parent links.
    pub fn descendants(&self, ino: u64) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(id, node)| **id != ino && self.is_below(node, ino))
            .map(|(id, _)| *id)
            .collect()
    }

    fn is_below(&self, node: &Node, ancestor: u64) -> bool {
        let mut current = match node.links.first() {
            Some((parent, _)) => *parent,
            None => return false,
        };
        for _ in 0..4096 {
            if current == ancestor {
                return true;
            }
            if current == ROOT {
                return false;
            }
            current = match self.nodes.get(&current).and_then(|n| n.links.first()) {
                Some((parent, _)) => *parent,
                None => return false,
            };
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: u32, layer: usize) -> Node {
        Node::new(kind, Vec::new(), layer, vec![layer])
    }

    fn with_link(mut n: Node, parent: u64, name: &str) -> Node {
        n.links = vec![(parent, name.into())];
        n
    }

    #[test]
    fn paths_follow_parents_and_renames() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        table.remember(
            10,
            ROOT,
            OsStr::new("a"),
            with_link(node(libc::S_IFDIR, 1), ROOT, "a"),
            Known::default(),
            0,
        );
        table.remember(
            11,
            10,
            OsStr::new("f"),
            with_link(node(libc::S_IFREG, 1), 10, "f"),
            Known::default(),
            0,
        );
        assert_eq!(table.path_of(11).unwrap(), PathBuf::from("a/f"));
        table.relink(10, (ROOT, &"a".into()), (ROOT, &"b".into()));
        assert_eq!(table.path_of(11).unwrap(), PathBuf::from("b/f"));
        assert_eq!(table.descendants(10), vec![11]);
        assert_eq!(table.path_of(ROOT).unwrap(), PathBuf::new());
    }

    #[test]
    fn hard_links_share_a_node_and_higher_layers_win() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        table.remember(
            20,
            ROOT,
            OsStr::new("x"),
            with_link(node(libc::S_IFREG, 2), ROOT, "x"),
            Known::default(),
            0,
        );
        table.remember(
            20,
            ROOT,
            OsStr::new("y"),
            with_link(node(libc::S_IFREG, 0), ROOT, "y"),
            Known::default(),
            0,
        );
        let n = table.get(20).unwrap();
        assert_eq!(n.links[0].1, "y");
        assert_eq!(n.layer, 0);
        assert_eq!(n.lookups, 2);
        table.forget(20, 1);
        assert!(table.get(20).is_some());
        table.forget(20, 1);
        assert!(table.get(20).is_none());
    }

    #[test]
    fn a_reused_number_after_delete_bumps_the_generation() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        table.remember(
            30,
            ROOT,
            OsStr::new("x"),
            with_link(node(libc::S_IFREG, 0), ROOT, "x"),
            Known::default(),
            0,
        );
        table.unlink(30, ROOT, &"x".into());
        let n = table
            .remember(
                30,
                ROOT,
                OsStr::new("z"),
                with_link(node(libc::S_IFREG, 0), ROOT, "z"),
                Known::default(),
                0,
            )
            .unwrap();
        assert_eq!(n.generation, 1);
        assert_eq!(n.links[0].1, "z");
    }

    #[test]
    fn deep_paths_are_built_whole() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        let mut parent = ROOT;
        for (i, name) in ["usr", "share", "doc"].iter().enumerate() {
            let ino = 40 + i as u64;
            table.remember(
                ino,
                parent,
                OsStr::new(name),
                with_link(node(libc::S_IFDIR, 0), parent, name),
                Known::default(),
                0,
            );
            parent = ino;
        }
        assert_eq!(table.path_of(42).unwrap(), PathBuf::from("usr/share/doc"));
        assert_eq!(table.path_of(40).unwrap(), PathBuf::from("usr"));
    }

    #[test]
    fn facts_read_before_a_change_are_dropped() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        let bare = Known {
            record: Some(None),
            no_xattrs: true,
            no_whiteouts: false,
        };
        let fresh = with_link(node(libc::S_IFREG, 0), ROOT, "f");
        let epoch = table.epoch();
        table.remember(50, ROOT, OsStr::new("f"), fresh.clone(), bare, epoch);
        assert_eq!(table.known(50), bare);
        // A setxattr between a read and its store: the read is not kept.
        let before = table.epoch();
        table.change(50, |known| known.no_xattrs = false);
        table.learn(50, 0, before, bare);
        assert!(!table.known(50).no_xattrs);
        table.remember(50, ROOT, OsStr::new("g"), fresh, bare, before);
        assert!(!table.known(50).no_xattrs);
        // A read at a lower layer says nothing of the upper copy.
        table.learn(50, 1, table.epoch(), bare);
        assert!(!table.known(50).no_xattrs);
    }

    #[test]
    fn records_live_beside_the_nodes_and_go_with_them() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        let record = OverrideStat {
            uid: 1000,
            gid: 1001,
            mode: 0o4750,
            kind: None,
        };
        let known = Known {
            record: Some(Some(record)),
            no_xattrs: true,
            no_whiteouts: false,
        };
        let fresh = with_link(node(libc::S_IFREG, 0), ROOT, "f");
        table.remember(60, ROOT, OsStr::new("f"), fresh, known, table.epoch());
        assert_eq!(table.known(60), known);
        table.change(60, |k| k.record = Some(None));
        assert_eq!(table.known(60).record, Some(None));
        assert!(table.records.is_empty());
        table.change(60, |k| k.record = Some(Some(record)));
        table.set_upper_handle(60, 7);
        assert_eq!(table.upper_handle(60), Some(7));
        table.drop_upper_handle(60, 8);
        assert_eq!(table.upper_handle(60), Some(7));
        table.forget(60, 1);
        assert!(table.records.is_empty() && table.upper_handles.is_empty());
        assert_eq!(table.known(60), Known::default());
    }
}
