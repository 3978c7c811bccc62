//! Prune: remove images nobody wants, then every blob, layer and temp file that no
//! remaining image record lists (mark and sweep under the exclusive store lock, so no
//! command is adding content meanwhile).

use std::collections::HashSet;

use super::{list_dir, remove_tree, Store, StoreError};
use crate::digest::Digest;

/// What to prune besides unreferenced content.
#[derive(Clone, Debug, Default)]
pub struct PruneOptions {
    /// Remove images without names (Docker's default `image prune`).
    pub dangling: bool,
    /// Remove every image not in `in_use` (`image prune -a`).
    pub all: bool,
    /// Image ids used by containers: never removed.
    pub in_use: Vec<Digest>,
}

/// What prune removed.
#[derive(Clone, Debug, Default)]
pub struct PruneReport {
    pub images: Vec<Digest>,
    pub blobs: Vec<Digest>,
    pub layers: Vec<Digest>,
    pub reclaimed_bytes: u64,
}

impl Store {
    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport, StoreError> {
        let _lock = self.lock_exclusive()?;
        let mut report = PruneReport::default();
        let images = self.images()?;
        for image in &images {
            let unwanted = options.all || (options.dangling && image.names.is_empty());
            if unwanted && !options.in_use.contains(&image.id) {
                report.images.push(image.id.clone());
            }
        }
        self.drop_records(&report.images)?;
        let kept: Vec<_> = images
            .iter()
            .filter(|image| !report.images.contains(&image.id))
            .collect();
        let blobs: HashSet<&Digest> = kept.iter().flat_map(|i| &i.blobs).collect();
        let layers: HashSet<&Digest> = kept.iter().flat_map(|i| &i.layers).collect();
        for blob in self.blobs()? {
            if blobs.contains(&blob) {
                continue;
            }
            let path = self.blob_path(&blob);
            report.reclaimed_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            self.remove_blob(&blob)?;
            report.blobs.push(blob);
        }
        for name in list_dir(&self.root.join("layers"))? {
            let chain_id = Digest::parse(&format!("sha256:{name}")).ok();
            if chain_id.as_ref().is_some_and(|c| layers.contains(c)) {
                continue;
            }
            match chain_id {
                Some(chain_id) => {
                    self.remove_layer(&chain_id)?;
                    report.layers.push(chain_id);
                }
                None => {
                    let path = self.root.join("layers").join(&name);
                    remove_tree(&path).map_err(|e| StoreError::io("remove", &path, e))?;
                }
            }
        }
        for name in self.temp_entries()? {
            let path = self.tmp_dir().join(name);
            remove_tree(&path).map_err(|e| StoreError::io("remove", &path, e))?;
        }
        Ok(report)
    }

    /// How many images use the layer `chain_id`.
    pub fn layer_users(&self, chain_id: &Digest) -> Result<usize, StoreError> {
        Ok(self
            .images()?
            .iter()
            .filter(|image| image.layers.contains(chain_id))
            .count())
    }
}
