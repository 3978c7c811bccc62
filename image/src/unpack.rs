//! The seam between the image store and the filesystem crate: unpacking one layer.
//!
//! `image/` does not depend on `fs/` (see ARCHITECTURE.md); the engine implements
//! [`LayerUnpacker`] with `burrow_fs::unpack`, which owns the hard parts: refusing tars
//! that escape, representing ownership and special files without root, and the on-disk
//! form of whiteouts. The store only decides *when* a layer is unpacked (once per chain
//! id, into a fresh temp dir that is renamed into place on success) and *where*.

use std::path::Path;

pub use oci_spec::image::MediaType;

/// The error an unpacker returns; its message ends up in the store's error.
pub type UnpackError = Box<dyn std::error::Error + Send + Sync>;

/// Extracts one layer blob into a directory.
pub trait LayerUnpacker: Sync {
    /// Unpacks the layer `blob` (a verified file in the store) into `dest`, an existing
    /// empty directory. `media_type` is always one of the OCI layer types
    /// (`ImageLayer`, `ImageLayerGzip`, `ImageLayerZstd`): Docker's are normalized first.
    /// Whiteouts (`.wh.` entries) are recorded in the unpacker's own form, not applied.
    fn unpack(&self, blob: &Path, media_type: &MediaType, dest: &Path) -> Result<(), UnpackError>;
}
