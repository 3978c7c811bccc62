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
        // Unpacked as the containers' root, in a user namespace mapped like theirs:
        // the archive's owners land on disk as the ids a container will see (the
        // override xattr only for ids outside the map).
        let digest = crate::userns::run_as_container_root(|| {
            // The stream is already decompressed (and hashed); burrow_fs sees a plain tar.
            let mut stream = LayerStream::open(blob, media_type).map_err(|e| e.to_string())?;
            burrow_fs::unpack_layer(&mut stream, dest, &burrow_fs::UnpackOptions::default())
                .map_err(|e| e.to_string())?;
            Ok(stream.finish().map_err(|e| e.to_string())?.to_string())
        })
        .map_err(|e| -> UnpackError { e.to_string().into() })?;
        digest
            .parse()
            .map_err(|_| -> UnpackError { format!("bad layer digest {digest:?}").into() })
    }
}
