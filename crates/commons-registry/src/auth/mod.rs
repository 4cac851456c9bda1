//! Token auth for every API of a node, and the token endpoint `/v2/token`.
//!
//! The rule ([`AuthPolicy`]):
//! - reads (pulls, listings, inference) are open unless anonymous reads are
//!   off; then they need a token with any scope (`push` and `delete` imply `pull`);
//! - writes (`/v2` PUT/POST/PATCH, Ollama create/copy/pull/push, blob uploads,
//!   any non-GET under `/commons`)
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
//!
//! - `credentials` reads `Authorization` (Bearer or Basic);
//! - `refusal` renders a refusal in the shape of the API it is for, with the challenge;
//! - `token` answers `/v2/token`.

mod credentials;
mod refusal;
mod token;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use commons_store::{Scope, Store, TokenInfo};

use credentials::{credentials, Credentials};
use refusal::Refusal;

/// The `service` of the challenge and of token requests.
pub const SERVICE: &str = "commons";

/// What the token endpoint gives a client that has no credentials while
/// anonymous reads are allowed; sent back, it counts as no credentials.
pub const ANONYMOUS_TOKEN: &str = "anonymous";

/// Who made a write, for the audit log: the token's name, or `anonymous`.
/// The middleware puts it in the request's extensions of every allowed write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    /// The actor of `request`: `anonymous` when no middleware named one.
    pub fn of(request: &Request) -> String {
        request
            .extensions()
            .get::<Actor>()
            .map_or_else(|| "anonymous".to_string(), |a| a.0.clone())
    }
}

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

/// Classifies a request. Under `/v2`, `/api` and `/commons` every non-GET
/// that is not a known read is a write, so routes added later are protected
/// by default.
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
    if path.starts_with("/v2/") || path.starts_with("/api/") || path.starts_with("/commons/") {
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
            .map_err(|e| match e {
                // An expired token is a credential problem, not the node's.
                commons_store::StoreError::TokenExpired { .. } => Refusal::unauthorized(format!(
                    "{e}: ask the node's operator for a new one \
                     (`commons token create NAME --scope SCOPE`)"
                )),
                other => Refusal::internal(other.to_string()),
            })
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
        // OpenAI clients always send some API key: where anyone may read, a
        // key that is not a commons token is no reason to refuse a read. (A
        // commons token that is unknown or revoked still is: its sender meant it.)
        if access == Access::Read && self.policy.anonymous_reads {
            let commons_token = matches!(
                credentials(headers),
                Ok(Credentials::Secret(ref secret)) if secret.starts_with(commons_store::TOKEN_PREFIX)
            );
            if !commons_token {
                return Ok(());
            }
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
pub async fn middleware(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if path == "/v2/token" {
        return token::token_endpoint(&auth, request).await;
    }
    let access = required_access(request.method(), &path);
    match auth.authorize(request.headers(), access).await {
        Ok(()) => {
            if let Access::Write(_) = access {
                // Looked up again only for writes, which are rare and audited.
                let token = auth.token_of(request.headers()).await.ok().flatten();
                let actor = token.map_or_else(|| "anonymous".to_string(), |t| t.name);
                request.extensions_mut().insert(Actor(actor));
            }
            next.run(request).await
        }
        Err(refusal) => {
            tracing::debug!(method = %request.method(), %path, reason = %refusal.message, "request refused by auth");
            refusal.render(&request, access)
        }
    }
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
            (Method::GET, "/commons/v1/health", Access::Read),
            (Method::POST, "/commons/v1/models", push),
            (Method::DELETE, "/commons/v1/models/m", delete),
            (Method::POST, "/v1/chat/completions", Access::Read),
            (Method::POST, "/tokenize", Access::Read),
        ] {
            assert_eq!(required_access(&method, path), want, "{method} {path}");
        }
    }
}
