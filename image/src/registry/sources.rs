//! Where the store's blobs are known to be in registries, so a push can mount a blob
//! from another repository of the same registry instead of sending it again.
//!
//! A pull records the repository it fetched each blob from; a push records the
//! repository it sent (or found, or mounted) each blob in. The record of a blob is one
//! file, `blob-sources/ALGO/HEX` under the store root, one `host/repository` a line,
//! appended to with single `O_APPEND` writes (short lines, so concurrent writers never
//! interleave). The record is a hint: a registry that no longer has the blob answers
//! the mount with an upload session, and the push sends the blob as usual. Losing the
//! file loses nothing but the shortcut, so it is not fsynced.

use std::io::Write;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::store::Store;

fn record_path(store: &Store, digest: &Digest) -> PathBuf {
    store.blob_sources_path(digest)
}

/// Notes that `digest` is in `host/repository`. Failures are ignored: the record is a
/// hint, and a push or pull must not fail for want of it.
pub(crate) fn remember(store: &Store, digest: &Digest, host: &str, repository: &str) {
    let line = format!("{host}/{repository}\n");
    if sources(store, digest, host).iter().any(|r| r == repository) {
        return;
    }
    let path = record_path(store, digest);
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The repositories of `host` that `digest` is known to be in, oldest record first.
pub(crate) fn sources(store: &Store, digest: &Digest, host: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(record_path(store, digest)) else {
        return Vec::new();
    };
    let prefix = format!("{host}/");
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(repository) = line.strip_prefix(&prefix) {
            if !repository.is_empty() && !out.iter().any(|r| r == repository) {
                out.push(repository.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_kept_per_host_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let digest = store.put_blob(b"layer").unwrap();
        assert!(sources(&store, &digest, "h:5000").is_empty());
        remember(&store, &digest, "h:5000", "a/b");
        remember(&store, &digest, "h:5000", "a/b");
        remember(&store, &digest, "other:1", "x");
        remember(&store, &digest, "h:5000", "c");
        assert_eq!(sources(&store, &digest, "h:5000"), ["a/b", "c"]);
        assert_eq!(sources(&store, &digest, "other:1"), ["x"]);
        assert!(sources(&store, &digest, "h").is_empty());
        // The record goes with the blob.
        let unused = store.mark().unwrap();
        let other = store.put_blob(b"other").unwrap();
        remember(&store, &other, "h:5000", "a/b");
        store.undo_since(&unused).unwrap();
        assert!(!record_path(&store, &other).exists());
        assert!(record_path(&store, &digest).exists());
    }
}
