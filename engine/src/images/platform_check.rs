//! `run --platform` / `create --platform` against the images already here, as Docker
//! (since 20.10) does it: an image found by name whose config says another platform is
//! not used silently. It counts as missing, so `--pull missing` pulls the requested
//! platform (the name moves to the new image, the old one stays under its id); when
//! the image is still of another platform after that (a registry without an index for
//! it), or with `--pull never`, the error is Docker's "image with reference X was found
//! but does not match the specified platform: wanted …, actual: …".

use burrow_image::Platform;

use super::{inspect, parse_platform, resolve_rootfs, ImageRootfs};
use crate::error::{EngineError, Result};

/// [`resolve_rootfs`], refusing an image whose platform does not match `platform`
/// (`os/arch[/variant]`; any platform when None).
pub fn resolve_rootfs_for(
    store: &crate::Store,
    name_or_id: &str,
    platform: Option<&str>,
) -> Result<ImageRootfs> {
    if let Some(text) = platform {
        check_platform(store, name_or_id, &parse_platform(text)?)?;
    }
    resolve_rootfs(store, name_or_id)
}

/// Ok when the local image `name_or_id` is of `wanted`'s platform.
pub fn check_platform(store: &crate::Store, name_or_id: &str, wanted: &Platform) -> Result<()> {
    let config = inspect(store, name_or_id)?.config;
    if wanted.matches(&config.os, &config.architecture, config.variant.as_deref()) {
        return Ok(());
    }
    let actual = Platform {
        os: config.os,
        architecture: config.architecture,
        variant: config.variant,
    };
    Err(EngineError::WrongPlatform {
        name: name_or_id.to_string(),
        wanted: wanted.to_string(),
        actual: actual.to_string(),
    })
}
