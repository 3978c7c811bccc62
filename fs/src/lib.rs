//! burrow-fs: the filesystems under a container.
//!
//! - [`unpack`]: image layers (tar, tar+gzip, tar+zstd) into layer directories, safely
//!   and atomically, keeping owners where the disk can and in an xattr where it cannot.
//! - [`ownership`]: that xattr (`user.containers.override_stat`).
//! - [`overlay`]: the FUSE overlay that merges read-only layers and a writable upper
//!   directory into a container's root filesystem.

pub mod error;
pub mod overlay;
pub mod ownership;
mod sys;
pub mod unpack;

pub use error::{FsError, Result};
pub use overlay::{MountHandle, Overlay, OverlayConfig, OverlayError};
pub use unpack::{unpack_layer, unpack_layer_file, UnpackError, UnpackOptions, UnpackReport};
