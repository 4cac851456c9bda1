//! `/v2/<name>/blobs/<digest>`: GET and HEAD (with single `Range`), DELETE.
//!
//! Blobs are streamed from their file; a model's weights are never read into
//! memory. Blob DELETE answers 405 UNSUPPORTED: a blob belongs to the node, not
//! to a repository, and one no manifest needs is removed by `commons gc` —
//! deleting it here could race a push that is about to reference it.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commons_store::Digest;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::{Code, OciError};
use crate::header_value;
use crate::range::{self, Requested};
use crate::{Registry, DOCKER_CONTENT_DIGEST};

pub(crate) fn unknown(digest: &Digest) -> OciError {
    OciError::new(
        StatusCode::NOT_FOUND,
        Code::BlobUnknown,
        format!("blob {digest} is not on this node"),
    )
    .with_detail(json!({ "digest": digest.as_str() }))
}

/// Whether the blob is on the node (a stat, off the async threads' hands).
pub(crate) async fn exists(registry: &Registry, digest: &Digest) -> bool {
    tokio::fs::metadata(registry.store().blob_path(digest))
        .await
        .is_ok_and(|m| m.is_file())
}

/// `GET`/`HEAD`: the blob's bytes, all of them or one range.
pub async fn get(
    registry: &Registry,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, OciError> {
    let path = registry.store().blob_path(digest);
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unknown(digest)),
        Err(e) => {
            return Err(OciError::internal(format!(
                "cannot open blob {digest}: {e}"
            )))
        }
    };
    let size = file
        .metadata()
        .await
        .map_err(|e| OciError::internal(format!("cannot read blob {digest}: {e}")))?
        .len();
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let mut response_headers = HeaderMap::new();
    response_headers.insert(DOCKER_CONTENT_DIGEST, header_value(digest.as_str()));
    response_headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    response_headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response_headers.insert(header::ETAG, header_value(&format!("\"{digest}\"")));
    let (status, start, length) = match range::requested(range_header, size) {
        Requested::Whole => (StatusCode::OK, 0, size),
        Requested::Part { start, end } => {
            response_headers.insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{size}")),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Requested::Unsatisfiable => {
            return Err(OciError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::BlobUnknown,
                format!(
                    "range {} is outside blob {digest} of {size} bytes",
                    range_header.unwrap_or_default()
                ),
            )
            .with_header(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            ));
        }
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if head {
        return Ok((status, response_headers).into_response());
    }
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(|e| OciError::internal(format!("cannot seek in blob {digest}: {e}")))?;
    }
    let body = Body::from_stream(ReaderStream::with_capacity(file.take(length), 256 * 1024));
    Ok((status, response_headers, body).into_response())
}

/// `DELETE`: 404 for an unknown blob, otherwise 405 UNSUPPORTED (see the module docs).
pub async fn delete(registry: &Registry, digest: &Digest) -> Result<Response, OciError> {
    if !exists(registry, digest).await {
        return Err(unknown(digest));
    }
    Err(OciError::unsupported(format!(
        "blobs are not deleted one by one on this node: delete the manifests that use {digest}, \
         then `commons gc` removes the blobs no manifest needs"
    )))
}
