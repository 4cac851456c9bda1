//! The node's own read API under `/commons/v1`: the catalog as `commons list`
//! and `commons show --json` print it — license, provenance completeness,
//! openness class, signatures and referrers — for dashboards and scripts.
//! Errors are `{"error": "..."}` like the Ollama API's.
//!
//! Every route here only reads; the governance views (audit log, quarantine,
//! stewards' proposals, policy) live in [`governance`], the provenance and
//! evaluation views of one model in [`model`], the models in memory and their
//! schedulers in [`status`].

mod governance;
mod model;
mod status;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use commons_catalog::{CatalogRow, ModelDetails};
use commons_store::Store;
use serde_json::{json, Value};

use crate::error::{ApiError, OllamaError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/commons/v1/models", get(list))
        .route("/commons/v1/models/{*name}", get(show))
        .route("/commons/v1/health", get(health))
        .merge(model::router())
        .merge(governance::router())
        .merge(status::router())
}

/// Runs `work` on the store in a blocking task (SQLite and file reads must not
/// stall the async workers); `what` names the task in the error if it panics.
pub(crate) async fn with_store<T: Send + 'static>(
    state: &AppState,
    what: &str,
    work: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, OllamaError> {
    let store: Arc<Store> = state.store().clone();
    Ok(tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| ApiError::internal(format!("the {what} task failed: {e}")))??)
}

/// `GET /commons/v1/health`: the health of the commons, as `commons health --json`.
async fn health(
    State(state): State<AppState>,
) -> Result<Json<commons_governance::health::Health>, OllamaError> {
    let report = with_store(&state, "health", |store| {
        commons_governance::health::report(store)
            .map_err(|e| ApiError::internal(format!("cannot build the health report: {e}")))
    })
    .await?;
    Ok(Json(report))
}

/// `GET /commons/v1/models`: every model with its provenance state.
async fn list(State(state): State<AppState>) -> Result<Json<Value>, OllamaError> {
    let rows = with_store(&state, "catalog", |store| {
        let entries = store
            .list()
            .map_err(|e| ApiError::internal(format!("cannot list models: {e}")))?;
        entries
            .iter()
            .map(|entry| {
                CatalogRow::load(store, entry)
                    .map_err(|e| ApiError::from_store(&entry.reference(), e))
            })
            .collect::<Result<Vec<CatalogRow>, ApiError>>()
    })
    .await?;
    Ok(Json(json!({ "models": rows })))
}

/// `GET /commons/v1/models/{name}`: one model (`name`, `name:tag` or a digest), as `commons show --json`.
async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelDetails>, OllamaError> {
    let details = with_store(&state, "catalog", move |store| {
        let entry = store
            .resolve(&name)
            .map_err(|e| ApiError::from_store(&name, e))?;
        ModelDetails::load(store, &entry).map_err(|e| ApiError::from_store(&name, e))
    })
    .await?;
    Ok(Json(details))
}
