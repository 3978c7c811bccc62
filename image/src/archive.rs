//! Image archives: docker-archive and oci-archive `load`/`save`, and rootfs `import`.
//!
//! Formats:
//! - docker-archive (`docker save`): `manifest.json` = `[{"Config", "RepoTags",
//!   "Layers"}]` with paths inside the tar; layers are tars (uncompressed in what
//!   burrow writes, any compression accepted on load).
//! - oci-archive: an OCI image layout in a tar: `oci-layout`, `index.json`,
//!   `blobs/<alg>/<hex>`. Names come from `io.containerd.image.name` or, when it is a
//!   full reference, `org.opencontainers.image.ref.name`.
//!
//! Loading reads the tar once, front to back (it may be a pipe), copying every regular
//! file into a staging folder under the store's `tmp/` while hashing it; then it reads
//! the metadata, checks every referenced file against its digest, moves the blobs into
//! the store, unpacks the layers and writes the image records last. The staging folder
//! goes away with the operation, so a failed load leaves no visible trace.
//! An archive that holds both `manifest.json` and `index.json` (Docker 25+) is read as a
//! docker-archive.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::digest::{Algorithm, Digest, HashingReader, HashingWriter};
use crate::manifest::{
    chain_ids, media_types, parse_manifest, select_platform, Compression, ConfigSummary,
    ImageParts, LayerFormat, Manifest, ManifestError,
};
use crate::platform::Platform;
use crate::reference::{Reference, ReferenceError};
use crate::registry::now;
use crate::store::{ImageRecord, LayerRecord, Store, StoreError};
use crate::unpack::LayerUnpacker;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("failed to read archive: {0}")]
    Read(#[source] io::Error),
    #[error("failed to write archive: {0}")]
    Write(#[source] io::Error),
    #[error("not an image archive: neither manifest.json nor index.json found")]
    UnknownFormat,
    #[error("invalid {file} in archive: {message}")]
    Metadata { file: String, message: String },
    #[error("archive refers to {0}, which it does not contain")]
    MissingFile(String),
    #[error(
        "archive file {file} does not match its digest {expected} (content hashes to {actual})"
    )]
    DigestMismatch {
        file: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("layer {file} does not match diff id {expected} of the image config (it is {actual})")]
    DiffIdMismatch {
        file: String,
        expected: Digest,
        actual: Digest,
    },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which archive format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    DockerArchive,
    OciArchive,
}

/// One staged file: where it is and what it hashes to.
struct Staged {
    path: PathBuf,
    digest: Digest,
}

struct Staging {
    _dir: tempfile::TempDir,
    files: HashMap<String, Staged>,
}

impl Staging {
    /// Copies every regular file of the tar into a temp folder, hashing each.
    fn read(store: &Store, archive: impl Read) -> Result<Staging, ArchiveError> {
        let dir = store.temp_dir("load-")?;
        let mut files = HashMap::new();
        let mut tar = tar::Archive::new(archive);
        for (n, entry) in tar.entries().map_err(ArchiveError::Read)?.enumerate() {
            let mut entry = entry.map_err(ArchiveError::Read)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = normalize(&entry.path().map_err(ArchiveError::Read)?);
            let path = dir.path().join(n.to_string());
            let file = File::create(&path).map_err(|e| StoreError::io("create", &path, e))?;
            let mut writer = HashingWriter::new(BufWriter::new(file), Algorithm::Sha256);
            io::copy(&mut entry, &mut writer).map_err(ArchiveError::Read)?;
            let (buffer, digest, _) = writer.finish();
            buffer
                .into_inner()
                .map_err(|e| StoreError::io("write", &path, e.into_error()))?;
            files.insert(name, Staged { path, digest });
        }
        Ok(Staging { _dir: dir, files })
    }

    fn get(&self, name: &str) -> Result<&Staged, ArchiveError> {
        self.files
            .get(&normalize(Path::new(name)))
            .ok_or_else(|| ArchiveError::MissingFile(name.to_string()))
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, ArchiveError> {
        let staged = self.get(name)?;
        std::fs::read(&staged.path).map_err(ArchiveError::Read)
    }

    /// The staged file of an OCI layout blob, checked against its name.
    fn blob(&self, digest: &Digest) -> Result<&Staged, ArchiveError> {
        let name = format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
        let staged = self.get(&name)?;
        let actual = if digest.algorithm() == Algorithm::Sha256 {
            staged.digest.clone()
        } else {
            hash_file(&staged.path, digest.algorithm())?
        };
        if actual != *digest {
            return Err(ArchiveError::DigestMismatch {
                file: name,
                expected: digest.clone(),
                actual,
            });
        }
        Ok(staged)
    }
}

/// `./a//b` and `a/b` are the same archive member.
fn normalize(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn hash_file(path: &Path, algorithm: Algorithm) -> Result<Digest, ArchiveError> {
    let file = File::open(path).map_err(ArchiveError::Read)?;
    let mut reader = HashingReader::new(BufReader::new(file), algorithm);
    io::copy(&mut reader, &mut io::sink()).map_err(ArchiveError::Read)?;
    Ok(reader.finish().0)
}

/// The digest of the uncompressed content of a layer file.
fn diff_id_of(path: &Path, compression: Compression) -> Result<Digest, ArchiveError> {
    let file = BufReader::new(File::open(path).map_err(ArchiveError::Read)?);
    let reader: Box<dyn Read> = match compression {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(file).map_err(ArchiveError::Read)?)
        }
    };
    let mut hashing = HashingReader::new(reader, Algorithm::Sha256);
    io::copy(&mut hashing, &mut io::sink()).map_err(ArchiveError::Read)?;
    Ok(hashing.finish().0)
}

fn sniff(path: &Path) -> Result<LayerFormat, ArchiveError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(ArchiveError::Read)?;
    let n = file.read(&mut head).map_err(ArchiveError::Read)?;
    Ok(LayerFormat::sniff(&head[..n]))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Loads every image of a docker-archive or oci-archive. `platform` picks the manifest
/// of an index inside an oci-archive.
pub fn load(
    store: &Store,
    archive: impl Read,
    platform: &Platform,
    unpacker: &dyn LayerUnpacker,
) -> Result<Vec<ImageRecord>, ArchiveError> {
    let _lock = store.lock_shared()?;
    let staging = Staging::read(store, archive)?;
    if staging.files.contains_key("manifest.json") {
        load_docker(store, &staging, unpacker)
    } else if staging.files.contains_key("index.json") {
        load_oci(store, &staging, platform, unpacker)
    } else {
        Err(ArchiveError::UnknownFormat)
    }
}

fn load_docker(
    store: &Store,
    staging: &Staging,
    unpacker: &dyn LayerUnpacker,
) -> Result<Vec<ImageRecord>, ArchiveError> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(&staging.read_small("manifest.json")?)
        .map_err(|e| ArchiveError::Metadata {
        file: "manifest.json".into(),
        message: e.to_string(),
    })?;
    let mut plans = Vec::new();
    for entry in &entries {
        let config = staging.get(&entry.config)?;
        let config_bytes = staging.read_small(&entry.config)?;
        let summary = ConfigSummary::parse(&config_bytes)?;
        if summary.diff_ids.len() != entry.layers.len() {
            return Err(ManifestError::LayerCountMismatch {
                diff_ids: summary.diff_ids.len(),
                layers: entry.layers.len(),
            }
            .into());
        }
        let mut layers = Vec::new();
        for (file, diff_id) in entry.layers.iter().zip(&summary.diff_ids) {
            let staged = staging.get(file)?;
            let format = sniff(&staged.path)?;
            // A plain tar's diff id is its digest: check it now, naming the file. The
            // store checks compressed layers as it unpacks them.
            if format.compression == Compression::None && staged.digest != *diff_id {
                return Err(ArchiveError::DiffIdMismatch {
                    file: file.clone(),
                    expected: diff_id.clone(),
                    actual: staged.digest.clone(),
                });
            }
            layers.push(serde_json::json!({
                "mediaType": format.oci_media_type().to_string(),
                "digest": staged.digest.to_string(),
                "size": std::fs::metadata(&staged.path).map_err(ArchiveError::Read)?.len(),
            }));
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_MANIFEST,
            "config": {
                "mediaType": media_types::OCI_CONFIG,
                "digest": config.digest.to_string(),
                "size": config_bytes.len(),
            },
            "layers": layers,
        }))
        .map_err(|e| ArchiveError::Metadata {
            file: "manifest.json".into(),
            message: e.to_string(),
        })?;
        let mut names = Vec::new();
        for tag in entry.repo_tags.iter().flatten() {
            names.push(Reference::parse(tag)?.to_string());
        }
        plans.push((manifest, names));
    }
    let mut records = Vec::new();
    for (manifest, names) in plans {
        let lookup = |digest: &Digest| -> Result<PathBuf, ArchiveError> {
            staging
                .files
                .values()
                .find(|s| s.digest == *digest)
                .map(|s| s.path.clone())
                .ok_or_else(|| ArchiveError::MissingFile(digest.to_string()))
        };
        records.push(commit(
            store,
            &manifest,
            media_types::OCI_MANIFEST,
            None,
            names,
            &lookup,
            unpacker,
        )?);
    }
    Ok(records)
}

#[derive(Deserialize)]
struct OciIndex {
    manifests: Vec<OciEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciEntry {
    media_type: String,
    digest: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

fn load_oci(
    store: &Store,
    staging: &Staging,
    platform: &Platform,
    unpacker: &dyn LayerUnpacker,
) -> Result<Vec<ImageRecord>, ArchiveError> {
    let bad = |message: String| ArchiveError::Metadata {
        file: "index.json".into(),
        message,
    };
    let index: OciIndex = serde_json::from_slice(&staging.read_small("index.json")?)
        .map_err(|e| bad(e.to_string()))?;
    let lookup = |digest: &Digest| -> Result<PathBuf, ArchiveError> {
        Ok(staging.blob(digest)?.path.clone())
    };
    let mut records = Vec::new();
    for entry in &index.manifests {
        let digest = Digest::parse(&entry.digest).map_err(|e| bad(e.to_string()))?;
        let bytes = std::fs::read(lookup(&digest)?).map_err(ArchiveError::Read)?;
        let parsed = parse_manifest(&bytes, Some(&entry.media_type))?;
        let (manifest, media_type, index_bytes) = match parsed.manifest {
            Manifest::Image(_) => (bytes, parsed.media_type, None),
            Manifest::Index(inner) => {
                let chosen = select_platform(&inner, platform)?;
                let chosen_digest =
                    Digest::from_oci(chosen.digest()).map_err(ManifestError::from)?;
                let chosen_bytes =
                    std::fs::read(lookup(&chosen_digest)?).map_err(ArchiveError::Read)?;
                let media = chosen.media_type().to_string();
                (chosen_bytes, media, Some(bytes))
            }
        };
        let name = entry
            .annotations
            .get("io.containerd.image.name")
            .or_else(|| entry.annotations.get("org.opencontainers.image.ref.name"))
            .filter(|n| n.contains('/') || n.contains(':'))
            .map(|n| Reference::parse(n).map(|r| r.to_string()))
            .transpose()?;
        records.push(commit(
            store,
            &manifest,
            &media_type,
            index_bytes.as_deref(),
            name.into_iter().collect(),
            &lookup,
            unpacker,
        )?);
    }
    Ok(records)
}

/// Moves an image's blobs into the store, unpacks its layers and records it.
fn commit(
    store: &Store,
    manifest: &[u8],
    media_type: &str,
    index: Option<&[u8]>,
    names: Vec<String>,
    lookup: &dyn Fn(&Digest) -> Result<PathBuf, ArchiveError>,
    unpacker: &dyn LayerUnpacker,
) -> Result<ImageRecord, ArchiveError> {
    let parsed = parse_manifest(manifest, Some(media_type))?;
    let Manifest::Image(image) = parsed.manifest else {
        return Err(ManifestError::UnknownManifestType(parsed.media_type).into());
    };
    let parts = ImageParts::of(&image)?;
    for blob in parts.blobs() {
        if !store.has_blob(&blob.digest) {
            let path = lookup(&blob.digest)?;
            let file = File::open(&path).map_err(ArchiveError::Read)?;
            store.write_blob(
                &blob.digest,
                Some(blob.size),
                BufReader::new(file),
                "archive",
            )?;
        }
    }
    let summary = ConfigSummary::parse(&store.read_blob(&parts.config.digest)?)?;
    summary.check_layers(&parts)?;
    let chain = chain_ids(&summary.diff_ids);
    for (i, (blob, format)) in parts.layers.iter().enumerate() {
        let record = LayerRecord {
            chain_id: chain[i].clone(),
            diff_id: summary.diff_ids[i].clone(),
            parent: i.checked_sub(1).map(|p| chain[p].clone()),
            blob: blob.digest.clone(),
        };
        store.unpack_layer(&record, *format, unpacker)?;
    }
    let manifest_digest = store.put_blob(manifest)?;
    let mut blobs = vec![manifest_digest.clone()];
    let index_digest = match index {
        Some(bytes) => {
            let digest = store.put_blob(bytes)?;
            blobs.push(digest.clone());
            Some(digest)
        }
        None => None,
    };
    blobs.extend(parts.blobs().map(|b| b.digest.clone()));
    let record = ImageRecord {
        id: parts.config.digest.clone(),
        manifest: manifest_digest,
        manifest_media_type: parsed.media_type,
        index: index_digest,
        names,
        repo_digests: Vec::new(),
        blobs,
        layers: chain,
        size: parts.blobs().map(|b| b.size).sum(),
        added: now(),
    };
    Ok(store.commit_image(record)?)
}

/// Writes the images named by `images` (names or ids) as one archive.
pub fn save(
    store: &Store,
    images: &[&str],
    format: ArchiveFormat,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let _lock = store.lock_shared()?;
    let mut tar = tar::Builder::new(out);
    let mut docker_entries = Vec::new();
    let mut oci_entries = Vec::new();
    let mut written = std::collections::HashSet::new();
    for wanted in images {
        let record = store.find_image(wanted)?;
        let manifest_bytes = store.read_blob(&record.manifest)?;
        let parsed = parse_manifest(&manifest_bytes, Some(&record.manifest_media_type))?;
        let Manifest::Image(image) = parsed.manifest else {
            return Err(ManifestError::UnknownManifestType(parsed.media_type).into());
        };
        let parts = ImageParts::of(&image)?;
        let names: Vec<String> = match Reference::parse(wanted) {
            Ok(r) if record.names.contains(&r.to_string()) => vec![r.to_string()],
            _ => record.names.clone(),
        };
        match format {
            ArchiveFormat::DockerArchive => {
                let config_name = format!("{}.json", parts.config.digest.hex());
                if written.insert(config_name.clone()) {
                    append_blob(&mut tar, store, &parts.config.digest, &config_name)?;
                }
                let summary = ConfigSummary::parse(&store.read_blob(&parts.config.digest)?)?;
                let mut layers = Vec::new();
                for ((blob, layer_format), diff_id) in parts.layers.iter().zip(&summary.diff_ids) {
                    let name = format!("{}/layer.tar", diff_id.hex());
                    if written.insert(name.clone()) {
                        append_uncompressed(
                            &mut tar,
                            store,
                            &blob.digest,
                            layer_format.compression,
                            &name,
                        )?;
                    }
                    layers.push(name);
                }
                docker_entries.push(serde_json::json!({
                    "Config": config_name, "RepoTags": names, "Layers": layers,
                }));
            }
            ArchiveFormat::OciArchive => {
                for digest in
                    std::iter::once(&record.manifest).chain(parts.blobs().map(|b| &b.digest))
                {
                    let name = format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
                    if written.insert(name.clone()) {
                        append_blob(&mut tar, store, digest, &name)?;
                    }
                }
                let descriptor = |name: Option<&String>| {
                    let mut annotations = serde_json::Map::new();
                    if let Some(name) = name {
                        annotations.insert("io.containerd.image.name".into(), name.clone().into());
                        let tag = Reference::parse(name)
                            .ok()
                            .and_then(|r| r.tag().map(str::to_string));
                        if let Some(tag) = tag {
                            annotations
                                .insert("org.opencontainers.image.ref.name".into(), tag.into());
                        }
                    }
                    serde_json::json!({
                        "mediaType": record.manifest_media_type,
                        "digest": record.manifest.to_string(),
                        "size": manifest_bytes.len(),
                        "annotations": annotations,
                    })
                };
                if names.is_empty() {
                    oci_entries.push(descriptor(None));
                }
                for name in &names {
                    oci_entries.push(descriptor(Some(name)));
                }
            }
        }
    }
    let metadata = match format {
        ArchiveFormat::DockerArchive => {
            vec![("manifest.json", serde_json::Value::from(docker_entries))]
        }
        ArchiveFormat::OciArchive => vec![
            (
                "oci-layout",
                serde_json::json!({"imageLayoutVersion": "1.0.0"}),
            ),
            (
                "index.json",
                serde_json::json!({"schemaVersion": 2, "mediaType": media_types::OCI_INDEX, "manifests": oci_entries}),
            ),
        ],
    };
    for (name, value) in metadata {
        let bytes = value.to_string().into_bytes();
        append_bytes(&mut tar, name, &bytes)?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ArchiveError::Write)
}

fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    // Owned by whoever saves, as `tar` would do: a rootless reader (skopeo, podman)
    // that extracts the archive can then chown entries to itself.
    header.set_uid(u64::from(nix::unistd::geteuid().as_raw()));
    header.set_gid(u64::from(nix::unistd::getegid().as_raw()));
    header.set_size(size);
    header.set_mtime(0);
    header
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> Result<(), ArchiveError> {
    tar.append_data(&mut header(bytes.len() as u64), name, bytes)
        .map_err(ArchiveError::Write)
}

fn append_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &Store,
    digest: &Digest,
    name: &str,
) -> Result<(), ArchiveError> {
    let size = store.blob_size(digest)?;
    let file = store.open_blob(digest)?;
    tar.append_data(&mut header(size), name, BufReader::new(file))
        .map_err(ArchiveError::Write)
}

/// Appends a layer decompressed (docker-archive layers are plain tars): through a temp
/// file, since a tar header needs the size first.
fn append_uncompressed<W: Write>(
    tar: &mut tar::Builder<W>,
    store: &Store,
    digest: &Digest,
    compression: Compression,
    name: &str,
) -> Result<(), ArchiveError> {
    if compression == Compression::None {
        return append_blob(tar, store, digest, name);
    }
    let file = BufReader::new(store.open_blob(digest)?);
    let mut reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(file)),
        _ => Box::new(zstd::stream::read::Decoder::new(file).map_err(ArchiveError::Read)?),
    };
    let mut temp = store.temp_file()?;
    let size = io::copy(&mut reader, &mut BufWriter::new(temp.as_file_mut()))
        .map_err(ArchiveError::Read)?;
    let file = File::open(temp.path()).map_err(ArchiveError::Read)?;
    tar.append_data(&mut header(size), name, BufReader::new(file))
        .map_err(ArchiveError::Write)
}

/// Makes a one-layer image from a rootfs tarball (plain, gzip or zstd), like
/// `docker import`; `name` tags it.
pub fn import(
    store: &Store,
    tarball: impl Read,
    name: Option<&Reference>,
    unpacker: &dyn LayerUnpacker,
) -> Result<ImageRecord, ArchiveError> {
    import_with_config(store, tarball, name, serde_json::json!({}), unpacker)
}

/// [`import`] with the image config's `config` object (Cmd, Env, …) given, as
/// `docker import --change` sets it.
pub fn import_with_config(
    store: &Store,
    tarball: impl Read,
    name: Option<&Reference>,
    run_config: serde_json::Value,
    unpacker: &dyn LayerUnpacker,
) -> Result<ImageRecord, ArchiveError> {
    let _lock = store.lock_shared()?;
    let staged = store.temp_file()?;
    let mut writer = HashingWriter::new(BufWriter::new(staged.as_file()), Algorithm::Sha256);
    io::copy(&mut BufReader::new(tarball), &mut writer).map_err(ArchiveError::Read)?;
    let (buffer, blob_digest, size) = writer.finish();
    buffer
        .into_inner()
        .map_err(|e| StoreError::io("write", staged.path(), e.into_error()))?;
    let format = sniff(staged.path())?;
    let diff_id = match format.compression {
        Compression::None => blob_digest.clone(),
        other => diff_id_of(staged.path(), other)?,
    };
    let created = rfc3339(now());
    let platform = Platform::host();
    let config = serde_json::to_vec(&serde_json::json!({
        "created": created,
        "architecture": platform.architecture,
        "os": platform.os,
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
        "history": [{"created": created, "created_by": "burrow import", "comment": "Imported from tarball"}],
    }))
    .map_err(|e| ArchiveError::Metadata {
        file: "config".into(),
        message: e.to_string(),
    })?;
    let config_digest = store.put_blob(&config)?;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": format.oci_media_type().to_string(), "digest": blob_digest.to_string(), "size": size}],
    }))
    .map_err(|e| ArchiveError::Metadata {
        file: "manifest".into(),
        message: e.to_string(),
    })?;
    let path = staged.path().to_path_buf();
    let lookup = |digest: &Digest| -> Result<PathBuf, ArchiveError> {
        if *digest == blob_digest {
            Ok(path.clone())
        } else {
            Err(ArchiveError::MissingFile(digest.to_string()))
        }
    };
    let names = name.map(|n| vec![n.to_string()]).unwrap_or_default();
    commit(
        store,
        &manifest,
        media_types::OCI_MANIFEST,
        None,
        names,
        &lookup,
        unpacker,
    )
}

/// `docker commit`: a new image made of `base`'s layers plus the uncompressed layer tar
/// at `layer` on top. The new config is `base`'s with the layer's diff id appended to
/// `rootfs.diff_ids` and `created` set, then handed to `edit` (run config changes, the
/// history entry, author); `edit` gets the creation time as RFC 3339 text. The base's
/// blobs are already in the store; only the new layer and the metadata are written.
pub fn commit_layer(
    store: &Store,
    base: &ImageRecord,
    layer: &Path,
    name: Option<&Reference>,
    edit: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>, &str),
    unpacker: &dyn LayerUnpacker,
) -> Result<ImageRecord, ArchiveError> {
    let _lock = store.lock_shared()?;
    let mut reader = HashingReader::new(
        BufReader::new(File::open(layer).map_err(ArchiveError::Read)?),
        Algorithm::Sha256,
    );
    io::copy(&mut reader, &mut io::sink()).map_err(ArchiveError::Read)?;
    let (diff_id, size) = reader.finish();
    let metadata_error = |file: &str, message: String| ArchiveError::Metadata {
        file: file.into(),
        message,
    };
    let mut config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&store.read_blob(&base.id)?)
            .map_err(|e| metadata_error("config", e.to_string()))?;
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
    rootfs["diff_ids"]
        .as_array_mut()
        .ok_or_else(|| metadata_error("config", "rootfs.diff_ids is not a list".into()))?
        .push(serde_json::json!(diff_id.to_string()));
    let created = rfc3339(now());
    config.insert("created".into(), serde_json::json!(created));
    edit(&mut config, &created);
    let config =
        serde_json::to_vec(&config).map_err(|e| metadata_error("config", e.to_string()))?;
    let config_digest = store.put_blob(&config)?;
    let base_manifest = store.read_blob(&base.manifest)?;
    let parsed = parse_manifest(&base_manifest, Some(&base.manifest_media_type))?;
    let Manifest::Image(image) = parsed.manifest else {
        return Err(ManifestError::UnknownManifestType(parsed.media_type).into());
    };
    let mut layers: Vec<serde_json::Value> = ImageParts::of(&image)?
        .layers
        .iter()
        .map(|(blob, format)| {
            serde_json::json!({
                "mediaType": format.oci_media_type().to_string(),
                "digest": blob.digest.to_string(),
                "size": blob.size,
            })
        })
        .collect();
    layers.push(serde_json::json!({
        "mediaType": media_types::OCI_LAYER,
        "digest": diff_id.to_string(),
        "size": size,
    }));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_MANIFEST,
        "config": {"mediaType": media_types::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": layers,
    }))
    .map_err(|e| metadata_error("manifest", e.to_string()))?;
    let lookup = |digest: &Digest| -> Result<PathBuf, ArchiveError> {
        if *digest == diff_id {
            Ok(layer.to_path_buf())
        } else {
            Err(ArchiveError::MissingFile(digest.to_string()))
        }
    };
    let names = name.map(|n| vec![n.to_string()]).unwrap_or_default();
    commit(
        store,
        &manifest,
        media_types::OCI_MANIFEST,
        None,
        names,
        &lookup,
        unpacker,
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (Howard Hinnant's civil date).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{LayerBuilder, TarUnpacker};

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn save_and_load_round_trip_in_both_formats() {
        let dir = tempfile::tempdir().unwrap();
        let source = Store::open(dir.path().join("a")).unwrap();
        let tar = LayerBuilder::new().file("hello", b"hi", 0o644).finish();
        let name = Reference::parse("example.com/x:1").unwrap();
        let imported = import(
            &source,
            &crate::testing::compress(&tar, Compression::Gzip)[..],
            Some(&name),
            &TarUnpacker,
        )
        .unwrap();
        assert_eq!(imported.names, vec![name.to_string()]);
        let config = ConfigSummary::parse(&source.read_blob(&imported.id).unwrap()).unwrap();
        assert_eq!(config.diff_ids, vec![Digest::sha256_of(&tar)]);
        for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
            let mut archive = Vec::new();
            save(&source, &["example.com/x:1"], format, &mut archive).unwrap();
            let target = Store::open(dir.path().join(format!("{format:?}"))).unwrap();
            let loaded = load(&target, &archive[..], &Platform::host(), &TarUnpacker).unwrap();
            assert_eq!(loaded.len(), 1);
            assert_eq!(loaded[0].id, imported.id, "{format:?}");
            assert_eq!(loaded[0].names, vec![name.to_string()], "{format:?}");
            let layer = target.layer_path(&loaded[0].layers[0]);
            assert_eq!(std::fs::read(layer.join("hello")).unwrap(), b"hi");
            assert!(target.temp_entries().unwrap().is_empty());
        }
    }

    #[test]
    fn broken_archives_leave_the_store_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut fake = tar::Builder::new(Vec::new());
        let manifest = br#"[{"Config":"c.json","RepoTags":["a:b"],"Layers":["l.tar"]}]"#;
        fake.append_data(
            &mut header(manifest.len() as u64),
            "manifest.json",
            &manifest[..],
        )
        .unwrap();
        let config = format!(
            r#"{{"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            Digest::sha256_of(b"other")
        );
        fake.append_data(
            &mut header(config.len() as u64),
            "c.json",
            config.as_bytes(),
        )
        .unwrap();
        fake.append_data(&mut header(3), "l.tar", &b"abc"[..])
            .unwrap();
        let bytes = fake.into_inner().unwrap();
        let error = load(&store, &bytes[..], &Platform::host(), &TarUnpacker).unwrap_err();
        assert!(
            matches!(error, ArchiveError::DiffIdMismatch { .. }),
            "{error}"
        );
        let error = load(
            &store,
            &bytes[..bytes.len() / 3],
            &Platform::host(),
            &TarUnpacker,
        )
        .unwrap_err();
        assert!(error.to_string().contains("archive"), "{error}");
        assert!(store.blobs().unwrap().is_empty());
        assert!(store.images().unwrap().is_empty());
        assert!(store.temp_entries().unwrap().is_empty());
    }
}
