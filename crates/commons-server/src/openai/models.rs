//! `GET /v1/models` and `GET /v1/models/{model}`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use commons_store::ModelEntry;
use serde_json::{json, Value};

use crate::error::{ApiError, OpenAiError};
use crate::state::AppState;

fn created(entry: &ModelEntry) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&entry.created_at)
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

fn object(entry: &ModelEntry) -> Value {
    json!({
        "id": entry.reference(),
        "object": "model",
        "created": created(entry),
        "owned_by": "commons",
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Response, OpenAiError> {
    let store = state.store().clone();
    let entries = tokio::task::spawn_blocking(move || crate::state::servable_models(&store))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let data: Vec<Value> = entries.iter().map(object).collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Response, OpenAiError> {
    let resolved = state.resolve(&model)?;
    let mut value = object(&resolved.entry);
    value["id"] = json!(resolved.display_name);
    Ok(axum::Json(value).into_response())
}
