//! The engine's [`LayerUnpacker`]: the image store decides when and where a layer is
//! unpacked and checks its diff id; `burrow_fs::unpack_layer` does the unpacking itself
//! (containment, rootless owners in the `user.containers.override_stat` xattr, whiteouts
//! kept in layer-diff form for the overlay).

use std::path::Path;

use burrow_image::unpack::{LayerStream, UnpackError};
use burrow_image::{Digest, LayerUnpacker, MediaType};

/// Unpacks layers with `burrow_fs`.
pub struct FsUnpacker;

impl LayerUnpacker for FsUnpacker {
    fn unpack(
        &self,
        blob: &Path,
        media_type: &MediaType,
        dest: &Path,
    ) -> Result<Digest, UnpackError> {
        // The stream is already decompressed (and hashed); burrow_fs sees a plain tar.
        let mut stream = LayerStream::open(blob, media_type)?;
        burrow_fs::unpack_layer(&mut stream, dest, &burrow_fs::UnpackOptions::default())?;
        Ok(stream.finish()?)
    }
}
