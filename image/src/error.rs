//! The crate's error: each module's error, gathered.

use crate::archive::ArchiveError;
use crate::digest::DigestError;
use crate::manifest::ManifestError;
use crate::platform::PlatformError;
use crate::reference::ReferenceError;
use crate::registry::RegistryError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}
