//! The crate's error type: one variant per module, each carrying that module's error.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FsError {
    #[error(transparent)]
    Unpack(#[from] crate::unpack::UnpackError),
    #[error(transparent)]
    Overlay(#[from] crate::overlay::OverlayError),
    #[error(transparent)]
    Ownership(#[from] crate::ownership::OwnershipError),
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;
