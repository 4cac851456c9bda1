//! `commons-server`: the HTTP face of a commons node, every protocol on one port.
//!
//! Today it speaks two dialects of local inference over the models in the store:
//! - the Ollama API under `/api` ([`ollama`]): generate, chat, embed, the model catalog,
//!   blob upload and create;
//! - the OpenAI API under `/v1` ([`openai`]) plus the tokenizer endpoints `/tokenize`,
//!   `/detokenize` and `/tokenizer_info` ([`tokenizer`]) that lm-eval and vLLM clients use;
//! - the OCI distribution API under `/v2` (`commons_registry`) and the Hub read API.
//!
//! Every route sits behind `commons_registry::auth`: reads are open unless the
//! [`AuthPolicy`] turns anonymous reads off; writes need a token once the node has one
//! with `push` or `delete` (or always, with `require_auth`).
//!
//! Models are resolved in the store by `name`, `name:tag` or digest ([`state`]) and loaded
//! through `commons-engine`'s `ModelManager` on first use. Every handler returns errors in the
//! shape of its API ([`error`]); none panics on a request. Streaming answers own their
//! engine stream, so a client that disconnects cancels its generation ([`stream`]).
//!
//! The library never prints: it logs with `tracing`, and the CLI owns the terminal.

pub mod commons_api;
pub mod error;
pub mod inference;
pub mod json;
pub mod ollama;
pub mod openai;
pub mod runnable;
pub mod state;
pub mod stream;
pub mod tokenizer;

mod embedding;

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use commons_registry::AuthPolicy;
pub use state::{AppState, Limits};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// The whole application: every API, behind token auth (the node's
/// [`AuthPolicy`], applied to all routes alike), with request logging.
pub fn app(state: AppState) -> Router {
    let json_limit = state.limits().max_json_bytes;
    let auth =
        commons_registry::auth::Auth::new(state.store().clone(), state.auth_policy().clone());
    let uploads = ollama::router().layer(DefaultBodyLimit::max(json_limit));
    Router::new()
        .merge(uploads)
        .merge(openai::router().layer(DefaultBodyLimit::max(json_limit)))
        .merge(tokenizer::router().layer(DefaultBodyLimit::max(json_limit)))
        .merge(commons_api::router())
        .merge(commons_registry::router(state.store().clone()))
        .merge(commons_hub::router(state.store().clone()))
        .route("/", axum::routing::get(root))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            auth,
            commons_registry::auth::middleware,
        ))
        // The dashboard's files hold no data, so they load without a token even when
        // anonymous reads are off; its API calls send the token the user gives it.
        .merge(commons_ui::router())
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Ollama answers `GET /` with this line; some clients probe it.
async fn root() -> &'static str {
    "Ollama is running"
}

async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    let error = error::ApiError::not_found(format!("no route for {} {path}", request.method()));
    if path.starts_with("/v1") {
        error::OpenAiError(error).into_response()
    } else {
        error::OllamaError(error).into_response()
    }
}

/// One log line per request: method, path, status, time to the response head.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// Serve `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Bind `addr` (e.g. `127.0.0.1:11434`).
pub async fn bind(addr: &str) -> Result<tokio::net::TcpListener, ServeError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })
}
