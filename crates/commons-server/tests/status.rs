//! `GET /commons/v1/status` with the real test model (SmolLM2-135M-Instruct from
//! `scripts/fetch-models`, found as the engine tests find it): one slot, one request
//! running and one queued, both counted; reading the status never extends the
//! model's keep-alive.

#[path = "../../commons-engine/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use commons_engine::{LoadOptions, ManagerConfig, SchedulerConfig};
use commons_server::{app, AppState, Limits};
use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::Store;
use serde_json::{json, Value};
use tower::ServiceExt;

async fn send(state: &AppState, method: Method, path: &str, body: Value) -> Response {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_string()))
        .unwrap();
    app(state.clone()).oneshot(request).await.unwrap()
}

async fn status(state: &AppState) -> Value {
    let response = send(state, Method::GET, "/commons/v1/status", Value::Null).await;
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Polls the status until `ready` holds for the one loaded model (at most a minute).
async fn wait_for(state: &AppState, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = status(state).await;
        if body["models"].get(0).is_some_and(&ready) {
            return body["models"][0].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never saw {what}; last status: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A long greedy completion, streamed (the client reads nothing until it is dropped).
async fn start_generation(state: &AppState) -> Response {
    let response = send(
        state,
        Method::POST,
        "/api/generate",
        json!({
            "model": "smollm2",
            "prompt": "Count from 1 to 1000, separated by commas: 1, 2, 3, 4,",
            "raw": true,
            "options": {"temperature": 0, "num_predict": 1000},
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_running_and_queued_requests_of_each_loaded_model() {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    let options = ImportOptions {
        name: Some("smollm2".parse().unwrap()),
        ..ImportOptions::default()
    };
    let entry = import(&store, &common::model_path(), options, &NoProgress)
        .unwrap()
        .entry;
    let manager = ManagerConfig {
        load_options: LoadOptions {
            scheduler: SchedulerConfig {
                slots: 1,
                context_per_slot: 2048,
                queue_depth: 4,
                threads: 2,
                ..SchedulerConfig::default()
            },
            embedding_context: 512,
        },
        ..ManagerConfig::default()
    };
    let limits = Limits {
        context_per_slot: 2048,
        ..Limits::default()
    };
    let state = AppState::new(store, manager, limits);
    assert_eq!(status(&state).await, json!({"models": []}));

    // One slot: the first request runs, the second waits for it.
    let first = start_generation(&state).await;
    let second = start_generation(&state).await;
    let busy = wait_for(&state, "one running and one queued", |m| {
        m["running"] == 1 && m["queued"] == 1
    })
    .await;
    assert_eq!(busy["name"], "smollm2:latest");
    assert_eq!(busy["digest"], entry.digest.as_str());
    assert_eq!(busy["slots"], 1);
    assert_eq!(busy["leases"], 2);
    assert_eq!(busy["context_length"], 2048);
    assert_eq!(busy["expires_at"], Value::Null, "in use: no expiry");
    assert!(busy["memory_bytes"].as_u64().unwrap() > busy["size_bytes"].as_u64().unwrap());
    assert!(busy["totals"]["prompt_tokens_evaluated"].as_u64().unwrap() > 0);

    // The clients go away: both are cancelled and the model idles until its keep-alive.
    drop((first, second));
    let idle = wait_for(&state, "an idle model", |m| {
        m["running"] == 0 && m["queued"] == 0 && m["leases"] == 0
    })
    .await;
    let totals = &idle["totals"];
    assert_eq!(totals["requests_cancelled"], 2, "{totals}");
    assert_eq!(totals["requests_completed"], 0);
    assert_eq!(totals["requests_failed"], 0);
    assert!(totals["completion_tokens"].as_u64().unwrap() > 0);
    assert!(totals["decode_calls"].as_u64().unwrap() > 0);
    let expires_at = idle["expires_at"]
        .as_str()
        .expect("idle: an expiry")
        .to_string();

    // Reading the status (or /api/ps) again must not push the expiry back.
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(&state, Method::GET, "/api/ps", Value::Null).await;
    let again = status(&state).await;
    assert_eq!(again["models"][0]["expires_at"], expires_at.as_str());
}
