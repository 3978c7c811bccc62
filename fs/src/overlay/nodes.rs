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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::ownership::OverrideStat;

pub const ROOT: u64 = 1;

/// The table's hasher: keyed per process, so even numbers chosen to collide (a
/// copied-up file's number comes from an xattr) cannot be aimed at one bucket, and
/// a few times cheaper than std's SipHash on a u64 key.
type NodeHasher = foldhash::fast::RandomState;

/// A link: the parent's node id and the name in it.
pub type Link = (u64, Box<OsStr>);

/// A node's links in order, the first (the one its path goes through) held inline:
/// nearly every node has exactly one, so it costs one allocation, for its name, and
/// the node stays small. Hard links' further links sit behind one pointer, None when
/// there are none. Never a first-less list with more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Links {
    first: Option<Link>,
    // Boxed: 8 bytes in every node, where a Vec would take 24 for what few have.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<Link>>>,
}

fn is_link(link: &Link, parent: u64, name: &OsStr) -> bool {
    link.0 == parent && *link.1 == *name
}

impl Links {
    /// The one link (parent, name).
    pub fn one(parent: u64, name: &OsStr) -> Links {
        Links {
            first: Some((parent, name.into())),
            more: None,
        }
    }

    pub fn first(&self) -> Option<&Link> {
        self.first.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more().len()
    }

    /// The links after the first.
    fn more(&self) -> &[Link] {
        self.more.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.first.iter().chain(self.more())
    }

    pub fn contains(&self, parent: u64, name: &OsStr) -> bool {
        self.iter().any(|l| is_link(l, parent, name))
    }

    /// Whether (parent, name) is the only link.
    fn is_only(&self, parent: u64, name: &OsStr) -> bool {
        self.more.is_none()
            && self
                .first
                .as_ref()
                .is_some_and(|l| is_link(l, parent, name))
    }

    /// Adds (parent, name) at the end unless it is there.
    pub fn add(&mut self, parent: u64, name: &OsStr) {
        if self.contains(parent, name) {
            return;
        }
        let link = (parent, name.into());
        if self.first.is_none() {
            self.first = Some(link);
        } else {
            self.more.get_or_insert_with(Box::default).push(link);
        }
    }

    /// Makes (parent, name) the first link, keeping the others after it.
    pub fn put_first(&mut self, parent: u64, name: &OsStr) {
        if self.is_only(parent, name) {
            return;
        }
        self.remove(parent, name);
        if let Some(old) = self.first.replace((parent, name.into())) {
            self.more.get_or_insert_with(Box::default).insert(0, old);
        }
    }

    /// Removes (parent, name) wherever it is.
    pub fn remove(&mut self, parent: u64, name: &OsStr) {
        if let Some(more) = self.more.as_mut() {
            more.retain(|l| !is_link(l, parent, name));
        }
        if self
            .first
            .as_ref()
            .is_some_and(|l| is_link(l, parent, name))
        {
            self.first = match self.more.as_mut() {
                Some(more) if !more.is_empty() => Some(more.remove(0)),
                _ => None,
            };
        }
        if self.more.as_ref().is_some_and(|more| more.is_empty()) {
            self.more = None;
        }
    }

    /// Renames every link `from` to `to`.
    pub fn rename(&mut self, from: (u64, &OsStr), to: (u64, &OsStr)) {
        let more = self.more.iter_mut().flat_map(|more| more.iter_mut());
        for link in self.first.iter_mut().chain(more) {
            if is_link(link, from.0, from.1) {
                *link = (to.0, to.1.into());
            }
        }
    }
}

/// What a lookup just resolved of a node: its kind, layer and merged layers.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// `S_IFMT` bits of the node as the overlay shows it.
    pub kind: u32,
    pub layer: usize,
    pub dir_layers: Vec<usize>,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// `S_IFMT` bits of the node as the overlay shows it.
    pub kind: u32,
    pub links: Links,
    pub layer: usize,
    /// Boxed, not a Vec: 8 bytes less in every node, and the table holds one node per
    /// file a walk has seen (its buckets are most of the server's memory after one).
    pub dir_layers: Box<[usize]>,
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
    /// A node as just resolved, with its links and no facts yet.
    pub fn new(kind: u32, links: Links, layer: usize, dir_layers: Vec<usize>) -> Node {
        Node {
            kind,
            links,
            layer,
            dir_layers: dir_layers.into_boxed_slice(),
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

/// [`Known`] from a node's bits; `record` gives its record when the bits say it has one.
fn known_from(bits: u8, record: impl FnOnce() -> Option<OverrideStat>) -> Known {
    let record = match (bits & RECORD_KNOWN != 0, bits & HAS_RECORD != 0) {
        (false, _) => None,
        (true, false) => Some(None),
        (true, true) => Some(record()),
    };
    Known {
        record,
        no_xattrs: bits & NO_XATTRS != 0,
        no_whiteouts: bits & NO_WHITEOUTS != 0,
    }
}

/// A node's bits for `known` (its record goes to the table's map, see [`keep_record`]).
fn bits_of(known: &Known) -> u8 {
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
    bits
}

/// Keeps the node's record in `records` when it has one, else drops any it had.
fn keep_record(
    records: &mut HashMap<u64, OverrideStat, NodeHasher>,
    ino: u64,
    record: Option<Option<OverrideStat>>,
) {
    match record {
        Some(Some(record)) => {
            records.insert(ino, record);
        }
        _ => {
            if !records.is_empty() {
                records.remove(&ino);
            }
        }
    }
}

/// The table's count of xattr and owner changes, shared so a reader can take it
/// before reading facts from the disk without taking the table's lock: only the
/// table bumps it, under its write lock, after the change reached the disk, and
/// `remember`/`learn` compare under that lock. A reader that saw the old count
/// therefore either read the disk before the change and is refused, or after it.
#[derive(Clone, Debug, Default)]
pub struct Epoch(Arc<AtomicU64>);

impl Epoch {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    fn bump(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

#[derive(Default)]
pub struct NodeTable {
    nodes: HashMap<u64, Node, NodeHasher>,
    /// Counts the changes the overlay made to files' xattrs or owners: facts read
    /// from the disk while it moved may predate a change and are not kept.
    epoch: Epoch,
    /// The ownership records of the nodes known to have one (few files do).
    records: HashMap<u64, OverrideStat, NodeHasher>,
    /// For a node whose upper file is open for writing: one such handle, through
    /// which its attributes are read and changed without walking its path.
    upper_handles: HashMap<u64, u64, NodeHasher>,
}

impl NodeTable {
    pub fn new(root: Node) -> NodeTable {
        let mut nodes = HashMap::default();
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
    /// just resolved, and `known` what was read of its file; an existing node keeps
    /// its place unless the fresh one is higher. `epoch` is what [`NodeTable::epoch`]
    /// said before `known` was read. Returns the node.
    ///
    /// One search of the table, and no allocation when the node already has the link
    /// (a directory walked again, a name looked up again).
    pub fn remember(
        &mut self,
        ino: u64,
        parent: u64,
        name: &OsStr,
        fresh: Resolved,
        known: Known,
        epoch: u64,
    ) -> &Node {
        let known = if epoch == self.epoch.get() {
            known
        } else {
            Known::default()
        };
        let (node, now) = match self.nodes.entry(ino) {
            Entry::Vacant(vacant) => {
                let node = Node {
                    lookups: 1,
                    ..Node::new(
                        fresh.kind,
                        Links::one(parent, name),
                        fresh.layer,
                        fresh.dir_layers,
                    )
                };
                (vacant.insert(node), known)
            }
            Entry::Occupied(occupied) => {
                let node = occupied.into_mut();
                let current = known_from(node.facts, || self.records.get(&ino).copied());
                let now = if node.links.is_empty() || node.kind != fresh.kind {
                    // A deleted node whose number came back: a new file for the kernel.
                    *node = Node {
                        lookups: node.lookups,
                        generation: node.generation + 1,
                        ..Node::new(
                            fresh.kind,
                            Links::one(parent, name),
                            fresh.layer,
                            fresh.dir_layers,
                        )
                    };
                    known
                } else if node.is_dir() {
                    let now = take_known(current, node.layer, known, fresh.layer);
                    if !node.links.is_only(parent, name) {
                        node.links = Links::one(parent, name);
                    }
                    node.layer = fresh.layer;
                    node.dir_layers = fresh.dir_layers.into_boxed_slice();
                    now
                } else {
                    if fresh.layer < node.layer {
                        node.links.put_first(parent, name);
                    } else {
                        node.links.add(parent, name);
                    }
                    if fresh.layer <= node.layer {
                        let now = take_known(current, node.layer, known, fresh.layer);
                        node.layer = fresh.layer;
                        now
                    } else {
                        current
                    }
                };
                node.lookups += 1;
                (node, now)
            }
        };
        node.facts = bits_of(&now);
        keep_record(&mut self.records, ino, now.record);
        node
    }

    /// The change count to read before reading facts from the disk.
    pub fn epoch(&self) -> u64 {
        self.epoch.get()
    }

    /// The change count, readable without the table's lock (see [`Epoch`]).
    pub fn epoch_reader(&self) -> Epoch {
        self.epoch.clone()
    }

    /// What is known of the node's file (nothing for an unknown node).
    pub fn known(&self, ino: u64) -> Known {
        match self.nodes.get(&ino) {
            Some(node) => known_from(node.facts, || self.records.get(&ino).copied()),
            None => Known::default(),
        }
    }

    /// Sets what is known of the node's file.
    pub fn store(&mut self, ino: u64, known: Known) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.facts = bits_of(&known);
        keep_record(&mut self.records, ino, known.record);
    }

    /// Stores facts read from the file at `layer` when nothing changed since `epoch`.
    pub fn learn(&mut self, ino: u64, layer: usize, epoch: u64, known: Known) {
        if epoch != self.epoch.get() || self.nodes.get(&ino).map(|n| n.layer) != Some(layer) {
            return;
        }
        let now = self.known(ino).merged(known);
        self.store(ino, now);
    }

    /// Records a change of the file's xattrs or owner: `update` says what is known now.
    pub fn change(&mut self, ino: u64, update: impl FnOnce(&mut Known)) {
        self.epoch.bump();
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
    pub fn unlink(&mut self, ino: u64, parent: u64, name: &OsStr) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.links.remove(parent, name);
        }
    }

    /// Moves the link (parent, name) of `ino` to (new_parent, new_name).
    pub fn relink(&mut self, ino: u64, from: (u64, &OsStr), to: (u64, &OsStr)) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.links.rename(from, to);
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
        Node::new(kind, Links::default(), layer, vec![layer])
    }

    fn resolved(kind: u32, layer: usize) -> Resolved {
        Resolved {
            kind,
            layer,
            dir_layers: vec![layer],
        }
    }

    fn first_name(table: &NodeTable, ino: u64) -> &OsStr {
        &table.get(ino).unwrap().links.first().unwrap().1
    }

    #[test]
    fn paths_follow_parents_and_renames() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        table.remember(
            10,
            ROOT,
            OsStr::new("a"),
            resolved(libc::S_IFDIR, 1),
            Known::default(),
            0,
        );
        table.remember(
            11,
            10,
            OsStr::new("f"),
            resolved(libc::S_IFREG, 1),
            Known::default(),
            0,
        );
        assert_eq!(table.path_of(11).unwrap(), PathBuf::from("a/f"));
        table.relink(10, (ROOT, OsStr::new("a")), (ROOT, OsStr::new("b")));
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
            resolved(libc::S_IFREG, 2),
            Known::default(),
            0,
        );
        table.remember(
            20,
            ROOT,
            OsStr::new("y"),
            resolved(libc::S_IFREG, 0),
            Known::default(),
            0,
        );
        assert_eq!(first_name(&table, 20), "y");
        let n = table.get(20).unwrap();
        assert_eq!(n.links.len(), 2);
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
            resolved(libc::S_IFREG, 0),
            Known::default(),
            0,
        );
        table.unlink(30, ROOT, OsStr::new("x"));
        let n = table.remember(
            30,
            ROOT,
            OsStr::new("z"),
            resolved(libc::S_IFREG, 0),
            Known::default(),
            0,
        );
        assert_eq!(n.generation, 1);
        assert_eq!(first_name(&table, 30), "z");
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
                resolved(libc::S_IFDIR, 0),
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
        let fresh = resolved(libc::S_IFREG, 0);
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
        let fresh = resolved(libc::S_IFREG, 0);
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

    #[test]
    fn links_keep_their_order_through_adds_moves_and_removes() {
        let name = OsStr::new;
        let mut links = Links::default();
        assert!(links.is_empty() && links.first().is_none());
        links.add(1, name("a"));
        links.add(1, name("a"));
        assert_eq!(links.len(), 1);
        assert!(links.is_only(1, name("a")));
        links.add(2, name("b"));
        links.add(3, name("c"));
        let all = |l: &Links| {
            l.iter()
                .map(|(p, n)| (*p, n.to_os_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            all(&links),
            [(1, "a".into()), (2, "b".into()), (3, "c".into())]
        );
        // Put first: the others keep their order behind it.
        links.put_first(3, name("c"));
        assert_eq!(
            all(&links),
            [(3, "c".into()), (1, "a".into()), (2, "b".into())]
        );
        links.put_first(4, name("d"));
        assert_eq!(links.first().map(|l| l.0), Some(4));
        assert_eq!(links.len(), 4);
        // Removing the first promotes the next one.
        links.remove(4, name("d"));
        links.remove(1, name("a"));
        assert_eq!(all(&links), [(3, "c".into()), (2, "b".into())]);
        links.rename((2, name("b")), (5, name("e")));
        assert!(links.contains(5, name("e")) && !links.contains(2, name("b")));
        links.remove(3, name("c"));
        links.remove(5, name("e"));
        assert!(links.is_empty() && links.iter().next().is_none());
        // An absent link changes nothing.
        links.remove(9, name("z"));
        assert!(links.is_empty());
    }

    #[test]
    fn a_directory_seen_again_keeps_one_link_and_takes_the_fresh_layers() {
        let mut table = NodeTable::new(node(libc::S_IFDIR, 0));
        let dir = |layer, dir_layers: Vec<usize>| Resolved {
            kind: libc::S_IFDIR,
            layer,
            dir_layers,
        };
        table.remember(
            70,
            ROOT,
            OsStr::new("d"),
            dir(1, vec![1, 2]),
            Known::default(),
            0,
        );
        table.remember(
            70,
            ROOT,
            OsStr::new("d"),
            dir(0, vec![0, 1, 2]),
            Known::default(),
            0,
        );
        // Renamed meanwhile: a lookup through the new name is its only link.
        table.remember(70, 5, OsStr::new("e"), dir(0, vec![0]), Known::default(), 0);
        let n = table.get(70).unwrap();
        assert_eq!(n.links, Links::one(5, OsStr::new("e")));
        assert_eq!((n.layer, &*n.dir_layers, n.lookups), (0, &[0][..], 3));
    }
}
