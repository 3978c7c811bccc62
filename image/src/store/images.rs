//! Image records: which manifest an image is, its names, and every blob and layer it
//! uses. One JSON file (`images/images.json`) rewritten atomically under its own lock.
//!
//! An image's id is its config digest, as in Docker. A name (`domain/path:tag`) points
//! to at most one image: giving it to another image takes it away from the first, which
//! then remains as a dangling (nameless) image until it is removed or pruned.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{write_atomically, FileLock, Store, StoreError};
use crate::digest::Digest;
use crate::reference::Reference;

/// One image in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config digest (Docker's image id).
    pub id: Digest,
    /// The image manifest (for one platform).
    pub manifest: Digest,
    pub manifest_media_type: String,
    /// The index the manifest was chosen from, when pulled through one.
    #[serde(default)]
    pub index: Option<Digest>,
    /// Full names with tags (`docker.io/library/busybox:latest`).
    #[serde(default)]
    pub names: Vec<String>,
    /// `repository@digest` of the manifest (or index) as the registry knows it.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// Every blob this image needs: index, manifest, config, layers.
    pub blobs: Vec<Digest>,
    /// Chain ids of the unpacked layers, bottom first.
    pub layers: Vec<Digest>,
    /// Sum of the manifest's config and layer sizes (compressed, as Docker shows).
    pub size: u64,
    /// When this store got the image (seconds since the epoch).
    pub added: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct ImageTable {
    images: BTreeMap<String, ImageRecord>,
}

/// What [`Store::remove_image`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// Only the name went away; the image has other names.
    Untagged(String),
    /// The record is gone (its content goes with the next prune).
    Deleted(Digest),
}

impl Store {
    fn images_file(&self) -> PathBuf {
        self.root.join("images/images.json")
    }

    fn lock_images(&self) -> Result<FileLock, StoreError> {
        FileLock::acquire(&self.root.join("locks/images.lock"), true)
    }

    fn load_table(&self) -> Result<ImageTable, StoreError> {
        let path = self.images_file();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ImageTable::default()),
            Err(e) => return Err(StoreError::io("read", &path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    fn save_table(&self, table: &ImageTable) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(table).map_err(|e| StoreError::Corrupt {
            path: self.images_file(),
            message: e.to_string(),
        })?;
        write_atomically(&self.images_file(), &bytes)
    }

    /// Applies `change` to the table under the images lock.
    fn update_table<T>(
        &self,
        change: impl FnOnce(&mut ImageTable) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let _lock = self.lock_images()?;
        let mut table = self.load_table()?;
        let result = change(&mut table)?;
        self.save_table(&table)?;
        Ok(result)
    }

    /// All images, oldest first.
    pub fn images(&self) -> Result<Vec<ImageRecord>, StoreError> {
        let mut images: Vec<ImageRecord> = self.load_table()?.images.into_values().collect();
        images.sort_by(|a, b| (a.added, &a.id).cmp(&(b.added, &b.id)));
        Ok(images)
    }

    /// Adds (or merges into an existing record of the same id) `record`, moving its
    /// names and repo digests away from any other image. Returns the stored record.
    pub fn commit_image(&self, record: ImageRecord) -> Result<ImageRecord, StoreError> {
        self.update_table(|table| {
            for other in table.images.values_mut() {
                if other.id != record.id {
                    other.names.retain(|n| !record.names.contains(n));
                }
            }
            let key = record.id.to_string();
            let merged = match table.images.remove(&key) {
                None => record,
                Some(mut existing) => {
                    for name in record.names {
                        push_unique(&mut existing.names, name);
                    }
                    for digest in record.repo_digests {
                        push_unique(&mut existing.repo_digests, digest);
                    }
                    for blob in record.blobs {
                        push_unique(&mut existing.blobs, blob);
                    }
                    existing.manifest = record.manifest;
                    existing.manifest_media_type = record.manifest_media_type;
                    existing.index = record.index.or(existing.index);
                    existing
                }
            };
            table.images.insert(key, merged.clone());
            Ok(merged)
        })
    }

    /// Finds an image by name (normalized like Docker), id (`sha256:…` or a hex prefix
    /// of at least 4 characters) or `repository@digest`.
    pub fn find_image(&self, name_or_id: &str) -> Result<ImageRecord, StoreError> {
        let table = self.load_table()?;
        find_in(&table, name_or_id).cloned()
    }

    /// Gives `new_name` to the image `source` names.
    pub fn tag(&self, source: &str, new_name: &Reference) -> Result<ImageRecord, StoreError> {
        let new_name = new_name.to_string();
        self.update_table(|table| {
            let id = find_in(table, source)?.id.clone();
            for image in table.images.values_mut() {
                image.names.retain(|n| *n != new_name);
            }
            let image = table
                .images
                .get_mut(&id.to_string())
                .ok_or_else(|| StoreError::NoSuchImage(source.to_string()))?;
            image.names.push(new_name);
            Ok(image.clone())
        })
    }

    /// Docker's `rmi` without the container check (the engine does that): a name of an
    /// image with several names is untagged; otherwise the record is deleted.
    pub fn remove_image(&self, name_or_id: &str) -> Result<RemoveOutcome, StoreError> {
        self.update_table(|table| {
            let image = find_in(table, name_or_id)?.clone();
            let as_name = Reference::parse(name_or_id).ok().map(|r| r.to_string());
            if let Some(name) = as_name.filter(|n| image.names.contains(n)) {
                if image.names.len() > 1 {
                    if let Some(entry) = table.images.get_mut(&image.id.to_string()) {
                        entry.names.retain(|n| *n != name);
                    }
                    return Ok(RemoveOutcome::Untagged(name));
                }
            }
            table.images.remove(&image.id.to_string());
            Ok(RemoveOutcome::Deleted(image.id))
        })
    }

    /// Removes the records with these ids (used by prune, under the exclusive lock).
    pub(crate) fn drop_records(&self, ids: &[Digest]) -> Result<(), StoreError> {
        self.update_table(|table| {
            for id in ids {
                table.images.remove(&id.to_string());
            }
            Ok(())
        })
    }
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

fn find_in<'a>(table: &'a ImageTable, name_or_id: &str) -> Result<&'a ImageRecord, StoreError> {
    let missing = || StoreError::NoSuchImage(name_or_id.to_string());
    if let Ok(digest) = Digest::parse(name_or_id) {
        return table.images.get(&digest.to_string()).ok_or_else(missing);
    }
    let is_hex_prefix = name_or_id.len() >= 4
        && name_or_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if is_hex_prefix {
        let matches: Vec<&ImageRecord> = table
            .images
            .values()
            .filter(|image| image.id.hex().starts_with(name_or_id))
            .collect();
        match matches.len() {
            0 => {}
            1 => return Ok(matches[0]),
            count => {
                return Err(StoreError::Ambiguous {
                    name: name_or_id.to_string(),
                    count,
                })
            }
        }
    }
    let Ok(reference) = Reference::parse(name_or_id) else {
        return Err(missing());
    };
    let wanted = reference.to_string();
    table
        .images
        .values()
        .find(|image| {
            image.names.contains(&wanted)
                || (reference.digest().is_some() && image.repo_digests.contains(&wanted))
                || reference.digest() == Some(&image.manifest)
                    && reference.tag().is_none()
                    && image
                        .names
                        .iter()
                        .any(|n| n.starts_with(&reference.repository()))
        })
        .ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8, names: &[&str]) -> ImageRecord {
        ImageRecord {
            id: Digest::sha256_of(&[n]),
            manifest: Digest::sha256_of(&[n, n]),
            manifest_media_type: crate::manifest::media_types::OCI_MANIFEST.to_string(),
            index: None,
            names: names.iter().map(|s| s.to_string()).collect(),
            repo_digests: vec![],
            blobs: vec![Digest::sha256_of(&[n, n])],
            layers: vec![],
            size: 1,
            added: u64::from(n),
        }
    }

    #[test]
    fn names_move_and_rmi_untags_before_deleting() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = "docker.io/library/a:latest";
        store.commit_image(record(1, &[a])).unwrap();
        let first = store.find_image("a").unwrap();
        assert_eq!(first.id, Digest::sha256_of(&[1]));
        assert_eq!(store.find_image(&first.id.hex()[..8]).unwrap().id, first.id);
        assert_eq!(
            store.find_image(&first.id.to_string()).unwrap().id,
            first.id
        );
        store.commit_image(record(2, &[a])).unwrap();
        assert_eq!(
            store.find_image("a:latest").unwrap().id,
            Digest::sha256_of(&[2])
        );
        let dangling = store.find_image(&first.id.to_string()).unwrap();
        assert!(dangling.names.is_empty());
        store.tag("a", &Reference::parse("b:v1").unwrap()).unwrap();
        assert_eq!(
            store.remove_image("b:v1").unwrap(),
            RemoveOutcome::Untagged("docker.io/library/b:v1".into())
        );
        assert_eq!(
            store.remove_image("a").unwrap(),
            RemoveOutcome::Deleted(Digest::sha256_of(&[2]))
        );
        assert!(matches!(
            store.find_image("a"),
            Err(StoreError::NoSuchImage(_))
        ));
        assert_eq!(store.images().unwrap().len(), 1);
    }
}
