//! Store API: ingest, dedup, commit, resolve, list, tag, remove.

mod support;

use std::fs;
use std::sync::Arc;

use commons_store::manifest::{
    Manifest, ANNOTATION_FILEPATH, MEDIA_TYPE_MODEL_CONFIG, MEDIA_TYPE_WEIGHT_RAW,
};
use commons_store::{
    Descriptor, Digest, ModelEntry, NewModel, Reference, Store, StoreError, TensorRecord,
};
use support::{blob_count, files_in};

/// Commits a one-layer model whose weights are `weights`.
fn commit(store: &Store, reference: &str, weights: &[u8]) -> ModelEntry {
    let layer = store.ingest_bytes(weights).unwrap();
    let config = store.ingest_bytes(b"{\"config\":{}}").unwrap();
    let mut layer_desc = Descriptor::new(MEDIA_TYPE_WEIGHT_RAW, layer.digest.clone(), layer.size);
    layer_desc
        .annotations
        .insert(ANNOTATION_FILEPATH.into(), "model.gguf".into());
    let manifest = Manifest::new_model(
        Descriptor::new(MEDIA_TYPE_MODEL_CONFIG, config.digest, config.size),
        vec![layer_desc],
    );
    store
        .commit_model(NewModel {
            reference: Reference::parse(reference).unwrap(),
            manifest,
            metadata: serde_json::json!({"format": "gguf", "license": "MIT"}),
            tensors: vec![TensorRecord {
                name: "w".into(),
                dtype: "F32".into(),
                shape: vec![2, 2],
                sha256: Digest::of_bytes(weights).hex().to_string(),
                size: weights.len() as u64,
            }],
        })
        .unwrap()
}

#[test]
fn ingest_file_dedups_and_leaves_tmp_empty() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let src = home.path().join("source.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    fs::write(&src, &data).unwrap();

    let progressed = std::cell::Cell::new(0u64);
    let first = store
        .ingest_file(&src, &|n| progressed.set(progressed.get() + n))
        .unwrap();
    let second = store.ingest_file(&src, &|_| {}).unwrap();

    assert_eq!(first, second);
    assert_eq!(first.digest, Digest::of_bytes(&data));
    assert_eq!(first.size, data.len() as u64);
    assert_eq!(progressed.get(), data.len() as u64);
    assert!(store.has_blob(&first.digest));
    assert_eq!(fs::read(store.blob_path(&first.digest)).unwrap(), data);
    assert_eq!(blob_count(home.path()), 1);
    assert!(files_in(&home.path().join("tmp")).is_empty());
}

#[test]
fn concurrent_ingests_of_one_file_make_one_blob_without_errors() {
    let home = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(home.path()).unwrap());
    let src = home.path().join("source.bin");
    fs::write(&src, vec![42u8; 5_000_000]).unwrap();

    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                let src = src.clone();
                s.spawn(move || store.ingest_file(&src, &|_| {}))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let digests: Vec<Digest> = results.into_iter().map(|r| r.unwrap().digest).collect();
    assert!(digests.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(blob_count(home.path()), 1);
    assert!(files_in(&home.path().join("tmp")).is_empty());
}

#[test]
fn two_store_handles_on_one_root_ingest_the_same_file() {
    // Stands in for two processes: separate catalogs connections and lock files.
    let home = tempfile::tempdir().unwrap();
    let a = Store::open(home.path()).unwrap();
    let b = Store::open(home.path()).unwrap();
    let src = home.path().join("source.bin");
    fs::write(&src, vec![7u8; 2_000_000]).unwrap();
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.ingest_file(&src, &|_| {}));
        let hb = s.spawn(|| b.ingest_file(&src, &|_| {}));
        (ha.join().unwrap().unwrap(), hb.join().unwrap().unwrap())
    });
    assert_eq!(ra, rb);
    assert_eq!(blob_count(home.path()), 1);
}

#[test]
fn ingest_reader_rejects_unexpected_digest_and_leaves_nothing() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let wrong = Digest::of_bytes(b"something else");
    let err = store
        .ingest_reader(&b"payload"[..], "upload", Some(&wrong), &|_| {})
        .unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("upload"));
    assert!(!store.has_blob(&Digest::of_bytes(b"payload")));
    assert!(files_in(&home.path().join("tmp")).is_empty());
}

#[test]
fn read_blob_verifies_content() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let blob = store.ingest_bytes(b"{\"a\":1}").unwrap();
    assert_eq!(store.read_blob(&blob.digest).unwrap(), b"{\"a\":1}");
    fs::write(store.blob_path(&blob.digest), b"{\"a\":2}").unwrap();
    let err = store.read_blob(&blob.digest).unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    let missing = Digest::of_bytes(b"nope");
    assert!(matches!(
        store.read_blob(&missing).unwrap_err(),
        StoreError::MissingBlob { .. }
    ));
}

#[test]
fn commit_resolve_list_and_metadata() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let entry = commit(&store, "smollm2-135m:q4_k_m", b"weights-1");
    assert_eq!(entry.reference(), "smollm2-135m:q4_k_m");
    assert_eq!(entry.size_bytes, 9);
    assert_eq!(entry.metadata["license"], "MIT");
    assert!(entry.created_at.ends_with('Z'));
    // The manifest itself is a blob and hashes to the model's digest.
    let bytes = store.read_blob(&entry.digest).unwrap();
    assert_eq!(Digest::of_bytes(&bytes), entry.digest);
    assert_eq!(entry.manifest.digest().unwrap(), entry.digest);

    let resolved = store.resolve("smollm2-135m:q4_k_m").unwrap();
    assert_eq!(resolved, entry);
    assert_eq!(store.list().unwrap(), vec![entry.clone()]);
    assert_eq!(store.tensors(&entry.digest).unwrap().len(), 1);
    assert_eq!(entry.weight_layers().count(), 1);
    assert!(entry.layer_by_path("model.gguf").is_some());

    // Default tag is latest.
    commit(&store, "other", b"weights-2");
    assert_eq!(store.resolve("other").unwrap().tag, "latest");
    let names: Vec<String> = store
        .list()
        .unwrap()
        .iter()
        .map(|e| e.reference())
        .collect();
    assert_eq!(names, ["other:latest", "smollm2-135m:q4_k_m"]);
}

#[test]
fn same_bytes_give_the_same_digest_and_one_manifest() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let a = commit(&store, "a", b"same");
    let b = commit(&store, "b", b"same");
    assert_eq!(a.digest, b.digest);
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(
        store.models_sharing_tensors(&a.digest).unwrap(),
        Vec::<(Digest, u64)>::new(),
        "one manifest shares nothing with itself"
    );
    let c = commit(&store, "c", b"different");
    // Same tensor digest recorded only if bytes are equal: c has other weights.
    assert!(store.models_sharing_tensors(&c.digest).unwrap().is_empty());
}

#[test]
fn commit_refuses_a_manifest_with_a_missing_blob() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let config = store.ingest_bytes(b"{}").unwrap();
    let ghost = Digest::of_bytes(b"never ingested");
    let manifest = Manifest::new_model(
        Descriptor::new(MEDIA_TYPE_MODEL_CONFIG, config.digest, config.size),
        vec![Descriptor::new(MEDIA_TYPE_WEIGHT_RAW, ghost.clone(), 14)],
    );
    let err = store
        .commit_model(NewModel {
            reference: Reference::parse("ghost").unwrap(),
            manifest,
            metadata: serde_json::Value::Null,
            tensors: vec![],
        })
        .unwrap_err();
    match &err {
        StoreError::MissingBlob { digest, needed_by } => {
            assert_eq!(digest, &ghost);
            assert_eq!(needed_by, "ghost:latest");
        }
        other => panic!("expected MissingBlob, got {other}"),
    }
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn commit_refuses_a_descriptor_with_the_wrong_size() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let blob = store.ingest_bytes(b"1234").unwrap();
    let manifest = Manifest::new_model(
        Descriptor::new(MEDIA_TYPE_MODEL_CONFIG, blob.digest.clone(), 4),
        vec![Descriptor::new(MEDIA_TYPE_WEIGHT_RAW, blob.digest, 5)],
    );
    let err = store
        .commit_model(NewModel {
            reference: Reference::parse("bad-size").unwrap(),
            manifest,
            metadata: serde_json::Value::Null,
            tensors: vec![],
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
}

#[test]
fn resolve_by_digest_prefix() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let entry = commit(&store, "m", b"w");
    let hex = entry.digest.hex().to_string();

    assert_eq!(store.resolve(&hex[..12]).unwrap().digest, entry.digest);
    assert_eq!(store.resolve(&hex).unwrap().digest, entry.digest);
    assert_eq!(
        store
            .resolve(&format!("sha256:{}", &hex[..20]))
            .unwrap()
            .digest,
        entry.digest
    );
    assert_eq!(
        store.resolve(entry.digest.as_str()).unwrap().digest,
        entry.digest
    );

    // Too short to be a prefix: treated as a name, which does not exist.
    assert!(matches!(
        store.resolve(&hex[..8]).unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        store.resolve(&format!("sha256:{}", &hex[..8])).unwrap_err(),
        StoreError::InvalidDigest { .. }
    ));
    let other_prefix = if hex.starts_with('0') {
        "111111111111"
    } else {
        "000000000000"
    };
    assert!(matches!(
        store.resolve(other_prefix).unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

#[test]
fn not_found_hints_at_close_names() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    commit(&store, "smollm2-135m:q4_k_m", b"1");
    commit(&store, "qwen2.5-0.5b", b"2");

    let err = store.resolve("smollm2-135m").unwrap_err();
    match &err {
        StoreError::NotFound { suggestions, .. } => {
            assert_eq!(suggestions, &["smollm2-135m:q4_k_m"])
        }
        other => panic!("expected NotFound, got {other}"),
    }
    assert!(err.to_string().contains("smollm2-135m"));
    assert!(err.hint().unwrap().contains("smollm2-135m:q4_k_m"));

    let err = store.resolve("smolm2-135m:q4_k_m").unwrap_err();
    assert!(
        err.hint().unwrap().contains("smollm2-135m:q4_k_m"),
        "{:?}",
        err.hint()
    );

    let err = store.resolve("qwen").unwrap_err();
    assert!(err.hint().unwrap().contains("qwen2.5-0.5b:latest"));

    let err = store.resolve("llama").unwrap_err();
    assert!(err.hint().unwrap().contains("commons list"));

    let err = store.resolve("Bad Name").unwrap_err();
    assert!(matches!(err, StoreError::InvalidReference { .. }), "{err}");
}

#[test]
fn tag_copies_and_moves_pointers() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let original = commit(&store, "m:v1", b"one");
    let copy = store.tag("m:v1", "alias").unwrap();
    assert_eq!(copy.reference(), "alias:latest");
    assert_eq!(copy.digest, original.digest);

    // Moving `alias` to another model keeps both manifests (v1 is still tagged).
    let second = commit(&store, "m:v2", b"two");
    let moved = store.tag("m:v2", "alias").unwrap();
    assert_eq!(moved.digest, second.digest);
    assert_eq!(store.resolve("m:v1").unwrap().digest, original.digest);

    // Committing a new manifest under an existing tag moves it; the old
    // manifest, now untagged, leaves the catalog.
    let third = commit(&store, "m:v1", b"three");
    assert_ne!(third.digest, original.digest);
    assert_eq!(store.resolve("m:v1").unwrap().digest, third.digest);
    assert!(store.resolve(&original.digest.to_string()).is_err());

    assert!(matches!(
        store.tag("missing", "x").unwrap_err(),
        StoreError::NotFound { .. }
    ));
    assert!(matches!(
        store.tag("m:v1", "Bad:").unwrap_err(),
        StoreError::InvalidReference { .. }
    ));
}

#[test]
fn remove_deletes_the_tag_then_the_manifest() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let entry = commit(&store, "m", b"w");
    store.tag("m", "n").unwrap();

    let removed = store.remove("m").unwrap();
    assert_eq!(removed.reference(), "m:latest");
    assert!(store.resolve("m").is_err());
    // Still reachable through the other tag, by name and by digest.
    assert_eq!(store.resolve(entry.digest.as_str()).unwrap().name, "n");

    store.remove("n:latest").unwrap();
    assert!(store.list().unwrap().is_empty());
    assert!(store.resolve(entry.digest.as_str()).is_err());
    assert!(store.tensors(&entry.digest).unwrap().is_empty());
    // Blobs stay until gc.
    assert!(store.has_blob(&entry.digest));
    assert!(matches!(
        store.remove("n").unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

#[test]
fn remove_by_digest_removes_every_tag() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let entry = commit(&store, "m", b"w");
    store.tag("m", "n:x").unwrap();
    store.remove(&entry.digest.hex()[..12]).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn reopening_keeps_models_and_schema() {
    let home = tempfile::tempdir().unwrap();
    let entry = {
        let store = Store::open(home.path()).unwrap();
        commit(&store, "m", b"w")
    };
    for _ in 0..2 {
        let store = Store::open(home.path()).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            commons_store::SCHEMA_VERSION
        );
        assert_eq!(store.resolve("m").unwrap(), entry);
    }
}

#[test]
fn metadata_is_replaced_on_recommit_but_created_at_is_kept() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let first = commit(&store, "m", b"w");
    let layer = first.manifest.clone();
    let again = store
        .commit_model(NewModel {
            reference: Reference::parse("m").unwrap(),
            manifest: layer,
            metadata: serde_json::json!({"note": "second"}),
            tensors: vec![],
        })
        .unwrap();
    assert_eq!(again.digest, first.digest);
    assert_eq!(again.created_at, first.created_at);
    assert_eq!(again.metadata["note"], "second");
}

#[test]
fn store_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

#[test]
fn ingests_succeed_while_gc_runs_concurrently() {
    // gc may see a staging file between its creation and its lock; the ingest
    // must notice and start over rather than fail or lose its bytes.
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let collector = Store::open(home.path()).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                collector.gc().unwrap();
            }
        });
        for i in 0..80u32 {
            let bytes = format!("blob number {i}").repeat(100);
            let blob = store.ingest_bytes(bytes.as_bytes()).unwrap();
            assert_eq!(blob.size, bytes.len() as u64);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(files_in(&home.path().join("tmp")).is_empty());
}

#[test]
fn provenance_versions_accumulate_and_go_with_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let entry = commit(&store, "m:1", b"weights for provenance");
    assert!(store.latest_provenance(&entry.digest).unwrap().is_none());
    let first = serde_json::json!({"publisher": "a"});
    let second = serde_json::json!({"publisher": "b"});
    assert_eq!(
        store
            .add_provenance(&entry.digest, &first, "import")
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .add_provenance(&entry.digest, &second, "set publisher")
            .unwrap(),
        2
    );
    let history = store.provenance_history(&entry.digest).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].record, first);
    assert_eq!(history[1].change, "set publisher");
    assert_eq!(
        store
            .latest_provenance(&entry.digest)
            .unwrap()
            .unwrap()
            .record,
        second
    );

    store
        .put_signature(&entry.digest, "k1", "{\"a\":1}")
        .unwrap();
    store
        .put_signature(&entry.digest, "k1", "{\"a\":2}")
        .unwrap();
    let signatures = store.signatures(&entry.digest).unwrap();
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0].bundle_json, "{\"a\":2}");

    store.remove("m:1").unwrap();
    assert!(!store.has_manifest(&entry.digest).unwrap());
    assert!(store.provenance_history(&entry.digest).unwrap().is_empty());
    assert!(store.signatures(&entry.digest).unwrap().is_empty());
}
