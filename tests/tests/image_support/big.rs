//! An image with a layer large enough to be pushed in chunks.

use burrow_image::manifest::Compression;
use burrow_image::testing::{LayerBuilder, TestImage};

/// `len` bytes that do not compress (xorshift), different for each `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The contents of `/data/big` in [`big_image`].
pub fn big_file() -> Vec<u8> {
    noise(20 << 20, 7)
}

/// Busybox, then a layer holding `/data/big`, 20 MiB of noise, stored uncompressed:
/// above the 16 MiB chunk threshold, so it goes up in three chunks of at most 8 MiB.
pub fn big_image() -> TestImage {
    let big = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/big", &big_file(), 0o644)
        .finish();
    TestImage::new(
        vec![
            (super::base_layer(), Compression::Gzip),
            (big, Compression::None),
        ],
        true,
    )
}
