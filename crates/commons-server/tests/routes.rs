//! Routes that need no model: catalog, errors in each API's shape, blob uploads.
//! (Inference is tested end to end with the real clients in `tests/python`.)

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use commons_engine::ManagerConfig;
use commons_server::{app, AppState, Limits};
use commons_store::{Digest, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

fn state() -> (AppState, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    (
        AppState::new(store, ManagerConfig::default(), Limits::default()),
        home,
    )
}

async fn call(state: &AppState, method: Method, path: &str, body: Body) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(body)
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, bytes.to_vec())
}

async fn call_json(
    state: &AppState,
    method: Method,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let (status, bytes) = call(state, method, path, Body::from(body.to_string())).await;
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test]
async fn version_and_empty_catalogs() {
    let (state, _home) = state();
    let (status, body) = call_json(&state, Method::GET, "/api/version", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["version"].is_string());
    let (_, body) = call_json(&state, Method::GET, "/api/tags", "").await;
    assert_eq!(body, json!({"models": []}));
    let (_, body) = call_json(&state, Method::GET, "/api/ps", "").await;
    assert_eq!(body, json!({"models": []}));
    let (_, body) = call_json(&state, Method::GET, "/v1/models", "").await;
    assert_eq!(body, json!({"object": "list", "data": []}));
}

#[tokio::test]
async fn unknown_models_are_404_in_each_apis_shape() {
    let (state, _home) = state();
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/api/chat",
        r#"{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "model \"nope\" not found, try pulling it first"})
    );
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/v1/chat/completions",
        r#"{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "The model `nope` does not exist or you do not have access to it."
    );
    let (status, _) = call_json(&state, Method::POST, "/api/show", r#"{"model": "nope"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call_json(
        &state,
        Method::DELETE,
        "/api/delete",
        r#"{"model": "nope"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({"error": "model \"nope\" not found"}));
}

#[tokio::test]
async fn bad_bodies_are_400_naming_the_field() {
    let (state, _home) = state();
    let (status, body) = call_json(&state, Method::POST, "/api/generate", "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    let (status, body) = call_json(&state, Method::POST, "/api/generate", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "missing request body");
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/api/chat",
        r#"{"model": "m", "messages": [{"role": 5}]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("messages[0].role"),
        "{body}"
    );
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/v1/chat/completions",
        r#"{"messages": []}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["param"], "model");
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/v1/completions",
        r#"{"model": "m", "prompt": "x", "temperature": "hot"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["param"], "temperature");
    let (status, body) =
        call_json(&state, Method::POST, "/api/generate", r#"{"prompt": "x"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "model is required");
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let (state, _home) = state();
    let (status, body) = call_json(&state, Method::GET, "/v1/nothing", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"]["message"].is_string());
    let (status, body) = call_json(&state, Method::POST, "/api/pull", "{}").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(body["error"].as_str().unwrap().contains("commons import"));
}

#[tokio::test]
async fn blobs_are_verified_against_their_digest() {
    let (state, _home) = state();
    let bytes = b"some model bytes".to_vec();
    let digest = Digest::of_bytes(&bytes);
    let path = format!("/api/blobs/{digest}");
    let (status, _) = call(&state, Method::HEAD, &path, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &state,
        Method::POST,
        &path,
        Body::from(b"other bytes".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("digest mismatch"));
    assert!(!state.store().has_blob(&digest));
    let (status, _) = call(&state, Method::POST, &path, Body::from(bytes)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = call(&state, Method::HEAD, &path, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&state, Method::HEAD, "/api/blobs/sha256:xyz", Body::empty()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn create_refuses_missing_blobs_and_unsupported_fields() {
    let (state, _home) = state();
    let missing = Digest::of_bytes(b"absent");
    let body = json!({"model": "m", "files": {"m.gguf": missing.as_str()}}).to_string();
    let (status, body) = call_json(&state, Method::POST, "/api/create", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("missing blob"));
    let (status, body) = call_json(
        &state,
        Method::POST,
        "/api/create",
        r#"{"model": "m", "from": "x", "quantize": "q4_K_M"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("quantize"));
}
