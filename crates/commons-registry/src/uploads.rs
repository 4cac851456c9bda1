//! Blob uploads: `POST /v2/<name>/blobs/uploads/` (a session, a monolithic
//! upload with `?digest=`, or a mount with `?mount=&from=`), then `PATCH`
//! chunks, `PUT ?digest=` to finish, `GET` for the offset, `DELETE` to cancel.
//!
//! Request bodies go straight from the socket into the upload file on the
//! blocking pool (a `SyncIoBridge` over the body stream), so a blob of any size
//! costs one buffer of memory. An upload becomes a blob only when its bytes
//! hash to the digest the client names; the store discards it otherwise.

use std::io::{self, Read};

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use commons_store::Digest;
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{range_value, Code, OciError};
use crate::header_value;
use crate::path::{check_name, parse_digest};
use crate::range::content_range;
use crate::{blobs, Registry, DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID};

#[derive(Default, Deserialize)]
struct UploadQuery {
    digest: Option<String>,
    mount: Option<String>,
    from: Option<String>,
}

fn query(uri: &Uri) -> Result<UploadQuery, OciError> {
    Query::<UploadQuery>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| {
            OciError::new(
                StatusCode::BAD_REQUEST,
                Code::BlobUploadInvalid,
                format!("bad query string: {e}"),
            )
        })
}

/// `POST …/blobs/uploads/`.
pub async fn start(
    registry: &Registry,
    name: &str,
    request: Request,
) -> Result<Response, OciError> {
    let query = query(request.uri())?;
    if let Some(mount) = &query.mount {
        let digest = parse_digest(mount)?;
        if let Some(from) = &query.from {
            check_name(from)?;
        }
        // Blobs are shared by every repository, so a mount only needs the blob.
        if blobs::exists(registry, &digest).await {
            tracing::debug!(repository = name, %digest, "blob mounted");
            return Ok(created(name, &digest));
        }
        // Otherwise the spec asks for a plain upload session (202).
    }
    let id = registry.blocking(|store| store.start_upload()).await?;
    let Some(digest) = &query.digest else {
        return Ok(accepted(StatusCode::ACCEPTED, name, &id, 0));
    };
    // Monolithic: the whole blob is this request's body.
    let digest = match parse_digest(digest) {
        Ok(digest) => digest,
        Err(e) => {
            cancel_quietly(registry, &id).await;
            return Err(e);
        }
    };
    let lock = registry.lock_upload(&id)?;
    if let Err(e) = append(registry, &id, None, request.into_body(), lock).await {
        cancel_quietly(registry, &id).await;
        return Err(e);
    }
    complete(registry, name, &id, digest).await
}

/// `PATCH …/blobs/uploads/<id>`: one more chunk.
pub async fn patch(
    registry: &Registry,
    name: &str,
    id: &str,
    request: Request,
) -> Result<Response, OciError> {
    let size = append_chunk(registry, id, request).await?;
    Ok(accepted(StatusCode::ACCEPTED, name, id, size))
}

/// `PUT …/blobs/uploads/<id>?digest=`: the optional last chunk, then the blob.
pub async fn finish(
    registry: &Registry,
    name: &str,
    id: &str,
    request: Request,
) -> Result<Response, OciError> {
    let Some(digest) = query(request.uri())?.digest else {
        return Err(OciError::digest_invalid(
            "finishing an upload needs the blob's digest: PUT <location>?digest=sha256:…",
        ));
    };
    let digest = parse_digest(&digest)?;
    append_chunk(registry, id, request).await?;
    // Claimed again so no chunk can slip in between the last write and the hash.
    let _held = registry.lock_upload(id)?;
    complete(registry, name, id, digest).await
}

/// Appends the request's body as the next chunk (checked against its
/// `Content-Range`, if any) and returns the upload's new size.
async fn append_chunk(registry: &Registry, id: &str, request: Request) -> Result<u64, OciError> {
    let chunk = chunk_range(request.headers())?;
    let lock = registry.lock_upload(id)?;
    let size = append(
        registry,
        id,
        chunk.map(|(start, _)| start),
        request.into_body(),
        lock,
    )
    .await?;
    check_chunk_end(chunk, size)?;
    Ok(size)
}

/// `GET …/blobs/uploads/<id>`: how far the upload got.
pub async fn status(registry: &Registry, name: &str, id: &str) -> Result<Response, OciError> {
    let owned = id.to_string();
    let size = registry
        .blocking(move |store| store.upload_size(&owned))
        .await?;
    Ok(accepted(StatusCode::NO_CONTENT, name, id, size))
}

/// `DELETE …/blobs/uploads/<id>`: abandon it.
pub async fn cancel(registry: &Registry, id: &str) -> Result<Response, OciError> {
    let owned = id.to_string();
    registry
        .blocking(move |store| store.cancel_upload(&owned))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Turns upload `id` into blob `digest` (201), or DIGEST_INVALID with nothing stored.
async fn complete(
    registry: &Registry,
    name: &str,
    id: &str,
    digest: Digest,
) -> Result<Response, OciError> {
    let owned = id.to_string();
    let blob = registry
        .blocking(move |store| store.finish_upload(&owned, &digest))
        .await?;
    tracing::debug!(repository = name, digest = %blob.digest, size = blob.size, "blob uploaded");
    Ok(created(name, &blob.digest))
}

async fn cancel_quietly(registry: &Registry, id: &str) {
    let owned = id.to_string();
    let _ = registry
        .blocking(move |store| store.cancel_upload(&owned))
        .await;
}

/// Appends `body` to upload `id` (which must be `expected` bytes long when
/// given); returns the upload's new size. `lock` is held until the last byte
/// is written, even if the client is gone by then.
async fn append(
    registry: &Registry,
    id: &str,
    expected: Option<u64>,
    body: Body,
    lock: UploadLock,
) -> Result<u64, OciError> {
    let stream = body.into_data_stream().map_err(io::Error::other);
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let store = registry.store().clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let _lock = lock;
        let mut writer = store.upload_writer(&id, expected)?;
        let mut reader = TrackedReader {
            inner: reader,
            failed: None,
        };
        match writer.write_from(&mut reader) {
            Ok(()) => Ok(writer.size()),
            // The client's side broke off: the bytes before the break stay, and
            // `GET` on the upload says where to resume.
            Err(_) if reader.failed.is_some() => Err(OciError::new(
                StatusCode::BAD_REQUEST,
                Code::BlobUploadInvalid,
                format!(
                    "the request body broke off: {}",
                    reader.failed.map(|e| e.to_string()).unwrap_or_default()
                ),
            )),
            Err(e) => Err(OciError::from_store(e)),
        }
    })
    .await
    .map_err(|e| OciError::internal(format!("an upload task failed: {e}")))?
}

/// Tells errors of the request body apart from errors of the disk.
struct TrackedReader<R> {
    inner: R,
    failed: Option<io::Error>,
}

impl<R: Read> Read for TrackedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.failed = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }
}

/// The chunk's `Content-Range`, checked against its `Content-Length`.
fn chunk_range(headers: &HeaderMap) -> Result<Option<(u64, u64)>, OciError> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let range = value.to_str().ok().and_then(content_range).ok_or_else(|| {
        OciError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            Code::BlobUploadInvalid,
            format!("Content-Range {value:?} is not <start>-<end>"),
        )
    })?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length {
        if length != range.1 - range.0 + 1 {
            return Err(OciError::new(
                StatusCode::BAD_REQUEST,
                Code::SizeInvalid,
                format!(
                    "Content-Range {}-{} is {} bytes but Content-Length is {length}",
                    range.0,
                    range.1,
                    range.1 - range.0 + 1
                ),
            ));
        }
    }
    Ok(Some(range))
}

/// After a chunk with a `Content-Range`, the upload must end where the range did.
fn check_chunk_end(chunk: Option<(u64, u64)>, size: u64) -> Result<(), OciError> {
    match chunk {
        Some((start, end)) if size != end + 1 => Err(OciError::new(
            StatusCode::BAD_REQUEST,
            Code::SizeInvalid,
            format!(
                "the chunk {start}-{end} carried {} bytes",
                size.saturating_sub(start)
            ),
        )
        .with_header(header::RANGE, range_value(size))),
        _ => Ok(()),
    }
}

/// 202 (a session or a chunk) or 204 (status) with the session's headers.
fn accepted(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    (
        status,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{name}/blobs/uploads/{id}")),
            ),
            (header::RANGE, range_value(size)),
            (DOCKER_UPLOAD_UUID, header_value(id)),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response()
}

/// 201 for a finished upload or a mount.
fn created(name: &str, digest: &Digest) -> Response {
    (
        StatusCode::CREATED,
        [
            (
                header::LOCATION,
                header_value(&format!("/v2/{name}/blobs/{digest}")),
            ),
            (DOCKER_CONTENT_DIGEST, header_value(digest.as_str())),
            (header::CONTENT_LENGTH, HeaderValue::from_static("0")),
        ],
    )
        .into_response()
}

/// A claim on an upload for the length of one write; see [`Registry::lock_upload`].
pub(crate) struct UploadLock {
    busy: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    id: String,
}

impl Registry {
    /// Claims upload `id` for one request; a concurrent request to the same
    /// upload is refused instead of interleaving its bytes.
    pub(crate) fn lock_upload(&self, id: &str) -> Result<UploadLock, OciError> {
        let mut busy = self.busy_uploads.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.insert(id.to_string()) {
            return Err(OciError::new(
                StatusCode::CONFLICT,
                Code::BlobUploadInvalid,
                format!("another request is writing to upload {id}; wait for it to finish"),
            )
            .with_detail(json!({ "upload": id })));
        }
        Ok(UploadLock {
            busy: self.busy_uploads.clone(),
            id: id.to_string(),
        })
    }
}

impl Drop for UploadLock {
    fn drop(&mut self) {
        self.busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_to_the_same_upload_is_refused_until_the_first_is_done() {
        let home = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(commons_store::Store::open(home.path()).unwrap());
        let registry = Registry::new(store);
        let first = registry.lock_upload("a").unwrap();
        let second = registry.lock_upload("a").err().unwrap();
        assert_eq!(
            (second.status, second.code),
            (StatusCode::CONFLICT, Code::BlobUploadInvalid)
        );
        let other = registry.lock_upload("b").unwrap();
        drop(first);
        let again = registry.lock_upload("a").unwrap();
        drop((other, again));
    }
}
