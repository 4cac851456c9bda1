//! Bad input gets a clear `error:` naming the file and the problem, a non-zero
//! exit, no panic, and leaves the store exactly as it was.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::Node;

/// Imports `path` into a fresh store and asserts that it fails cleanly.
/// Returns stderr for the caller's own checks.
fn import_fails(path: &Path, expected: &str) -> String {
    let node = Node::new();
    let out = node.run(&["import", path.to_str().expect("utf-8 path")]);
    let err = common::stderr(&out);
    assert!(
        !out.status.success(),
        "import of {} should fail",
        path.display()
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clean failure, not a crash: {err}"
    );
    assert!(err.starts_with("error: "), "cargo-style error: {err}");
    assert!(!err.contains("panicked"), "no panic: {err}");
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .expect("file name");
    assert!(
        err.contains(file_name),
        "the error names the file {file_name}: {err}"
    );
    assert!(
        err.to_lowercase().contains(&expected.to_lowercase()),
        "the error says `{expected}`: {err}"
    );
    assert!(
        node.blob_files().is_empty(),
        "no blob written: {:?}",
        node.blob_files()
    );
    assert!(
        node.tmp_files().is_empty(),
        "temp cleaned: {:?}",
        node.tmp_files()
    );
    assert_eq!(node.model_count(), 0, "no catalog row");
    err
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).expect("write test file");
    path
}

/// The first `len` bytes of the real SmolLM2 GGUF.
fn smollm2_prefix(len: usize) -> Vec<u8> {
    let mut bytes = fs::read(common::smollm2()).expect("read model");
    bytes.truncate(len);
    bytes
}

/// A minimal valid GGUF v3 header with `kv` metadata pairs and `tensors`
/// tensors claimed, and nothing after it.
fn gguf_header(version: u32, tensors: u64, kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(version.to_le_bytes());
    b.extend(tensors.to_le_bytes());
    b.extend(kv.to_le_bytes());
    b
}

#[test]
fn truncated_gguf_is_refused_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let full = fs::metadata(common::smollm2()).unwrap().len() as usize;
    for (i, cut) in [
        3usize,
        10,
        23,
        1_000,
        100_000,
        1_000_000,
        full / 2,
        full - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let path = write(
            dir.path(),
            &format!("truncated-{i}.gguf"),
            &smollm2_prefix(cut),
        );
        import_fails(&path, "");
    }
}

#[test]
fn wrong_magic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = smollm2_prefix(4096);
    bytes[..4].copy_from_slice(b"GGML");
    let path = write(dir.path(), "magic.gguf", &bytes);
    import_fails(&path, "magic");
}

#[test]
fn unknown_gguf_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "version.gguf", &gguf_header(99, 0, 0));
    import_fails(&path, "version");
}

#[test]
fn counts_larger_than_the_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tensors.gguf", &gguf_header(3, u64::MAX / 2, 0));
    import_fails(&path, "");
    let path = write(dir.path(), "kv.gguf", &gguf_header(3, 0, 1 << 40));
    import_fails(&path, "");
}

#[test]
fn string_longer_than_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = gguf_header(3, 0, 1);
    bytes.extend((1u64 << 50).to_le_bytes()); // key length
    bytes.extend(b"general.name");
    let path = write(dir.path(), "string.gguf", &bytes);
    import_fails(&path, "");
}

#[test]
fn safetensors_header_longer_than_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = 5_000u64.to_le_bytes().to_vec();
    bytes.extend(b"{}");
    let path = write(dir.path(), "long.safetensors", &bytes);
    import_fails(&path, "header");
}

#[test]
fn safetensors_header_over_100mb_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = (200u64 << 20).to_le_bytes().to_vec();
    bytes.extend(b"{}");
    let path = write(dir.path(), "huge.safetensors", &bytes);
    import_fails(&path, "header");
}

#[test]
fn safetensors_non_json_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (i, header) in [&b"this is not json"[..], b"{\"w\": [1, 2"]
        .into_iter()
        .enumerate()
    {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header);
        let path = write(dir.path(), &format!("garbage-{i}.safetensors"), &bytes);
        import_fails(&path, "header");
    }
}

#[test]
fn safetensors_tensor_outside_the_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let header = br#"{"w":{"dtype":"F32","shape":[1024,1024],"data_offsets":[0,4194304]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend([0u8; 64]);
    let path = write(dir.path(), "short.safetensors", &bytes);
    import_fails(&path, "");
}

#[test]
fn folder_without_weights_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("empty-model");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("config.json"), br#"{"model_type":"llama"}"#).unwrap();
    import_fails(&folder, "no model weights");
}

#[test]
fn pickled_checkpoints_are_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["pytorch_model.bin", "model.pt", "weights.pth", "last.ckpt"] {
        // A real pickle opcode stream: PROTO 2, then STOP.
        let path = write(dir.path(), name, b"\x80\x02.");
        let err = import_fails(&path, "pickle");
        assert!(err.contains("hint:"), "says what to do instead: {err}");
        assert!(
            err.to_lowercase().contains("safetensors"),
            "suggests safetensors: {err}"
        );
    }
    let folder = dir.path().join("pickled-model");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("config.json"), b"{}").unwrap();
    fs::write(folder.join("pytorch_model.bin"), b"\x80\x02.").unwrap();
    import_fails(&folder, "pickle");
}

#[test]
fn missing_path_is_refused_with_a_hint() {
    let node = Node::new();
    let out = node.run(&["import", "/nonexistent/model.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("/nonexistent/model.gguf"), "{err}");
}

#[test]
fn unknown_model_name_has_a_hint() {
    let node = Node::new();
    let out = node.run(&["show", "nothing-here"]);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("nothing-here"), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

#[test]
fn json_errors_are_machine_readable() {
    let node = Node::new();
    let out = node.run(&["show", "nothing-here", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error object");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("nothing-here")),
        "{v}"
    );
}
