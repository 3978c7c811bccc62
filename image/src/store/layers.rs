//! Unpacked layers, one folder per chain id, shared by every image that uses them.
//!
//! A layer is unpacked at most once: the producer holds the layer's lock, unpacks into
//! `tmp/layer-*/diff`, checks the diff id the unpacker measured against the config's,
//! writes `layer.json` next to it and renames the folder to `layers/<chain hex>`.
//! Anyone finding `layers/<chain hex>/layer.json` may use it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{remove_tree, write_atomically, Store, StoreError};
use crate::digest::Digest;
use crate::manifest::LayerFormat;
use crate::unpack::LayerUnpacker;

/// `layers/<chain hex>/layer.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    pub chain_id: Digest,
    pub diff_id: Digest,
    pub parent: Option<Digest>,
    /// The (compressed) blob it was unpacked from.
    pub blob: Digest,
}

impl Store {
    fn layer_folder(&self, chain_id: &Digest) -> PathBuf {
        self.root.join("layers").join(chain_id.hex())
    }

    /// The unpacked tree of a layer (what the overlay stacks).
    pub fn layer_path(&self, chain_id: &Digest) -> PathBuf {
        self.layer_folder(chain_id).join("diff")
    }

    pub fn has_layer(&self, chain_id: &Digest) -> bool {
        self.layer_folder(chain_id).join("layer.json").is_file()
    }

    pub fn layer(&self, chain_id: &Digest) -> Result<LayerRecord, StoreError> {
        let path = self.layer_folder(chain_id).join("layer.json");
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
            path,
            message: e.to_string(),
        })
    }

    /// Chain ids of every unpacked layer.
    pub fn layers(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.root.join("layers");
        Ok(super::list_dir(&dir)?
            .into_iter()
            .filter_map(|hex| Digest::parse(&format!("sha256:{hex}")).ok())
            .filter(|chain_id| self.has_layer(chain_id))
            .collect())
    }

    /// Unpacks `record.blob` as layer `record.chain_id` unless it is already there.
    /// Returns whether this call did the work.
    pub fn unpack_layer(
        &self,
        record: &LayerRecord,
        format: LayerFormat,
        unpacker: &dyn LayerUnpacker,
    ) -> Result<bool, StoreError> {
        if self.has_layer(&record.chain_id) {
            return Ok(false);
        }
        let _lock = self.lock_object("layer", &record.chain_id)?;
        if self.has_layer(&record.chain_id) {
            return Ok(false);
        }
        let blob = self.blob_path(&record.blob);
        if !blob.is_file() {
            return Err(StoreError::MissingBlob(record.blob.clone()));
        }
        let temp = self.temp_dir("layer-")?.keep();
        let result = self.unpack_into(&temp, record, format, unpacker, &blob);
        if result.is_err() {
            let _ = remove_tree(&temp);
        }
        result.map(|()| true)
    }

    fn unpack_into(
        &self,
        temp: &std::path::Path,
        record: &LayerRecord,
        format: LayerFormat,
        unpacker: &dyn LayerUnpacker,
        blob: &std::path::Path,
    ) -> Result<(), StoreError> {
        let diff = temp.join("diff");
        let diff_id = unpacker
            .unpack(blob, &format.oci_media_type(), &diff)
            .map_err(|e| StoreError::Unpack {
                chain_id: record.chain_id.clone(),
                blob: record.blob.clone(),
                message: e.to_string(),
            })?;
        if diff_id != record.diff_id {
            return Err(StoreError::DiffIdMismatch {
                blob: record.blob.clone(),
                expected: record.diff_id.clone(),
                actual: diff_id,
            });
        }
        let json = serde_json::to_vec_pretty(record).map_err(|e| StoreError::Corrupt {
            path: temp.join("layer.json"),
            message: e.to_string(),
        })?;
        write_atomically(&temp.join("layer.json"), &json)?;
        let folder = self.layer_folder(&record.chain_id);
        // A leftover folder without layer.json (an old crash) is replaced.
        if folder.exists() {
            remove_tree(&folder).map_err(|e| StoreError::io("remove", &folder, e))?;
        }
        std::fs::rename(temp, &folder).map_err(|e| StoreError::io("rename into", &folder, e))
    }

    /// Removes one unpacked layer (prune).
    pub(crate) fn remove_layer(&self, chain_id: &Digest) -> Result<(), StoreError> {
        let folder = self.layer_folder(chain_id);
        remove_tree(&folder).map_err(|e| StoreError::io("remove", &folder, e))
    }
}
