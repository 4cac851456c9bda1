//! Uploading models: `HEAD`/`POST /api/blobs/{digest}` and `POST /api/create` from uploaded
//! files, as the current Ollama clients do it (`create_blob`, then `create(files=...)`).

use std::collections::BTreeMap;
use std::io;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use commons_store::import::{self, ImportOptions, NoProgress};
use commons_store::{Digest, Reference, StoreError};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, OllamaError};
use crate::json::parse;
use crate::state::AppState;
use crate::stream::ndjson;

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    // Older clients wrote `sha256-<hex>` (the on-disk name Ollama uses).
    let normalised = text.replacen("sha256-", "sha256:", 1);
    normalised
        .parse::<Digest>()
        .map_err(|e| ApiError::invalid("digest", format!("invalid digest \"{text}\": {e}")))
}

pub async fn head_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, OllamaError> {
    let digest = parse_digest(&digest)?;
    let status = if state.store().has_blob(&digest) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    Ok(status.into_response())
}

/// Store the body as a blob; bytes that do not hash to `digest` never become visible.
pub async fn upload_blob(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    body: Body,
) -> Result<Response, OllamaError> {
    let digest = parse_digest(&digest)?;
    let limit = state.limits().max_upload_bytes;
    let mut received = 0u64;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(io::Error::other)?;
        received += chunk.len() as u64;
        if received > limit {
            return Err(io::Error::other(format!(
                "upload is larger than the {limit} byte limit"
            )));
        }
        Ok::<_, io::Error>(chunk)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let store = state.store().clone();
    let expected = digest.clone();
    let stored = tokio::task::spawn_blocking(move || {
        store.ingest_reader(reader, "uploaded blob", Some(&expected), &|_| {})
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    match stored {
        Ok(blob) => {
            tracing::info!(digest = %blob.digest, size = blob.size, "blob uploaded");
            Ok(StatusCode::CREATED.into_response())
        }
        Err(StoreError::DigestMismatch { actual, .. }) => Err(ApiError::invalid(
            "digest",
            format!("digest mismatch, expected \"{digest}\", got \"{actual}\""),
        )
        .into()),
        Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::Other => {
            Err(ApiError::bad_request(format!("upload failed: {source}")).into())
        }
        Err(other) => Err(ApiError::internal(other.to_string()).into()),
    }
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    model: Option<String>,
    name: Option<String>,
    from: Option<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
    license: Option<Value>,
    stream: Option<bool>,
    // Accepted so their presence can be refused by name rather than ignored.
    template: Option<String>,
    system: Option<String>,
    parameters: Option<Value>,
    messages: Option<Value>,
    adapters: Option<Value>,
    quantize: Option<String>,
}

impl CreateRequest {
    /// The fields commons cannot honour yet; refusing beats silently ignoring them.
    fn unsupported(&self) -> Option<&'static str> {
        let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
        let text = |v: &Option<String>| v.as_ref().is_some_and(|v| !v.is_empty());
        [
            ("template", text(&self.template)),
            ("system", text(&self.system)),
            ("parameters", set(&self.parameters)),
            ("messages", set(&self.messages)),
            ("adapters", set(&self.adapters)),
            ("quantize", text(&self.quantize)),
        ]
        .into_iter()
        .find(|(_, present)| *present)
        .map(|(name, _)| name)
    }
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, OllamaError> {
    let request: CreateRequest = parse(&body)?;
    let name = super::types::model_name(&request.model, &request.name)?;
    let reference = Reference::parse(&name)
        .map_err(|e| ApiError::invalid("model", format!("invalid model name \"{name}\": {e}")))?;
    if let Some(field) = request.unsupported() {
        return Err(ApiError::invalid(
            field,
            format!("`{field}` is not supported by /api/create on commons yet"),
        )
        .into());
    }
    let license = match &request.license {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
        Some(_) => return Err(ApiError::invalid("license", "license must be a string").into()),
    };
    let store = state.store().clone();
    let created = if !request.files.is_empty() {
        let files = request
            .files
            .iter()
            .map(|(file, digest)| Ok((file.clone(), parse_digest(digest)?)))
            .collect::<Result<Vec<_>, ApiError>>()?;
        for (file, digest) in &files {
            if file.contains('/') || file.contains('\\') || file.starts_with('.') {
                return Err(
                    ApiError::invalid("files", format!("invalid file name \"{file}\"")).into(),
                );
            }
            if !store.has_blob(digest) {
                return Err(ApiError::invalid(
                    "files",
                    format!("missing blob {digest} for \"{file}\": upload it to /api/blobs first"),
                )
                .into());
            }
        }
        let options = ImportOptions {
            name: Some(reference),
            license,
            provenance: None,
        };
        tokio::task::spawn_blocking(move || import_uploaded(&store, &files, options))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??
    } else if let Some(from) = request.from.clone().filter(|f| !f.is_empty()) {
        let target = name.clone();
        tokio::task::spawn_blocking(move || store.tag(&from, &target))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| ApiError::from_store(request.from.as_deref().unwrap_or_default(), e))?
            .reference()
    } else {
        return Err(ApiError::invalid("files", "neither `files` nor `from` was given").into());
    };
    tracing::info!(model = %created, "model created");
    let statuses = [
        "parsing GGUF",
        "using existing layers",
        "writing manifest",
        "success",
    ];
    if request.stream.unwrap_or(true) {
        let lines = statuses.map(|s| json!({"status": s}));
        return Ok(ndjson(futures_util::stream::iter(lines)));
    }
    Ok(axum::Json(json!({"status": "success"})).into_response())
}

/// Import uploaded blobs under the file names the client gave, through links in a scratch
/// folder, so the import sees the same names (and makes the same manifest) as a local file.
fn import_uploaded(
    store: &commons_store::Store,
    files: &[(String, Digest)],
    options: ImportOptions,
) -> Result<String, ApiError> {
    let scratch = tempfile::tempdir()
        .map_err(|e| ApiError::internal(format!("cannot make a scratch folder: {e}")))?;
    for (file, digest) in files {
        let link = scratch.path().join(file);
        link_or_copy(&store.blob_path(digest), &link)
            .map_err(|e| ApiError::internal(format!("cannot stage \"{file}\": {e}")))?;
    }
    let path = match files {
        [(only, _)] => scratch.path().join(only),
        _ => scratch.path().to_path_buf(),
    };
    let outcome = import::import(store, &path, options, &NoProgress).map_err(|e| {
        let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
        ApiError::bad_request(format!("cannot create the model: {e}{hint}"))
    })?;
    Ok(outcome.entry.reference())
}

fn link_or_copy(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(from, to)
    }
    #[cfg(not(unix))]
    {
        std::fs::copy(from, to).map(|_| ())
    }
}
