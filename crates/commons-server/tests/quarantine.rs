//! A model the hosting policy quarantined is kept but not served: inference
//! and model routes refuse it with 403 naming the rules, listings leave it out.

#[path = "../../commons-store/tests/support/mod.rs"]
mod gguf;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use commons_engine::ManagerConfig;
use commons_server::{app, AppState, Limits};
use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(state: &AppState, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_quarantined_model_is_neither_served_nor_listed() {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    let path = home.path().join("tiny.gguf");
    gguf::write_gguf(
        &path,
        &[("general.architecture", "llama")],
        3,
        &[("token_embd.weight", 64)],
    );
    let opts = ImportOptions {
        name: Some("tiny:v1".parse().unwrap()),
        ..ImportOptions::default()
    };
    let entry = import(&store, &path, opts, &NoProgress).unwrap().entry;
    store
        .quarantine_model(
            &entry.digest,
            &json!({"outcome": "quarantine", "rules": [{"rule": "licenses.allow"}]}),
        )
        .unwrap();
    let state = AppState::new(store, ManagerConfig::default(), Limits::default());

    let chat = r#"{"model": "tiny:v1", "messages": [{"role": "user", "content": "hi"}]}"#;
    for route in ["/api/chat", "/v1/chat/completions"] {
        let (status, body) = call(&state, Method::POST, route, chat).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{route}: {body}");
        assert!(body.to_string().contains("quarantined"), "{body}");
        assert!(body.to_string().contains("licenses.allow"), "{body}");
    }
    let (_, tags) = call(&state, Method::GET, "/api/tags", "").await;
    assert_eq!(tags, json!({"models": []}));
    let (_, models) = call(&state, Method::GET, "/v1/models", "").await;
    assert_eq!(models["data"], json!([]));
    // The health report names it, as `commons health --json` does.
    let (status, health) = call(&state, Method::GET, "/commons/v1/health", "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["models"], 1);
    assert_eq!(health["quarantined"], json!(["tiny:v1"]));
    assert_eq!(health["licenses"], json!({"none": ["tiny:v1"]}));
}
