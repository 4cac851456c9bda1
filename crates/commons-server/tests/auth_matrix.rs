//! Scope checks on every write route of every API, through the whole app
//! router: on a node with a push token (so writes need tokens), no token is
//! 401, a token without the scope is 403, and the right scope gets through
//! (whatever the route then answers). Reads stay anonymous by default; with
//! anonymous reads off, a read without a token is 401 on every API.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use commons_engine::ManagerConfig;
use commons_server::{app, AppState, AuthPolicy, Limits};
use commons_store::{Scope, Store};
use tower::ServiceExt;

const ZEROS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

struct Node {
    _home: tempfile::TempDir,
    state: AppState,
    pull: String,
    push: String,
    delete: String,
}

fn node(anonymous_reads: bool) -> Node {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    let (pull, _) = store.create_token("reader", &[Scope::Pull]).unwrap();
    let (push, _) = store.create_token("publisher", &[Scope::Push]).unwrap();
    let (delete, _) = store.create_token("janitor", &[Scope::Delete]).unwrap();
    let policy = AuthPolicy {
        anonymous_reads,
        require_auth: false,
    };
    let state = AppState::with_auth(store, ManagerConfig::default(), Limits::default(), policy);
    Node {
        _home: home,
        state,
        pull,
        push,
        delete,
    }
}

async fn status(node: &Node, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
    let mut request = Request::builder().method(method.clone()).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = if *method == Method::GET || *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(
            r#"{"model":"m:latest","name":"m:latest","source":"m:latest","destination":"n:latest"}"#,
        )
    };
    let request = request
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap();
    app(node.state.clone())
        .oneshot(request)
        .await
        .unwrap()
        .status()
}

/// Every write route of every API, with the scope it needs.
fn write_routes() -> Vec<(Method, String, Scope)> {
    vec![
        // OCI distribution (`/v2`).
        (Method::POST, "/v2/m/blobs/uploads/".into(), Scope::Push),
        (
            Method::PATCH,
            "/v2/m/blobs/uploads/0123456789abcdef".into(),
            Scope::Push,
        ),
        (
            Method::PUT,
            format!("/v2/m/blobs/uploads/0123456789abcdef?digest={ZEROS}"),
            Scope::Push,
        ),
        (Method::PUT, "/v2/m/manifests/latest".into(), Scope::Push),
        (
            Method::DELETE,
            "/v2/m/manifests/latest".into(),
            Scope::Delete,
        ),
        (
            Method::DELETE,
            format!("/v2/m/blobs/{ZEROS}"),
            Scope::Delete,
        ),
        // Ollama.
        (Method::POST, "/api/create".into(), Scope::Push),
        (Method::POST, "/api/copy".into(), Scope::Push),
        (Method::DELETE, "/api/delete".into(), Scope::Delete),
        (Method::POST, format!("/api/blobs/{ZEROS}"), Scope::Push),
        (Method::POST, "/api/pull".into(), Scope::Push),
        (Method::POST, "/api/push".into(), Scope::Push),
        // The Hub API and the commons API only read; any write method there
        // is classified as a write, so a route added later is protected.
        (Method::POST, "/api/models/org/m".into(), Scope::Push),
        (Method::POST, "/commons/v1/models".into(), Scope::Push),
        (Method::PUT, "/commons/v1/models/m".into(), Scope::Push),
        (Method::DELETE, "/commons/v1/models/m".into(), Scope::Delete),
    ]
}

#[tokio::test]
async fn every_write_route_checks_the_token_and_its_scope() {
    let node = node(true);
    for (method, path, scope) in write_routes() {
        let route = format!("{method} {path}");
        assert_eq!(
            status(&node, &method, &path, None).await,
            StatusCode::UNAUTHORIZED,
            "{route} without a token"
        );
        assert_eq!(
            status(&node, &method, &path, Some("cmn_not_a_token")).await,
            StatusCode::UNAUTHORIZED,
            "{route} with an unknown token"
        );
        let (right, wrong) = match scope {
            Scope::Delete => (&node.delete, [&node.pull, &node.push]),
            _ => (&node.push, [&node.pull, &node.delete]),
        };
        for token in wrong {
            assert_eq!(
                status(&node, &method, &path, Some(token)).await,
                StatusCode::FORBIDDEN,
                "{route} with a token without `{scope}`"
            );
        }
        let got = status(&node, &method, &path, Some(right)).await;
        assert!(
            got != StatusCode::UNAUTHORIZED && got != StatusCode::FORBIDDEN,
            "{route} with `{scope}` was refused: {got}"
        );
    }
}

/// One read route of every API.
const READS: [&str; 7] = [
    "/api/tags",
    "/v1/models",
    "/v2/m/tags/list",
    "/api/models",
    "/commons/v1/models",
    "/commons/v1/health",
    "/commons/v1/status",
];

#[tokio::test]
async fn reads_are_anonymous_by_default_even_with_write_tokens() {
    let node = node(true);
    for path in READS {
        let got = status(&node, &Method::GET, path, None).await;
        assert!(
            got != StatusCode::UNAUTHORIZED && got != StatusCode::FORBIDDEN,
            "GET {path}: {got}"
        );
    }
}

#[tokio::test]
async fn without_anonymous_reads_every_api_needs_a_token_to_read() {
    let node = node(false);
    for path in READS {
        assert_eq!(
            status(&node, &Method::GET, path, None).await,
            StatusCode::UNAUTHORIZED,
            "GET {path} without a token"
        );
        assert_eq!(
            status(&node, &Method::GET, path, Some("cmn_not_a_token")).await,
            StatusCode::UNAUTHORIZED,
            "GET {path} with an unknown token"
        );
        for token in [&node.pull, &node.push, &node.delete] {
            let got = status(&node, &Method::GET, path, Some(token)).await;
            assert!(
                got != StatusCode::UNAUTHORIZED && got != StatusCode::FORBIDDEN,
                "GET {path} with a token: {got}"
            );
        }
    }
}

#[tokio::test]
async fn an_expired_token_is_refused_on_writes_and_reads_with_the_reason() {
    let node = node(false);
    let (expired, _) = node
        .state
        .store()
        .create_token_expiring(
            "old",
            &[Scope::Pull, Scope::Push],
            Some("2000-01-01T00:00:00Z"),
        )
        .unwrap();
    for (method, path) in [
        (Method::POST, "/v2/m/blobs/uploads/"),
        (Method::POST, "/api/create"),
        (Method::GET, "/api/tags"),
        (Method::GET, "/v2/m/tags/list"),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {expired}"))
            .body(Body::from("{}"))
            .unwrap();
        let response = app(node.state.clone()).oneshot(request).await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("token `old` expired at 2000-01-01T00:00:00Z"),
            "{method} {path}: {body}"
        );
    }
    // A token that has not expired yet works.
    let (fresh, _) = node
        .state
        .store()
        .create_token_expiring("fresh", &[Scope::Push], Some("9999-12-31T23:59:59Z"))
        .unwrap();
    let got = status(&node, &Method::POST, "/v2/m/blobs/uploads/", Some(&fresh)).await;
    assert!(got.is_success(), "{got}");
}
