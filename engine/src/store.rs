//! Where a user's containers live: `DATA/containers/<id>/` (record, bundle,
//! logs) under `$XDG_DATA_HOME/burrow` (or `--root`), and the runtime's
//! state, sockets and locks under `$XDG_RUNTIME_DIR/burrow` (or `ROOT/run`
//! when `--root` moves the whole store). Records are written to a temp name
//! and renamed; changes that must not race (names) hold `DATA/lock`.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{EngineError, IoContext, Result};

#[derive(Debug, Clone)]
pub struct Store {
    pub data: PathBuf,
    pub run: PathBuf,
}

/// Held while the store is being changed.
pub struct StoreLock {
    _lock: Flock<File>,
}

impl Store {
    /// The store at `root`, or the user's default one.
    pub fn open(root: Option<&Path>) -> Result<Store> {
        let (data, run) = match root {
            Some(root) => (root.to_path_buf(), root.join("run")),
            None => (default_data_dir(), default_run_dir()),
        };
        for dir in [&data, &run, &data.join("containers")] {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(Store { data, run })
    }

    pub fn lock(&self) -> Result<StoreLock> {
        Ok(StoreLock {
            _lock: lock_file(&self.data.join("lock"))?,
        })
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data.join("containers").join(id)
    }

    /// The `--root` of the OCI runtime's state for this store.
    pub fn runtime_root(&self) -> PathBuf {
        self.run.join("runtime")
    }
}

/// An exclusive lock on the file at `path` (created if missing), held until
/// the value is dropped.
pub(crate) fn lock_file(path: &Path) -> Result<Flock<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .context(|| format!("cannot open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| EngineError::Other(format!("cannot lock {}: {e}", path.display())))
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("burrow");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/".into());
    PathBuf::from(home).join(".local/share/burrow")
}

fn default_run_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("burrow"),
        None => PathBuf::from(format!("/tmp/burrow-{}", nix::unistd::geteuid())),
    }
}
