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
    pub known: Known,
    /// A handle of the node's upper file open for writing (0: none), through which
    /// its attributes are read and changed without walking its path.
    pub upper_fh: u64,
}

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
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    /// Takes the facts of `fresh`, the same file read again: merged at the same
    /// layer, replacing at a higher one (copied up through another name: what was
    /// known is of the lower file).
    fn take_known(&mut self, fresh: &Node) {
        if fresh.layer == self.layer {
            self.known = self.known.merged(fresh.known);
        } else if fresh.layer < self.layer {
            self.known = fresh.known;
        } else {
            self.known = Known::default();
        }
    }
}

#[derive(Default)]
pub struct NodeTable {
    nodes: HashMap<u64, Node>,
    /// Counts the changes the overlay made to files' xattrs or owners: facts read
    /// from the disk while it moved may predate a change and are not kept.
    epoch: u64,
}

impl NodeTable {
    pub fn new(root: Node) -> NodeTable {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, root);
        NodeTable { nodes, epoch: 0 }
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
    /// just resolved, with that one link; an existing node keeps its place unless the
    /// fresh one is higher.
    /// `epoch` is what [`NodeTable::epoch`] said before `fresh.known` was read.
    pub fn remember(
        &mut self,
        ino: u64,
        parent: u64,
        name: &OsStr,
        mut fresh: Node,
        epoch: u64,
    ) -> &Node {
        if epoch != self.epoch {
            fresh.known = Known::default();
        }
        let node = match self.nodes.entry(ino) {
            Entry::Vacant(vacant) => {
                return vacant.insert(Node {
                    lookups: 1,
                    ..fresh
                })
            }
            Entry::Occupied(occupied) => occupied.into_mut(),
        };
        if node.links.is_empty() || node.kind != fresh.kind {
            // A deleted node whose number came back: a new file for the kernel.
            let generation = node.generation + 1;
            *node = Node {
                lookups: node.lookups,
                generation,
                ..fresh
            };
        } else if node.is_dir() {
            node.take_known(&fresh);
            node.links = fresh.links;
            node.layer = fresh.layer;
            node.dir_layers = fresh.dir_layers;
        } else {
            let link = (parent, name.to_os_string());
            if fresh.layer < node.layer {
                node.links.retain(|l| *l != link);
                node.links.insert(0, link);
            } else if !node.links.contains(&link) {
                node.links.push(link);
            }
            if fresh.layer <= node.layer {
                node.take_known(&fresh);
                node.layer = fresh.layer;
            }
        }
        node.lookups += 1;
        node
    }

    /// The change count to read before reading facts from the disk.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Stores facts read from the file at `layer` when nothing changed since `epoch`.
    pub fn learn(&mut self, ino: u64, layer: usize, epoch: u64, known: Known) {
        if epoch != self.epoch {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&ino) {
            if node.layer == layer {
                node.known = node.known.merged(known);
            }
        }
    }

    /// Records a change of the file's xattrs or owner: `update` says what is known now.
    pub fn change(&mut self, ino: u64, update: impl FnOnce(&mut Known)) {
        self.epoch += 1;
        if let Some(node) = self.nodes.get_mut(&ino) {
            update(&mut node.known);
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
        Node {
            kind,
            links: Vec::new(),
            layer,
            dir_layers: vec![layer],
            lookups: 0,
            generation: 0,
            known: Known::default(),
            upper_fh: 0,
        }
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
            0,
        );
        table.remember(
            11,
            10,
            OsStr::new("f"),
            with_link(node(libc::S_IFREG, 1), 10, "f"),
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
            0,
        );
        table.remember(
            20,
            ROOT,
            OsStr::new("y"),
            with_link(node(libc::S_IFREG, 0), ROOT, "y"),
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
            0,
        );
        table.unlink(30, ROOT, &"x".into());
        let n = table.remember(
            30,
            ROOT,
            OsStr::new("z"),
            with_link(node(libc::S_IFREG, 0), ROOT, "z"),
            0,
        );
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
        let mut fresh = with_link(node(libc::S_IFREG, 0), ROOT, "f");
        fresh.known = bare;
        let epoch = table.epoch();
        table.remember(50, ROOT, OsStr::new("f"), fresh.clone(), epoch);
        assert_eq!(table.get(50).unwrap().known, bare);
        // A setxattr between a read and its store: the read is not kept.
        let before = table.epoch();
        table.change(50, |known| known.no_xattrs = false);
        table.learn(50, 0, before, bare);
        assert!(!table.get(50).unwrap().known.no_xattrs);
        table.remember(50, ROOT, OsStr::new("g"), fresh, before);
        assert!(!table.get(50).unwrap().known.no_xattrs);
        // A read at a lower layer says nothing of the upper copy.
        table.learn(50, 1, table.epoch(), bare);
        assert!(!table.get(50).unwrap().known.no_xattrs);
    }
}
