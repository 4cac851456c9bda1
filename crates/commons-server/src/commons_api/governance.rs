//! Read-only views of how the node governs what it hosts: the audit log with
//! its verification, the quarantine queue, the stewards' proposals and
//! approvals, and the hosting policy in force. Changing any of them stays
//! with the command line (`commons audit`, `commons steward`, `commons policy`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use commons_governance::audit::{self, ExportLine, VerifyReport};
use commons_governance::GovernanceError;
use commons_store::Quarantined;
use serde::{Deserialize, Serialize};

use super::with_store;
use crate::error::{ApiError, OllamaError};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/commons/v1/audit", get(audit_log))
        .route("/commons/v1/quarantine", get(quarantine))
        .route("/commons/v1/proposals", get(proposals))
        .route("/commons/v1/policy", get(policy))
}

fn governance_error(what: &str, error: GovernanceError) -> ApiError {
    ApiError::internal(format!("cannot read {what}: {error}"))
}

/// Entries returned when the request names no `limit`.
const DEFAULT_AUDIT_LIMIT: usize = 200;
/// The most entries one request returns.
const MAX_AUDIT_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
struct AuditQuery {
    limit: Option<usize>,
}

/// The answer of `GET /commons/v1/audit`.
#[derive(Debug, Serialize)]
pub struct AuditView {
    /// `commons audit verify --json` over the whole chain.
    pub verify: VerifyReport,
    /// Entries in the log.
    pub total: usize,
    /// The newest `limit` entries, oldest first, as `commons audit export` writes them.
    pub entries: Vec<ExportLine>,
}

/// `GET /commons/v1/audit[?limit=N]`: the chain's verification and its newest entries.
async fn audit_log(
    State(state): State<AppState>,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditView>, OllamaError> {
    let limit = query
        .limit
        .unwrap_or(DEFAULT_AUDIT_LIMIT)
        .min(MAX_AUDIT_LIMIT);
    let view = with_store(&state, "audit", move |store| {
        let verify = audit::verify(store).map_err(|e| governance_error("the audit log", e))?;
        let mut entries = audit::export(store).map_err(|e| governance_error("the audit log", e))?;
        let total = entries.len();
        entries.drain(..total.saturating_sub(limit));
        Ok(AuditView {
            verify,
            total,
            entries,
        })
    })
    .await?;
    Ok(Json(view))
}

/// One quarantined model: the store's record with the names that point at it.
#[derive(Debug, Serialize)]
pub struct QuarantineEntry {
    #[serde(flatten)]
    pub quarantined: Quarantined,
    /// `name:tag` references of the manifest on this node.
    pub references: Vec<String>,
}

/// `GET /commons/v1/quarantine`: models kept but not served, with the policy decision.
async fn quarantine(State(state): State<AppState>) -> Result<Json<serde_json::Value>, OllamaError> {
    let models = with_store(&state, "quarantine", |store| {
        let unavailable = |e| ApiError::internal(format!("cannot read the quarantine: {e}"));
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in store.list().map_err(unavailable)? {
            names
                .entry(entry.digest.to_string())
                .or_default()
                .push(entry.reference());
        }
        Ok(store
            .quarantined_models()
            .map_err(unavailable)?
            .into_iter()
            .map(|quarantined| QuarantineEntry {
                references: names.remove(&quarantined.digest).unwrap_or_default(),
                quarantined,
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(serde_json::json!({ "models": models })))
}

/// `GET /commons/v1/proposals`: stewards, threshold and every proposal with
/// its approvals, each marked counted or not (and why) — the JSON of
/// `commons steward list --json`, threshold included as in force (at least 1).
async fn proposals(State(state): State<AppState>) -> Result<Json<serde_json::Value>, OllamaError> {
    let set = with_store(&state, "stewards", |store| {
        commons_governance::steward::load(store).map_err(|e| governance_error("the stewards", e))
    })
    .await?;
    Ok(Json(serde_json::json!({
        "version": set.version,
        "threshold": set.effective_threshold(),
        "stewards": set.stewards,
        "proposals": set.proposals,
    })))
}

/// `GET /commons/v1/policy`: the hosting policy in force (version, TOML text, sha256).
async fn policy(
    State(state): State<AppState>,
) -> Result<Json<commons_governance::policy::CurrentPolicy>, OllamaError> {
    let current = with_store(&state, "policy", |store| {
        commons_governance::policy::current(store).map_err(|e| governance_error("the policy", e))
    })
    .await?;
    Ok(Json(current))
}
