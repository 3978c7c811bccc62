//! Manifests, indexes and configs of the OCI image spec and Docker's v2 schema 2.
//!
//! Both formats share one JSON shape (Docker's schema 2 is what OCI standardized), so
//! oci-spec's `ImageManifest`/`ImageIndex` parse both; what differs is the media types,
//! which [`MediaTypes`](self::media_types) lists and [`LayerFormat::of`] maps to one
//! compression each. Docker layer types are normalized to their OCI equivalents before
//! a layer reaches the unpacker. Schema 1 manifests, foreign layers and anything that is
//! not a container image (artifacts, unknown config types) are refused by name.
//!
//! Configs are kept as the exact bytes that were hashed; [`ConfigSummary`] reads the
//! few fields the store needs (platform, diff ids) leniently, and
//! [`ConfigSummary::oci`] gives oci-spec's full `ImageConfiguration` for the engine.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use crate::digest::{Digest, DigestError, Hasher};
use crate::platform::Platform;

/// Media types burrow knows.
pub mod media_types {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    pub const DOCKER_FOREIGN_LAYER: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// The `Accept` header for manifest requests, most wanted first.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

use media_types::*;

/// The largest manifest or config burrow reads into memory (the registry spec's 4 MiB).
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("invalid manifest JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("unsupported manifest schema version {0} (only schema 2 manifests are supported)")]
    SchemaVersion(u64),
    #[error("unsupported manifest media type {0:?}")]
    UnknownManifestType(String),
    #[error("unsupported layer media type {0:?}")]
    UnknownLayerType(String),
    #[error("foreign (non-distributable) layer {0} cannot be pulled")]
    ForeignLayer(Digest),
    #[error("not a container image: config media type {0:?}")]
    NotAnImage(String),
    #[error("invalid digest in manifest: {0}")]
    Digest(#[from] DigestError),
    #[error("no manifest for platform {wanted} in the index (available: {available})")]
    NoMatchingPlatform { wanted: Platform, available: String },
    #[error("invalid image config: {0}")]
    Config(String),
    #[error("image config lists {diff_ids} diff ids but the manifest has {layers} layers")]
    LayerCountMismatch { diff_ids: usize, layers: usize },
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A layer media type reduced to what the unpacker needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerFormat {
    pub compression: Compression,
}

impl LayerFormat {
    /// Maps a manifest's layer media type; unknown types are an error.
    pub fn of(media_type: &str) -> Result<LayerFormat, ManifestError> {
        let compression = match media_type {
            OCI_LAYER | DOCKER_LAYER => Compression::None,
            OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | OCI_LAYER_NONDIST_GZIP => Compression::Gzip,
            OCI_LAYER_ZSTD | DOCKER_LAYER_ZSTD => Compression::Zstd,
            other => return Err(ManifestError::UnknownLayerType(other.to_string())),
        };
        Ok(LayerFormat { compression })
    }

    /// The OCI media type with this compression (what the unpacker is given).
    pub fn oci_media_type(self) -> MediaType {
        match self.compression {
            Compression::None => MediaType::ImageLayer,
            Compression::Gzip => MediaType::ImageLayerGzip,
            Compression::Zstd => MediaType::ImageLayerZstd,
        }
    }

    /// Detects the compression of a blob from its first bytes (for archives).
    pub fn sniff(head: &[u8]) -> LayerFormat {
        let compression = if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        };
        LayerFormat { compression }
    }
}

/// A parsed manifest: one image or an index of images.
#[derive(Debug)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

/// A manifest with the media type it was served or stored as.
#[derive(Debug)]
pub struct ParsedManifest {
    pub media_type: String,
    pub manifest: Manifest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u64>,
    media_type: Option<String>,
    manifests: Option<serde_json::Value>,
}

/// Parses a manifest or index. `content_type` is the HTTP `Content-Type` (parameters
/// allowed); the document's own `mediaType` wins when present.
pub fn parse_manifest(
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<ParsedManifest, ManifestError> {
    let probe: Probe = serde_json::from_slice(bytes).map_err(ManifestError::Json)?;
    let header = content_type
        .map(|t| t.split(';').next().unwrap_or("").trim().to_string())
        .filter(|t| !t.is_empty() && t != "application/json" && t != "text/plain");
    let media_type = probe.media_type.clone().or(header).unwrap_or_else(|| {
        if probe.manifests.is_some() {
            OCI_INDEX.to_string()
        } else {
            OCI_MANIFEST.to_string()
        }
    });
    if matches!(media_type.as_str(), DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED) {
        return Err(ManifestError::SchemaVersion(1));
    }
    match probe.schema_version {
        Some(2) => {}
        Some(other) => return Err(ManifestError::SchemaVersion(other)),
        None => return Err(ManifestError::SchemaVersion(0)),
    }
    let manifest = match media_type.as_str() {
        OCI_MANIFEST | DOCKER_MANIFEST => Manifest::Image(Box::new(
            serde_json::from_slice(bytes).map_err(ManifestError::Json)?,
        )),
        OCI_INDEX | DOCKER_MANIFEST_LIST => Manifest::Index(Box::new(
            serde_json::from_slice(bytes).map_err(ManifestError::Json)?,
        )),
        other => return Err(ManifestError::UnknownManifestType(other.to_string())),
    };
    Ok(ParsedManifest {
        media_type,
        manifest,
    })
}

/// The entry of `index` for `platform` (see [`Platform::matches`]).
pub fn select_platform<'a>(
    index: &'a ImageIndex,
    platform: &Platform,
) -> Result<&'a Descriptor, ManifestError> {
    let mut available = Vec::new();
    for entry in index.manifests() {
        let Some(p) = entry.platform() else {
            continue;
        };
        let (os, arch) = (p.os().to_string(), p.architecture().to_string());
        if platform.matches(&os, &arch, p.variant().as_deref()) {
            return Ok(entry);
        }
        let mut name = format!("{os}/{arch}");
        if let Some(variant) = p.variant() {
            name.push('/');
            name.push_str(variant);
        }
        available.push(name);
    }
    Err(ManifestError::NoMatchingPlatform {
        wanted: platform.clone(),
        available: if available.is_empty() {
            "none".to_string()
        } else {
            available.join(", ")
        },
    })
}

/// One blob a manifest points to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRef {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

impl BlobRef {
    fn of(descriptor: &Descriptor) -> Result<BlobRef, ManifestError> {
        Ok(BlobRef {
            digest: Digest::from_oci(descriptor.digest())?,
            size: descriptor.size(),
            media_type: descriptor.media_type().to_string(),
        })
    }
}

/// What an image manifest references, checked: known media types, valid digests.
#[derive(Clone, Debug)]
pub struct ImageParts {
    pub config: BlobRef,
    pub layers: Vec<(BlobRef, LayerFormat)>,
}

impl ImageParts {
    pub fn of(manifest: &ImageManifest) -> Result<ImageParts, ManifestError> {
        let config = BlobRef::of(manifest.config())?;
        if !matches!(config.media_type.as_str(), OCI_CONFIG | DOCKER_CONFIG) {
            return Err(ManifestError::NotAnImage(config.media_type));
        }
        let mut layers = Vec::new();
        for descriptor in manifest.layers() {
            let layer = BlobRef::of(descriptor)?;
            if layer.media_type == DOCKER_FOREIGN_LAYER {
                return Err(ManifestError::ForeignLayer(layer.digest));
            }
            let format = LayerFormat::of(&layer.media_type)?;
            layers.push((layer, format));
        }
        Ok(ImageParts { config, layers })
    }

    /// Every blob, config first.
    pub fn blobs(&self) -> impl Iterator<Item = &BlobRef> {
        std::iter::once(&self.config).chain(self.layers.iter().map(|(layer, _)| layer))
    }
}

/// The fields of an image config the store needs.
#[derive(Clone, Debug)]
pub struct ConfigSummary {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub diff_ids: Vec<Digest>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
    rootfs: RawRootfs,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ConfigSummary {
    pub fn parse(bytes: &[u8]) -> Result<ConfigSummary, ManifestError> {
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Config(e.to_string()))?;
        if raw.rootfs.kind != "layers" {
            return Err(ManifestError::Config(format!(
                "rootfs type {:?} (expected \"layers\")",
                raw.rootfs.kind
            )));
        }
        let diff_ids = raw
            .rootfs
            .diff_ids
            .iter()
            .map(|d| Digest::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ConfigSummary {
            os: raw.os,
            architecture: raw.architecture,
            variant: raw.variant,
            diff_ids,
        })
    }

    /// The whole config as oci-spec's type.
    pub fn oci(bytes: &[u8]) -> Result<ImageConfiguration, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Config(e.to_string()))
    }

    /// Checks that the config and the manifest describe the same number of layers.
    pub fn check_layers(&self, parts: &ImageParts) -> Result<(), ManifestError> {
        if self.diff_ids.len() != parts.layers.len() {
            return Err(ManifestError::LayerCountMismatch {
                diff_ids: self.diff_ids.len(),
                layers: parts.layers.len(),
            });
        }
        Ok(())
    }
}

/// Chain ids of a layer stack: `chain[0] = diff[0]`,
/// `chain[n] = sha256(chain[n-1] + " " + diff[n])` (image-spec, "Layer ChainID").
pub fn chain_ids(diff_ids: &[Digest]) -> Vec<Digest> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match chain.last() {
            None => diff_id.clone(),
            Some(parent) => {
                let mut hasher = Hasher::new(crate::digest::Algorithm::Sha256);
                hasher.update(format!("{parent} {diff_id}").as_bytes());
                hasher.finish()
            }
        };
        chain.push(next);
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> String {
        Digest::sha256_of(&[n]).to_string()
    }

    fn image_manifest(media_type: &str, layer_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}",
            "config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{}","size":10}},
            "layers":[{{"mediaType":"{layer_type}","digest":"{}","size":20}}]}}"#,
            digest(1),
            digest(2)
        )
    }

    #[test]
    fn parses_docker_and_oci_manifests() {
        for (media_type, layer_type, compression) in [
            (DOCKER_MANIFEST, DOCKER_LAYER_GZIP, Compression::Gzip),
            (OCI_MANIFEST, OCI_LAYER_ZSTD, Compression::Zstd),
            (OCI_MANIFEST, OCI_LAYER, Compression::None),
        ] {
            let text = image_manifest(media_type, layer_type);
            let parsed = parse_manifest(text.as_bytes(), None).unwrap();
            assert_eq!(parsed.media_type, media_type);
            let Manifest::Image(manifest) = parsed.manifest else {
                panic!("not an image manifest");
            };
            let parts = ImageParts::of(&manifest).unwrap();
            assert_eq!(parts.config.digest.to_string(), digest(1));
            assert_eq!(parts.layers[0].1.compression, compression);
            assert_eq!(parts.layers[0].0.size, 20);
        }
    }

    #[test]
    fn media_type_from_header_or_shape() {
        let text = image_manifest(DOCKER_MANIFEST, DOCKER_LAYER_GZIP)
            .replace(&format!(r#""mediaType":"{DOCKER_MANIFEST}","#), "");
        let parsed =
            parse_manifest(text.as_bytes(), Some(&format!("{DOCKER_MANIFEST}; x=y"))).unwrap();
        assert_eq!(parsed.media_type, DOCKER_MANIFEST);
        let parsed = parse_manifest(text.as_bytes(), Some("application/json")).unwrap();
        assert_eq!(parsed.media_type, OCI_MANIFEST);
        let index = r#"{"schemaVersion":2,"manifests":[]}"#;
        let parsed = parse_manifest(index.as_bytes(), None).unwrap();
        assert!(matches!(parsed.manifest, Manifest::Index(_)));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        let v1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(
            parse_manifest(v1.as_bytes(), None),
            Err(ManifestError::SchemaVersion(1))
        ));
        let odd = image_manifest("application/x-odd", OCI_LAYER);
        assert!(parse_manifest(odd.as_bytes(), None)
            .unwrap_err()
            .to_string()
            .contains("application/x-odd"));
        assert!(parse_manifest(b"{not json", None).is_err());
        let layer = image_manifest(OCI_MANIFEST, "application/x-weird-layer");
        let Manifest::Image(manifest) = parse_manifest(layer.as_bytes(), None).unwrap().manifest
        else {
            panic!()
        };
        let error = ImageParts::of(&manifest).unwrap_err().to_string();
        assert!(error.contains("x-weird-layer"), "{error}");
        let artifact = image_manifest(OCI_MANIFEST, OCI_LAYER)
            .replace(DOCKER_CONFIG, "application/vnd.example.sbom");
        let Manifest::Image(manifest) = parse_manifest(artifact.as_bytes(), None).unwrap().manifest
        else {
            panic!()
        };
        assert!(matches!(
            ImageParts::of(&manifest),
            Err(ManifestError::NotAnImage(_))
        ));
    }

    #[test]
    fn selects_platforms_from_an_index() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":1,
                "platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":1,
                "platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":1,
                "platform":{{"os":"linux","architecture":"arm64","variant":"v8"}}}}]}}"#,
            digest(1),
            digest(2),
            digest(3)
        );
        let Manifest::Index(index) = parse_manifest(index.as_bytes(), None).unwrap().manifest
        else {
            panic!()
        };
        let pick = |p: &str| {
            select_platform(&index, &Platform::parse(p).unwrap()).map(|d| d.digest().to_string())
        };
        assert_eq!(pick("linux/amd64").unwrap(), digest(2));
        assert_eq!(pick("linux/arm64").unwrap(), digest(3));
        assert_eq!(pick("linux/arm/v7").unwrap(), digest(1));
        let error = pick("linux/s390x").unwrap_err().to_string();
        assert!(
            error.contains("linux/s390x") && error.contains("linux/arm/v7"),
            "{error}"
        );
    }

    #[test]
    fn configs_and_chain_ids() {
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["A=b"]}},
               "rootfs":{{"type":"layers","diff_ids":["{}","{}"]}},"history":[]}}"#,
            digest(1),
            digest(2)
        );
        let summary = ConfigSummary::parse(config.as_bytes()).unwrap();
        assert_eq!(summary.diff_ids.len(), 2);
        assert_eq!(summary.architecture, "amd64");
        let oci = ConfigSummary::oci(config.as_bytes()).unwrap();
        assert_eq!(oci.rootfs().diff_ids().len(), 2);
        let chain = chain_ids(&summary.diff_ids);
        assert_eq!(chain[0], summary.diff_ids[0]);
        let expected = Digest::sha256_of(format!("{} {}", digest(1), digest(2)).as_bytes());
        assert_eq!(chain[1], expected);
        assert!(ConfigSummary::parse(br#"{"rootfs":{"type":"layers","diff_ids":["x"]}}"#).is_err());
        assert!(ConfigSummary::parse(br#"{"rootfs":{"type":"other"}}"#).is_err());
    }
}
