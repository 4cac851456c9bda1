//! The node's own read API under `/commons/v1`: the catalog as `commons list`
//! and `commons show --json` print it — license, provenance completeness,
//! openness class, signatures and referrers — for dashboards and scripts.
//! Errors are `{"error": "..."}` like the Ollama API's.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use commons_catalog::{CatalogRow, ModelDetails};
use serde_json::{json, Value};

use crate::error::{ApiError, OllamaError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/commons/v1/models", get(list))
        .route("/commons/v1/models/{*name}", get(show))
        .route("/commons/v1/health", get(health))
}

/// `GET /commons/v1/health`: the health of the commons, as `commons health --json`.
async fn health(
    State(state): State<AppState>,
) -> Result<Json<commons_governance::health::Health>, OllamaError> {
    let store = state.store().clone();
    let report = tokio::task::spawn_blocking(move || commons_governance::health::report(&store))
        .await
        .map_err(|e| ApiError::internal(format!("the health task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("cannot build the health report: {e}")))?;
    Ok(Json(report))
}

/// `GET /commons/v1/models`: every model with its provenance state.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, OllamaError> {
    let store = state.store().clone();
    let rows = tokio::task::spawn_blocking(move || -> Result<Vec<CatalogRow>, ApiError> {
        let entries = store
            .list()
            .map_err(|e| ApiError::internal(format!("cannot list models: {e}")))?;
        entries
            .iter()
            .map(|entry| {
                CatalogRow::load(&store, entry)
                    .map_err(|e| ApiError::from_store(&entry.reference(), e))
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::internal(format!("the catalog task failed: {e}")))??;
    Ok(Json(json!({ "models": rows })))
}

/// `GET /commons/v1/models/{name}`: one model (`name`, `name:tag` or a digest), as `commons show --json`.
async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelDetails>, OllamaError> {
    let store = state.store().clone();
    let details = tokio::task::spawn_blocking(move || -> Result<ModelDetails, ApiError> {
        let entry = store
            .resolve(&name)
            .map_err(|e| ApiError::from_store(&name, e))?;
        ModelDetails::load(&store, &entry).map_err(|e| ApiError::from_store(&name, e))
    })
    .await
    .map_err(|e| ApiError::internal(format!("the catalog task failed: {e}")))??;
    Ok(Json(details))
}
