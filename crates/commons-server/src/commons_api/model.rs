//! One model's provenance record with its lineage, and its evaluations as
//! `commons eval compare NAME` lays them out.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use commons_catalog::record::current_record;
use commons_provenance::record::BaseModelRef;
use commons_provenance::ProvenanceRecord;
use commons_store::{ModelEntry, Store, StoreError};
use serde::Serialize;

use super::with_store;
use crate::error::{ApiError, OllamaError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/commons/v1/provenance/{*name}", get(provenance))
        .route("/commons/v1/evaluations/{*name}", get(evaluations))
}

/// The answer of `GET /commons/v1/provenance/{name}`.
#[derive(Debug, Serialize)]
pub struct ProvenanceView {
    pub reference: String,
    pub digest: String,
    /// The stored record version; `null` when the record is what the files state.
    pub version: Option<u64>,
    pub record: ProvenanceRecord,
    /// The record's base models, resolved on this node where possible.
    pub bases: Vec<LineageLink>,
    /// Models on this node whose record names this one as a base.
    pub derived: Vec<LineageLink>,
}

/// One edge of the lineage graph.
#[derive(Debug, Serialize)]
pub struct LineageLink {
    /// The name as the record states it (or the local `name:tag` for derived models).
    pub name: String,
    /// `fine-tune`, `quantization`, `merge`, ... as the record states it.
    pub relation: Option<String>,
    /// The `name:tag` on this node, when the model is here.
    pub local: Option<String>,
    /// Identical tensors (by sha256) between the two models, when both are here.
    pub shared_tensors: Option<SharedTensors>,
}

#[derive(Debug, Serialize)]
pub struct SharedTensors {
    pub shared: usize,
    /// Tensors of the model this page is about.
    pub of: usize,
}

/// `GET /commons/v1/provenance/{name}`: the current provenance record (as
/// `commons provenance show` gives it) with base and derived models.
async fn provenance(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProvenanceView>, OllamaError> {
    let view = with_store(&state, "provenance", move |store| {
        lineage_view(store, &name).map_err(|e| ApiError::from_store(&name, e))
    })
    .await?;
    Ok(Json(view))
}

fn lineage_view(store: &Store, name: &str) -> Result<ProvenanceView, StoreError> {
    let entry = store.resolve(name)?;
    let current = current_record(store, &entry)?;
    let own_tensors = tensor_set(store, &entry)?;
    let mut bases = Vec::new();
    for base in &current.record.base_models {
        let local = resolve_base(store, base);
        let shared_tensors = match &local {
            Some(other) => Some(shared(&own_tensors, &tensor_set(store, other)?)),
            None => None,
        };
        bases.push(LineageLink {
            name: base
                .name
                .clone()
                .or_else(|| base.digest.clone())
                .unwrap_or_else(|| "unnamed base model".into()),
            relation: relation(base),
            local: local.map(|e| e.reference()),
            shared_tensors,
        });
    }
    let mut derived = Vec::new();
    let mut seen = HashSet::new();
    for other in store.list()? {
        if other.digest == entry.digest || !seen.insert(other.digest.to_string()) {
            continue;
        }
        let record = current_record(store, &other)?.record;
        if let Some(base) = record.base_models.iter().find(|b| names(b, &entry)) {
            derived.push(LineageLink {
                name: other.reference(),
                relation: relation(base),
                local: Some(other.reference()),
                shared_tensors: Some(shared(&own_tensors, &tensor_set(store, &other)?)),
            });
        }
    }
    Ok(ProvenanceView {
        reference: entry.reference(),
        digest: entry.digest.to_string(),
        version: current.version,
        record: current.record,
        bases,
        derived,
    })
}

/// Whether a base-model reference points at `entry`: by manifest digest, or
/// by the name (with or without the tag) it has on this node.
fn names(base: &BaseModelRef, entry: &ModelEntry) -> bool {
    base.digest.as_deref() == Some(entry.digest.as_str())
        || base
            .name
            .as_deref()
            .is_some_and(|n| n == entry.name || n == entry.reference())
}

fn resolve_base(store: &Store, base: &BaseModelRef) -> Option<ModelEntry> {
    [base.digest.as_deref(), base.name.as_deref()]
        .into_iter()
        .flatten()
        .find_map(|reference| store.resolve(reference).ok())
}

fn relation(base: &BaseModelRef) -> Option<String> {
    base.relation
        .and_then(|r| serde_json::to_value(r).ok())
        .and_then(|v| v.as_str().map(str::to_string))
}

fn tensor_set(store: &Store, entry: &ModelEntry) -> Result<HashSet<String>, StoreError> {
    Ok(store
        .tensors(&entry.digest)?
        .into_iter()
        .map(|t| t.sha256)
        .collect())
}

fn shared(own: &HashSet<String>, other: &HashSet<String>) -> SharedTensors {
    SharedTensors {
        shared: own.intersection(other).count(),
        of: own.len(),
    }
}

/// `GET /commons/v1/evaluations/{name}`: every evaluator's latest attested
/// result per suite with its interval, disagreements and thin coverage — the
/// JSON of `commons eval compare NAME --json`. Nothing is ranked.
async fn evaluations(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<commons_eval::compare::Comparison>, OllamaError> {
    let comparison = with_store(&state, "evaluations", move |store| {
        // Resolve first, so an unknown model is a 404 in the API's own words.
        let entry = store
            .resolve(&name)
            .map_err(|e| ApiError::from_store(&name, e))?;
        let trust = commons_eval::compare::trusted_keys(store.root())
            .map_err(|e| ApiError::internal(format!("cannot read the trusted keys: {e}")))?;
        commons_eval::compare::compare(store, &[entry.reference()], &trust).map_err(|e| {
            ApiError::internal(format!("cannot compare the evaluations of {name}: {e}"))
        })
    })
    .await?;
    Ok(Json(comparison))
}
