//! File locks guarding a store shared by concurrent commands.
//!
//! `flock(2)` locks belong to an open file description, so two threads of one process
//! that each open the lock file exclude each other just like two processes do, and a
//! crashed holder's lock disappears with it (nothing stale to clean up). Lock files are
//! never deleted while the store is in use: deleting one would let a newcomer lock a new
//! inode while an old holder still holds the unlinked one.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::StoreError;

/// A held lock; released on drop.
#[derive(Debug)]
pub struct FileLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until `path` is locked shared (many holders) or exclusive (one holder).
    pub fn acquire(path: &Path, exclusive: bool) -> Result<FileLock, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open lock file", path, e))?;
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        let lock = Flock::lock(file, arg)
            .map_err(|(_, errno)| StoreError::io("lock", path, errno.into()))?;
        Ok(FileLock {
            _lock: lock,
            path: path.to_path_buf(),
        })
    }

    /// Locks `path` exclusively if nobody holds it; None when somebody does.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open lock file", path, e))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(FileLock {
                _lock: lock,
                path: path.to_path_buf(),
            })),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, errno)) => Err(StoreError::io("lock", path, errno.into())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
