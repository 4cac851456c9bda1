//! Errors in the Hub's own shape: a status, a JSON body `{"error": "..."}` and the
//! `X-Error-Code` header that `huggingface_hub` turns into its typed exceptions
//! (`RepositoryNotFoundError`, `RevisionNotFoundError`, `RemoteEntryNotFoundError`).

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub(crate) const X_ERROR_CODE: HeaderName = HeaderName::from_static("x-error-code");
pub(crate) const X_ERROR_MESSAGE: HeaderName = HeaderName::from_static("x-error-message");
pub(crate) const X_REPO_COMMIT: HeaderName = HeaderName::from_static("x-repo-commit");

/// Why a Hub request failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("Repository not found: {0}")]
    RepoNotFound(String),
    #[error("Invalid rev id: {rev} (repository {repo})")]
    RevisionNotFound { repo: String, rev: String },
    /// `commit` goes into `X-Repo-Commit`: the client caches the absence of the
    /// file under that commit (`.no_exist/<commit>/<path>`).
    #[error("Entry not found: {path}")]
    EntryNotFound { path: String, commit: String },
    /// A path or parameter that can never name anything (`..`, an encoded `/`, bad UTF-8).
    #[error("{0}")]
    BadRequest(String),
    #[error("Requested range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    #[error("{0}")]
    Internal(String),
}

impl HubError {
    pub(crate) fn internal(context: &str, error: impl std::fmt::Display) -> HubError {
        HubError::Internal(format!("{context}: {error}"))
    }

    fn status(&self) -> StatusCode {
        match self {
            HubError::RepoNotFound(_)
            | HubError::RevisionNotFound { .. }
            | HubError::EntryNotFound { .. } => StatusCode::NOT_FOUND,
            HubError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HubError::RangeNotSatisfiable { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            HubError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            HubError::RepoNotFound(_) => Some("RepoNotFound"),
            HubError::RevisionNotFound { .. } => Some("RevisionNotFound"),
            HubError::EntryNotFound { .. } => Some("EntryNotFound"),
            _ => None,
        }
    }
}

impl IntoResponse for HubError {
    fn into_response(self) -> Response {
        if let HubError::Internal(message) = &self {
            tracing::error!(%message, "hub request failed");
        }
        let message = self.to_string();
        let mut response =
            (self.status(), Json(serde_json::json!({ "error": message }))).into_response();
        let headers = response.headers_mut();
        if let Some(code) = self.code() {
            headers.insert(X_ERROR_CODE, HeaderValue::from_static(code));
        }
        // Header values must be visible ASCII; a message that is not is only in the body.
        if let Ok(value) = HeaderValue::from_str(&message) {
            headers.insert(X_ERROR_MESSAGE, value);
        }
        match &self {
            HubError::EntryNotFound { commit, .. } => {
                if let Ok(value) = HeaderValue::from_str(commit) {
                    headers.insert(X_REPO_COMMIT, value);
                }
            }
            HubError::RangeNotSatisfiable { size } => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    headers.insert(axum::http::header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}

impl From<tokio::task::JoinError> for HubError {
    fn from(error: tokio::task::JoinError) -> HubError {
        HubError::internal("a store lookup stopped unexpectedly", error)
    }
}
