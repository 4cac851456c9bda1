//! Token auth for every API of a node, and the token endpoint `/v2/token`.
//!
//! The rule ([`AuthPolicy`]):
//! - reads (pulls, listings, inference) are open unless anonymous reads are
//!   off; then they need a token with any scope (`push` and `delete` imply `pull`);
//! - writes (`/v2` PUT/POST/PATCH, Ollama create/copy/pull/push, blob uploads)
//!   need `push`, deletes need `delete` — but only once the node has at least
//!   one token with `push` or `delete`, or when the policy says `require_auth`.
//!   A single-user node that never created a token keeps working without one.
//!
//! Clients authenticate with `Authorization: Bearer <token>` or with HTTP
//! Basic (any user name, the token as password). A refusal is a 401 with the
//! challenge Docker and OCI clients follow (`WWW-Authenticate: Bearer
//! realm="<node>/v2/token",service="commons",scope="repository:<name>:pull,push"`);
//! the token endpoint hands the same commons token back (tokens are opaque and
//! checked on every request, so there is nothing to mint), or the placeholder
//! [`ANONYMOUS_TOKEN`] to a client without credentials while anonymous reads
//! are on. A token without the needed scope gets 403 DENIED.
//!
//! Use it as a middleware in front of all routes: [`protect`], or
//! `axum::middleware::from_fn_with_state(Auth::new(store, policy), middleware)`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use commons_store::{Scope, Store, TokenInfo};
use serde_json::json;

use crate::error::{Code, OciError};
use crate::manifests::header_value;
use crate::path::{self, Route};

/// The `service` of the challenge and of token requests.
pub const SERVICE: &str = "commons";

/// What the token endpoint gives a client that has no credentials while
/// anonymous reads are allowed; sent back, it counts as no credentials.
pub const ANONYMOUS_TOKEN: &str = "anonymous";

/// How long clients may cache a token before asking again (tokens themselves
/// do not expire; revoking one takes effect on the next request).
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// Who may do what on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Reads without a token (default on). Off: every read needs a token.
    pub anonymous_reads: bool,
    /// Writes need a token even while the node has no `push`/`delete` token
    /// (default off: a node without such tokens accepts anonymous writes).
    pub require_auth: bool,
}

impl Default for AuthPolicy {
    fn default() -> AuthPolicy {
        AuthPolicy {
            anonymous_reads: true,
            require_auth: false,
        }
    }
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing: the token endpoint itself, and version probes.
    Public,
    /// `GET /v2/`: open only when nothing on the node needs a token, so that
    /// clients learn about the challenge before their first push.
    Ping,
    /// Reading: open while anonymous reads are on.
    Read,
    /// Changing the store: needs this scope once writes need tokens.
    Write(Scope),
}

/// Ollama `/api` POST routes that only read.
const OLLAMA_READS: [&str; 5] = [
    "/api/generate",
    "/api/chat",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
];

/// Classifies a request. Under `/api` every non-GET that is not a known read
/// is a write, so routes added later are protected by default.
pub fn required_access(method: &Method, path: &str) -> Access {
    let reading = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let writing = || {
        if *method == Method::DELETE {
            Access::Write(Scope::Delete)
        } else {
            Access::Write(Scope::Push)
        }
    };
    // The token endpoint checks credentials itself; version probes say nothing
    // about the store and are what clients (and health checks) try first.
    if matches!(path, "/v2/token" | "/api/version" | "/") {
        return Access::Public;
    }
    if path == "/v2" || path == "/v2/" {
        return if reading { Access::Ping } else { writing() };
    }
    if path.starts_with("/v2/") || path.starts_with("/api/") {
        // The Hub API lists files of a revision with a POST (`paths-info`).
        let hub_read = path.starts_with("/api/models/") && path.contains("/paths-info/");
        return if reading || hub_read || OLLAMA_READS.contains(&path) {
            Access::Read
        } else {
            writing()
        };
    }
    // `/v1`, `/tokenize`, `/`: inference and probes.
    Access::Read
}

/// The middleware's state: the store (for tokens) and the policy.
#[derive(Clone)]
pub struct Auth {
    store: Arc<Store>,
    policy: AuthPolicy,
}

impl Auth {
    pub fn new(store: Arc<Store>, policy: AuthPolicy) -> Auth {
        Auth { store, policy }
    }

    /// Whether a write without a token is refused right now.
    async fn writes_need_token(&self) -> Result<bool, Refusal> {
        if self.policy.require_auth {
            return Ok(true);
        }
        let tokens = self.tokens().await?;
        Ok(tokens.iter().any(grants_writes))
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>, Refusal> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.tokens())
            .await
            .map_err(|e| Refusal::internal(e.to_string()))?
            .map_err(|e| Refusal::internal(e.to_string()))
    }

    async fn check(&self, secret: String) -> Result<Option<TokenInfo>, Refusal> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.check_token(&secret))
            .await
            .map_err(|e| Refusal::internal(e.to_string()))?
            .map_err(|e| Refusal::internal(e.to_string()))
    }

    /// The token a request carries: `None` for none (or the anonymous
    /// placeholder), a refusal for unreadable or unknown credentials.
    async fn token_of(&self, headers: &HeaderMap) -> Result<Option<TokenInfo>, Refusal> {
        match credentials(headers)? {
            Credentials::None => Ok(None),
            Credentials::Secret(secret) => match self.check(secret).await? {
                Some(token) => Ok(Some(token)),
                None => Err(Refusal::unauthorized(
                    "the token is not valid on this node (it may have been revoked)",
                )),
            },
        }
    }

    /// Decides whether a request needing `access` may go on.
    async fn authorize(&self, headers: &HeaderMap, access: Access) -> Result<(), Refusal> {
        if access == Access::Public {
            return Ok(());
        }
        let token = self.token_of(headers).await?;
        match (access, token) {
            (Access::Public, _) => Ok(()),
            (Access::Ping | Access::Read, Some(_)) => Ok(()),
            (Access::Read, None) if self.policy.anonymous_reads => Ok(()),
            (Access::Ping, None) if self.policy.anonymous_reads => {
                if self.writes_need_token().await? {
                    Err(Refusal::unauthorized(
                        "this node needs a token for pushes: log in with a commons token",
                    ))
                } else {
                    Ok(())
                }
            }
            (Access::Ping | Access::Read, None) => Err(Refusal::unauthorized(
                "this node does not allow anonymous reads: send a token with the `pull` scope \
                 (create one on the node with `commons token create NAME --scope pull`)",
            )),
            (Access::Write(scope), Some(token)) if token.allows(scope) => Ok(()),
            (Access::Write(scope), Some(token)) => Err(Refusal::denied(format!(
                "token `{}` has the scopes {}, but this needs `{scope}` \
                 (create one with `commons token create NAME --scope {scope}`)",
                token.name,
                scopes_list(&token.scopes),
            ))),
            (Access::Write(scope), None) => {
                if self.writes_need_token().await? {
                    let none_yet = !self.tokens().await?.iter().any(|t| t.allows(scope));
                    let hint = if none_yet {
                        format!(
                            "; no token with `{scope}` exists yet: create one on the node with \
                             `commons token create NAME --scope {scope}`"
                        )
                    } else {
                        String::new()
                    };
                    Err(Refusal::unauthorized(format!(
                        "this needs a token with the `{scope}` scope (send it as \
                         `Authorization: Bearer <token>`, or as the password of HTTP Basic auth){hint}"
                    )))
                } else {
                    Ok(())
                }
            }
        }
    }
}

fn grants_writes(token: &TokenInfo) -> bool {
    token.allows(Scope::Push) || token.allows(Scope::Delete)
}

fn scopes_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Puts the auth middleware in front of every route of `router`.
pub fn protect<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    store: Arc<Store>,
    policy: AuthPolicy,
) -> Router<S> {
    router.layer(axum::middleware::from_fn_with_state(
        Auth::new(store, policy),
        middleware,
    ))
}

/// The middleware: answers `/v2/token`, lets allowed requests through, and
/// refuses the rest in the shape of the API they were for.
pub async fn middleware(State(auth): State<Auth>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path == "/v2/token" {
        return token_endpoint(&auth, request).await;
    }
    let access = required_access(request.method(), &path);
    match auth.authorize(request.headers(), access).await {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::debug!(method = %request.method(), %path, reason = %refusal.message, "request refused by auth");
            refusal.render(&request, access)
        }
    }
}

/// Credentials as sent.
enum Credentials {
    None,
    Secret(String),
}

fn credentials(headers: &HeaderMap) -> Result<Credentials, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let malformed = || Refusal::unauthorized("the Authorization header is not Bearer or Basic");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (kind, rest) = value.split_once(' ').ok_or_else(malformed)?;
    let rest = rest.trim();
    if kind.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest == ANONYMOUS_TOKEN {
            return Ok(Credentials::None);
        }
        return Ok(Credentials::Secret(rest.to_string()));
    }
    if kind.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(malformed)?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        // The token is the password; some tools only have a user field.
        let secret = if password.is_empty() { user } else { password };
        if secret.is_empty() {
            return Ok(Credentials::None);
        }
        return Ok(Credentials::Secret(secret.to_string()));
    }
    Err(malformed())
}

/// Why a request was refused.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn unauthorized(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
        }
    }

    fn denied(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    fn internal(message: String) -> Refusal {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("cannot check tokens: {message}"),
        }
    }

    /// The refusal in the error shape of the API the request was for, with
    /// the Bearer challenge on a 401.
    fn render(self, request: &Request, access: Access) -> Response {
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

/// `GET /v2/token` (Docker token auth) and `POST /v2/token` (its OAuth2 form
/// with `password` or `refresh_token`): checks the credentials and hands the
/// token back. The requested `scope` is not narrowed here; every request is
/// checked against the token's scopes when it arrives.
async fn token_endpoint(auth: &Auth, request: Request) -> Response {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_reads_writes_and_deletes() {
        let push = Access::Write(Scope::Push);
        let delete = Access::Write(Scope::Delete);
        for (method, path, want) in [
            (Method::GET, "/v2/token", Access::Public),
            (Method::GET, "/api/version", Access::Public),
            (Method::GET, "/", Access::Public),
            (Method::GET, "/v2/", Access::Ping),
            (Method::GET, "/v2/m/manifests/latest", Access::Read),
            (Method::HEAD, "/v2/m/blobs/sha256:00", Access::Read),
            (Method::PUT, "/v2/m/manifests/latest", push),
            (Method::POST, "/v2/m/blobs/uploads/", push),
            (Method::PATCH, "/v2/m/blobs/uploads/x", push),
            (Method::DELETE, "/v2/m/manifests/latest", delete),
            (Method::POST, "/api/create", push),
            (Method::POST, "/api/copy", push),
            (Method::DELETE, "/api/delete", delete),
            (Method::POST, "/api/blobs/sha256:00", push),
            (Method::HEAD, "/api/blobs/sha256:00", Access::Read),
            (Method::POST, "/api/pull", push),
            (Method::POST, "/api/chat", Access::Read),
            (Method::POST, "/api/show", Access::Read),
            (Method::GET, "/api/tags", Access::Read),
            (Method::GET, "/api/models/org/m", Access::Read),
            (Method::POST, "/api/repos/create", push),
            (
                Method::POST,
                "/api/models/org/m/paths-info/main",
                Access::Read,
            ),
            (Method::POST, "/v1/chat/completions", Access::Read),
            (Method::POST, "/tokenize", Access::Read),
        ] {
            assert_eq!(required_access(&method, path), want, "{method} {path}");
        }
    }

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
    fn credentials_come_as_bearer_or_basic() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            credentials(&headers)
        };
        let secret = |c: Result<Credentials, Refusal>| match c {
            Ok(Credentials::Secret(s)) => Some(s),
            _ => None,
        };
        assert_eq!(secret(with("Bearer cmn_abc")).as_deref(), Some("cmn_abc"));
        let basic = base64::engine::general_purpose::STANDARD.encode("me:cmn_abc");
        assert_eq!(
            secret(with(&format!("Basic {basic}"))).as_deref(),
            Some("cmn_abc")
        );
        let user_only = base64::engine::general_purpose::STANDARD.encode("cmn_abc:");
        assert_eq!(
            secret(with(&format!("basic {user_only}"))).as_deref(),
            Some("cmn_abc")
        );
        assert!(matches!(with("Bearer anonymous"), Ok(Credentials::None)));
        assert!(with("Digest x").is_err());
        assert!(with("Basic !!!").is_err());
        assert!(matches!(
            credentials(&HeaderMap::new()),
            Ok(Credentials::None)
        ));
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
