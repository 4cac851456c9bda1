//! The OpenAI API (`/v1/...`), as the `openai` clients and lm-eval `local-completions` use it.
//!
//! Deviations from OpenAI are listed in `docs/api.md`: one choice per request (`n = 1`),
//! `logit_bias` is not applied, and tool calls by models without native tool support are
//! prompted through the system message and parsed from the answer.

mod chat;
mod completions;
mod embeddings;
mod logprobs;
mod models;
pub mod types;

use axum::routing::{get, post};
use axum::Router;
use commons_engine::{Done, FinishReason, Model};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// Sent as `system_fingerprint`: which backend produced the answer.
pub const SYSTEM_FINGERPRINT: &str = concat!("commons-", env!("CARGO_PKG_VERSION"), "-llama.cpp");

/// Every `/v1` route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*model}", get(models::retrieve))
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
}

fn finish_reason(done: &Done) -> &'static str {
    match done.finish_reason {
        FinishReason::Length => "length",
        FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn usage(done: &Done) -> Value {
    json!({
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": done.prompt_tokens_cached},
    })
}

/// Refuse a prompt (plus the requested completion) that does not fit one slot, with
/// OpenAI's wording. Returns the room left for the answer.
fn check_fits(
    model: &dyn Model,
    prompt_tokens: usize,
    max_tokens: Option<usize>,
    max_param: &str,
    prompt_param: &str,
) -> Result<usize, ApiError> {
    let context = model.info().context_length as usize;
    if prompt_tokens >= context {
        return Err(ApiError::invalid(
            prompt_param,
            format!(
                "This model's maximum context length is {context} tokens. However, your \
                 {prompt_param} resulted in {prompt_tokens} tokens. Please reduce the length \
                 of the {prompt_param}."
            ),
        )
        .with_code("context_length_exceeded"));
    }
    let room = context - prompt_tokens;
    if let Some(max) = max_tokens.filter(|&m| m > room) {
        return Err(ApiError::invalid(
            max_param,
            format!(
                "This model's maximum context length is {context} tokens. However, you \
                 requested {} tokens ({prompt_tokens} in the {prompt_param}, {max} in the \
                 completion). Please reduce the length of the {prompt_param} or completion.",
                prompt_tokens.saturating_add(max)
            ),
        )
        .with_code("context_length_exceeded"));
    }
    Ok(room)
}
