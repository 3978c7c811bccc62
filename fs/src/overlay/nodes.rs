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

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

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
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }
}

#[derive(Default)]
pub struct NodeTable {
    nodes: HashMap<u64, Node>,
}

impl NodeTable {
    pub fn new(root: Node) -> NodeTable {
        let mut nodes = HashMap::new();
        nodes.insert(ROOT, root);
        NodeTable { nodes }
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
        let mut names = Vec::new();
        let mut current = ino;
        let mut depth = 0;
        while current != ROOT {
            let node = self.nodes.get(&current)?;
            let (parent, name) = node.links.first()?;
            names.push(name.clone());
            current = *parent;
            depth += 1;
            if depth > 4096 {
                return None; // a cycle would be a bug; never loop forever
            }
        }
        Some(names.iter().rev().collect())
    }

    /// Records a lookup of `ino` through (parent, name). `fresh` describes the node as
    /// just resolved; an existing node keeps its place unless the fresh one is higher.
    pub fn remember(&mut self, ino: u64, parent: u64, name: &OsString, fresh: Node) -> &Node {
        let node = self.nodes.entry(ino).or_insert_with(|| Node {
            lookups: 0,
            ..fresh.clone()
        });
        if node.links.is_empty() || node.kind != fresh.kind {
            // A deleted node whose number came back: a new file for the kernel.
            let generation = node.generation + 1;
            *node = Node {
                lookups: node.lookups,
                generation,
                ..fresh
            };
        } else if node.is_dir() {
            node.links = vec![(parent, name.clone())];
            node.layer = fresh.layer;
            node.dir_layers = fresh.dir_layers;
        } else {
            let link = (parent, name.clone());
            if fresh.layer < node.layer {
                node.links.retain(|l| *l != link);
                node.links.insert(0, link);
                node.layer = fresh.layer;
            } else if !node.links.contains(&link) {
                node.links.push(link);
            }
        }
        node.lookups += 1;
        node
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
            &"a".into(),
            with_link(node(libc::S_IFDIR, 1), ROOT, "a"),
        );
        table.remember(
            11,
            10,
            &"f".into(),
            with_link(node(libc::S_IFREG, 1), 10, "f"),
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
            &"x".into(),
            with_link(node(libc::S_IFREG, 2), ROOT, "x"),
        );
        table.remember(
            20,
            ROOT,
            &"y".into(),
            with_link(node(libc::S_IFREG, 0), ROOT, "y"),
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
            &"x".into(),
            with_link(node(libc::S_IFREG, 0), ROOT, "x"),
        );
        table.unlink(30, ROOT, &"x".into());
        let n = table.remember(
            30,
            ROOT,
            &"z".into(),
            with_link(node(libc::S_IFREG, 0), ROOT, "z"),
        );
        assert_eq!(n.generation, 1);
        assert_eq!(n.links[0].1, "z");
    }
}
