//! A refused request: 401 (no or unknown token) or 403 (a token without the
//! scope), in the error shape of the API it was for, with the Bearer challenge.

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use commons_store::Scope;
use serde_json::json;

use super::{Access, SERVICE};
use crate::error::{Code, OciError};
use crate::header_value;
use crate::path::{self, Route};

/// Why a request was refused.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    pub(super) fn denied(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub(super) fn internal(message: String) -> Refusal {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot check tokens: {message}"),
        }
    }

    /// The refusal in the error shape of the API the request was for, with
    /// the Bearer challenge on a 401.
    pub(super) fn render(self, request: &Request, access: Access) -> Response {
        let path = request.uri().path();
        let mut response = if path.starts_with("/v2") {
            let code = match self.status {
                StatusCode::UNAUTHORIZED => Code::Unauthorized,
                StatusCode::FORBIDDEN => Code::Denied,
                _ => Code::Unknown,
            };
            OciError::new(self.status, code, self.message).into_response()
        } else if path.starts_with("/v1") {
            let (kind, code) = match self.status {
                StatusCode::UNAUTHORIZED => ("authentication_error", "unauthorized"),
                StatusCode::FORBIDDEN => ("permission_error", "denied"),
                _ => ("server_error", "internal"),
            };
            let body = json!({ "error": {
                "message": self.message, "type": kind, "param": null, "code": code,
            }});
            (self.status, axum::Json(body)).into_response()
        } else {
            (self.status, axum::Json(json!({ "error": self.message }))).into_response()
        };
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = challenge(request, access);
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header_value(&challenge));
        }
        response
    }
}

/// `Bearer realm="<node>/v2/token",service="commons"[,scope="…"]`.
fn challenge(request: &Request, access: Access) -> String {
    let mut challenge = format!(
        "Bearer realm=\"{}/v2/token\",service=\"{SERVICE}\"",
        node_url(request.headers(), request.uri())
    );
    if let Some(scope) = scope_for(request.uri().path(), access) {
        challenge.push_str(&format!(",scope=\"{scope}\""));
    }
    challenge
}

/// The scope a client should ask the token endpoint for.
fn scope_for(path: &str, access: Access) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let route = path::parse(rest).ok().flatten()?;
    if route == Route::Catalog {
        return Some("registry:catalog:*".into());
    }
    let name = route.repository()?;
    let actions = match access {
        Access::Write(Scope::Delete) => "delete",
        Access::Write(_) => "pull,push",
        _ => "pull",
    };
    Some(format!("repository:{name}:{actions}"))
}

/// `http://host:port` as the client reached the node (behind a TLS proxy,
/// `X-Forwarded-Proto: https` makes it `https`).
fn node_url(headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['"', ' ', '/']))
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".into());
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_name_the_scope_clients_should_ask_for() {
        let push = Access::Write(Scope::Push);
        assert_eq!(
            scope_for("/v2/org/m/blobs/uploads/", push).as_deref(),
            Some("repository:org/m:pull,push")
        );
        assert_eq!(
            scope_for("/v2/m/manifests/latest", Access::Read).as_deref(),
            Some("repository:m:pull")
        );
        assert_eq!(
            scope_for("/v2/m/manifests/latest", Access::Write(Scope::Delete)).as_deref(),
            Some("repository:m:delete")
        );
        assert_eq!(
            scope_for("/v2/_catalog", Access::Read).as_deref(),
            Some("registry:catalog:*")
        );
        assert_eq!(scope_for("/v2/", Access::Ping), None);
        assert_eq!(scope_for("/api/create", push), None);
    }

    #[test]
    fn the_realm_is_this_node_as_the_client_reached_it() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "10.0.0.2:11434".parse().unwrap());
        let uri: axum::http::Uri = "/v2/".parse().unwrap();
        assert_eq!(node_url(&headers, &uri), "http://10.0.0.2:11434");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        assert_eq!(node_url(&headers, &uri), "https://10.0.0.2:11434");
        assert_eq!(node_url(&HeaderMap::new(), &uri), "http://localhost");
    }
}
