//! The Ollama API (`/api/...`), as the `ollama` clients, Open WebUI and curl use it.
//!
//! Deviations from Ollama are listed in `docs/api.md`; the main ones: `template` is a Jinja
//! chat template (not a Go template), `num_ctx` larger than a slot is refused with 400
//! instead of clamped, and `/api/create` builds models only from uploaded GGUF files or
//! another model.

mod blobs;
mod chat;
mod embed;
mod generate;
pub(crate) mod models;
mod respond;
pub mod types;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub use models::OLLAMA_API_VERSION;

/// Every `/api` route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/version", get(models::version))
        .route("/api/tags", get(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/ps", get(models::ps))
        .route("/api/copy", post(models::copy))
        .route("/api/delete", axum::routing::delete(models::delete))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route(
            "/api/blobs/{digest}",
            axum::routing::head(blobs::head_blob).post(blobs::upload_blob),
        )
        .route("/api/create", post(blobs::create))
        .route("/api/pull", post(not_yet))
        .route("/api/push", post(not_yet))
}

/// Pulling and pushing belong to the registry work still to come; say so clearly.
async fn not_yet(uri: axum::http::Uri) -> crate::error::OllamaError {
    crate::error::OllamaError(crate::error::ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        format!(
            "{} is not supported by commons yet: import models with `commons import FILE`, \
             or upload a GGUF with /api/blobs and /api/create",
            uri.path()
        ),
    ))
}
