//! Pull: reference → manifest (through an index if needed) → config → layers.
//!
//! Order of events, and why:
//! 1. The manifest is fetched and its digest checked against the reference's digest
//!    (or the registry's `Docker-Content-Digest`) before anything is trusted; an index
//!    is resolved to the requested platform's manifest, checked the same way.
//! 2. Media types are checked before any blob is downloaded: an unknown layer type fails
//!    the pull up front.
//! 3. The config is fetched (it lists the diff ids, from which chain ids follow).
//! 4. Layers go through a small worker pool: each worker downloads a missing blob
//!    (retrying network failures with backoff) and unpacks it right away, so downloads
//!    of upper layers overlap with unpacking of lower ones. Blobs and layers already in
//!    the store are skipped; per-object locks make concurrent pulls share the work.
//! 5. Only when every layer is in place are the manifest (and index) stored and the image
//!    record written — the one step that makes the image visible.
//!
//! A failed pull leaves no image record and no unverified content. Blobs and layers that
//! were complete and verified are kept, so the next pull resumes from them; `prune`
//! removes them if no image ends up using them.

use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Access, Body, Client, RegistryError, Scope};
use crate::digest::Digest;
use crate::manifest::{
    chain_ids, media_types, parse_manifest, select_platform, BlobRef, ConfigSummary, ImageParts,
    Manifest, ManifestError, MAX_MANIFEST_SIZE,
};
use crate::platform::Platform;
use crate::progress::{Progress, ProgressEvent};
use crate::reference::Reference;
use crate::store::{ImageRecord, LayerRecord, Store, StoreError};
use crate::unpack::LayerUnpacker;

/// A manifest as fetched: bytes, media type, verified digest.
struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

/// Pulls `reference` for `platform` into `store`, unpacking layers with `unpacker`.
pub fn pull(
    client: &Client,
    store: &Store,
    reference: &Reference,
    platform: &Platform,
    unpacker: &dyn LayerUnpacker,
    progress: &dyn Progress,
) -> Result<ImageRecord, RegistryError> {
    let host = reference.registry_host();
    pull_from(client, store, reference, host, platform, unpacker, progress)
}

/// [`pull`], fetching from `host` (a mirror of the reference's registry, serving the
/// same repository path); the image is recorded under `reference` all the same.
pub fn pull_from(
    client: &Client,
    store: &Store,
    reference: &Reference,
    host: &str,
    platform: &Platform,
    unpacker: &dyn LayerUnpacker,
    progress: &dyn Progress,
) -> Result<ImageRecord, RegistryError> {
    let _lock = store.lock_shared()?;
    let repository = reference.path();
    let top = fetch_manifest(
        client,
        reference,
        host,
        &reference.manifest_reference(),
        reference.digest(),
    )?;
    let parsed = parse_manifest(&top.bytes, Some(&top.media_type))?;
    let (manifest, fetched, index) = match parsed.manifest {
        Manifest::Image(manifest) => (manifest, top, None),
        Manifest::Index(index) => {
            let entry = select_platform(&index, platform)?;
            let digest = Digest::from_oci(entry.digest()).map_err(ManifestError::from)?;
            let fetched =
                fetch_manifest(client, reference, host, &digest.to_string(), Some(&digest))?;
            let parsed = parse_manifest(&fetched.bytes, Some(&fetched.media_type))?;
            let Manifest::Image(manifest) = parsed.manifest else {
                return Err(ManifestError::UnknownManifestType(format!(
                    "{} (an index inside an index)",
                    parsed.media_type
                ))
                .into());
            };
            (manifest, fetched, Some(top))
        }
    };
    progress.event(ProgressEvent::Resolved {
        manifest: fetched.digest.clone(),
    });
    let parts = ImageParts::of(&manifest)?;
    ensure_blob(client, store, host, repository, &parts.config, progress)?;
    let config = store.read_blob(&parts.config.digest)?;
    let summary = ConfigSummary::parse(&config)?;
    summary.check_layers(&parts)?;
    let chain = chain_ids(&summary.diff_ids);
    run_parallel(
        client.options().max_concurrent_transfers,
        parts.layers.len(),
        |i| {
            let (blob, format) = &parts.layers[i];
            ensure_blob(client, store, host, repository, blob, progress)?;
            if store.has_layer(&chain[i]) {
                return Ok(());
            }
            let record = LayerRecord {
                chain_id: chain[i].clone(),
                diff_id: summary.diff_ids[i].clone(),
                parent: i.checked_sub(1).map(|p| chain[p].clone()),
                blob: blob.digest.clone(),
            };
            progress.event(ProgressEvent::Unpacking {
                digest: blob.digest.clone(),
            });
            // False when a concurrent pull unpacked it while this one waited.
            if store.unpack_layer(&record, *format, unpacker)? {
                progress.event(ProgressEvent::Unpacked {
                    digest: blob.digest.clone(),
                });
            }
            Ok(())
        },
    )?;
    let mut blobs = Vec::new();
    for manifest in std::iter::once(&fetched).chain(index.as_ref()) {
        store.write_blob(
            &manifest.digest,
            Some(manifest.bytes.len() as u64),
            &manifest.bytes[..],
            "manifest",
        )?;
        blobs.push(manifest.digest.clone());
    }
    blobs.extend(parts.blobs().map(|b| b.digest.clone()));
    let repo_digest = index.as_ref().map_or(&fetched.digest, |i| &i.digest);
    let names = match (reference.tag(), reference.digest()) {
        (Some(_), None) => vec![reference.to_string()],
        _ => Vec::new(),
    };
    let record = ImageRecord {
        id: parts.config.digest.clone(),
        manifest: fetched.digest.clone(),
        manifest_media_type: fetched.media_type.clone(),
        index: index.as_ref().map(|i| i.digest.clone()),
        names,
        repo_digests: vec![format!("{}@{repo_digest}", reference.repository())],
        blobs,
        layers: chain,
        size: parts.blobs().map(|b| b.size).sum(),
        added: now(),
    };
    Ok(store.commit_image(record)?)
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn fetch_manifest(
    client: &Client,
    reference: &Reference,
    host: &str,
    target: &str,
    expected: Option<&Digest>,
) -> Result<Fetched, RegistryError> {
    let path = format!("/v2/{}/manifests/{target}", reference.path());
    let response = client.send(
        &Scope {
            host,
            repository: reference.path(),
            access: Access::Pull,
        },
        "GET",
        &path,
        &[("Accept", media_types::MANIFEST_ACCEPT)],
        &Body::Empty,
    )?;
    let what = format!("manifest {}:{target}", reference.repository());
    match response.status {
        200 => {}
        404 => {
            return Err(RegistryError::NotFound {
                what,
                host: host.to_string(),
                detail: response.detail(),
            })
        }
        status => {
            return Err(RegistryError::Status {
                action: "fetch manifest".to_string(),
                url: response.url.clone(),
                status,
                detail: response.detail(),
            })
        }
    }
    let media_type = response.header("content-type").unwrap_or("").to_string();
    let header_digest = response
        .header("docker-content-digest")
        .and_then(|d| Digest::parse(d).ok());
    let bytes = response.read_limited(MAX_MANIFEST_SIZE, &what, host)?;
    let wanted = expected.or(header_digest.as_ref());
    let digest = match wanted {
        Some(wanted) => {
            let actual = Digest::of(wanted.algorithm(), &bytes);
            if actual != *wanted {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: wanted.clone(),
                    actual,
                });
            }
            actual
        }
        None => Digest::sha256_of(&bytes),
    };
    Ok(Fetched {
        bytes,
        media_type,
        digest,
    })
}

/// Makes sure blob `blob` is in the store, downloading it if needed.
fn ensure_blob(
    client: &Client,
    store: &Store,
    host: &str,
    repository: &str,
    blob: &BlobRef,
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let exists = || {
        progress.event(ProgressEvent::Exists {
            digest: blob.digest.clone(),
        })
    };
    if store.has_blob(&blob.digest) {
        exists();
        return Ok(());
    }
    let _lock = store.lock_object("blob", &blob.digest)?;
    if store.has_blob(&blob.digest) {
        exists();
        return Ok(());
    }
    progress.event(ProgressEvent::Started {
        digest: blob.digest.clone(),
        size: blob.size,
    });
    let attempts = client.options().attempts.max(1);
    let mut attempt = 1;
    loop {
        match download(client, store, host, repository, blob, progress) {
            Ok(()) => {
                super::sources::remember(store, &blob.digest, host, repository);
                progress.event(ProgressEvent::Finished {
                    digest: blob.digest.clone(),
                });
                return Ok(());
            }
            Err(error) if attempt < attempts && is_transient(&error) => {
                progress.event(ProgressEvent::Retrying {
                    digest: blob.digest.clone(),
                    attempt,
                    error: error.to_string(),
                });
                std::thread::sleep(Duration::from_millis(200 << (attempt - 1)));
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn download(
    client: &Client,
    store: &Store,
    host: &str,
    repository: &str,
    blob: &BlobRef,
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let path = format!("/v2/{repository}/blobs/{}", blob.digest);
    let response = client.send(
        &Scope {
            host,
            repository,
            access: Access::Pull,
        },
        "GET",
        &path,
        &[],
        &Body::Empty,
    )?;
    match response.status {
        200 => {}
        404 => {
            return Err(RegistryError::NotFound {
                what: format!("blob {} of {repository}", blob.digest),
                host: host.to_string(),
                detail: response.detail(),
            })
        }
        status => {
            return Err(RegistryError::Status {
                action: "download blob".to_string(),
                url: response.url.clone(),
                status,
                detail: response.detail(),
            })
        }
    }
    let url = response.url.clone();
    let reader = ProgressReader {
        inner: response.into_reader(),
        digest: &blob.digest,
        size: blob.size,
        done: 0,
        reported: 0,
        progress,
    };
    store.write_blob(&blob.digest, Some(blob.size), reader, &url)?;
    Ok(())
}

/// Network failures, truncated bodies and server errors are worth another try; a
/// digest mismatch, a 404 or an auth failure is not.
pub(crate) fn is_transient(error: &RegistryError) -> bool {
    match error {
        RegistryError::Transport { .. } | RegistryError::Unreachable { .. } => true,
        RegistryError::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
        RegistryError::Store(StoreError::Read { .. }) => true,
        RegistryError::Store(StoreError::SizeMismatch {
            expected, actual, ..
        }) => actual < expected,
        _ => false,
    }
}

struct ProgressReader<'a, R> {
    inner: R,
    digest: &'a Digest,
    size: u64,
    done: u64,
    reported: u64,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.reported >= 256 << 10 || (n == 0 && self.done != self.reported) {
            self.reported = self.done;
            self.progress.event(ProgressEvent::Advanced {
                digest: self.digest.clone(),
                done: self.done,
                size: self.size,
            });
        }
        Ok(n)
    }
}

/// Runs `task(0..count)` on up to `workers` threads; stops handing out work after the
/// first failure and returns the failure of the lowest index.
pub(crate) fn run_parallel<F>(workers: usize, count: usize, task: F) -> Result<(), RegistryError>
where
    F: Fn(usize) -> Result<(), RegistryError> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                if let Err(error) = task(i) {
                    failed.store(true, Ordering::Relaxed);
                    errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, error));
                }
            });
        }
    });
    let mut errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    errors.sort_by_key(|(i, _)| *i);
    match errors.into_iter().next() {
        Some((_, error)) => Err(error),
        None => Ok(()),
    }
}
