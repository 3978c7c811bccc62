//! What a container needs from its image: the unpacked layers (top first, the overlay's
//! lowerdir order) and the run defaults of the image config.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burrow_image::manifest::{
    chain_ids, parse_manifest, ConfigSummary, ImageParts, Manifest, ManifestError,
};
use burrow_image::store::LayerRecord;
use burrow_image::ImageRecord;

use super::config::{familiar_name, ImageConfig};
use super::{image_store, FsUnpacker};
use crate::error::{EngineError, Result};

/// An image ready to be stacked under a container.
#[derive(Debug, Clone)]
pub struct ImageRootfs {
    /// The image id, `sha256:…`.
    pub id: String,
    /// The name it was asked by (Docker's short form), or its first name, or its id.
    pub name: String,
    /// Unpacked layer dirs, top first (overlay lowerdir order).
    pub layers: Vec<PathBuf>,
    pub config: ImageRunDefaults,
}

/// The image config's defaults for `run` (Docker's `Config` object).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRunDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `80/tcp`, `53/udp`.
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Finds the image (`busybox`, `busybox:latest`, a full name, an id or id prefix), makes
/// sure every layer is unpacked, and returns its layers and run defaults.
pub fn resolve_rootfs(store: &crate::Store, name_or_id: &str) -> Result<ImageRootfs> {
    let images = image_store(store)?;
    // Shared: prune cannot remove the layers while they are checked and unpacked.
    let _lock = images.lock_shared()?;
    let record = images.find_image(name_or_id)?;
    ensure_unpacked(&images, &record)?;
    let config = read_config(&images, &record)?;
    log::debug!(
        "image {name_or_id:?} resolved to {} ({} layers)",
        record.id,
        record.layers.len()
    );
    let layers = record
        .layers
        .iter()
        .rev()
        .map(|chain_id| images.layer_path(chain_id))
        .collect();
    Ok(ImageRootfs {
        id: record.id.to_string(),
        name: display_name(&record, name_or_id),
        layers,
        config: config.defaults,
    })
}

fn display_name(record: &ImageRecord, asked: &str) -> String {
    let asked_full = burrow_image::Reference::parse(asked).map(|r| r.to_string());
    match asked_full {
        Ok(full) if record.names.contains(&full) => familiar_name(&full).to_string(),
        _ => record
            .names
            .first()
            .map(|n| familiar_name(n).to_string())
            .unwrap_or_else(|| asked.to_string()),
    }
}

/// Parses the image config blob of `record`.
pub(crate) fn read_config(
    images: &burrow_image::Store,
    record: &ImageRecord,
) -> Result<ImageConfig> {
    let bytes = images.read_blob(&record.id)?;
    ImageConfig::parse(&bytes)
        .map_err(|e| EngineError::Other(format!("invalid config of image {}: {e}", record.id)))
}

/// The manifest's config and layer blobs of `record`.
pub(crate) fn image_parts(
    images: &burrow_image::Store,
    record: &ImageRecord,
) -> Result<ImageParts> {
    let bytes = images.read_blob(&record.manifest)?;
    let parsed = parse_manifest(&bytes, Some(&record.manifest_media_type))?;
    let Manifest::Image(manifest) = parsed.manifest else {
        return Err(ManifestError::UnknownManifestType(parsed.media_type).into());
    };
    Ok(ImageParts::of(&manifest)?)
}

/// Unpacks whichever layers of `record` are missing (normally none: pull, load and
/// import unpack everything; this repairs a layer folder removed by hand).
fn ensure_unpacked(images: &burrow_image::Store, record: &ImageRecord) -> Result<()> {
    if record
        .layers
        .iter()
        .all(|chain_id| images.has_layer(chain_id))
    {
        return Ok(());
    }
    let parts = image_parts(images, record)?;
    let summary = ConfigSummary::parse(&images.read_blob(&record.id)?)?;
    summary.check_layers(&parts)?;
    let chains = chain_ids(&summary.diff_ids);
    for (i, ((blob, format), diff_id)) in parts.layers.iter().zip(&summary.diff_ids).enumerate() {
        let layer = LayerRecord {
            chain_id: chains[i].clone(),
            diff_id: diff_id.clone(),
            parent: i.checked_sub(1).map(|p| chains[p].clone()),
            blob: blob.digest.clone(),
        };
        images.unpack_layer(&layer, *format, &FsUnpacker)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use burrow_image::testing::LayerBuilder;

    use super::*;

    fn rootfs_tar() -> Vec<u8> {
        LayerBuilder::new()
            .dir("bin", 0o755)
            .file("bin/busybox", b"\x7fELF not really", 0o755)
            .symlink("bin/sh", "busybox")
            .dir("etc", 0o755)
            .file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
            .finish()
    }

    #[test]
    fn an_imported_image_resolves_to_its_layers_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(Some(dir.path())).unwrap();
        let changes = vec![
            r#"CMD ["sh"]"#.to_string(),
            "ENV A=1".to_string(),
            "WORKDIR /srv".to_string(),
        ];
        let record =
            crate::images::import(&store, &rootfs_tar()[..], Some("bb"), &changes).unwrap();

        let rootfs = resolve_rootfs(&store, "bb").unwrap();
        assert_eq!(rootfs.id, record.id.to_string());
        assert_eq!(rootfs.name, "bb:latest");
        assert_eq!(rootfs.layers.len(), 1);
        assert!(rootfs.layers[0].join("bin/busybox").is_file());
        assert_eq!(rootfs.config.cmd, ["sh"]);
        assert_eq!(rootfs.config.env, ["A=1"]);
        assert_eq!(rootfs.config.workdir.as_deref(), Some("/srv"));
        for name in ["bb:latest", "docker.io/library/bb", &record.id.hex()[..12]] {
            assert_eq!(
                resolve_rootfs(&store, name).unwrap().id,
                rootfs.id,
                "{name}"
            );
        }

        // A layer folder removed by hand is unpacked again.
        let folder = rootfs.layers[0].parent().unwrap().to_path_buf();
        std::fs::remove_dir_all(&folder).unwrap();
        let again = resolve_rootfs(&store, "bb").unwrap();
        assert!(again.layers[0].join("bin/busybox").is_file());

        let missing = resolve_rootfs(&store, "nope").unwrap_err();
        assert_eq!(missing.to_string(), "No such image: nope");
    }
}
