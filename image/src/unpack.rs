//! The seam between the image store and the filesystem crate: unpacking one layer.
//!
//! `image/` does not depend on `fs/` (see ARCHITECTURE.md); the engine implements
//! [`LayerUnpacker`] with `burrow_fs::unpack`, which owns the hard parts: refusing tars
//! that escape, representing ownership and special files without root, and the on-disk
//! form of whiteouts. The store decides *when* a layer is unpacked (once per chain id,
//! into a temp folder renamed into place on success), *where*, and checks the result:
//! the unpacker returns the digest of the uncompressed stream it consumed, and the store
//! refuses the layer unless that is the diff id the image config names. Without that
//! check an image could claim another layer's diff id and plant its own files under the
//! chain id that every image with that layer shares.
//!
//! [`LayerStream`] does the decompression and the hashing, so an implementation is:
//! ```ignore
//! let mut stream = LayerStream::open(blob, media_type)?;
//! burrow_fs::unpack::unpack_layer(&mut stream, dest, &options)?;
//! Ok(stream.finish()?)
//! ```

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

pub use oci_spec::image::MediaType;

use crate::digest::{Algorithm, Digest, HashingReader};

/// The error an unpacker returns; its message ends up in the store's error.
pub type UnpackError = Box<dyn std::error::Error + Send + Sync>;

/// Extracts one layer blob into a directory.
pub trait LayerUnpacker: Sync {
    /// Unpacks the layer `blob` (a verified file in the store) into `dest`, which does
    /// not exist yet: the unpacker creates it, complete, on success. `media_type` is
    /// one of the OCI layer types (`ImageLayer`, `ImageLayerGzip`, `ImageLayerZstd`):
    /// Docker's are normalized first. Whiteouts (`.wh.` entries) are recorded in the
    /// unpacker's own form, not applied. Returns the sha256 digest of the whole
    /// uncompressed tar stream (the diff id), e.g. from [`LayerStream::finish`].
    fn unpack(
        &self,
        blob: &Path,
        media_type: &MediaType,
        dest: &Path,
    ) -> Result<Digest, UnpackError>;
}

/// A layer blob, decompressed per its media type, hashed as it is read.
pub struct LayerStream {
    inner: HashingReader<Box<dyn Read + Send>>,
}

impl LayerStream {
    pub fn open(blob: &Path, media_type: &MediaType) -> io::Result<LayerStream> {
        let file = BufReader::with_capacity(256 << 10, File::open(blob)?);
        let reader: Box<dyn Read + Send> = match media_type {
            MediaType::ImageLayer => Box::new(file),
            MediaType::ImageLayerGzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
            MediaType::ImageLayerZstd => Box::new(zstd::stream::read::Decoder::with_buffer(file)?),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unsupported layer media type {other}"),
                ))
            }
        };
        Ok(LayerStream {
            inner: HashingReader::new(reader, Algorithm::Sha256),
        })
    }

    /// Reads what the tar reader left (padding after the end-of-archive blocks) and
    /// returns the diff id. A truncated or corrupt compressed stream fails here at the
    /// latest.
    pub fn finish(mut self) -> io::Result<Digest> {
        io::copy(&mut self.inner, &mut io::sink())?;
        Ok(self.inner.finish().0)
    }
}

impl Read for LayerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
