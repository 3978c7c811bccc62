//! One blob upload session of a push: open it (trying a cross-repository mount
//! first), then send the blob whole or in chunks, then close it with its digest.
//!
//! Opening: when the blob is known to be in another repository of the same registry
//! (see [`super::sources`]), `POST /v2/NAME/blobs/uploads/?mount=DIGEST&from=REPO`
//! asks the registry to link it without a transfer: `201 Created` means done; `202
//! Accepted` means the registry would not mount (the source lost it, or the token
//! does not cover it) and opened an ordinary upload session instead, which is used as
//! is. Without a known source, or when the mount is refused outright, a plain `POST`
//! opens the session.
//!
//! Sending: a blob of at most [`CHUNK_THRESHOLD`] bytes goes in one `PUT
//! LOCATION?digest=` (monolithic). A larger one goes as `PATCH` requests of
//! [`CHUNK_SIZE`] bytes, each with `Content-Range: START-END` (inclusive), each to the
//! `Location` the previous answer gave, then an empty `PUT LOCATION?digest=` closes
//! it. Chunks keep each request short, within the body limits of proxies in front of
//! registries. Progress reports the bytes sent as they go out (every 256 KiB).

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Access, Body, Client, RegistryError, Response, Scope};
use crate::digest::Digest;
use crate::progress::{Progress, ProgressEvent};
use crate::store::Store;

/// Blobs larger than this (16 MiB) are sent in chunks; smaller ones in one request.
pub const CHUNK_THRESHOLD: u64 = 16 << 20;
/// The size of each chunk of a chunked upload (8 MiB).
pub const CHUNK_SIZE: u64 = 8 << 20;

/// How an upload session ended up being opened.
pub(crate) enum Opened {
    /// The registry mounted the blob from this repository: nothing to send.
    Mounted(String),
    /// An upload session at this absolute location.
    Session(String),
}

/// Opens an upload session for `digest` in `repository`, mounting from one of
/// `sources` (other repositories of the same registry) when the registry agrees.
pub(crate) fn open(
    client: &Client,
    host: &str,
    repository: &str,
    digest: &Digest,
    sources: &[String],
) -> Result<Opened, RegistryError> {
    let scope = Scope {
        host,
        repository,
        access: Access::Push,
    };
    for from in sources.iter().filter(|r| r.as_str() != repository).take(2) {
        let target = format!("/v2/{repository}/blobs/uploads/?mount={digest}&from={from}");
        let answer = match client.send(
            &scope,
            "POST",
            &target,
            &[("Content-Length", "0")],
            &Body::Empty,
        ) {
            Ok(answer) => answer,
            // A token that does not cover the source: upload the usual way.
            Err(RegistryError::Unauthorized { .. }) => continue,
            Err(error) => return Err(error),
        };
        match answer.status {
            201 => return Ok(Opened::Mounted(from.clone())),
            202 => return Ok(Opened::Session(location(&answer, "start blob upload")?)),
            _ => continue,
        }
    }
    let target = format!("/v2/{repository}/blobs/uploads/");
    let start = client.send(
        &scope,
        "POST",
        &target,
        &[("Content-Length", "0")],
        &Body::Empty,
    )?;
    if start.status != 202 {
        return Err(status_error("start blob upload at", start));
    }
    Ok(Opened::Session(location(&start, "start blob upload")?))
}

/// Sends the blob to the session at `location` and closes it with the digest.
pub(crate) fn send(
    client: &Client,
    store: &Store,
    host: &str,
    repository: &str,
    digest: &Digest,
    location: String,
    progress: &dyn Progress,
) -> Result<(), RegistryError> {
    let scope = Scope {
        host,
        repository,
        access: Access::Push,
    };
    let size = store.blob_size(digest)?;
    let path = store.blob_path(digest);
    let mut location = location;
    // Byte counts as they go out, at most one event per 256 KiB, and the end.
    let last = AtomicU64::new(0);
    let report = |done: u64| {
        if done == size || done >= last.load(Ordering::Relaxed) + (256 << 10) {
            last.store(done, Ordering::Relaxed);
            progress.event(ProgressEvent::Advanced {
                digest: digest.clone(),
                done,
                size,
            });
        }
    };
    let whole = |sent: u64| report(sent);
    let body = if size <= CHUNK_THRESHOLD {
        Body::FileRange(path, 0, size, Some(&whole))
    } else {
        for (offset, len) in chunks(size) {
            let range = format!("{offset}-{}", offset + len - 1);
            let chunk = |sent: u64| report(offset + sent);
            let answer = client.send(
                &scope,
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                &Body::FileRange(path.clone(), offset, len, Some(&chunk)),
            )?;
            if answer.status != 202 {
                return Err(status_error(
                    &format!("upload bytes {range} of blob {digest} to"),
                    answer,
                ));
            }
            location = self::location(&answer, "upload a chunk")?;
        }
        Body::Empty
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let target = format!("{location}{separator}digest={digest}");
    let headers: &[(&str, &str)] = match body {
        Body::Empty => &[("Content-Length", "0")],
        _ => &[("Content-Type", "application/octet-stream")],
    };
    let put = client.send(&scope, "PUT", &target, headers, &body)?;
    if put.status != 201 {
        return Err(status_error(&format!("upload blob {digest} to"), put));
    }
    Ok(())
}

/// The (offset, length) of each chunk of a chunked upload of `size` bytes.
fn chunks(size: u64) -> impl Iterator<Item = (u64, u64)> {
    (0..size)
        .step_by(CHUNK_SIZE as usize)
        .map(move |offset| (offset, CHUNK_SIZE.min(size - offset)))
}

fn status_error(action: &str, response: Response) -> RegistryError {
    RegistryError::Status {
        action: action.to_string(),
        url: response.url.clone(),
        status: response.status,
        detail: response.detail(),
    }
}

/// The absolute `Location` of an upload session answer.
fn location(response: &Response, action: &str) -> Result<String, RegistryError> {
    let location = response
        .header("location")
        .ok_or_else(|| RegistryError::Status {
            action: format!("{action} (no Location header) at"),
            url: response.url.clone(),
            status: response.status,
            detail: String::new(),
        })?;
    Ok(absolute_location(&response.url, location))
}

/// Resolves an upload `Location` (absolute, or a path on the same origin).
fn absolute_location(request_url: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let origin_end = request_url
        .find("://")
        .and_then(|i| request_url[i + 3..].find('/').map(|j| i + 3 + j))
        .unwrap_or(request_url.len());
    format!("{}{location}", &request_url[..origin_end])
}

#[cfg(test)]
mod tests {
    use super::{absolute_location, chunks, CHUNK_SIZE, CHUNK_THRESHOLD};

    #[test]
    fn large_blobs_split_into_chunks_that_cover_them_exactly() {
        let size = 20 << 20;
        assert!(size > CHUNK_THRESHOLD);
        let all: Vec<(u64, u64)> = chunks(size).collect();
        assert_eq!(
            all,
            [
                (0, CHUNK_SIZE),
                (CHUNK_SIZE, CHUNK_SIZE),
                (2 * CHUNK_SIZE, 4 << 20)
            ]
        );
        assert_eq!(chunks(2 * CHUNK_SIZE).count(), 2);
        assert_eq!(chunks(1).collect::<Vec<_>>(), [(0, 1)]);
    }

    #[test]
    fn upload_locations_resolve_against_the_origin() {
        assert_eq!(
            absolute_location(
                "http://h:5000/v2/a/blobs/uploads/",
                "/v2/a/blobs/uploads/x?s=1"
            ),
            "http://h:5000/v2/a/blobs/uploads/x?s=1"
        );
        assert_eq!(
            absolute_location("http://h/v2/", "https://other/upload"),
            "https://other/upload"
        );
    }
}
