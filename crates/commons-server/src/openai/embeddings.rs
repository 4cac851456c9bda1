//! `POST /v1/embeddings`: float or base64 vectors (the `openai` client asks for base64).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use super::types::EmbeddingRequest;
use crate::embedding::{embed, shorten};
use crate::error::{ApiError, OpenAiError};
use crate::json::parse;
use crate::state::AppState;

/// Inputs as text: strings as they are, token-id lists detokenized (the engine embeds text).
fn texts(input: &Value, model: &dyn commons_engine::Model) -> Result<Vec<String>, ApiError> {
    let invalid = || {
        ApiError::invalid(
            "input",
            "input must be a string, a list of strings, a list of token ids, or a list of lists of token ids",
        )
    };
    let tokens_of = |list: &[Value]| -> Result<String, ApiError> {
        let ids = list
            .iter()
            .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(invalid)?;
        Ok(model.detokenize(&ids)?)
    };
    match input {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::invalid("input", "input must not be empty"))
        }
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()),
        Value::Array(items) if items.iter().all(Value::is_number) => Ok(vec![tokens_of(items)?]),
        Value::Array(items) if items.iter().all(Value::is_array) => items
            .iter()
            .map(|list| tokens_of(list.as_array().map(Vec::as_slice).unwrap_or_default()))
            .collect(),
        _ => Err(invalid()),
    }
}

pub async fn embeddings(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    let request: EmbeddingRequest = parse(&body)?;
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "encoding_format",
                format!("encoding_format must be float or base64, not `{other}`"),
            )
            .into())
        }
    };
    let model = state.resolve(&request.model)?;
    let lease = state.acquire(&model, None).await?;
    let inputs = texts(&request.input, &*lease)?;
    let (vectors, tokens) = embed(&state, &lease, inputs, false, "input").await?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| {
            let vector = shorten(vector, request.dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(axum::Json(json!({
        "object": "list",
        "data": data,
        "model": model.display_name,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}
