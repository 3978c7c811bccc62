//! burrow-image: the OCI/Docker image model, the content store, the registry client and
//! image archives.
//!
//! - [`digest`], [`reference`], [`platform`], [`manifest`]: the data model, parsed
//!   strictly (a [`Digest`] or [`Reference`] value is always valid).
//! - [`store`]: blobs by digest, image records by name, layers by chain id, unpacked
//!   once through a [`LayerUnpacker`] that the engine provides (`burrow_fs::unpack`).
//! - [`registry`]: pull and push over the OCI distribution protocol.
//! - [`archive`]: docker-archive and oci-archive load/save, rootfs import.
//! - [`archive`]: docker-archive and oci-archive load/save, rootfs import.
//!
//! Errors are one `thiserror` enum per module, gathered in [`Error`].

#![forbid(unsafe_code)]

pub mod archive;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod unpack;

pub use digest::Digest;
pub use error::Error;
pub use platform::Platform;
pub use progress::{Progress, ProgressEvent};
pub use reference::Reference;
pub use store::{ImageRecord, Store};
pub use unpack::{LayerUnpacker, MediaType};
