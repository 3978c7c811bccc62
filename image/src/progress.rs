//! Progress reporting: the library calls back, the CLI draws (bars like `docker pull`).
//!
//! Callbacks come from download worker threads, so a [`Progress`] must be `Sync`; they
//! are frequent (every 256 KiB of a download), so they must be cheap.

use crate::digest::Digest;

/// One step of a pull, push, load or import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgressEvent {
    /// The reference resolved to this manifest.
    Resolved {
        manifest: Digest,
    },
    /// A blob is already where it needs to be (store or registry): nothing to transfer.
    Exists {
        digest: Digest,
    },
    /// Transfer of a blob started.
    Started {
        digest: Digest,
        size: u64,
    },
    /// `done` of `size` bytes transferred so far.
    Advanced {
        digest: Digest,
        done: u64,
        size: u64,
    },
    /// A transfer failed and is tried again.
    Retrying {
        digest: Digest,
        attempt: u32,
        error: String,
    },
    /// A push mounted the blob from another repository of the same registry.
    Mounted {
        digest: Digest,
        from: String,
    },
    /// Transfer complete and verified.
    Finished {
        digest: Digest,
    },
    /// A layer is being unpacked / was unpacked.
    Unpacking {
        digest: Digest,
    },
    Unpacked {
        digest: Digest,
    },
}

/// Receives progress events.
pub trait Progress: Sync {
    fn event(&self, event: ProgressEvent);
}

impl<F: Fn(ProgressEvent) + Sync> Progress for F {
    fn event(&self, event: ProgressEvent) {
        self(event)
    }
}

/// Ignores everything (`--quiet`).
pub struct Quiet;

impl Progress for Quiet {
    fn event(&self, _: ProgressEvent) {}
}
