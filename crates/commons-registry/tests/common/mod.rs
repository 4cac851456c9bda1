//! A registry over a temporary store, driven with `oneshot`, and small
//! helpers to build requests and read answers.

#![allow(dead_code)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, Response, StatusCode};
use axum::Router;
use commons_store::{Digest, Store};
use serde_json::{json, Value};
use tempfile::TempDir;
use tower::ServiceExt;

pub const EMPTY_CONFIG: &str = "application/vnd.oci.empty.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub struct Node {
    pub home: TempDir,
    pub store: Arc<Store>,
    pub app: Router,
}

impl Node {
    pub fn new() -> Node {
        let home = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(home.path()).unwrap());
        let app = commons_registry::router(store.clone());
        Node { home, store, app }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        Reply::from_response(self.app.clone().oneshot(request).await.unwrap()).await
    }

    pub async fn call(&self, method: Method, uri: &str, body: impl Into<Body>) -> Reply {
        self.send(request(method, uri).body(body.into()).unwrap())
            .await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call(Method::GET, uri, Body::empty()).await
    }

    /// Uploads `bytes` monolithically (`POST ?digest=`).
    pub async fn push_blob(&self, name: &str, bytes: &[u8]) -> Digest {
        let digest = Digest::of_bytes(bytes);
        let reply = self
            .call(
                Method::POST,
                &format!("/v2/{name}/blobs/uploads/?digest={digest}"),
                bytes.to_vec(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        digest
    }

    /// Pushes an artifact (empty config, one layer with `payload`) under
    /// `reference`, with optional `subject` and `artifactType`; returns its bytes.
    pub async fn push_artifact(
        &self,
        name: &str,
        reference: &str,
        payload: &[u8],
        artifact_type: Option<&str>,
        subject: Option<(&Digest, u64)>,
    ) -> (Vec<u8>, Reply) {
        let bytes = self
            .artifact_manifest(name, payload, artifact_type, subject)
            .await;
        let reply = self
            .send(
                request(Method::PUT, &format!("/v2/{name}/manifests/{reference}"))
                    .header(header::CONTENT_TYPE, OCI_MANIFEST)
                    .body(Body::from(bytes.clone()))
                    .unwrap(),
            )
            .await;
        (bytes, reply)
    }

    /// The manifest bytes of such an artifact, with its blobs uploaded.
    pub async fn artifact_manifest(
        &self,
        name: &str,
        payload: &[u8],
        artifact_type: Option<&str>,
        subject: Option<(&Digest, u64)>,
    ) -> Vec<u8> {
        let config = self.push_blob(name, b"{}").await;
        let layer = self.push_blob(name, payload).await;
        artifact_bytes(&config, &layer, payload.len(), artifact_type, subject)
    }
}

pub fn artifact_bytes(
    config: &Digest,
    layer: &Digest,
    layer_size: usize,
    artifact_type: Option<&str>,
    subject: Option<(&Digest, u64)>,
) -> Vec<u8> {
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": EMPTY_CONFIG, "digest": config, "size": 2 },
        "layers": [{ "mediaType": "application/octet-stream", "digest": layer, "size": layer_size }],
        "annotations": { "org.example.note": "test" },
    });
    if let Some(artifact_type) = artifact_type {
        manifest["artifactType"] = json!(artifact_type);
    }
    if let Some((digest, size)) = subject {
        manifest["subject"] = json!({ "mediaType": OCI_MANIFEST, "digest": digest, "size": size });
    }
    serde_json::to_vec_pretty(&manifest).unwrap()
}

pub fn request(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "node.test:5000")
}

/// A response with its body read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub async fn from_response(response: Response<Body>) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers.contains_key(name)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The OCI error code of an error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no OCI error: {}", self.text()))
            .to_string()
    }

    /// Asserts status and OCI code at once.
    pub fn expect_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.text()
        );
        assert!(self.json()["errors"][0]["message"].as_str().is_some());
    }
}
