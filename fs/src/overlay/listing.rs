//! Directory offsets that survive concurrent change, and a small cache of the merged
//! listings that readdir serves from.
//!
//! Theory of operation. The overlay answers OPENDIR with ENOSYS (where the kernel
//! supports that), so the kernel sends neither OPENDIR nor RELEASEDIR again and every
//! READDIRPLUS arrives with file handle 0: there is no per-open state to hold a
//! snapshot, and each request says only (directory, offset) — the offset being the one
//! the server gave the last entry the kernel took. An offset is therefore a property of
//! a *name*, not of a position: a 63-bit SipHash of the name under a key drawn at
//! random once per mount, so stable for the life of the mount. A listing is sent in
//! hash order — `.` at offset 1, `..` at 2, then the names (hashes start at 3) — and a
//! read from offset `o` goes on with the first name whose hash is above `o`. A name
//! present for the whole of an iteration is returned exactly once, whatever other
//! names are added or removed meanwhile (POSIX leaves only those unspecified), and
//! seekdir to a telldir value resumes at the same name — the scheme ext4 uses for its
//! htree directories. Unlike ext4, the server cannot tell a 32-bit program's
//! `getdents` (32-bit offsets) from `getdents64`: such a program's telldir values are
//! cut short; 64-bit programs and `getdents64` users are not affected.
//!
//! Collisions: two names of one directory with the same 63-bit hash share an offset.
//! The key is secret and random, so names cannot be chosen to collide, and the chance
//! is about n²/2⁶⁴ for a directory of n names (10⁻¹¹ for 10,000). Should it happen,
//! the names of the run are listed in name order and always in one reply — a reply
//! ends early rather than split a run — so a plain read returns each once; only a
//! getdents buffer or a telldir that ends between the two can then skip the second.
//!
//! The cache keeps the few listings built last (a directory is read in two requests at
//! least: entries, then the empty reply that tells the kernel it has reached the end),
//! so a continuation does not read the layers again. Every change the overlay makes —
//! a namespace change or a copy-up, all made under the change lock — empties it when
//! the change is done, and bumps an epoch so that a listing built while a change ran is
//! not kept. Its size is bounded by bytes and entries; the four listings used last are
//! always kept, so a directory too large for the budget still costs one build per read
//! of it, not one per request, even with a few such reads side by side (a per-open
//! snapshot held as much). The open layer directories a listing holds (readdirplus looks
//! entries up relative to them) are closed once a reply reaches its end.
//!
//! Listings built ahead by the prefetch thread (`prefetch.rs`) wait in a second part
//! of the cache until a readdir takes them (they then count as recent), bounded by
//! count and bytes: the thread stops building when it is full rather than drop the
//! oldest, which is the one a walk reads next. Changes empty it as they empty the rest.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::hash::{BuildHasher, RandomState};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::fs as rfs;

use super::core::ListedEntry;

/// The offset after `.`.
pub const DOT: u64 = 1;
/// The offset after `..`.
pub const DOTDOT: u64 = 2;
/// The smallest offset a name gets.
const FIRST_NAME: u64 = 3;

/// How many listings the cache keeps at most.
const CACHED_LISTINGS: usize = 16;
/// Roughly how many bytes of listings it keeps beyond the last few.
const CACHED_BYTES: usize = 512 * 1024;
/// The listings kept whatever their size: two programs reading two huge directories
/// side by side still find theirs between requests.
const ALWAYS_KEPT: usize = 4;
/// How many listings built ahead of their first read (see `prefetch.rs`) are kept
/// at most, and roughly how many bytes: the prefetch thread waits beyond.
const AHEAD_LISTINGS: usize = 16;
const AHEAD_BYTES: usize = 512 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The keyed hash that gives names their offsets.
pub struct Cookies {
    key: RandomState,
}

impl Default for Cookies {
    fn default() -> Cookies {
        Cookies {
            key: RandomState::new(),
        }
    }
}

impl Cookies {
    /// The offset of `name`: 63 bits (a positive `loff_t`), never 0, 1 or 2.
    pub fn of(&self, name: &OsStr) -> u64 {
        (self.key.hash_one(name.as_bytes()) >> 1).max(FIRST_NAME)
    }
}

/// A merged directory in offset order, as readdir serves it.
pub struct Listing {
    pub path: PathBuf,
    pub dir_layers: Vec<usize>,
    /// The directory open in each of `dir_layers`, same order; emptied once a reply
    /// has reached the end of the listing.
    /// Shared with the prefetch thread while it looks entries up ahead.
    pub dirs: Mutex<Vec<Arc<rfs::Dir>>>,
    /// Sorted by (cookie, name).
    pub entries: Vec<ListedEntry>,
}

impl Listing {
    /// Orders `entries` by the offsets `cookies` gives their names.
    pub fn new(
        path: PathBuf,
        dir_layers: Vec<usize>,
        dirs: Vec<rfs::Dir>,
        mut entries: Vec<ListedEntry>,
        cookies: &Cookies,
    ) -> Listing {
        for entry in &mut entries {
            entry.cookie = cookies.of(&entry.name);
        }
        entries.sort_unstable_by(|a, b| (a.cookie, &a.name).cmp(&(b.cookie, &b.name)));
        Listing {
            path,
            dir_layers,
            dirs: Mutex::new(dirs.into_iter().map(Arc::new).collect()),
            entries,
        }
    }

    /// The index of the first entry a read from `offset` returns (offsets below the
    /// first name's are `.` and `..`, which the caller handles).
    pub fn resume_at(&self, offset: u64) -> usize {
        if offset < FIRST_NAME {
            return 0;
        }
        self.entries.partition_point(|e| e.cookie <= offset)
    }

    /// Whether entry `i` begins a run of names that share its offset.
    pub fn starts_run(&self, i: usize) -> bool {
        let shares = |j: usize| match (self.entries.get(j), self.entries.get(j + 1)) {
            (Some(a), Some(b)) => a.cookie == b.cookie,
            _ => false,
        };
        shares(i) && (i == 0 || !shares(i - 1))
    }

    /// Where `layer` is among the listing's `dir_layers` (and its open `dirs`).
    pub fn layer_index(&self, layer: usize) -> Option<usize> {
        self.dir_layers.iter().position(|l| *l == layer)
    }

    /// The open layer directories, for lookups relative to them.
    pub fn dirs(&self) -> MutexGuard<'_, Vec<Arc<rfs::Dir>>> {
        lock(&self.dirs)
    }

    /// An estimate of the memory the listing holds.
    fn weight(&self) -> usize {
        let per_entry = std::mem::size_of::<ListedEntry>() + 16;
        let per_looked = std::mem::size_of::<super::core::Looked>() + 16;
        self.entries
            .iter()
            .map(|e| per_entry + per_looked + e.name.len())
            .sum::<usize>()
            + self.path.as_os_str().len()
            + std::mem::size_of::<Listing>()
    }
}

struct Cached {
    ino: u64,
    listing: Arc<Listing>,
    weight: usize,
}

#[derive(Default)]
struct CacheState {
    /// Bumped by every invalidation.
    epoch: u64,
    /// Most recently used first.
    recent: VecDeque<Cached>,
    bytes: usize,
    /// Built ahead and not read yet, oldest first.
    ahead: VecDeque<Cached>,
    ahead_bytes: usize,
}

impl CacheState {
    /// Whether a listing of `ino` is kept (recent or built ahead).
    fn holds(&self, ino: u64) -> bool {
        self.recent.iter().chain(&self.ahead).any(|c| c.ino == ino)
    }

    /// Keeps `cached` as the most recent listing (in place of any other of its
    /// directory), dropping the oldest beyond the budget.
    fn keep_recent(&mut self, cached: Cached) {
        let ino = cached.ino;
        if let Some(at) = self.recent.iter().position(|c| c.ino == ino) {
            if let Some(old) = self.recent.remove(at) {
                self.bytes -= old.weight;
            }
        }
        if let Some(at) = self.ahead.iter().position(|c| c.ino == ino) {
            if let Some(old) = self.ahead.remove(at) {
                self.ahead_bytes -= old.weight;
            }
        }
        self.bytes += cached.weight;
        self.recent.push_front(cached);
        while self.recent.len() > CACHED_LISTINGS
            || (self.recent.len() > ALWAYS_KEPT && self.bytes > CACHED_BYTES)
        {
            if let Some(old) = self.recent.pop_back() {
                self.bytes -= old.weight;
            }
        }
    }
}

/// The listings built last, by directory node.
#[derive(Default)]
pub struct ListingCache {
    state: Mutex<CacheState>,
    pub cookies: Cookies,
}

impl ListingCache {
    /// The current epoch: a listing built after reading it may be inserted with it.
    pub fn epoch(&self) -> u64 {
        lock(&self.state).epoch
    }

    pub fn get(&self, ino: u64) -> Option<Arc<Listing>> {
        let mut state = lock(&self.state);
        if let Some(at) = state.recent.iter().position(|c| c.ino == ino) {
            let hit = state.recent.remove(at)?;
            let listing = hit.listing.clone();
            state.recent.push_front(hit);
            return Some(listing);
        }
        // Read for the first time: from now on one of the recent ones.
        let at = state.ahead.iter().position(|c| c.ino == ino)?;
        let hit = state.ahead.remove(at)?;
        state.ahead_bytes -= hit.weight;
        let listing = hit.listing.clone();
        state.keep_recent(hit);
        Some(listing)
    }

    /// Whether a listing of `ino` is kept (recent or built ahead).
    pub fn holds(&self, ino: u64) -> bool {
        lock(&self.state).holds(ino)
    }

    /// Whether as many listings built ahead are kept as the budget allows.
    pub fn ahead_full(&self) -> bool {
        let state = lock(&self.state);
        state.ahead.len() >= AHEAD_LISTINGS || state.ahead_bytes >= AHEAD_BYTES
    }

    /// Keeps `listing` of `ino`, built ahead of its first read, unless something
    /// changed since `epoch` or the directory's listing is kept already. Whether it
    /// was kept. The caller checks [`ListingCache::ahead_full`] first: the budget is
    /// exceeded by one listing at most, and none is dropped for it (the oldest is
    /// the one a walk reads next).
    pub fn insert_ahead(&self, ino: u64, listing: Arc<Listing>, epoch: u64) -> bool {
        let mut state = lock(&self.state);
        if state.epoch != epoch || state.holds(ino) {
            return false;
        }
        let weight = listing.weight();
        state.ahead_bytes += weight;
        state.ahead.push_back(Cached {
            ino,
            listing,
            weight,
        });
        true
    }

    /// Keeps `listing` of `ino` unless something changed since `epoch`.
    pub fn insert(&self, ino: u64, listing: Arc<Listing>, epoch: u64) {
        let mut state = lock(&self.state);
        if state.epoch != epoch {
            return;
        }
        let weight = listing.weight();
        state.keep_recent(Cached {
            ino,
            listing,
            weight,
        });
    }

    /// Forgets the listings built ahead that were not read.
    pub fn forget_ahead(&self) {
        let dropped = {
            let mut state = lock(&self.state);
            state.ahead_bytes = 0;
            std::mem::take(&mut state.ahead)
        };
        drop(dropped);
    }

    /// Forgets every listing (after a change to the tree).
    pub fn invalidate_all(&self) {
        let dropped = {
            let mut state = lock(&self.state);
            state.epoch += 1;
            state.bytes = 0;
            state.ahead_bytes = 0;
            (
                std::mem::take(&mut state.recent),
                std::mem::take(&mut state.ahead),
            )
        };
        // Closed outside the lock.
        drop(dropped);
    }

    /// How many listings are kept (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        lock(&self.state).recent.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser::FileType;
    use std::collections::HashSet;
    use std::ffi::OsString;

    fn entry(name: &str) -> ListedEntry {
        ListedEntry {
            name: name.into(),
            kind: FileType::RegularFile,
            layer: 0,
            ino: 10,
            cookie: 0,
            looked: std::sync::OnceLock::new(),
        }
    }

    fn listing(names: &[String], cookies: &Cookies) -> Listing {
        let entries = names.iter().map(|n| entry(n)).collect();
        Listing::new(PathBuf::new(), vec![0], Vec::new(), entries, cookies)
    }

    /// Reads the listing as the kernel does, `per_read` names per request, calling
    /// `between` before every request after the first (it may change the names).
    fn iterate(
        cookies: &Cookies,
        names: &mut Vec<String>,
        per_read: usize,
        mut between: impl FnMut(&mut Vec<String>, usize),
    ) -> Vec<OsString> {
        let mut seen = Vec::new();
        let mut offset = DOTDOT;
        for round in 0.. {
            if round > 0 {
                between(names, round);
            }
            let l = listing(names, cookies);
            let start = l.resume_at(offset);
            let batch: Vec<&ListedEntry> = l.entries[start..].iter().take(per_read).collect();
            if batch.is_empty() {
                break;
            }
            for e in batch {
                seen.push(e.name.clone());
                offset = e.cookie;
            }
        }
        seen
    }

    #[test]
    fn offsets_are_stable_and_never_the_dots() {
        let cookies = Cookies::default();
        let a = cookies.of(OsStr::new("name"));
        assert_eq!(a, cookies.of(OsStr::new("name")));
        assert!(a >= FIRST_NAME && a <= i64::MAX as u64);
        assert_ne!(a, cookies.of(OsStr::new("other")));
    }

    #[test]
    fn names_unchanged_during_an_iteration_are_each_returned_once() {
        let cookies = Cookies::default();
        let stable: Vec<String> = (0..2000).map(|i| format!("keep-{i}")).collect();
        let mut names = stable.clone();
        let mut added = 0;
        let seen = iterate(&cookies, &mut names, 37, |names, round| {
            // Add three names and remove the volatile one added two rounds ago.
            for _ in 0..3 {
                names.push(format!("new-{added}"));
                added += 1;
            }
            if round > 2 {
                let gone = format!("new-{}", (round - 2) * 3);
                names.retain(|n| *n != gone);
            }
        });
        let mut once = HashSet::new();
        for name in &seen {
            assert!(once.insert(name.clone()), "{name:?} returned twice");
        }
        for name in &stable {
            assert!(once.contains(OsStr::new(name)), "{name} skipped");
        }
    }

    #[test]
    fn a_read_resumes_after_the_offset_of_the_last_name_taken() {
        let cookies = Cookies::default();
        let names: Vec<String> = (0..500).map(|i| format!("f{i}")).collect();
        let l = listing(&names, &cookies);
        assert_eq!(l.resume_at(0), 0);
        assert_eq!(l.resume_at(DOT), 0);
        assert_eq!(l.resume_at(DOTDOT), 0);
        for i in 0..l.entries.len() {
            assert_eq!(l.resume_at(l.entries[i].cookie), i + 1);
        }
        // A seek to an offset whose name is gone goes on with the next one.
        let mut fewer = names.clone();
        let gone = l.entries[100].name.clone();
        fewer.retain(|n| OsStr::new(n) != gone);
        let m = listing(&fewer, &cookies);
        assert_eq!(
            m.entries[m.resume_at(l.entries[100].cookie)].name,
            l.entries[101].name
        );
    }

    #[test]
    fn names_sharing_an_offset_form_one_run_in_name_order() {
        let cookies = Cookies::default();
        let mut entries: Vec<ListedEntry> = ["b", "a", "c", "d"].iter().map(|n| entry(n)).collect();
        for e in &mut entries {
            e.cookie = 0;
        }
        let mut l = Listing::new(PathBuf::new(), vec![0], Vec::new(), entries, &cookies);
        // Force a collision of "a", "b" and "c".
        for e in &mut l.entries {
            e.cookie = if e.name == "d" { 100 } else { 50 };
        }
        l.entries
            .sort_unstable_by(|a, b| (a.cookie, &a.name).cmp(&(b.cookie, &b.name)));
        let names: Vec<_> = l.entries.iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        let starts: Vec<bool> = (0..4).map(|i| l.starts_run(i)).collect();
        assert_eq!(starts, [true, false, false, false]);
        assert_eq!(l.resume_at(50), 3);
    }

    #[test]
    fn the_cache_is_bounded_keeps_the_last_listing_and_forgets_on_change() {
        let cache = ListingCache::default();
        let names: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        for ino in 0..40 {
            let l = Arc::new(listing(&names, &cache.cookies));
            cache.insert(ino, l, cache.epoch());
        }
        assert_eq!(cache.len(), CACHED_LISTINGS);
        assert!(cache.get(39).is_some());
        assert!(cache.get(0).is_none());
        // Listings over the budget: the last four stay.
        let big: Vec<String> = (0..20000).map(|i| format!("a-long-name-{i}")).collect();
        for ino in 100..106 {
            let l = Arc::new(listing(&big, &cache.cookies));
            assert!(l.weight() > CACHED_BYTES);
            cache.insert(ino, l, cache.epoch());
        }
        assert_eq!(cache.len(), ALWAYS_KEPT);
        assert!(cache.get(105).is_some() && cache.get(102).is_some());
        assert!(cache.get(101).is_none());
        // A listing built before a change is not kept.
        let epoch = cache.epoch();
        cache.invalidate_all();
        assert_eq!(cache.len(), 0);
        cache.insert(5, Arc::new(listing(&names, &cache.cookies)), epoch);
        assert!(cache.get(5).is_none());
    }

    #[test]
    fn a_listing_built_ahead_is_taken_once_and_a_change_drops_it() {
        let cookies = Cookies::default();
        let cache = ListingCache::default();
        let names = vec!["a".to_string(), "b".to_string()];
        let epoch = cache.epoch();
        assert!(cache.insert_ahead(7, Arc::new(listing(&names, &cookies)), epoch));
        // Kept once: a second build of the same directory is refused.
        assert!(!cache.insert_ahead(7, Arc::new(listing(&names, &cookies)), epoch));
        assert!(cache.holds(7));
        assert_eq!(cache.get(7).map(|l| l.entries.len()), Some(2));
        // Now one of the recent listings.
        assert_eq!(lock(&cache.state).ahead.len(), 0);
        assert_eq!(cache.len(), 1);

        // Built while a change ran: not kept; kept ones go with the change.
        let before = cache.epoch();
        assert!(cache.insert_ahead(8, Arc::new(listing(&names, &cookies)), before));
        cache.invalidate_all();
        assert!(!cache.holds(8) && !cache.holds(7));
        assert!(!cache.insert_ahead(9, Arc::new(listing(&names, &cookies)), before));
    }

    #[test]
    fn listings_built_ahead_stop_at_the_budget() {
        let cookies = Cookies::default();
        let cache = ListingCache::default();
        let names = vec!["x".to_string()];
        let mut dir = 100;
        while !cache.ahead_full() {
            assert!(cache.insert_ahead(dir, Arc::new(listing(&names, &cookies)), cache.epoch()));
            dir += 1;
        }
        assert_eq!(dir - 100, AHEAD_LISTINGS as u64);
        // None was dropped for the budget: the first built is there.
        assert!(cache.holds(100));
        cache.forget_ahead();
        assert!(!cache.holds(100) && !cache.ahead_full());
    }
}
