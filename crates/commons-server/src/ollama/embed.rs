//! `POST /api/embed` (batched, normalised) and the legacy `POST /api/embeddings`.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::types::{model_name, parse_keep_alive, Options};
use crate::embedding::{embed as embed_texts, shorten};
use crate::error::{ApiError, OllamaError};
use crate::json::parse;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
struct EmbedRequest {
    model: Option<String>,
    name: Option<String>,
    #[serde(default)]
    input: Value,
    truncate: Option<bool>,
    #[allow(dead_code)]
    #[serde(default)]
    options: Options,
    keep_alive: Option<Value>,
    dimensions: Option<usize>,
}

fn inputs(input: &Value) -> Result<Vec<String>, ApiError> {
    match input {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::invalid(
                        format!("input[{i}]"),
                        "input must be a string or a list of strings",
                    )
                })
            })
            .collect(),
        _ => Err(ApiError::invalid(
            "input",
            "input must be a string or a list of strings",
        )),
    }
}

pub async fn embed(State(state): State<AppState>, body: Bytes) -> Result<Response, OllamaError> {
    let started = Instant::now();
    let request: EmbedRequest = parse(&body)?;
    let name = model_name(&request.model, &request.name)?;
    let model = state.resolve(&name)?;
    let texts = inputs(&request.input)?;
    let keep_alive = parse_keep_alive(request.keep_alive.as_ref())?;
    let lease = state.acquire(&model, keep_alive).await?;
    let (vectors, tokens) = embed_texts(
        &state,
        &lease,
        texts,
        request.truncate.unwrap_or(true),
        "input",
    )
    .await?;
    let embeddings: Vec<Vec<f32>> = vectors
        .into_iter()
        .map(|v| shorten(v, request.dimensions))
        .collect();
    Ok(axum::Json(json!({
        "model": model.display_name,
        "embeddings": embeddings,
        "total_duration": started.elapsed().as_nanos() as u64,
        "load_duration": lease.load_ns,
        "prompt_eval_count": tokens,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct LegacyRequest {
    model: Option<String>,
    name: Option<String>,
    #[serde(default)]
    prompt: String,
    #[allow(dead_code)]
    #[serde(default)]
    options: Options,
    keep_alive: Option<Value>,
}

pub async fn embeddings(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, OllamaError> {
    let request: LegacyRequest = parse(&body)?;
    let name = model_name(&request.model, &request.name)?;
    let model = state.resolve(&name)?;
    let keep_alive = parse_keep_alive(request.keep_alive.as_ref())?;
    let lease = state.acquire(&model, keep_alive).await?;
    if request.prompt.is_empty() {
        return Ok(axum::Json(json!({"embedding": []})).into_response());
    }
    let (mut vectors, _) =
        embed_texts(&state, &lease, vec![request.prompt], true, "prompt").await?;
    let embedding = vectors.pop().unwrap_or_default();
    Ok(axum::Json(json!({ "embedding": embedding })).into_response())
}
