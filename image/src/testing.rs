//! TEST STAND-IN ONLY — not the engine's unpacker.
//!
//! The engine unpacks layers with `burrow_fs::unpack` (safe against escaping tars,
//! rootless ownership, its own whiteout form). `image/` may not depend on `fs/`, so its
//! tests, the end-to-end image tests and the pull example use this small `tar`-based
//! [`TarUnpacker`] instead: it extracts entries with the `tar` crate's path checks,
//! keeps ownership only when running as root, and keeps whiteouts as the `.wh.` files
//! they are in the tar; [`flatten`] then applies whiteouts and opaque markers across a
//! stack of such layers, so tests can check the final view of an image.
//!
//! [`LayerBuilder`] and [`TestImage`] build layer tars and whole images (manifest,
//! config, blobs, an OCI layout for skopeo) for the tests.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::manifest::{media_types, Compression};
use crate::unpack::{LayerStream, LayerUnpacker, MediaType, UnpackError};

/// The test stand-in unpacker (see the module docs).
pub struct TarUnpacker;

impl LayerUnpacker for TarUnpacker {
    fn unpack(
        &self,
        blob: &Path,
        media_type: &MediaType,
        dest: &Path,
    ) -> Result<Digest, UnpackError> {
        let mut stream = LayerStream::open(blob, media_type)?;
        std::fs::create_dir(dest)?;
        let mut archive = tar::Archive::new(&mut stream);
        let root = nix::unistd::geteuid().is_root();
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(root);
        archive.set_overwrite(true);
        let mut directories = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry.path()?.into_owned();
            if entry.header().entry_type().is_dir() {
                // Directory modes are set at the end, so a 0555 dir can still be filled.
                let mode = entry.header().mode()?;
                directories.push((dest.join(&path), mode));
            }
            if !entry.unpack_in(dest)? {
                return Err(format!("layer entry {} escapes the layer", path.display()).into());
            }
            if entry.header().entry_type().is_dir() {
                set_mode(&dest.join(&path), 0o755)?;
            }
        }
        for (dir, mode) in directories.into_iter().rev() {
            set_mode(&dir, mode & 0o7777)?;
        }
        Ok(stream.finish()?)
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Applies a stack of unpacked layers (bottom first) to `dest`: opaque markers clear a
/// directory, `.wh.NAME` removes NAME, everything else is copied over (test helper).
pub fn flatten(layers: &[PathBuf], dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for layer in layers {
        apply_dir(layer, dest)?;
    }
    Ok(())
}

fn apply_dir(layer_dir: &Path, dest_dir: &Path) -> io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(layer_dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    if names.iter().any(|n| n == ".wh..wh..opq") {
        for child in std::fs::read_dir(dest_dir)? {
            remove_any(&child?.path())?;
        }
    }
    for name in names {
        let text = name.to_string_lossy();
        if text == ".wh..wh..opq" {
            continue;
        }
        if let Some(hidden) = text.strip_prefix(".wh.") {
            remove_any(&dest_dir.join(hidden))?;
            continue;
        }
        let source = layer_dir.join(&name);
        let target = dest_dir.join(&name);
        let meta = std::fs::symlink_metadata(&source)?;
        let existing = std::fs::symlink_metadata(&target).ok();
        if meta.is_dir() {
            if !existing.as_ref().is_some_and(|m| m.is_dir()) {
                remove_any(&target)?;
                std::fs::create_dir(&target)?;
            }
            apply_dir(&source, &target)?;
            std::fs::set_permissions(&target, meta.permissions())?;
        } else {
            remove_any(&target)?;
            if meta.file_type().is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
            } else {
                std::fs::copy(&source, &target)?;
            }
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    }
}

/// Builds one layer tar in memory.
pub struct LayerBuilder {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for LayerBuilder {
    fn default() -> LayerBuilder {
        LayerBuilder::new()
    }
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_size(size);
        header.set_mtime(1_700_000_000);
        header
    }

    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut header = Self::header(tar::EntryType::Directory, mode, 0, 0, 0);
        self.append(&mut header, path, &[][..]);
        self
    }

    pub fn file(self, path: &str, contents: &[u8], mode: u32) -> Self {
        self.file_owned(path, contents, mode, 0, 0)
    }

    pub fn file_owned(
        mut self,
        path: &str,
        contents: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Self {
        let mut header = Self::header(
            tar::EntryType::Regular,
            mode,
            uid,
            gid,
            contents.len() as u64,
        );
        self.append(&mut header, path, contents);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        self.builder
            .append_link(&mut header, path, target)
            .unwrap_or_else(|e| panic!("test layer symlink {path}: {e}"));
        self
    }

    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut header = Self::header(tar::EntryType::Link, 0o644, 0, 0, 0);
        self.builder
            .append_link(&mut header, path, target)
            .unwrap_or_else(|e| panic!("test layer hard link {path}: {e}"));
        self
    }

    /// Deletes `path` of a lower layer (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> Self {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let marker = if dir.is_empty() {
            format!(".wh.{name}")
        } else {
            format!("{dir}/.wh.{name}")
        };
        self.file(&marker, b"", 0o644)
    }

    /// Hides everything lower layers have in `dir`.
    pub fn opaque(self, dir: &str) -> Self {
        self.file(&format!("{dir}/.wh..wh..opq"), b"", 0o644)
    }

    /// An entry with a raw name, even one that escapes (for bad-input tests).
    pub fn raw_file(mut self, name: &[u8], contents: &[u8]) -> Self {
        let mut header = Self::header(tar::EntryType::Regular, 0o644, 0, 0, contents.len() as u64);
        let gnu = header
            .as_gnu_mut()
            .unwrap_or_else(|| unreachable!("gnu header"));
        gnu.name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        self.builder
            .append(&header, contents)
            .unwrap_or_else(|e| panic!("test layer raw entry: {e}"));
        self
    }

    fn append(&mut self, header: &mut tar::Header, path: &str, contents: &[u8]) {
        self.builder
            .append_data(header, path, contents)
            .unwrap_or_else(|e| panic!("test layer entry {path}: {e}"));
    }

    /// The uncompressed tar.
    pub fn finish(self) -> Vec<u8> {
        self.builder
            .into_inner()
            .unwrap_or_else(|e| panic!("test layer tar: {e}"))
    }
}

/// Compresses a tar.
pub fn compress(tar: &[u8], compression: Compression) -> Vec<u8> {
    match compression {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder
                .write_all(tar)
                .and_then(|()| encoder.finish())
                .unwrap_or_else(|e| panic!("gzip: {e}"))
        }
        Compression::Zstd => {
            zstd::stream::encode_all(tar, 3).unwrap_or_else(|e| panic!("zstd: {e}"))
        }
    }
}

/// A complete image in memory: layers, config and manifest with their digests.
#[derive(Clone, Debug)]
pub struct TestImage {
    /// (blob, media type, diff id)
    pub layers: Vec<(Vec<u8>, String, Digest)>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
}

impl TestImage {
    /// An image of `layers` (uncompressed tars and how to compress each), with OCI media
    /// types or, when `docker` is set, Docker schema 2 ones.
    pub fn new(layers: Vec<(Vec<u8>, Compression)>, docker: bool) -> TestImage {
        let mut blobs = Vec::new();
        for (tar, compression) in layers {
            let diff_id = Digest::sha256_of(&tar);
            let media_type = match (docker, compression) {
                (false, Compression::None) => media_types::OCI_LAYER,
                (false, Compression::Gzip) => media_types::OCI_LAYER_GZIP,
                (false, Compression::Zstd) => media_types::OCI_LAYER_ZSTD,
                (true, Compression::None) => media_types::DOCKER_LAYER,
                (true, Compression::Gzip) => media_types::DOCKER_LAYER_GZIP,
                (true, Compression::Zstd) => media_types::DOCKER_LAYER_ZSTD,
            };
            blobs.push((compress(&tar, compression), media_type.to_string(), diff_id));
        }
        let diff_ids: Vec<String> = blobs.iter().map(|(_, _, d)| d.to_string()).collect();
        let history: Vec<serde_json::Value> = blobs
            .iter()
            .enumerate()
            .map(|(i, _)| serde_json::json!({"created_by": format!("test layer {i}")}))
            .collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }))
        .unwrap_or_default();
        let (manifest_type, config_type) = if docker {
            (media_types::DOCKER_MANIFEST, media_types::DOCKER_CONFIG)
        } else {
            (media_types::OCI_MANIFEST, media_types::OCI_CONFIG)
        };
        let layer_descriptors: Vec<serde_json::Value> = blobs
            .iter()
            .map(|(blob, media_type, _)| {
                serde_json::json!({
                    "mediaType": media_type,
                    "digest": Digest::sha256_of(blob).to_string(),
                    "size": blob.len(),
                })
            })
            .collect();
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": config_type,
                "digest": Digest::sha256_of(&config).to_string(),
                "size": config.len(),
            },
            "layers": layer_descriptors,
        }))
        .unwrap_or_default();
        TestImage {
            layers: blobs,
            config,
            manifest,
            manifest_media_type: manifest_type.to_string(),
        }
    }

    /// The same image with `architecture` in its config (and the manifest pointing at
    /// that config): a fake image of another platform, for tests that never run it.
    pub fn with_architecture(mut self, architecture: &str) -> TestImage {
        let mut config: serde_json::Value =
            serde_json::from_slice(&self.config).unwrap_or_else(|e| panic!("config: {e}"));
        config["architecture"] = architecture.into();
        self.config = serde_json::to_vec(&config).unwrap_or_default();
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&self.manifest).unwrap_or_else(|e| panic!("manifest: {e}"));
        manifest["config"]["digest"] = self.config_digest().to_string().into();
        manifest["config"]["size"] = self.config.len().into();
        self.manifest = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        self
    }

    pub fn manifest_digest(&self) -> Digest {
        Digest::sha256_of(&self.manifest)
    }

    pub fn config_digest(&self) -> Digest {
        Digest::sha256_of(&self.config)
    }

    /// Every blob with its digest: manifest, config, layers.
    pub fn blobs(&self) -> Vec<(Digest, &[u8])> {
        let mut out = vec![
            (self.manifest_digest(), &self.manifest[..]),
            (self.config_digest(), &self.config[..]),
        ];
        for (blob, _, _) in &self.layers {
            out.push((Digest::sha256_of(blob), &blob[..]));
        }
        out
    }

    /// Writes skopeo's `dir:` layout (any manifest type, blobs copied as they are).
    pub fn write_dir_layout(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        for (digest, bytes) in self.blobs().into_iter().skip(1) {
            std::fs::write(dir.join(digest.hex()), bytes)?;
        }
        std::fs::write(dir.join("manifest.json"), &self.manifest)?;
        std::fs::write(dir.join("version"), "Directory Transport Version: 1.1\n")
    }

    /// Writes an OCI image layout (what `skopeo copy oci:DIR:TAG` reads).
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) -> io::Result<()> {
        let blob_dir = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blob_dir)?;
        for (digest, bytes) in self.blobs() {
            std::fs::write(blob_dir.join(digest.hex()), bytes)?;
        }
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": self.manifest_media_type,
                "digest": self.manifest_digest().to_string(),
                "size": self.manifest.len(),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        });
        std::fs::write(dir.join("index.json"), index.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_and_flattens_with_whiteouts() {
        let dir = tempfile::tempdir().unwrap();
        let base = LayerBuilder::new()
            .dir("etc", 0o755)
            .file("etc/a", b"a", 0o644)
            .file("etc/b", b"b", 0o600)
            .dir("opt", 0o755)
            .file("opt/old", b"old", 0o644)
            .symlink("link", "etc/a")
            .hardlink("etc/a2", "etc/a")
            .finish();
        let top = LayerBuilder::new()
            .whiteout("etc/b")
            .opaque("opt")
            .file("opt/new", b"new", 0o644)
            .finish();
        let mut layers = Vec::new();
        for (i, (tar, compression)) in [(base, Compression::Gzip), (top, Compression::Zstd)]
            .into_iter()
            .enumerate()
        {
            let blob = dir.path().join(format!("blob{i}"));
            std::fs::write(&blob, compress(&tar, compression)).unwrap();
            let dest = dir.path().join(format!("layer{i}"));
            let media = match compression {
                Compression::Gzip => MediaType::ImageLayerGzip,
                _ => MediaType::ImageLayerZstd,
            };
            let diff_id = TarUnpacker.unpack(&blob, &media, &dest).unwrap();
            assert_eq!(diff_id, Digest::sha256_of(&tar));
            layers.push(dest);
        }
        assert!(layers[1].join("etc/.wh.b").exists());
        let view = dir.path().join("view");
        flatten(&layers, &view).unwrap();
        assert_eq!(std::fs::read(view.join("etc/a")).unwrap(), b"a");
        assert!(!view.join("etc/b").exists());
        assert!(!view.join("opt/old").exists());
        assert_eq!(std::fs::read(view.join("opt/new")).unwrap(), b"new");
        assert_eq!(
            std::fs::read_link(view.join("link")).unwrap(),
            Path::new("etc/a")
        );
    }

    #[test]
    fn refuses_escapes_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("dest");
        let evil = LayerBuilder::new().raw_file(b"../escaped", b"x").finish();
        let blob = dir.path().join("evil");
        std::fs::write(&blob, &evil).unwrap();
        let error = TarUnpacker
            .unpack(&blob, &MediaType::ImageLayer, &dest)
            .unwrap_err();
        assert!(error.to_string().contains("escapes"), "{error}");
        assert!(!dir.path().join("escaped").exists());
        let gz = compress(
            &LayerBuilder::new().file("f", &[1; 5000], 0o644).finish(),
            Compression::Gzip,
        );
        std::fs::write(&blob, &gz[..gz.len() / 2]).unwrap();
        let dest = dir.path().join("dest2");
        assert!(TarUnpacker
            .unpack(&blob, &MediaType::ImageLayerGzip, &dest)
            .is_err());
    }
}
