//! Metadata read-ahead for directory walks.
//!
//! Theory of operation. A walk (`find`, `du`, `git status`, `tar c`) reads a directory
//! with READDIRPLUS, then descends into its subdirectories one after the other. The
//! server's share of each READDIRPLUS is a `stat` and an xattr listing per entry, and
//! while it does that the walker waits — on the same CPU, with FUSE over io_uring. So
//! when a READDIRPLUS reply names subdirectories, the server asks a prefetch thread to
//! build their listings and look their entries up ahead ([`Core::prefetch_listing`]),
//! on another CPU, before the walker asks; the reply to the walker's READDIRPLUS then
//! only registers the entries it sends.
//!
//! What is read ahead stays true: only entries of lower layers are looked up ahead
//! (they never change while mounted); listings built ahead are kept with the cached
//! listings (`listing.rs`), which every change the overlay makes empties, and a
//! listing built while a change ran is not kept. The node table's epoch guards the
//! xattr facts as it does for any lookup. Volumes (which the host may change) and
//! one-CPU machines (where the thread would only take the walker's CPU) have none,
//! and the thread is `SCHED_IDLE`: it runs on a CPU only when nothing else would.
//!
//! Order: a walk goes depth first, in listing order. The subdirectories a reply
//! names go to the front of the queue, after those an earlier reply of the same
//! directory named (a big directory is read in several replies); the thread then
//! walks on by itself — the subdirectories of a listing it built come next, with
//! their paths, as the kernel does not know them yet — until [`QUEUED`] directories
//! wait or the listings built ahead reach their budget: it then waits for a reply to
//! take one (never dropping the oldest, the one the walk reads next), and drops them
//! when none is taken for [`FULL_PATIENCE`]. It starts on the first request and ends
//! when the overlay goes.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::core::{Core, DirPlace};

/// How many directories wait to be read ahead at most (the ones asked for first go).
const QUEUED: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory to read ahead.
struct Wanted {
    dir: u64,
    /// Where it is, when the kernel does not know it yet.
    place: Option<DirPlace>,
    /// The directory whose listing named it.
    parent: u64,
    /// Named by a reply the walker received (rather than found by the thread's own
    /// walk).
    asked: bool,
}

#[derive(Default)]
struct State {
    /// The next to read ahead first.
    queue: VecDeque<Wanted>,
    /// Whether the thread is running.
    started: bool,
    /// Set when the overlay goes: the thread ends.
    closed: bool,
    /// The thread waits for a walker to take some of what it built.
    waiting_for_room: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    /// Puts `dirs`, subdirectories of `parent` in listing order, first in the queue
    /// — after those of `parent` already there: a directory read in several replies
    /// asks in several calls, and is walked in listing order.
    fn push_front(state: &mut State, parent: u64, dirs: Vec<(u64, Option<DirPlace>)>) {
        let at = state
            .queue
            .iter()
            .take_while(|w| w.parent == parent)
            .count();
        for (dir, place) in dirs.into_iter().rev() {
            let asked = place.is_none();
            state.queue.insert(
                at,
                Wanted {
                    dir,
                    place,
                    parent,
                    asked,
                },
            );
        }
        state.queue.truncate(QUEUED);
    }
}

/// The prefetch thread's inbox (see the module comment).
pub struct Prefetcher {
    core: Weak<Core>,
    shared: Arc<Shared>,
    enabled: bool,
}

impl Prefetcher {
    /// A prefetcher for `core`: a thread is started on the first request when
    /// `enabled` (and the machine has more than one CPU).
    pub fn new(core: &Arc<Core>, enabled: bool) -> Prefetcher {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Prefetcher {
            core: Arc::downgrade(core),
            shared: Arc::default(),
            enabled: enabled && cpus > 1,
        }
    }

    /// Asks for the listings of `dirs`, subdirectories of `parent`, to be built
    /// ahead, the first of them first.
    /// Called after every readdirplus reply (`dirs` may be empty): a reply may have
    /// taken a listing built ahead, making room for the next.
    pub fn ask(&self, parent: u64, dirs: &[u64]) {
        if !self.enabled {
            return;
        }
        let mut state = lock(&self.shared.state);
        if dirs.is_empty() {
            if std::mem::take(&mut state.waiting_for_room) {
                drop(state);
                self.shared.wake.notify_one();
            }
            return;
        }
        Shared::push_front(
            &mut state,
            parent,
            dirs.iter().map(|&d| (d, None)).collect(),
        );
        if !state.started {
            state.started = true;
            let (core, shared) = (self.core.clone(), Arc::clone(&self.shared));
            let spawned = std::thread::Builder::new()
                .name("fuse-prefetch".into())
                .spawn(move || run(core, shared));
            if let Err(e) = spawned {
                log::warn!("no metadata read-ahead: cannot start its thread: {e}");
                state.queue.clear();
                return;
            }
        }
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_one();
    }
}

/// How long the thread waits for the walker to read what it built before it looks
/// again, and how long before it gives up its own walk when the walker reads none.
const FULL_WAIT: Duration = Duration::from_millis(2);
const FULL_PATIENCE: Duration = Duration::from_millis(500);

/// How many directories read ahead the thread remembers at most (not to read them
/// again when replies name them later).
const DONE_KEPT: usize = 16 * 1024;

/// The prefetch thread: reads ahead what is asked, and walks on depth first from
/// there, until the overlay goes.
fn run(core: Weak<Core>, shared: Arc<Shared>) {
    // Read-ahead uses a CPU no one else wants, never the walker's.
    if let Err(e) = crate::sys::schedule_only_when_idle() {
        log::debug!("metadata read-ahead at normal priority: {e}");
    }
    // The directories read ahead since the tree last changed: not read again when
    // a reply names them.
    let mut done: HashSet<u64> = HashSet::new();
    let mut done_epoch = 0;
    let mut full_since: Option<Instant> = None;
    loop {
        let wanted = {
            let mut state = lock(&shared.state);
            loop {
                if state.closed {
                    return;
                }
                if let Some(wanted) = state.queue.pop_front() {
                    break wanted;
                }
                state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let Some(core) = core.upgrade() else {
            return;
        };
        let epoch = core.listing_epoch();
        if epoch != done_epoch {
            done.clear();
            done_epoch = epoch;
        }
        if done.contains(&wanted.dir) {
            continue;
        }
        if core.prefetched_enough() {
            // Far enough ahead: wait for the walker to catch up. A walker that does
            // not come (it stopped, or went elsewhere) leaves listings no one reads:
            // after a while they go, and the walk this thread made up with them.
            let since = *full_since.get_or_insert_with(Instant::now);
            if since.elapsed() > FULL_PATIENCE {
                core.forget_prefetched();
                lock(&shared.state).queue.retain(|w| w.asked);
                full_since = None;
                continue;
            }
            let mut state = lock(&shared.state);
            state.queue.push_front(wanted);
            state.waiting_for_room = true;
            drop(core);
            let _ = shared.wake.wait_timeout(state, FULL_WAIT);
            continue;
        }
        full_since = None;
        if done.len() >= DONE_KEPT {
            done.clear();
        }
        done.insert(wanted.dir);
        // A directory gone meanwhile is simply not read ahead.
        if let Ok(subdirs) = core.prefetch_listing(wanted.dir, wanted.place) {
            let subdirs = subdirs.into_iter().map(|(d, p)| (d, Some(p))).collect();
            Shared::push_front(&mut lock(&shared.state), wanted.dir, subdirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(state: &State) -> Vec<u64> {
        state.queue.iter().map(|w| w.dir).collect()
    }

    #[test]
    fn a_directory_read_in_several_replies_is_walked_in_listing_order() {
        let mut state = State::default();
        let place = |path: &str| DirPlace {
            path: path.into(),
            dir_layers: vec![1],
            epoch: 0,
        };
        // The root's subdirectories, asked for by two replies.
        Shared::push_front(&mut state, 1, vec![(2, None), (3, None)]);
        Shared::push_front(&mut state, 1, vec![(4, None), (5, None)]);
        assert_eq!(order(&state), [2, 3, 4, 5]);
        // The thread reads 2 and finds its subdirectories: they come next.
        assert_eq!(state.queue.pop_front().map(|w| w.dir), Some(2));
        Shared::push_front(
            &mut state,
            2,
            vec![(6, Some(place("d2/6"))), (7, Some(place("d2/7")))],
        );
        assert_eq!(order(&state), [6, 7, 3, 4, 5]);
        assert!(!state.queue[0].asked && state.queue[2].asked);
    }

    #[test]
    fn the_queue_keeps_the_nearest_directories() {
        let mut state = State::default();
        let many: Vec<(u64, Option<DirPlace>)> =
            (0..QUEUED as u64 + 10).map(|d| (d, None)).collect();
        Shared::push_front(&mut state, 1, many);
        assert_eq!(state.queue.len(), QUEUED);
        assert_eq!(state.queue.front().map(|w| w.dir), Some(0));
    }
}
