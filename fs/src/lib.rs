//! burrow-fs: the filesystems under a container.
//!
//! - [`unpack`]: image layers (tar, tar+gzip, tar+zstd) into layer directories, safely
//!   and atomically, keeping owners where the disk can and in an xattr where it cannot.
//! - [`ownership`]: that xattr (`user.containers.override_stat`).
//! - [`idmap`]: id shifting (what owners a FUSE server shows and stores).
//! - [`overlay`]: the FUSE overlay that merges read-only layers and a writable upper
//!   directory into a container's root filesystem.
//! - [`xattrs`]: which extended attributes of a file a layer archive carries.

pub mod error;
pub mod idmap;
pub mod overlay;
pub mod ownership;
mod sys;
pub mod unpack;
pub mod xattrs;

pub use error::{FsError, Result};
pub use idmap::{IdMapping, IdShift};
pub use overlay::{MountHandle, Overlay, OverlayConfig, OverlayError};
pub use unpack::{unpack_layer, unpack_layer_file, UnpackError, UnpackOptions, UnpackReport};
