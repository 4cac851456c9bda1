//! The tokenizer endpoints vLLM and llama.cpp servers offer, which lm-eval and other
//! OpenAI-compatible clients use: `GET /tokenizer_info`, `POST /tokenize`, `POST /detokenize`.
//! Errors use OpenAI's shape.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, OpenAiError};
use crate::inference::render_chat;
use crate::json::parse;
use crate::openai::types::ChatMessageIn;
use crate::state::{AppState, ResolvedModel};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokenizer_info", get(info))
        .route("/tokenize", post(tokenize))
        .route("/detokenize", post(detokenize))
}

/// The named model. Without a name (lm-eval's remote tokenizer sends none): the only model
/// in the store, else the model used most recently.
async fn pick_model(state: &AppState, name: Option<&str>) -> Result<ResolvedModel, ApiError> {
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        return state.resolve(name);
    }
    let store = state.store().clone();
    let entries = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let [only] = entries.as_slice() {
        return state.resolve(&only.reference());
    }
    match state.models().loaded().first() {
        Some(recent) => state.resolve(&state.display_name(&recent.name)),
        None => Err(ApiError::invalid(
            "model",
            "model is required when the store holds several models and none is loaded",
        )),
    }
}

#[derive(Debug, Deserialize)]
struct InfoQuery {
    model: Option<String>,
}

async fn info(
    State(state): State<AppState>,
    Query(query): Query<InfoQuery>,
) -> Result<Response, OpenAiError> {
    let model = pick_model(&state, query.model.as_deref()).await?;
    let lease = state.acquire(&model, None).await?;
    let info = lease.info();
    let text = |t: &Option<commons_engine::SpecialToken>| t.as_ref().map(|t| t.text.clone());
    Ok(axum::Json(json!({
        "model": model.display_name,
        "bos_token": text(&info.special_tokens.bos),
        "eos_token": text(&info.special_tokens.eos),
        // The engine does not expose a padding token.
        "pad_token": Value::Null,
        "add_bos_token": info.special_tokens.add_bos,
        "chat_template": info.chat_template,
        "model_max_length": info.context_length,
        "vocab_size": info.vocab_size,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    model: Option<String>,
    prompt: Option<String>,
    content: Option<String>,
    messages: Option<Vec<ChatMessageIn>>,
    add_special_tokens: Option<bool>,
    /// llama.cpp's name for `add_special_tokens`.
    add_special: Option<bool>,
}

async fn tokenize(State(state): State<AppState>, body: Bytes) -> Result<Response, OpenAiError> {
    let request: TokenizeRequest = parse(&body)?;
    let model = pick_model(&state, request.model.as_deref()).await?;
    let lease = state.acquire(&model, None).await?;
    let add_special = request
        .add_special_tokens
        .or(request.add_special)
        .unwrap_or(true);
    let text = match (&request.prompt, &request.content, &request.messages) {
        (Some(text), _, _) | (None, Some(text), _) => text.clone(),
        (None, None, Some(messages)) => {
            let messages = messages
                .iter()
                .enumerate()
                .map(|(i, m)| m.to_engine(i))
                .collect::<Result<Vec<_>, _>>()?;
            render_chat(&*lease, None, &messages, &[])?
        }
        (None, None, None) => {
            return Err(ApiError::invalid(
                "prompt",
                "one of prompt, content or messages is required",
            )
            .into())
        }
    };
    let tokens = lease.tokenize(&text, add_special)?;
    Ok(axum::Json(json!({
        "tokens": tokens,
        "count": tokens.len(),
        "max_model_len": lease.info().context_length,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct DetokenizeRequest {
    model: Option<String>,
    tokens: Vec<u32>,
}

async fn detokenize(State(state): State<AppState>, body: Bytes) -> Result<Response, OpenAiError> {
    let request: DetokenizeRequest = parse(&body)?;
    let model = pick_model(&state, request.model.as_deref()).await?;
    let lease = state.acquire(&model, None).await?;
    let text = lease.detokenize(&request.tokens).map_err(|e| {
        let mut error = ApiError::from(e);
        error.param = Some("tokens".into());
        error
    })?;
    Ok(axum::Json(json!({"prompt": text, "content": text})).into_response())
}
