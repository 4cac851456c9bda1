//! The read-only `/commons/v1` views the dashboard uses: provenance with
//! lineage, evaluations, audit log, quarantine, stewards' proposals and
//! policy — and the dashboard itself, which loads without a token.

#[path = "../../commons-store/tests/support/mod.rs"]
mod gguf;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{header, Request, StatusCode};
use commons_engine::ManagerConfig;
use commons_governance::audit;
use commons_server::{app, AppState, AuthPolicy, Limits};
use commons_store::audit::AuditDraft;
use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::{ModelEntry, Store};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Node {
    state: AppState,
    store: Arc<Store>,
    home: tempfile::TempDir,
}

fn node(auth: AuthPolicy) -> Node {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    let state = AppState::with_auth(
        store.clone(),
        ManagerConfig::default(),
        Limits::default(),
        auth,
    );
    Node { state, store, home }
}

impl Node {
    /// Imports a tiny GGUF whose tensors are `tensors` (name, element count).
    fn import(&self, name: &str, tensors: &[(&str, u64)], provenance: Option<Value>) -> ModelEntry {
        let path = self
            .home
            .path()
            .join(format!("{}.gguf", name.replace(':', "-")));
        gguf::write_gguf(
            &path,
            &[
                ("general.architecture", "llama"),
                ("general.license", "mit"),
            ],
            0,
            tensors,
        );
        let opts = ImportOptions {
            name: Some(name.parse().unwrap()),
            provenance,
            ..ImportOptions::default()
        };
        import(&self.store, &path, opts, &NoProgress).unwrap().entry
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, bytes) = self.get_raw(path).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get_raw(&self, path: &str) -> (StatusCode, String, Vec<u8>) {
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, content_type, bytes.to_vec())
    }
}

#[tokio::test]
async fn provenance_names_base_and_derived_models_with_shared_tensors() {
    let node = node(AuthPolicy::default());
    node.import(
        "base:v1",
        &[("token_embd.weight", 64), ("output.weight", 32)],
        None,
    );
    // Same embedding bytes, a different output tensor: one of two tensors shared.
    node.import(
        "tuned:v1",
        &[("token_embd.weight", 64), ("output.weight", 48)],
        Some(json!({"base_models": [{"name": "base:v1", "relation": "fine-tune"}]})),
    );

    let (status, tuned) = node.get("/commons/v1/provenance/tuned:v1").await;
    assert_eq!(status, StatusCode::OK, "{tuned}");
    assert_eq!(tuned["reference"], "tuned:v1");
    assert_eq!(tuned["record"]["schema"], "commons.provenance.v1");
    assert_eq!(tuned["record"]["license"]["id"], "mit");
    assert_eq!(
        tuned["bases"],
        json!([{"name": "base:v1", "relation": "fine-tune", "local": "base:v1",
                "shared_tensors": {"shared": 1, "of": 2}}])
    );
    assert_eq!(tuned["derived"], json!([]));

    let (_, base) = node.get("/commons/v1/provenance/base:v1").await;
    assert_eq!(base["bases"], json!([]));
    assert_eq!(
        base["derived"],
        json!([{"name": "tuned:v1", "relation": "fine-tune", "local": "tuned:v1",
                "shared_tensors": {"shared": 1, "of": 2}}])
    );

    let (status, body) = node.get("/commons/v1/provenance/nope:v1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["error"].as_str().unwrap().contains("nope:v1"),
        "{body}"
    );
}

#[tokio::test]
async fn signatures_name_the_signer_when_the_node_trusts_the_key() {
    use commons_provenance::signing::keys;
    let node = node(AuthPolicy::default());
    let entry = node.import("signed:v1", &[("token_embd.weight", 16)], None);
    let hint = |key: &commons_provenance::signing::SigningKey| {
        keys::public_key_hint(key.verifying_key()).unwrap()
    };
    let (release, stranger) = (keys::generate(), keys::generate());
    std::fs::write(
        node.home.path().join("release.pub.pem"),
        keys::public_key_pem(release.verifying_key()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        node.home.path().join("trust.toml"),
        "[[key]]\nname = \"Release key\"\npublic_key = \"release.pub.pem\"\n",
    )
    .unwrap();
    for key in [&release, &stranger] {
        node.store
            .put_signature(&entry.digest, &hint(key), "{}")
            .unwrap();
    }

    let (status, model) = node.get("/commons/v1/models/signed:v1").await;
    assert_eq!(status, StatusCode::OK, "{model}");
    let signatures = model["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2, "{model}");
    let by = |key| {
        let hint = hint(key);
        signatures
            .iter()
            .find(|s| s["key_hint"] == hint.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(by(&release)["trusted_as"], "Release key");
    assert!(by(&stranger).get("trusted_as").is_none(), "{model}");

    // A trust file that does not parse names nobody and hides nothing.
    std::fs::write(node.home.path().join("trust.toml"), "[[key]\n").unwrap();
    let (status, model) = node.get("/commons/v1/models/signed:v1").await;
    assert_eq!(status, StatusCode::OK, "{model}");
    let signatures = model["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2);
    assert!(signatures.iter().all(|s| s.get("trusted_as").is_none()));
}

#[tokio::test]
async fn evaluations_compare_what_is_attested() {
    let node = node(AuthPolicy::default());
    let entry = node.import("tiny:v1", &[("token_embd.weight", 64)], None);
    let (status, body) = node.get("/commons/v1/evaluations/tiny:v1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["models"][0]["name"], "tiny:v1");
    assert_eq!(body["models"][0]["digest"], entry.digest.as_str());
    assert_eq!(body["models"][0]["rows"], json!([]));
    assert_eq!(body["disagreements"], json!([]));

    let (status, _) = node.get("/commons/v1/evaluations/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn audit_returns_the_newest_entries_and_the_chain_verification() {
    let node = node(AuthPolicy::default());
    for subject in ["first", "second", "third"] {
        audit::record(
            &node.store,
            &AuditDraft::new("tester", "test.event").subject(subject),
        )
        .unwrap();
    }
    let (status, body) = node.get("/commons/v1/audit?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 3);
    assert_eq!(body["verify"]["ok"], true);
    assert_eq!(body["verify"]["entries"], 3);
    let subjects: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["second", "third"], "newest two, oldest first");
    assert_eq!(body["entries"][1]["actor"], "tester");

    let (_, all) = node.get("/commons/v1/audit").await;
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn quarantine_lists_each_model_with_its_names_and_reason() {
    let node = node(AuthPolicy::default());
    let entry = node.import("held:v1", &[("token_embd.weight", 64)], None);
    let (_, empty) = node.get("/commons/v1/quarantine").await;
    assert_eq!(empty, json!({"models": []}));
    let reason = json!({"outcome": "quarantine", "rules": [{"rule": "signature.required"}]});
    node.store.quarantine_model(&entry.digest, &reason).unwrap();
    let (status, body) = node.get("/commons/v1/quarantine").await;
    assert_eq!(status, StatusCode::OK);
    let held = &body["models"][0];
    assert_eq!(held["digest"], entry.digest.as_str());
    assert_eq!(held["references"], json!(["held:v1"]));
    assert_eq!(held["reason"], reason);
    assert!(held["created_at"].is_string());
}

#[tokio::test]
async fn proposals_and_policy_show_the_governance_state() {
    let node = node(AuthPolicy::default());
    let (status, stewards) = node.get("/commons/v1/proposals").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stewards["stewards"], json!([]));
    assert_eq!(stewards["threshold"], 1, "the threshold in force");
    assert_eq!(stewards["proposals"], json!([]));

    let (status, policy) = node.get("/commons/v1/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(policy["version"], Value::Null, "the shipped default");
    assert!(policy["text"].as_str().unwrap().contains("deny_unsafe"));
    assert_eq!(policy["sha256"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn the_dashboard_loads_without_a_token_but_its_data_does_not() {
    let node = node(AuthPolicy {
        anonymous_reads: false,
        require_auth: false,
    });
    for path in ["/ui", "/ui/models/tiny:v1", "/ui/assets/app.js"] {
        let (status, content_type, _) = node.get_raw(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(content_type.starts_with("text/"), "{path}: {content_type}");
    }
    for path in [
        "/commons/v1/models",
        "/commons/v1/audit",
        "/commons/v1/quarantine",
    ] {
        let (status, _) = node.get(path).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, _, _) = node.get_raw("/ui/assets/missing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
