//! Undoing what a failed command added, for when keeping it does harm: a pull or load
//! that ran out of disk space. Normally a failed pull keeps the blobs and layers it
//! completed, so the next pull resumes from them; on a full disk those are exactly what
//! fills it, and the user expects the store as it was.
//!
//! [`Store::mark`] lists the blobs and layer folders present before the command; after
//! the failure (and after the command dropped its shared store lock),
//! [`Store::undo_since`] removes what appeared since and no image record lists. It does
//! so only under the exclusive store lock, taken without waiting: if another command is
//! adding content at that moment, one of the new blobs may be its work in progress, so
//! nothing is removed and `image prune` is left to do it later.

use std::collections::HashSet;

use super::{list_dir, remove_tree, FileLock, Store, StoreError};
use crate::digest::Digest;

/// What the store held when a command started.
#[derive(Clone, Debug, Default)]
pub struct StoreMark {
    blobs: HashSet<Digest>,
    layers: HashSet<String>,
}

/// What [`Store::undo_since`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Undone {
    /// These many blobs and layer folders were removed (possibly none).
    Removed { blobs: usize, layers: usize },
    /// Another command was adding content: nothing was touched.
    Busy,
}

impl Store {
    /// Lists the blobs and layer folders present now.
    pub fn mark(&self) -> Result<StoreMark, StoreError> {
        Ok(StoreMark {
            blobs: self.blobs()?.into_iter().collect(),
            layers: list_dir(&self.root.join("layers"))?.into_iter().collect(),
        })
    }

    /// Removes the blobs and layer folders added since `mark` that no image record
    /// lists, if no other command is adding content (see the module docs).
    pub fn undo_since(&self, mark: &StoreMark) -> Result<Undone, StoreError> {
        let Some(_alone) = FileLock::try_exclusive(&self.root.join("locks/store.lock"))? else {
            return Ok(Undone::Busy);
        };
        let images = self.images()?;
        let used_blobs: HashSet<&Digest> = images.iter().flat_map(|i| &i.blobs).collect();
        let used_layers: HashSet<String> = images
            .iter()
            .flat_map(|i| &i.layers)
            .map(|chain| chain.hex().to_string())
            .collect();
        let mut blobs = 0;
        for blob in self.blobs()? {
            if mark.blobs.contains(&blob) || used_blobs.contains(&blob) {
                continue;
            }
            self.remove_blob(&blob)?;
            blobs += 1;
        }
        let mut layers = 0;
        for name in list_dir(&self.root.join("layers"))? {
            if mark.layers.contains(&name) || used_layers.contains(&name) {
                continue;
            }
            let path = self.root.join("layers").join(&name);
            remove_tree(&path).map_err(|e| StoreError::io("remove", &path, e))?;
            layers += 1;
        }
        Ok(Undone::Removed { blobs, layers })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_came_after_the_mark_and_is_unused_goes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        let old = store.put_blob(b"old").unwrap();
        let mark = store.mark().unwrap();
        let new = store.put_blob(b"new").unwrap();
        std::fs::create_dir_all(store.root().join("layers/abc/diff")).unwrap();
        assert_eq!(
            store.undo_since(&mark).unwrap(),
            Undone::Removed {
                blobs: 1,
                layers: 1
            }
        );
        assert!(store.has_blob(&old) && !store.has_blob(&new));
        assert!(!store.root().join("layers/abc").exists());
    }

    #[test]
    fn nothing_is_touched_while_another_command_adds_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("root")).unwrap();
        let mark = store.mark().unwrap();
        let new = store.put_blob(b"in progress").unwrap();
        let other = store.lock_shared().unwrap();
        assert_eq!(store.undo_since(&mark).unwrap(), Undone::Busy);
        assert!(store.has_blob(&new));
        drop(other);
    }
}
