//! One error type for every handler, rendered in the shape of the API that was called.
//!
//! Ollama clients expect `{"error": "..."}`; OpenAI clients expect
//! `{"error": {"message", "type", "param", "code"}}`. Handlers build an [`ApiError`] and
//! return it wrapped in [`OllamaError`] or [`OpenAiError`] (both `From<ApiError>`, so `?`
//! works), which choose the body shape. Status codes are the same in both.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commons_engine::EngineError;
use commons_store::StoreError;
use serde_json::json;

/// What went wrong with a request, independent of the API that reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The request field at fault (OpenAI `param`).
    pub param: Option<String>,
    /// OpenAI `code` (e.g. `model_not_found`, `context_length_exceeded`).
    pub code: Option<&'static str>,
    /// Seconds before a retry makes sense (sent as `Retry-After`).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            param: None,
            code: None,
            retry_after_secs: None,
        }
    }

    /// 400 blaming one request field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message).with_param(param)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The model name is unknown: the wording Ollama uses, which clients match on.
    pub fn model_not_found(name: &str) -> Self {
        Self::not_found(format!("model \"{name}\" not found, try pulling it first"))
            .with_code("model_not_found")
            .with_param("model")
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// An engine failure, mapped to the status a client can act on.
    pub fn from_engine(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::Busy {
                retry_after_secs, ..
            } => Self {
                retry_after_secs: Some(retry_after_secs.max(1)),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            .with_code("server_busy"),
            EngineError::PromptTooLong { .. } => {
                Self::invalid("prompt", message).with_code("context_length_exceeded")
            }
            EngineError::EmptyPrompt => Self::invalid("prompt", message),
            EngineError::InvalidToken { .. } => Self::invalid("prompt", message),
            EngineError::InvalidParameter { name, .. } => Self::invalid(name, message),
            EngineError::Grammar(_) => Self::invalid("format", message),
            EngineError::EmbeddingOnly(_) => Self::invalid("model", message),
            EngineError::NoChatTemplate | EngineError::ChatTemplate(_) => {
                Self::invalid("messages", message)
            }
            EngineError::OverBudget { .. } => Self::new(StatusCode::INSUFFICIENT_STORAGE, message),
            EngineError::ModelLoad { .. } | EngineError::ModelNotFound { .. } => {
                Self::internal(message)
            }
            EngineError::WorkerStopped => Self {
                retry_after_secs: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
            },
            EngineError::Context(_)
            | EngineError::Decode(_)
            | EngineError::Embedding(_)
            | EngineError::Unsupported(_)
            | EngineError::UnknownModel(_) => Self::internal(message),
        }
    }

    /// A store failure while looking up `name`.
    pub fn from_store(name: &str, error: StoreError) -> Self {
        match error {
            StoreError::NotFound { .. } => Self::model_not_found(name),
            StoreError::InvalidReference { .. } | StoreError::InvalidDigest { .. } => {
                Self::invalid("model", format!("invalid model name \"{name}\": {error}"))
            }
            StoreError::AmbiguousDigest { .. } => Self::invalid("model", error.to_string()),
            other => Self::internal(other.to_string()),
        }
    }

    fn retry_after(&self) -> Option<HeaderValue> {
        self.retry_after_secs
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
    }

    fn openai_type(&self) -> &'static str {
        if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        }
    }

    /// The body as Ollama writes it.
    pub fn ollama_body(&self) -> serde_json::Value {
        json!({ "error": self.message })
    }

    /// The body as OpenAI writes it.
    pub fn openai_body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.openai_type(),
                "param": self.param,
                "code": self.code,
            }
        })
    }

    fn respond(&self, body: serde_json::Value) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, error = %self.message, "request failed");
        } else {
            tracing::debug!(status = %self.status, error = %self.message, "request refused");
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(value) = self.retry_after() {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        Self::from_engine(error)
    }
}

/// An [`ApiError`] rendered as Ollama does.
#[derive(Debug)]
pub struct OllamaError(pub ApiError);

/// An [`ApiError`] rendered as OpenAI does.
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl From<ApiError> for OllamaError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        Self(error)
    }
}

impl From<EngineError> for OllamaError {
    fn from(error: EngineError) -> Self {
        Self(error.into())
    }
}

impl From<EngineError> for OpenAiError {
    fn from(error: EngineError) -> Self {
        Self(error.into())
    }
}

impl IntoResponse for OllamaError {
    fn into_response(self) -> Response {
        self.0.respond(self.0.ollama_body())
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut error = self.0;
        if error.code == Some("model_not_found") {
            // OpenAI's own wording for an unknown model.
            let name = error
                .message
                .split('"')
                .nth(1)
                .unwrap_or_default()
                .to_string();
            error.message =
                format!("The model `{name}` does not exist or you do not have access to it.");
        }
        error.respond(error.openai_body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_becomes_503_with_retry_after() {
        let error = ApiError::from_engine(EngineError::Busy {
            queued: 3,
            retry_after_secs: 2,
        });
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        let response = OllamaError(error).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn unknown_model_uses_each_apis_wording() {
        let error = ApiError::model_not_found("nope");
        assert_eq!(
            error.ollama_body(),
            json!({"error": "model \"nope\" not found, try pulling it first"})
        );
        let body = error.openai_body();
        assert_eq!(body["error"]["code"], "model_not_found");
        assert_eq!(body["error"]["param"], "model");
    }
}
