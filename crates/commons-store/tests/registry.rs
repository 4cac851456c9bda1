//! The registry view: pushed manifests keep their bytes, models pushed through
//! the registry become models, referrers follow their subject, nothing
//! incomplete is ever stored.

mod support;

use std::collections::BTreeMap;

use commons_store::import::{import, ImportOptions, NoProgress};
use commons_store::registry::{MEDIA_TYPE_EMPTY, MEDIA_TYPE_OCI_INDEX};
use commons_store::{Digest, Reference, Store, StoreError};
use support::write_gguf;

/// A store with one imported GGUF model `tiny:v1`; returns the store and the model's digest.
fn store_with_model(home: &std::path::Path) -> (Store, Digest) {
    let store = Store::open(&home.join("store")).unwrap();
    let gguf = home.join("tiny.gguf");
    write_gguf(
        &gguf,
        &[
            ("general.architecture", "llama"),
            ("general.license", "mit"),
        ],
        0,
        &[("blk.0.w", 64), ("blk.1.w", 64)],
    );
    let outcome = import(
        &store,
        &gguf,
        ImportOptions {
            name: Some(Reference::parse("tiny:v1").unwrap()),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    (store, outcome.entry.digest)
}

#[test]
fn a_model_pushed_as_bytes_elsewhere_keeps_its_digest_and_becomes_a_model() {
    let home = tempfile::tempdir().unwrap();
    let (source, digest) = store_with_model(home.path());
    let pushed = source.get_manifest("tiny", "v1").unwrap();
    assert_eq!(pushed.digest, digest);
    assert!(pushed.is_model);

    // A second node receives the blobs and then the manifest, with extra
    // whitespace as another tool might write it: the digest is of those bytes.
    let target = Store::open(&home.path().join("target")).unwrap();
    let manifest = source.resolve("tiny:v1").unwrap().manifest;
    for blob in manifest.blob_digests() {
        let bytes = std::fs::read(source.blob_path(&blob.digest)).unwrap();
        target.ingest_bytes(&bytes).unwrap();
    }
    let mut reformatted: serde_json::Value = serde_json::from_slice(&pushed.bytes).unwrap();
    reformatted["annotations"] = serde_json::json!({"org.opencontainers.image.licenses": "MIT"});
    let bytes = serde_json::to_vec_pretty(&reformatted).unwrap();
    let stored = target
        .put_manifest("org/tiny", Some("copy"), &bytes)
        .unwrap();
    assert_eq!(stored.digest, Digest::of_bytes(&bytes));
    assert!(stored.is_model);

    let entry = target.resolve("org/tiny:copy").unwrap();
    assert_eq!(entry.digest, stored.digest);
    assert_eq!(entry.metadata["info"]["architecture"], "llama");
    assert_eq!(entry.metadata["license"], "MIT");
    assert_eq!(target.tensors(&entry.digest).unwrap().len(), 2);
    assert_eq!(
        target.get_manifest("org/tiny", "copy").unwrap().bytes,
        bytes
    );
    assert_eq!(target.repositories().unwrap(), vec!["org/tiny".to_string()]);
    assert_eq!(target.repository_tags("org/tiny").unwrap(), vec!["copy"]);
}

#[test]
fn a_manifest_naming_a_missing_blob_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let (source, _) = store_with_model(home.path());
    let pushed = source.get_manifest("tiny", "v1").unwrap();
    let target = Store::open(&home.path().join("target")).unwrap();
    let err = target
        .put_manifest("tiny", Some("v1"), &pushed.bytes)
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");
    assert!(target.repositories().unwrap().is_empty());
    assert!(target.list().unwrap().is_empty());
}

#[test]
fn hostile_and_malformed_manifests_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let (store, _) = store_with_model(home.path());
    let pushed = store.get_manifest("tiny", "v1").unwrap();
    let mut escaping: serde_json::Value = serde_json::from_slice(&pushed.bytes).unwrap();
    escaping["layers"][0]["annotations"]["org.cncf.model.filepath"] = "../../etc/passwd".into();
    for bytes in [
        b"not json".to_vec(),
        b"{}".to_vec(),
        br#"{"schemaVersion":1,"config":{}}"#.to_vec(),
        br#"{"schemaVersion":2,"mediaType":"text/plain","config":{}}"#.to_vec(),
        serde_json::to_vec(&escaping).unwrap(),
        vec![b' '; 5 * 1024 * 1024],
    ] {
        let err = store.put_manifest("tiny", Some("bad"), &bytes).unwrap_err();
        assert!(matches!(err, StoreError::InvalidManifest { .. }), "{err}");
    }
    assert_eq!(store.repository_tags("tiny").unwrap(), vec!["v1"]);
}

#[test]
fn referrers_follow_their_subject_and_die_with_it() {
    let home = tempfile::tempdir().unwrap();
    let (store, digest) = store_with_model(home.path());
    let mut annotations = BTreeMap::new();
    annotations.insert("org.example.kind".to_string(), "record".to_string());
    let referrer = store
        .attach_referrer(
            "tiny",
            &digest,
            "application/vnd.example.record+json",
            "application/json",
            br#"{"ok":true}"#,
            annotations,
        )
        .unwrap();
    assert_eq!(referrer.subject.as_ref(), Some(&digest));
    assert!(!referrer.is_model);

    let found = store.referrers(&digest).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].digest, referrer.digest);
    assert_eq!(
        found[0].artifact_type.as_deref(),
        Some("application/vnd.example.record+json")
    );
    assert_eq!(found[0].annotations["org.example.kind"], "record");
    // The referrer is not a model and does not show up as one.
    assert_eq!(store.list().unwrap().len(), 1);
    assert!(store.stored_manifest(&referrer.digest).unwrap().is_some());
    let config: serde_json::Value = serde_json::from_slice(&referrer.bytes).unwrap();
    assert_eq!(config["config"]["mediaType"], MEDIA_TYPE_EMPTY);

    // A referrer survives other catalog changes while its subject stays…
    store.tag("tiny:v1", "tiny:v2").unwrap();
    assert_eq!(store.referrers(&digest).unwrap().len(), 1);
    // …and goes with it.
    assert!(store.delete_manifest(&digest).unwrap());
    assert!(store.stored_manifest(&referrer.digest).unwrap().is_none());
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn an_index_needs_its_children_and_keeps_them() {
    let home = tempfile::tempdir().unwrap();
    let (store, digest) = store_with_model(home.path());
    let child = store.get_manifest("tiny", "v1").unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": [child.descriptor()],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let missing = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_INDEX,
        "manifests": [{"mediaType": MEDIA_TYPE_OCI_INDEX, "digest": Digest::of_bytes(b"x"), "size": 1}],
    });
    let err = store
        .put_manifest(
            "tiny",
            Some("index"),
            &serde_json::to_vec(&missing).unwrap(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingManifest { .. }), "{err}");

    store.put_manifest("tiny", Some("index"), &bytes).unwrap();
    // Untagging the child leaves it in place: the index still needs it.
    assert!(store.delete_tag("tiny", "v1").unwrap());
    assert!(store.stored_manifest(&digest).unwrap().is_some());
    assert_eq!(store.repository_tags("tiny").unwrap(), vec!["index"]);
    assert_eq!(
        store.get_manifest("tiny", "index").unwrap().media_type,
        MEDIA_TYPE_OCI_INDEX
    );
}
