//! Images for the engine: the content store of `burrow-image` kept at
//! `DATA/images-store` (so `--root` moves it with everything else), its layers unpacked
//! by `burrow_fs` ([`FsUnpacker`]), and the operations behind `burrow pull`, `push`,
//! `images`, `image inspect`, `tag`, `rmi`, `load`, `save`, `import`, `image prune` and
//! `history`. Containers get their image through [`resolve_rootfs`].
//!
//! Containers pin images only loosely: a container record names its image as the user
//! gave it, so `rmi` and `prune` treat an image as in use when a container's image
//! string resolves to it now. Removing an image record never removes layer folders at
//! once (prune does, under the store's exclusive lock, keeping images in use).

mod changes;
mod commit;
mod config;
mod mirrors;
mod platform_check;
mod registries_file;
mod registry;
mod rootfs;
mod space;
mod unpacker;
mod usage;

use std::io::{Read, Write};

use burrow_image::archive;
pub use burrow_image::archive::ArchiveFormat;
use burrow_image::registry::RegistryError;
use burrow_image::store::{PruneOptions, PruneReport, RemoveOutcome, StoreError};
use burrow_image::{Digest, ImageRecord, Platform, Reference};

/// For callers that pull (`run` of a missing image): the progress types, and `Quiet`.
pub use burrow_image::progress::{Progress, ProgressEvent, Quiet};
pub use changes::apply_changes;
pub use commit::{commit, CommitOptions};
pub use config::{familiar_name, split_name, HistoryEntry, ImageConfig};
pub use platform_check::{check_platform, resolve_rootfs_for};
pub use registry::{login, login_host, logout, RegistrySettings, INSECURE_REGISTRIES_VAR};
pub use rootfs::{resolve_rootfs, ImageRootfs, ImageRunDefaults};
pub use unpacker::FsUnpacker;
pub use usage::{usage, ImageUsage};

use crate::error::{EngineError, Result};

/// Where the image store of the engine store `store` lives.
pub fn image_store_dir(store: &crate::Store) -> std::path::PathBuf {
    store.data.join("images-store")
}

/// The image store of the engine store `store` (created on first use).
pub fn image_store(store: &crate::Store) -> Result<burrow_image::Store> {
    Ok(burrow_image::Store::open(image_store_dir(store))?)
}

/// An image record with what its config and manifest say.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub record: ImageRecord,
    pub config: ImageConfig,
    /// Compressed size of each layer blob, bottom first.
    pub layer_sizes: Vec<u64>,
}

/// Parses a reference the way Docker does (`busybox` → `docker.io/library/busybox:latest`).
pub fn parse_reference(name: &str) -> Result<Reference> {
    Ok(Reference::parse(name)?)
}

/// What `pull` may be told: the platform to choose from an index, how to reach the
/// registry.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// `os/arch[/variant]`; the host's platform when None.
    pub platform: Option<String>,
    pub registry: RegistrySettings,
}

/// Parses `--platform` (`linux/arm64`, `linux/arm/v7`).
pub fn parse_platform(text: &str) -> Result<Platform> {
    Platform::parse(text).map_err(|e| EngineError::Other(e.to_string()))
}

/// Pulls `name` for this machine's platform.
pub fn pull(store: &crate::Store, name: &str, progress: &dyn Progress) -> Result<ImageRecord> {
    pull_with(store, name, &PullOptions::default(), progress)
}

/// Pulls `name` as `options` say.
pub fn pull_with(
    store: &crate::Store,
    name: &str,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<ImageRecord> {
    let reference = parse_reference(name)?;
    let platform = match &options.platform {
        Some(text) => parse_platform(text)?,
        None => Platform::host(),
    };
    let mirrors = mirrors::mirrors_for(reference.domain())?;
    let plain: Vec<String> = mirrors
        .iter()
        .filter(|m| m.plain_http)
        .map(|m| m.host.clone())
        .collect();
    let client = registry::client_with_insecure(&options.registry, &plain)?;
    let images = image_store(store)?;
    let failed = format!("pull of {name} failed");
    space::undo_if_full(&images, "pull", Some(&failed), || {
        let sources = mirrors
            .iter()
            .map(|m| m.host.as_str())
            .chain(std::iter::once(reference.registry_host()));
        let mut last = None;
        for host in sources {
            if let Some(error) = last.take() {
                log::debug!("pull of {name}: {error}; trying {host}");
            }
            match burrow_image::registry::pull_from(
                &client,
                &images,
                &reference,
                host,
                &platform,
                &FsUnpacker,
                progress,
            ) {
                Ok(record) => return Ok(record),
                // The local store failed (a full disk): no other source cures that.
                Err(error @ RegistryError::Store(StoreError::Io { .. })) => {
                    return Err(error.into())
                }
                Err(error) => {
                    let error = EngineError::from(error);
                    if space::is_out_of_space(&error) {
                        return Err(error);
                    }
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Other(format!("pull of {name}: no source"))))
    })
}

/// Pushes the local image `name` under that name; returns the manifest digest and size.
pub fn push(
    store: &crate::Store,
    name: &str,
    settings: &RegistrySettings,
    progress: &dyn Progress,
) -> Result<(Digest, u64)> {
    let reference = parse_reference(name)?;
    let images = image_store(store)?;
    let record = images.find_image(name)?;
    let client = registry::client(settings)?;
    let digest = burrow_image::registry::push(&client, &images, name, &reference, progress)?;
    let size = images.blob_size(&record.manifest)?;
    Ok((digest, size))
}

/// Every image, newest first.
pub fn list(store: &crate::Store) -> Result<Vec<ImageInfo>> {
    let images = image_store(store)?;
    let mut out = Vec::new();
    for record in images.images()?.into_iter().rev() {
        out.push(info_of(&images, record)?);
    }
    Ok(out)
}

/// One image by name or id.
pub fn inspect(store: &crate::Store, name_or_id: &str) -> Result<ImageInfo> {
    let images = image_store(store)?;
    let record = images.find_image(name_or_id)?;
    info_of(&images, record)
}

fn info_of(images: &burrow_image::Store, record: ImageRecord) -> Result<ImageInfo> {
    let config = rootfs::read_config(images, &record)?;
    let layer_sizes = rootfs::image_parts(images, &record)?
        .layers
        .iter()
        .map(|(blob, _)| blob.size)
        .collect();
    Ok(ImageInfo {
        record,
        config,
        layer_sizes,
    })
}

/// Gives the image `source` the name `target`.
pub fn tag(store: &crate::Store, source: &str, target: &str) -> Result<()> {
    let target = parse_reference(target)?;
    if target.digest().is_some() {
        return Err(EngineError::Other(format!(
            "refusing to create a tag with a digest reference: {target}"
        )));
    }
    image_store(store)?.tag(source, &target)?;
    Ok(())
}

/// One line of `rmi`'s report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(String),
    Deleted(Digest),
}

/// Docker's `rmi`: a name of an image with other names is only untagged; otherwise the
/// image is deleted (its names listed as untagged first). Without `force`, an image
/// with several names cannot be deleted by id, nor one a container uses.
///
/// Runs as the containers' root (layers hold files of subordinate ids).
pub fn remove(store: &crate::Store, name_or_id: &str, force: bool) -> Result<Vec<Removed>> {
    let report = crate::userns::run_as_container_root(|| {
        let removed = remove_here(store, name_or_id, force).map_err(|e| e.to_string())?;
        Ok(removed
            .iter()
            .map(|r| match r {
                Removed::Untagged(name) => format!("U {name}\n"),
                Removed::Deleted(id) => format!("D {id}\n"),
            })
            .collect())
    })?;
    report
        .lines()
        .map(|line| match line.split_once(' ') {
            Some(("U", name)) => Ok(Removed::Untagged(name.to_string())),
            Some(("D", id)) => id
                .parse()
                .map(Removed::Deleted)
                .map_err(|_| EngineError::Other(format!("bad report line {line:?}"))),
            _ => Err(EngineError::Other(format!("bad report line {line:?}"))),
        })
        .collect()
}

fn remove_here(store: &crate::Store, name_or_id: &str, force: bool) -> Result<Vec<Removed>> {
    let images = image_store(store)?;
    let record = images.find_image(name_or_id)?;
    let as_name = Reference::parse(name_or_id)
        .ok()
        .map(|r| r.to_string())
        .filter(|n| record.names.contains(n));
    if as_name.is_some() && record.names.len() > 1 {
        return Ok(match images.remove_image(name_or_id)? {
            RemoveOutcome::Untagged(name) => vec![Removed::Untagged(name)],
            RemoveOutcome::Deleted(id) => vec![Removed::Deleted(id)],
        });
    }
    if !force {
        if as_name.is_none() && record.names.len() > 1 {
            return Err(EngineError::ImageConflict {
                action: "delete",
                image: record.id.short().to_string(),
                reason: "must be forced - image is referenced in multiple repositories".into(),
            });
        }
        if let Some(container) = containers_using(store, &images)?
            .into_iter()
            .find(|(_, id)| *id == record.id)
        {
            return Err(EngineError::ImageConflict {
                action: "remove",
                image: name_or_id.to_string(),
                reason: format!(
                    "must force - container {} is using its referenced image {}",
                    &container.0[..container.0.len().min(12)],
                    record.id.short()
                ),
            });
        }
    }
    let id = record.id.to_string();
    let mut report: Vec<Removed> = record.names.into_iter().map(Removed::Untagged).collect();
    match images.remove_image(&id)? {
        RemoveOutcome::Deleted(id) => report.push(Removed::Deleted(id)),
        RemoveOutcome::Untagged(name) => report = vec![Removed::Untagged(name)],
    }
    Ok(report)
}

/// `(container id, image id)` for every container whose image resolves here.
fn containers_using(
    store: &crate::Store,
    images: &burrow_image::Store,
) -> Result<Vec<(String, Digest)>> {
    Ok(store
        .list()?
        .into_iter()
        .filter(|c| !c.config.image.is_empty())
        .filter_map(|c| Some((c.id, images.find_image(&c.config.image).ok()?.id)))
        .collect())
}

/// Loads a docker-archive or oci-archive.
pub fn load(store: &crate::Store, archive: impl Read) -> Result<Vec<ImageRecord>> {
    let images = image_store(store)?;
    space::undo_if_full(&images, "load", None, || {
        Ok(archive::load(
            &images,
            archive,
            &Platform::host(),
            &FsUnpacker,
        )?)
    })
}

/// Writes `names` as one archive (`docker-archive` or `oci-archive`).
pub fn save(
    store: &crate::Store,
    names: &[&str],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<()> {
    let images = image_store(store)?;
    for name in names {
        images.find_image(name)?;
    }
    Ok(archive::save(&images, names, format, out)?)
}

/// Makes a one-layer image from a rootfs tarball, with `changes` applied to its config.
pub fn import(
    store: &crate::Store,
    tarball: impl Read,
    name: Option<&str>,
    changes: &[String],
) -> Result<ImageRecord> {
    let name = name.map(parse_reference).transpose()?;
    let mut config = serde_json::Map::new();
    apply_changes(&mut config, changes)?;
    let images = image_store(store)?;
    Ok(archive::import_with_config(
        &images,
        tarball,
        name.as_ref(),
        serde_json::Value::Object(config),
        &FsUnpacker,
    )?)
}

/// Removes dangling images (every unused image with `all`) and unreferenced content,
/// as the containers' root (layers hold files of subordinate ids).
pub fn prune(store: &crate::Store, all: bool) -> Result<PruneReport> {
    let report = crate::userns::run_as_container_root(|| {
        let report = prune_here(store, all).map_err(|e| e.to_string())?;
        let digests =
            |list: &[Digest]| -> Vec<String> { list.iter().map(ToString::to_string).collect() };
        Ok(serde_json::json!({
            "images": digests(&report.images),
            "blobs": digests(&report.blobs),
            "layers": digests(&report.layers),
            "reclaimed": report.reclaimed_bytes,
        })
        .to_string())
    })?;
    let value: serde_json::Value = serde_json::from_str(&report)
        .map_err(|e| EngineError::Other(format!("bad prune report: {e}")))?;
    let digests = |key: &str| -> Vec<Digest> {
        value[key]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_str()?.parse().ok()).collect())
            .unwrap_or_default()
    };
    Ok(PruneReport {
        images: digests("images"),
        blobs: digests("blobs"),
        layers: digests("layers"),
        reclaimed_bytes: value["reclaimed"].as_u64().unwrap_or(0),
    })
}

fn prune_here(store: &crate::Store, all: bool) -> Result<PruneReport> {
    let images = image_store(store)?;
    let in_use = containers_using(store, &images)?
        .into_iter()
        .map(|(_, id)| id)
        .collect();
    Ok(images.prune(&PruneOptions {
        dangling: true,
        all,
        in_use,
    })?)
}
