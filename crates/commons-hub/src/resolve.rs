//! `HEAD`/`GET /{repo}/resolve/{rev}/{path}`: a file of a revision, with the
//! headers `huggingface_hub` builds its cache from.
//!
//! - `X-Repo-Commit`: the commit the revision resolved to (the snapshot folder);
//! - `ETag`: the cache key of the bytes. For LFS files (weights, large files) it
//!   is the sha256, also sent as `X-Linked-Etag` with `X-Linked-Size`, exactly as
//!   the Hub does; for small files the git blob id;
//! - `Content-Length`, `Accept-Ranges: bytes`, and 206/416 for ranges.
//!
//! Bytes are streamed from the blob store in the response itself: a redirect
//! would add a round trip and would have to repeat every header above.

use std::io::SeekFrom;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::{HubError, X_REPO_COMMIT};
use crate::range::{self, ByteRange};
use crate::repo::{self, Content, RepoFile};
use crate::{blocking, path, Hub};

const X_LINKED_ETAG: HeaderName = HeaderName::from_static("x-linked-etag");
const X_LINKED_SIZE: HeaderName = HeaderName::from_static("x-linked-size");

/// `/{name}/resolve/…`
pub(crate) async fn resolve_in_name(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    resolve(hub, method, uri, headers, 1).await
}

/// `/{namespace}/{name}/resolve/…`
pub(crate) async fn resolve_in_namespace(
    State(hub): State<Arc<Hub>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, HubError> {
    resolve(hub, method, uri, headers, 2).await
}

/// What a request resolved to.
struct Found {
    sha: String,
    file: RepoFile,
    etag: String,
    blob: Option<std::path::PathBuf>,
}

async fn resolve(
    hub: Arc<Hub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    repo_parts: usize,
) -> Result<Response, HubError> {
    // `[repo…, "resolve", rev, file…]`, all still percent-encoded.
    let raw: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let id = raw.get(..repo_parts).unwrap_or_default().join("/");
    let rev = path::decode(raw.get(repo_parts + 1).copied().unwrap_or_default())?;
    let file_path = path::file_path(raw.get(repo_parts + 2..).unwrap_or_default())?;

    let found = blocking(&hub, move |hub| {
        let revision = repo::revision(&hub.store, &id, &rev)?;
        let file = revision
            .file(&file_path)
            .cloned()
            .ok_or_else(|| HubError::EntryNotFound {
                path: file_path.clone(),
                commit: revision.sha.clone(),
            })?;
        let etag = match file.lfs_sha256() {
            Some(sha256) => sha256.to_string(),
            None => hub.oids.oid(&hub.store, &file)?,
        };
        let blob = match &file.content {
            Content::Blob(digest) => Some(hub.store.blob_path(digest)),
            Content::Generated(_) => None,
        };
        Ok(Found {
            sha: revision.sha,
            file,
            etag,
            blob,
        })
    })
    .await?;

    let size = found.file.size;
    // HEAD describes the whole file; only GET honours `Range`.
    let range = if method == Method::HEAD {
        ByteRange::Full
    } else {
        range::parse(
            headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
            size,
        )
    };
    let (status, start, len) = match range {
        ByteRange::Full => (StatusCode::OK, 0, size),
        ByteRange::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        ByteRange::Unsatisfiable => return Err(HubError::RangeNotSatisfiable { size }),
    };

    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let out = response.headers_mut();
    let etag = header_value(&format!("\"{}\"", found.etag))?;
    out.insert(X_REPO_COMMIT, header_value(&found.sha)?);
    out.insert(header::ETAG, etag.clone());
    if found.file.lfs {
        out.insert(X_LINKED_ETAG, etag);
        out.insert(X_LINKED_SIZE, HeaderValue::from(size));
    }
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&found.file.path)),
    );
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + len - 1;
        out.insert(
            header::CONTENT_RANGE,
            header_value(&format!("bytes {start}-{end}/{size}"))?,
        );
    }
    if method == Method::HEAD {
        return Ok(response);
    }

    *response.body_mut() = match (&found.file.content, found.blob) {
        (Content::Generated(bytes), _) => {
            let from = usize::try_from(start)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let to = usize::try_from(start + len)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            Body::from(bytes.slice(from..to))
        }
        (Content::Blob(digest), Some(blob)) => {
            let mut file = tokio::fs::File::open(&blob).await.map_err(|e| {
                HubError::internal(
                    &format!(
                        "blob {digest} of {} cannot be read (run `commons verify`)",
                        found.file.path
                    ),
                    e,
                )
            })?;
            if start > 0 {
                file.seek(SeekFrom::Start(start))
                    .await
                    .map_err(|e| HubError::internal(&format!("cannot seek in blob {digest}"), e))?;
            }
            Body::from_stream(ReaderStream::with_capacity(file.take(len), 256 * 1024))
        }
        (Content::Blob(_), None) => Body::empty(),
    };
    Ok(response)
}

fn header_value(text: &str) -> Result<HeaderValue, HubError> {
    HeaderValue::from_str(text).map_err(|e| HubError::internal("a header value is not valid", e))
}

/// A content type from the file name: text for what people open in a browser,
/// bytes for everything else.
fn content_type(path: &str) -> &'static str {
    let extension = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match extension.as_deref() {
        Some("json") => "application/json",
        Some("md" | "txt" | "jinja" | "yaml" | "yml") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
