//! Push: blobs first (skipping those the registry has), then the manifest.
//!
//! For each blob of the image (config and layers, in parallel): `HEAD` the blob; if it
//! is missing, an upload session sends it ([`super::upload`]: a cross-repository mount
//! when the blob is known to be in another repository of the registry, else a
//! monolithic `PUT` for small blobs and `PATCH` chunks for large ones). Where each
//! blob was found or sent is remembered ([`super::sources`]). When every
//! blob is there, the manifest is `PUT` under the tag (or digest) with its own media
//! type, byte for byte as stored, so its digest is unchanged. The registry's
//! `Docker-Content-Digest` answer is checked against it.

use super::pull::{is_transient, run_parallel};
use super::upload::{self, Opened};
use super::{sources, Access, Body, Client, RegistryError, Scope};
use crate::digest::Digest;
use crate::manifest::{parse_manifest, BlobRef, ImageParts, Manifest, ManifestError};
use crate::progress::{Progress, ProgressEvent};
use crate::reference::Reference;
use crate::store::Store;

/// Pushes the stored image `source` (a name or id) as `destination`; returns the
/// manifest digest.
pub fn push(
    client: &Client,
    store: &Store,
    source: &str,
    destination: &Reference,
    progress: &dyn Progress,
) -> Result<Digest, RegistryError> {
    // Shared: prune cannot remove the blobs while they are being sent.
    let _lock = store.lock_shared()?;
    let image = store.find_image(source)?;
    let manifest_bytes = store.read_blob(&image.manifest)?;
    let parsed = parse_manifest(&manifest_bytes, Some(&image.manifest_media_type))?;
    let Manifest::Image(manifest) = parsed.manifest else {
        return Err(ManifestError::UnknownManifestType(parsed.media_type).into());
    };
    let parts = ImageParts::of(&manifest)?;
    let blobs: Vec<&BlobRef> = parts.blobs().collect();
    run_parallel(
        client.options().max_concurrent_transfers,
        blobs.len(),
        |i| upload_blob_with_retry(client, store, destination, blobs[i], progress),
    )?;
    let host = destination.registry_host();
    let repository = destination.path();
    let path = format!(
        "/v2/{repository}/manifests/{}",
        destination.manifest_reference()
    );
    let response = client.send(
        &Scope {
            host,
            repository,
            access: Access::Push,
        },
        "PUT",
        &path,
        &[("Content-Type", &image.manifest_media_type)],
        &Body::Bytes(&manifest_bytes),
    )?;
    if !matches!(response.status, 200 | 201) {
        return Err(RegistryError::Status {
            action: "upload manifest".to_string(),
            url: response.url.clone(),
            status: response.status,
            detail: response.detail(),
        });
    }
    if let Some(answer) = response
        .header("docker-content-digest")
        .and_then(|d| Digest::parse(d).ok())
    {
        if answer != image.manifest {
            return Err(RegistryError::DigestMismatch {
                what: format!("pushed manifest {destination}"),
                expected: image.manifest.clone(),
                actual: answer,
            });
        }
    }
    Ok(image.manifest)
}

fn upload_blob_with_retry(
    client: &Client,
    store: &Store,
    destination: &Reference,
    blob: &BlobRef,
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let attempts = client.options().attempts.max(1);
    let mut attempt = 1;
    loop {
        match upload_blob(client, store, destination, blob, progress) {
            Ok(()) => return Ok(()),
            Err(error) if attempt < attempts && is_transient(&error) => {
                progress.event(ProgressEvent::Retrying {
                    digest: blob.digest.clone(),
                    attempt,
                    error: error.to_string(),
                });
                std::thread::sleep(std::time::Duration::from_millis(200 << (attempt - 1)));
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn upload_blob(
    client: &Client,
    store: &Store,
    destination: &Reference,
    blob: &BlobRef,
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let host = destination.registry_host();
    let repository = destination.path();
    let head = client.send(
        &Scope {
            host,
            repository,
            access: Access::Push,
        },
        "HEAD",
        &format!("/v2/{repository}/blobs/{}", blob.digest),
        &[],
        &Body::Empty,
    )?;
    if head.status == 200 {
        sources::remember(store, &blob.digest, host, repository);
        progress.event(ProgressEvent::Exists {
            digest: blob.digest.clone(),
        });
        return Ok(());
    }
    let size = store.blob_size(&blob.digest)?;
    progress.event(ProgressEvent::Started {
        digest: blob.digest.clone(),
        size,
    });
    let known = sources::sources(store, &blob.digest, host);
    match upload::open(client, host, repository, &blob.digest, &known)? {
        Opened::Mounted(from) => {
            sources::remember(store, &blob.digest, host, repository);
            progress.event(ProgressEvent::Mounted {
                digest: blob.digest.clone(),
                from,
            });
            return Ok(());
        }
        Opened::Session(location) => {
            upload::send(
                client,
                store,
                host,
                repository,
                &blob.digest,
                location,
                progress,
            )?;
        }
    }
    sources::remember(store, &blob.digest, host, repository);
    progress.event(ProgressEvent::Finished {
        digest: blob.digest.clone(),
    });
    Ok(())
}
