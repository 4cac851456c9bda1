//! Tags, catalog and referrers.

mod common;

use axum::http::StatusCode;
use common::Node;
use commons_store::Digest;
use serde_json::json;

#[tokio::test]
async fn tags_list_paginates_with_n_last_and_link() {
    let node = Node::new();
    let (manifest, _) = node
        .push_artifact("org/m", "v1", b"payload", None, None)
        .await;
    for tag in ["v2", "v3", "latest", "a-first"] {
        let reply = node
            .call(
                axum::http::Method::PUT,
                &format!("/v2/org/m/manifests/{tag}"),
                manifest.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let all = node.get("/v2/org/m/tags/list").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        all.json(),
        json!({ "name": "org/m", "tags": ["a-first", "latest", "v1", "v2", "v3"] })
    );
    assert!(!all.has_header("link"));

    let first = node.get("/v2/org/m/tags/list?n=2").await;
    assert_eq!(first.json()["tags"], json!(["a-first", "latest"]));
    assert_eq!(
        first.header("link"),
        "</v2/org/m/tags/list?n=2&last=latest>; rel=\"next\""
    );
    let second = node.get("/v2/org/m/tags/list?n=2&last=latest").await;
    assert_eq!(second.json()["tags"], json!(["v1", "v2"]));
    let third = node.get("/v2/org/m/tags/list?n=2&last=v2").await;
    assert_eq!(third.json()["tags"], json!(["v3"]));
    assert!(!third.has_header("link"));
    let none = node.get("/v2/org/m/tags/list?n=0").await;
    assert_eq!(none.json()["tags"], json!([]));
    assert!(!none.has_header("link"));
    let after = node.get("/v2/org/m/tags/list?last=v1").await;
    assert_eq!(after.json()["tags"], json!(["v2", "v3"]));
    let bad = node.get("/v2/org/m/tags/list?n=-1").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn catalog_lists_repositories_with_tags_paginated() {
    let node = Node::new();
    assert_eq!(
        node.get("/v2/_catalog").await.json(),
        json!({ "repositories": [] })
    );
    for name in ["b/model", "a", "c"] {
        let (_, reply) = node.push_artifact(name, "latest", b"x", None, None).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    assert_eq!(
        node.get("/v2/_catalog").await.json(),
        json!({ "repositories": ["a", "b/model", "c"] })
    );
    let page = node.get("/v2/_catalog?n=2").await;
    assert_eq!(page.json()["repositories"], json!(["a", "b/model"]));
    assert_eq!(
        page.header("link"),
        "</v2/_catalog?n=2&last=b/model>; rel=\"next\""
    );
    let rest = node.get("/v2/_catalog?n=2&last=b/model").await;
    assert_eq!(rest.json()["repositories"], json!(["c"]));
    assert!(!rest.has_header("link"));
}

#[tokio::test]
async fn referrers_list_artifacts_by_subject_with_an_artifact_type_filter() {
    let node = Node::new();
    let (subject_bytes, reply) = node
        .push_artifact("m", "latest", b"model", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let subject = Digest::of_bytes(&subject_bytes);
    let size = subject_bytes.len() as u64;

    let empty = node.get(&format!("/v2/m/referrers/{subject}")).await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(
        empty.header("content-type"),
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(
        empty.json(),
        json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        })
    );

    let signature_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
    let provenance_type = "application/vnd.commons.provenance.v1+json";
    let mut pushed = Vec::new();
    for (artifact_type, payload) in [(signature_type, &b"sig"[..]), (provenance_type, b"prov")] {
        let manifest = node
            .artifact_manifest("m", payload, Some(artifact_type), Some((&subject, size)))
            .await;
        let digest = Digest::of_bytes(&manifest);
        let reply = node
            .call(
                axum::http::Method::PUT,
                &format!("/v2/m/manifests/{digest}"),
                manifest.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        // The node says it recorded the subject, so clients skip the tag fallback.
        assert_eq!(reply.header("oci-subject"), subject.as_str());
        pushed.push((artifact_type, digest, manifest.len()));
    }

    let all = node.get(&format!("/v2/m/referrers/{subject}")).await;
    assert!(!all.has_header("oci-filters-applied"));
    let manifests = all.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(manifests.len(), 2);
    for (artifact_type, digest, size) in &pushed {
        let found = manifests
            .iter()
            .find(|m| m["digest"] == digest.as_str())
            .unwrap_or_else(|| panic!("{digest} missing from {manifests:?}"));
        assert_eq!(found["artifactType"], *artifact_type);
        assert_eq!(found["size"], *size);
        assert_eq!(
            found["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(found["annotations"]["org.example.note"], "test");
    }

    let filtered = node
        .get(&format!(
            "/v2/m/referrers/{subject}?artifactType={}",
            provenance_type.replace('+', "%2B")
        ))
        .await;
    assert_eq!(filtered.header("oci-filters-applied"), "artifactType");
    let only = filtered.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["artifactType"], provenance_type);

    // An artifact without artifactType reports its config media type.
    let unknown = Digest::of_bytes(b"nothing refers to this");
    let none = node.get(&format!("/v2/m/referrers/{unknown}")).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["manifests"], json!([]));
}

#[tokio::test]
async fn a_referrer_without_artifact_type_reports_its_config_media_type() {
    let node = Node::new();
    let (subject_bytes, _) = node
        .push_artifact("m", "latest", b"model", None, None)
        .await;
    let subject = Digest::of_bytes(&subject_bytes);
    let (_, reply) = node
        .push_artifact(
            "m",
            "sig",
            b"sig",
            None,
            Some((&subject, subject_bytes.len() as u64)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let listed = node.get(&format!("/v2/m/referrers/{subject}")).await;
    assert_eq!(
        listed.json()["manifests"][0]["artifactType"],
        common::EMPTY_CONFIG
    );
}
