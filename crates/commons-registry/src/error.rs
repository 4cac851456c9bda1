//! OCI error bodies: `{"errors":[{"code","message","detail"}]}` with the
//! distribution spec's codes, and how store errors map onto them.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commons_store::StoreError;
use serde_json::{json, Value};

/// The error codes of the distribution spec (its table "Error Codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    /// Only for 5xx answers, which the spec leaves open (the reference registry says `UNKNOWN`).
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TooManyRequests => "TOOMANYREQUESTS",
            Code::Unknown => "UNKNOWN",
        }
    }
}

/// One failed `/v2` request: status, code, a message for people, optional detail.
#[derive(Debug)]
pub struct OciError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    pub detail: Option<Value>,
    /// Extra response headers (`Range` on a 416, `WWW-Authenticate` on a 401).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl OciError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> OciError {
        OciError {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: Value) -> OciError {
        self.detail = Some(detail);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> OciError {
        self.headers.push((name, value));
        self
    }

    pub fn name_invalid(name: &str, reason: impl std::fmt::Display) -> OciError {
        OciError::new(
            StatusCode::BAD_REQUEST,
            Code::NameInvalid,
            format!("invalid repository name `{name}`: {reason}"),
        )
        .with_detail(json!({ "name": name }))
    }

    pub fn digest_invalid(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::BAD_REQUEST, Code::DigestInvalid, message)
    }

    pub fn unsupported(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::METHOD_NOT_ALLOWED, Code::Unsupported, message)
    }

    /// A failure of the node itself (disk, catalog), not of the request.
    pub fn internal(message: impl Into<String>) -> OciError {
        OciError::new(StatusCode::INTERNAL_SERVER_ERROR, Code::Unknown, message)
    }

    /// The generic mapping of a store error; handlers map the errors whose
    /// meaning depends on the request (e.g. `NotFound`) before falling back here.
    pub fn from_store(error: StoreError) -> OciError {
        let message = error.to_string();
        match error {
            StoreError::InvalidDigest { input, .. } => {
                OciError::digest_invalid(message).with_detail(json!({ "digest": input }))
            }
            StoreError::DigestMismatch {
                expected, actual, ..
            } => OciError::digest_invalid(message).with_detail(json!({
                "expected": expected.as_str(),
                "actual": actual.as_str(),
            })),
            // A blob whose size differs from its descriptor's (CorruptBlob from a
            // manifest push) is, for that descriptor, a blob the node does not have.
            StoreError::MissingBlob { digest, .. }
            | StoreError::MissingManifest { digest, .. }
            | StoreError::CorruptBlob { digest, .. } => {
                OciError::new(StatusCode::BAD_REQUEST, Code::ManifestBlobUnknown, message)
                    .with_detail(json!({ "digest": digest.as_str() }))
            }
            StoreError::InvalidManifest { .. } => {
                OciError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, message)
            }
            StoreError::InvalidReference { .. } => {
                OciError::new(StatusCode::BAD_REQUEST, Code::NameInvalid, message)
            }
            StoreError::NotFound { .. } => {
                OciError::new(StatusCode::NOT_FOUND, Code::ManifestUnknown, message)
            }
            StoreError::UploadUnknown { id } => {
                OciError::new(StatusCode::NOT_FOUND, Code::BlobUploadUnknown, message)
                    .with_detail(json!({ "upload": id }))
            }
            StoreError::UploadOffset { actual, .. } => OciError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::BlobUploadInvalid,
                message,
            )
            .with_header(header::RANGE, range_value(actual)),
            other => {
                tracing::warn!(error = %other, "registry request failed in the store");
                OciError::internal(other.to_string())
            }
        }
    }
}

/// `Range: 0-<last byte>` for an upload of `size` bytes; `0-0` when empty, as
/// the reference registry answers (the spec's inclusive form has no empty range).
pub fn range_value(size: u64) -> HeaderValue {
    let end = size.saturating_sub(1);
    HeaderValue::from_str(&format!("0-{end}")).unwrap_or(HeaderValue::from_static("0-0"))
}

impl From<StoreError> for OciError {
    fn from(error: StoreError) -> OciError {
        OciError::from_store(error)
    }
}

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code.as_str(), error = %self.message, "registry request failed");
        } else {
            tracing::debug!(status = %self.status, code = self.code.as_str(), error = %self.message, "registry request refused");
        }
        let mut entry = json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(detail) = self.detail {
            entry["detail"] = detail;
        }
        let mut response = (self.status, axum::Json(json!({ "errors": [entry] }))).into_response();
        for (name, value) in self.headers {
            response.headers_mut().append(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_spec_identifiers() {
        let all = [
            (Code::BlobUnknown, "BLOB_UNKNOWN"),
            (Code::BlobUploadInvalid, "BLOB_UPLOAD_INVALID"),
            (Code::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN"),
            (Code::DigestInvalid, "DIGEST_INVALID"),
            (Code::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN"),
            (Code::ManifestInvalid, "MANIFEST_INVALID"),
            (Code::ManifestUnknown, "MANIFEST_UNKNOWN"),
            (Code::NameInvalid, "NAME_INVALID"),
            (Code::NameUnknown, "NAME_UNKNOWN"),
            (Code::SizeInvalid, "SIZE_INVALID"),
            (Code::Unauthorized, "UNAUTHORIZED"),
            (Code::Denied, "DENIED"),
            (Code::Unsupported, "UNSUPPORTED"),
            (Code::TooManyRequests, "TOOMANYREQUESTS"),
        ];
        for (code, text) in all {
            assert_eq!(code.as_str(), text);
        }
    }

    #[test]
    fn ranges_are_inclusive_and_empty_uploads_say_0_0() {
        assert_eq!(range_value(0), "0-0");
        assert_eq!(range_value(1), "0-0");
        assert_eq!(range_value(10), "0-9");
    }
}
