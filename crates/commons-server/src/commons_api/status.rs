//! What the node is doing right now: the models in memory with their scheduler's
//! slots, running requests and queue depth. Reading it never extends a model's
//! keep-alive.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::OllamaError;
use crate::ollama::models::{loaded_models, rfc3339, slot_context};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/commons/v1/status", get(status))
}

/// The answer of `GET /commons/v1/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Loaded models, most recently used first.
    pub models: Vec<LoadedModel>,
}

/// One model in memory.
#[derive(Debug, Serialize)]
pub struct LoadedModel {
    /// The name it was last requested by (its digest if none).
    pub name: String,
    /// Manifest digest, `sha256:…`.
    pub digest: String,
    /// Size of the weights file.
    pub size_bytes: u64,
    /// Estimated resident memory: weights plus the KV cache of every slot.
    pub memory_bytes: u64,
    /// When it unloads if nothing uses it; `null` while in use or when kept forever.
    pub expires_at: Option<String>,
    /// Context of one slot in tokens.
    pub context_length: u64,
    /// Sequences decoded together.
    pub slots: usize,
    /// Requests holding a slot now.
    pub running: u64,
    /// Requests waiting for a free slot.
    pub queued: u64,
    /// Requests holding the model: running, queued, or still sending their answer.
    pub leases: usize,
    /// Counted since the model was loaded.
    pub totals: Totals,
}

/// The scheduler's counters since the model was loaded.
#[derive(Debug, Serialize)]
pub struct Totals {
    pub prompt_tokens_evaluated: u64,
    pub prompt_tokens_cached: u64,
    pub completion_tokens: u64,
    pub requests_completed: u64,
    pub requests_cancelled: u64,
    pub requests_failed: u64,
    pub decode_calls: u64,
}

/// `GET /commons/v1/status`: the models in memory and what their schedulers are doing.
async fn status(State(state): State<AppState>) -> Result<Json<Status>, OllamaError> {
    let models = loaded_models(&state)
        .await?
        .into_iter()
        .map(|(loaded, metadata)| {
            let stats = loaded.stats;
            LoadedModel {
                name: state.display_name(&loaded.name),
                context_length: slot_context(&state, metadata.as_ref()),
                digest: loaded.name,
                size_bytes: loaded.size_bytes,
                memory_bytes: loaded.memory_bytes,
                expires_at: loaded.expires_at.map(rfc3339),
                slots: loaded.slots,
                running: stats.active_slots,
                queued: stats.queued,
                leases: loaded.active_requests,
                totals: Totals {
                    prompt_tokens_evaluated: stats.prompt_tokens_evaluated,
                    prompt_tokens_cached: stats.prompt_tokens_cached,
                    completion_tokens: stats.completion_tokens,
                    requests_completed: stats.requests_completed,
                    requests_cancelled: stats.requests_cancelled,
                    requests_failed: stats.requests_failed,
                    decode_calls: stats.decode_calls,
                },
            }
        })
        .collect();
    Ok(Json(Status { models }))
}
