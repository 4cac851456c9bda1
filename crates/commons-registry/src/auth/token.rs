//! `/v2/token`: the Docker token endpoint (`GET` with Basic or Bearer
//! credentials) and its OAuth2 form (`POST`).

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::credentials::{credentials, Credentials};
use super::refusal::Refusal;
use super::{Auth, ANONYMOUS_TOKEN};
use crate::error::{Code, OciError};

/// How long clients may cache a token before asking again (tokens themselves
/// do not expire; revoking one takes effect on the next request).
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// `GET /v2/token` (Docker token auth) and `POST /v2/token` (its OAuth2 form
/// with `password` or `refresh_token`): checks the credentials and hands the
/// token back. The requested `scope` is not narrowed here; every request is
/// checked against the token's scopes when it arrives.
pub(super) async fn token_endpoint(auth: &Auth, request: Request) -> Response {
    let method = request.method().clone();
    let headers = request.headers().clone();
    let secret = match method {
        Method::GET | Method::HEAD => match credentials(&headers) {
            Ok(Credentials::Secret(secret)) => Some(secret),
            Ok(Credentials::None) => None,
            Err(refusal) => return token_refusal(refusal),
        },
        Method::POST => match form_secret(request.into_body()).await {
            Ok(secret) => secret,
            Err(refusal) => return token_refusal(refusal),
        },
        _ => {
            return OciError::unsupported("the token endpoint answers GET and POST").into_response()
        }
    };
    let token = match secret {
        Some(secret) => match auth.check(secret.clone()).await {
            Ok(Some(info)) => {
                tracing::debug!(token = %info.name, "token handed out");
                secret
            }
            Ok(None) => {
                return token_refusal(Refusal::unauthorized(
                    "the token is not valid on this node (it may have been revoked)",
                ))
            }
            Err(refusal) => return token_refusal(refusal),
        },
        None if auth.policy.anonymous_reads => ANONYMOUS_TOKEN.to_string(),
        None => {
            return token_refusal(Refusal::unauthorized(
                "this node does not allow anonymous reads: log in with a commons token \
                 (any user name, the token as password)",
            ))
        }
    };
    let body = json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_LIFETIME_SECS,
        "issued_at": commons_store::now_rfc3339(),
    });
    axum::Json(body).into_response()
}

/// A 401 from the token endpoint asks for Basic credentials, so that clients
/// prompt for (or send) the user name and token.
fn token_refusal(refusal: Refusal) -> Response {
    let status = refusal.status;
    let code = if status == StatusCode::UNAUTHORIZED {
        Code::Unauthorized
    } else {
        Code::Unknown
    };
    let mut response = OciError::new(status, code, refusal.message).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"commons\""),
        );
    }
    response
}

/// The secret of an OAuth2 token request (`application/x-www-form-urlencoded`).
async fn form_secret(body: Body) -> Result<Option<String>, Refusal> {
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| Refusal::unauthorized("the token request body could not be read"))?;
    let fields: Vec<(String, String)> = form_pairs(&bytes);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    Ok(field("password").or_else(|| field("refresh_token")))
}

/// Form fields, decoded with axum's own query parser.
fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let uri: axum::http::Uri = match format!("/?{}", text.trim()).parse() {
        Ok(uri) => uri,
        Err(_) => return Vec::new(),
    };
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default()
}
