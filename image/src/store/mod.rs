//! The content store: blobs by digest, image records by name, unpacked layers by chain id.
//!
//! Layout under the root (`$XDG_DATA_HOME/burrow` or `--root`):
//! ```text
//! blobs/sha256/<hex>        manifests, indexes, configs, compressed layers (verified)
//! blobs/sha512/<hex>
//! images/images.json        image records: id, manifest, names, blobs, layers
//! layers/<chain hex>/diff/  one unpacked layer, shared by every image that uses it
//! layers/<chain hex>/layer.json
//! tmp/                      temp files and dirs, renamed into place when complete
//! locks/                    flock files
//! ```
//! Theory of operation:
//! - Nothing becomes visible half-written: blobs are written to `tmp/`, hashed while
//!   written, and renamed into `blobs/` only when digest and size match; a layer is
//!   unpacked into a temp dir and renamed to `layers/<chain>`; `images.json` is rewritten
//!   through a temp file. A crash leaves at most entries in `tmp/`, removed by the next
//!   command that finds the store otherwise idle (see [`Store::lock_shared`]) or by prune.
//!   (No fsync: a killed process never corrupts the store; power loss is not covered.)
//! - Every operation that adds content holds `locks/store.lock` shared for its whole run;
//!   prune holds it exclusive, so it never deletes a blob a running pull has written but
//!   not yet recorded. Each blob and layer has its own exclusive lock while it is being
//!   produced, so two pulls of the same image fetch and unpack everything once: the
//!   second waits, then finds the result present. `images.json` has its own lock for
//!   read-modify-write.
//! - References are explicit: each image record lists every blob and chain id it uses;
//!   prune (mark and sweep under the exclusive lock) keeps whatever any record lists.

mod images;
mod layers;
mod lock;
mod prune;
mod undo;

pub use images::{ImageRecord, RemoveOutcome};
pub use layers::LayerRecord;
pub use lock::FileLock;
pub use prune::{PruneOptions, PruneReport};
pub use undo::{StoreMark, Undone};

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Algorithm, Digest, HashingWriter};

/// Store failures; each names the path or object and the failed action.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("digest mismatch for {expected}: content hashes to {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} is not in the store")]
    MissingBlob(Digest),
    #[error("failed to read {source_name}: {source}")]
    Read {
        source_name: String,
        #[source]
        source: io::Error,
    },
    #[error("corrupt store file {}: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    #[error("no such image: {0}")]
    NoSuchImage(String),
    #[error("image reference {name:?} is ambiguous ({count} images match)")]
    Ambiguous { name: String, count: usize },
    #[error("layer blob {blob} unpacks to diff id {actual}, but the image config says {expected}")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("failed to unpack layer {chain_id} (blob {blob}): {message}")]
    Unpack {
        chain_id: Digest,
        blob: Digest,
        message: String,
    },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An opened store root.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating the folders of) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store { root: root.into() };
        for dir in [
            "blobs/sha256",
            "blobs/sha512",
            "blob-sources/sha256",
            "blob-sources/sha512",
            "images",
            "layers",
            "tmp",
            "locks",
        ] {
            let path = store.root.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| StoreError::io("create", &path, e))?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where temp files and dirs go (same filesystem as their final place).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Held (shared) by every operation that adds content; see the module docs. When no
    /// other command holds the store, what crashed commands left in `tmp/` is removed
    /// first, so the next command after a crash cleans up.
    pub fn lock_shared(&self) -> Result<FileLock, StoreError> {
        let path = self.root.join("locks/store.lock");
        if let Some(_alone) = FileLock::try_exclusive(&path)? {
            for name in self.temp_entries()? {
                let entry = self.tmp_dir().join(name);
                remove_tree(&entry).map_err(|e| StoreError::io("remove", &entry, e))?;
            }
        }
        FileLock::acquire(&path, false)
    }

    /// Held by prune: no content is being added while it runs.
    pub fn lock_exclusive(&self) -> Result<FileLock, StoreError> {
        FileLock::acquire(&self.root.join("locks/store.lock"), true)
    }

    /// Serializes the production of one blob or layer (`kind` is `blob` or `layer`).
    pub fn lock_object(&self, kind: &str, digest: &Digest) -> Result<FileLock, StoreError> {
        let name = format!("{kind}-{}-{}.lock", digest.algorithm().name(), digest.hex());
        FileLock::acquire(&self.root.join("locks").join(name), true)
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Where the registry repositories blob `digest` is known to be in are
    /// recorded (see `registry::sources`).
    pub(crate) fn blob_sources_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blob-sources")
            .join(digest.algorithm().name())
            .join(digest.hex())
    }

    /// Removes blob `digest` and what is recorded about it.
    pub(crate) fn remove_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let path = self.blob_path(digest);
        std::fs::remove_file(&path).map_err(|e| StoreError::io("remove", &path, e))?;
        // A hint only: a record left behind costs nothing but a failed mount.
        let _ = std::fs::remove_file(self.blob_sources_path(digest));
        Ok(())
    }

    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size of a stored blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        match std::fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::MissingBlob(digest.clone()))
            }
            Err(e) => Err(StoreError::io("stat", &path, e)),
        }
    }

    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.clone()),
            _ => StoreError::io("open", &path, e),
        })
    }

    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        std::fs::read(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob(digest.clone()),
            _ => StoreError::io("read", &path, e),
        })
    }

    /// Streams `reader` into the store as blob `expected`, verifying digest (and size,
    /// when given) before it becomes visible. Reading stops one byte past the expected
    /// size. On any error nothing is stored. Returns the number of bytes.
    pub fn write_blob(
        &self,
        expected: &Digest,
        expected_size: Option<u64>,
        reader: impl Read,
        source_name: &str,
    ) -> Result<u64, StoreError> {
        let limit = expected_size.map_or(u64::MAX, |size| size.saturating_add(1));
        let mut reader = reader.take(limit);
        let temp = self.temp_file()?;
        let mut writer = HashingWriter::new(
            BufWriter::with_capacity(256 << 10, temp.as_file()),
            expected.algorithm(),
        );
        io::copy(&mut reader, &mut writer).map_err(|e| match e.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::PermissionDenied => {
                StoreError::io("write", temp.path(), e)
            }
            _ => StoreError::Read {
                source_name: source_name.to_string(),
                source: e,
            },
        })?;
        let (buffer, actual, count) = writer.finish();
        buffer
            .into_inner()
            .map_err(|e| StoreError::io("write", temp.path(), e.into_error()))?;
        if let Some(size) = expected_size {
            if count != size {
                return Err(StoreError::SizeMismatch {
                    digest: expected.clone(),
                    expected: size,
                    actual: count,
                });
            }
        }
        if actual != *expected {
            return Err(StoreError::DigestMismatch {
                expected: expected.clone(),
                actual,
            });
        }
        let path = self.blob_path(expected);
        temp.persist(&path)
            .map_err(|e| StoreError::io("rename into", &path, e.error))?;
        Ok(count)
    }

    /// Stores `bytes` under their sha256 digest and returns it.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::sha256_of(bytes);
        if !self.has_blob(&digest) {
            self.write_blob(&digest, Some(bytes.len() as u64), bytes, "memory")?;
        }
        Ok(digest)
    }

    /// Moves a file whose digest the caller has computed (e.g. while staging an archive)
    /// into the store, verifying nothing again; `path` must be on the store's filesystem.
    #[allow(dead_code)] // used by archive loading
    pub(crate) fn adopt_verified(&self, path: &Path, digest: &Digest) -> Result<(), StoreError> {
        let target = self.blob_path(digest);
        if target.is_file() {
            return Ok(());
        }
        std::fs::rename(path, &target).map_err(|e| StoreError::io("rename into", &target, e))
    }

    /// Hashes a stored blob again (for checks and tests).
    pub fn verify_blob(&self, digest: &Digest) -> Result<(), StoreError> {
        let mut file = self.open_blob(digest)?;
        let mut writer = HashingWriter::new(io::sink(), digest.algorithm());
        io::copy(&mut file, &mut writer)
            .map_err(|e| StoreError::io("read", &self.blob_path(digest), e))?;
        let (_, actual, _) = writer.finish();
        if actual != *digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Every blob in the store.
    pub fn blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
            let dir = self.root.join("blobs").join(algorithm.name());
            for name in list_dir(&dir)? {
                if let Ok(digest) = Digest::parse(&format!("{}:{name}", algorithm.name())) {
                    out.push(digest);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Entries of `tmp/` (left by a crash, or in use by a running command).
    pub fn temp_entries(&self) -> Result<Vec<String>, StoreError> {
        list_dir(&self.tmp_dir())
    }

    pub(crate) fn temp_file(&self) -> Result<tempfile::NamedTempFile, StoreError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .map_err(|e| StoreError::io("create a temp file in", &dir, e))
    }

    pub(crate) fn temp_dir(&self, prefix: &str) -> Result<tempfile::TempDir, StoreError> {
        let dir = self.tmp_dir();
        tempfile::Builder::new()
            .prefix(prefix)
            .tempdir_in(&dir)
            .map_err(|e| StoreError::io("create a temp dir in", &dir, e))
    }
}

fn list_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(|e| StoreError::io("create a temp file in", dir, e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_data())
        .map_err(|e| StoreError::io("write", temp.path(), e))?;
    temp.persist(path)
        .map_err(|e| StoreError::io("rename into", path, e.error))?;
    Ok(())
}

/// Removes a tree that may contain read-only directories (layers keep image modes).
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Ok(meta) if !meta.is_dir() => return std::fs::remove_file(path),
        _ => {}
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    make_dirs_writable(path);
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn make_dirs_writable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | 0o700));
    }
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            make_dirs_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        (dir, store)
    }

    #[test]
    fn blobs_are_verified_before_they_appear() {
        let (_dir, store) = store();
        let data = b"hello blob".to_vec();
        let digest = Digest::sha256_of(&data);
        let wrong = Digest::sha256_of(b"other");
        let error = store
            .write_blob(&wrong, None, &data[..], "test")
            .unwrap_err();
        assert!(
            matches!(error, StoreError::DigestMismatch { .. }),
            "{error}"
        );
        let error = store
            .write_blob(&digest, Some(3), &data[..], "test")
            .unwrap_err();
        assert!(
            matches!(error, StoreError::SizeMismatch { actual: 4, .. }),
            "{error}"
        );
        assert!(store.blobs().unwrap().is_empty());
        assert!(store.temp_entries().unwrap().is_empty());
        store
            .write_blob(&digest, Some(data.len() as u64), &data[..], "test")
            .unwrap();
        assert_eq!(store.read_blob(&digest).unwrap(), data);
        assert_eq!(store.blobs().unwrap(), vec![digest.clone()]);
        store.verify_blob(&digest).unwrap();
        let sha512 = Digest::of(Algorithm::Sha512, &data);
        store.write_blob(&sha512, None, &data[..], "test").unwrap();
        assert!(store
            .blob_path(&sha512)
            .starts_with(store.root().join("blobs/sha512")));
        assert!(matches!(
            store.read_blob(&wrong),
            Err(StoreError::MissingBlob(_))
        ));
    }

    #[test]
    fn leftovers_of_a_crash_go_when_the_store_is_idle() {
        let (_dir, store) = store();
        let file = store.temp_file().unwrap().keep().unwrap().1;
        let dir = store.temp_dir("layer-").unwrap().keep();
        std::fs::write(dir.join("half"), b"x").unwrap();
        let busy = store.lock_shared().unwrap();
        assert!(!file.exists() && !dir.exists(), "idle store not cleaned");
        let running = store.temp_file().unwrap().keep().unwrap().1;
        let second = store.lock_shared().unwrap();
        assert!(
            running.exists(),
            "a running command's temp file was removed"
        );
        drop((busy, second));
    }

    #[test]
    fn a_reader_error_stores_nothing() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"))
            }
        }
        let (_dir, store) = store();
        let error = store
            .write_blob(&Digest::sha256_of(b"x"), None, Broken, "http://x")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("http://x") && error.contains("gone"),
            "{error}"
        );
        assert!(store.blobs().unwrap().is_empty());
        assert!(store.temp_entries().unwrap().is_empty());
    }
}
