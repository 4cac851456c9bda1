//! verify (corrupt and missing blobs, quarantine) and gc (unreferenced blobs, stale tmp).

mod support;

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use commons_store::manifest::{
    Manifest, ANNOTATION_FILEPATH, MEDIA_TYPE_MODEL_CONFIG, MEDIA_TYPE_WEIGHT_RAW,
};
use commons_store::{
    BlobProblemKind, Descriptor, ModelEntry, NewModel, Reference, Store, StoreError,
};
use support::{blob_count, files_in};

fn commit(store: &Store, reference: &str, weights: &[u8]) -> ModelEntry {
    let layer = store.ingest_bytes(weights).unwrap();
    let config = store.ingest_bytes(b"{\"config\":{}}").unwrap();
    let mut layer_desc = Descriptor::new(MEDIA_TYPE_WEIGHT_RAW, layer.digest, layer.size);
    layer_desc
        .annotations
        .insert(ANNOTATION_FILEPATH.into(), "w.gguf".into());
    store
        .commit_model(NewModel {
            reference: Reference::parse(reference).unwrap(),
            manifest: Manifest::new_model(
                Descriptor::new(MEDIA_TYPE_MODEL_CONFIG, config.digest, config.size),
                vec![layer_desc],
            ),
            metadata: serde_json::json!({}),
            tensors: vec![],
        })
        .unwrap()
}

fn flip_byte(path: &Path, at: u64) {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(at)).unwrap();
    std::io::Read::read_exact(&mut file, &mut byte).unwrap();
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&[byte[0] ^ 0xFF]).unwrap();
}

#[test]
fn verify_passes_on_a_healthy_store() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    commit(&store, "a", b"weights a");
    commit(&store, "b", b"weights b");
    let hashed = std::cell::Cell::new(0u64);
    let report = store
        .verify(None, &|n| hashed.set(hashed.get() + n))
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    // 2 weights + 1 shared config + 2 manifests.
    assert_eq!(report.checked_blobs, 5);
    assert_eq!(report.checked_bytes, hashed.get());
}

#[test]
fn verify_finds_and_quarantines_a_corrupt_blob() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let a = commit(&store, "a", b"weights a");
    commit(&store, "b", b"weights b");
    let weights = a.manifest.layers[0].digest.clone();
    let blob = store.blob_path(&weights);
    flip_byte(&blob, 3);

    let report = store.verify(None, &|_| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    let problem = &report.problems[0];
    assert_eq!(problem.digest, weights);
    assert_eq!(problem.models, vec!["a:latest".to_string()]);
    match &problem.kind {
        BlobProblemKind::Corrupt {
            actual,
            quarantined_to,
        } => {
            assert_ne!(actual, &weights);
            let moved = quarantined_to.as_ref().unwrap();
            assert!(moved.starts_with(home.path().join("blobs/corrupt")));
            assert!(moved.exists());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Never served again: the blob is gone from its place, reads fail.
    assert!(!store.has_blob(&weights));
    assert!(matches!(
        store.read_blob(&weights),
        Err(StoreError::MissingBlob { .. })
    ));
    // A second verify now reports it missing.
    let again = store.verify(Some("a"), &|_| {}).unwrap();
    assert_eq!(again.problems.len(), 1);
    assert_eq!(again.problems[0].kind, BlobProblemKind::Missing);
    // The other model is fine.
    assert!(store.verify(Some("b"), &|_| {}).unwrap().is_ok());
}

#[test]
fn verify_reports_a_missing_blob_with_its_models() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let a = commit(&store, "a", b"shared weights");
    store.tag("a", "a2:x").unwrap();
    let weights = a.manifest.layers[0].digest.clone();
    fs::remove_file(store.blob_path(&weights)).unwrap();

    let report = store.verify(Some("a2:x"), &|_| {}).unwrap();
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].kind, BlobProblemKind::Missing);
    assert_eq!(
        report.problems[0].models,
        vec!["a2:x".to_string(), "a:latest".to_string()]
    );
    // Manifest + config were still checked.
    assert_eq!(report.checked_blobs, 2);
    assert!(matches!(
        store.verify(Some("nope"), &|_| {}),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn gc_removes_unreferenced_blobs_and_keeps_referenced_ones() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let keep = commit(&store, "keep", b"kept weights");
    let gone = commit(&store, "gone", b"removed weights!");
    let stray = store.ingest_bytes(b"never referenced").unwrap();
    store.remove("gone").unwrap();

    let report = store.gc().unwrap();
    // gone's manifest + weights, and the stray blob; the config is shared with keep.
    assert_eq!(report.removed_blobs, 3, "{report:?}");
    assert_eq!(
        report.freed_bytes,
        gone.manifest.layers[0].size + stray.size + store_manifest_size(&gone)
    );
    assert!(!report.blobs_skipped_busy);
    assert!(!store.has_blob(&stray.digest));
    assert!(!store.has_blob(&gone.digest));
    assert!(store.has_blob(&keep.digest));
    assert!(store.verify(None, &|_| {}).unwrap().is_ok());
    assert_eq!(blob_count(home.path()), 3);
    // Nothing left to do.
    assert_eq!(store.gc().unwrap().removed_blobs, 0);
}

fn store_manifest_size(entry: &ModelEntry) -> u64 {
    entry.manifest.to_canonical_json().unwrap().len() as u64
}

#[test]
fn gc_removes_stale_tmp_files_but_not_locked_ones() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let tmp = home.path().join("tmp");
    // Left by a killed import: nobody holds its lock.
    fs::write(tmp.join("ingest-1-0-dead.tmp"), vec![0u8; 1000]).unwrap();
    // An import in progress holds an exclusive lock on its staging file.
    let live_path = tmp.join("ingest-2-0-live.tmp");
    let live = File::create(&live_path).unwrap();
    live.lock().unwrap();

    let report = store.gc().unwrap();
    assert_eq!(report.removed_tmp, 1);
    assert_eq!(report.freed_bytes, 1000);
    assert_eq!(files_in(&tmp), vec!["ingest-2-0-live.tmp".to_string()]);

    drop(live);
    assert_eq!(store.gc().unwrap().removed_tmp, 1);
    assert!(files_in(&tmp).is_empty());
}

#[test]
fn gc_leaves_blobs_alone_while_a_writer_holds_the_store_lock() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    // An import has copied a blob and not committed yet.
    let guard = store.write_guard().unwrap();
    let pending = store.ingest_bytes(b"about to be committed").unwrap();

    // Another process (another handle) runs gc meanwhile.
    let other = Store::open(home.path()).unwrap();
    let report = other.gc().unwrap();
    assert!(report.blobs_skipped_busy);
    assert_eq!(report.removed_blobs, 0);
    assert!(store.has_blob(&pending.digest));

    drop(guard);
    let report = other.gc().unwrap();
    assert!(!report.blobs_skipped_busy);
    assert_eq!(report.removed_blobs, 1);
}

#[test]
fn derived_files_are_written_once_and_go_with_their_model() {
    let home = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let kept = commit(&store, "kept", b"weights kept");
    let gone = commit(&store, "gone", b"weights gone");

    let writes = std::cell::Cell::new(0);
    let write = |file: &mut File| -> Result<(), StoreError> {
        writes.set(writes.get() + 1);
        file.write_all(b"converted").unwrap();
        Ok(())
    };
    let path = store
        .derived_file(&gone.digest, "model.gguf", write)
        .unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"converted");
    assert_eq!(
        store
            .derived_file(&gone.digest, "model.gguf", write)
            .unwrap(),
        path
    );
    assert_eq!(writes.get(), 1, "the second call finds the file");
    assert!(files_in(&home.path().join("tmp")).is_empty());

    // A failed write leaves nothing where readers look.
    let failed = store.derived_file(&kept.digest, "model.gguf", |file| {
        file.write_all(b"half").unwrap();
        Err(StoreError::InvalidToken {
            reason: "the conversion failed".into(),
        })
    });
    assert!(failed.is_err());
    assert!(!store.derived_dir(&kept.digest).join("model.gguf").exists());
    assert!(files_in(&home.path().join("tmp")).is_empty());

    let blob = kept.weight_layers().next().unwrap().digest.clone();
    let dir = store
        .derived_links(&kept.digest, &[("model-00001-of-00001.gguf".into(), blob)])
        .unwrap();
    assert_eq!(
        fs::read(dir.join("model-00001-of-00001.gguf")).unwrap(),
        b"weights kept"
    );

    // Named by a tag: kept. Untagged: swept with the blobs.
    assert_eq!(store.gc().unwrap().removed_derived, 0);
    store.remove("gone").unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.removed_derived, 1);
    assert!(!store.derived_dir(&gone.digest).exists());
    assert!(store.derived_dir(&kept.digest).exists());
}
