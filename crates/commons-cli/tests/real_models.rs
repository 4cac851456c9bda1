//! The real test models import, and `show --json` reports what the official
//! `gguf` / `safetensors` Python readers independently compute from the files.

mod common;

use std::path::Path;
use std::process::Command;

use common::Node;
use serde_json::Value;

/// Facts about a model computed by `tests/python/model_facts.py`.
fn reference_facts(model: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/model_facts.py");
    let out = Command::new(common::python())
        .arg(&script)
        .arg(model)
        .output()
        .expect("run model_facts.py");
    assert!(
        out.status.success(),
        "model_facts.py failed: {}",
        common::stderr(&out)
    );
    serde_json::from_slice(&out.stdout).expect("model_facts.py prints JSON")
}

fn import_and_compare(model: &Path, name: &str) -> Value {
    let node = Node::new();
    let imported = node.json(&[
        "import",
        model.to_str().expect("utf-8 path"),
        "--name",
        name,
    ]);
    let shown = node.json(&["show", name]);
    assert_eq!(
        imported["digest"], shown["digest"],
        "import and show agree on identity"
    );

    let facts = reference_facts(model);
    for field in ["format", "architecture", "context_length", "tensor_count"] {
        assert_eq!(shown[field], facts[field], "{field} of {}", model.display());
    }
    let ours = shown["parameters"]
        .as_u64()
        .expect("parameters is a number") as f64;
    let theirs = facts["parameter_count"].as_u64().expect("parameter_count") as f64;
    assert!(
        (ours - theirs).abs() <= theirs * 0.01,
        "parameters {ours} vs {theirs} for {}",
        model.display()
    );
    assert_eq!(shown["chat_template"], facts["has_chat_template"]);
    for field in [
        "name",
        "digest",
        "format",
        "architecture",
        "parameters",
        "quantization",
        "context_length",
        "tensor_count",
        "size_bytes",
        "license",
        "chat_template",
        "provenance",
    ] {
        assert!(
            shown.get(field).is_some(),
            "show --json lacks `{field}`: {shown:#}"
        );
    }
    assert!(shown["provenance"]["completeness"].is_number());
    assert!(shown["provenance"]["missing"].is_array());
    assert!(
        node.blob_files().len() >= 3,
        "weights, config and manifest are blobs"
    );
    assert!(node.tmp_files().is_empty(), "import leaves no temp files");
    shown
}

#[test]
fn smollm2_gguf_imports_with_its_facts() {
    let shown = import_and_compare(&common::smollm2(), "smollm2:q4_1");
    assert_eq!(shown["quantization"], "Q4_1");
    assert_eq!(shown["license"], "apache-2.0");
    assert_eq!(shown["chat_template"], true);
}

#[test]
fn gemma3_gguf_imports_with_its_facts() {
    let shown = import_and_compare(&common::gemma3(), "gemma3:270m");
    assert_eq!(shown["architecture"], "gemma3");
    assert_eq!(shown["quantization"], "Q4_K_M");
}

#[test]
fn minilm_folder_imports_with_its_facts() {
    let shown = import_and_compare(&common::minilm(), "minilm:l6-v2");
    assert_eq!(shown["format"], "safetensors");
    let files = shown["files"].as_array().expect("files listed");
    for wanted in ["model.safetensors", "config.json", "tokenizer.json"] {
        assert!(
            files.iter().any(|f| f["path"] == wanted),
            "folder import keeps {wanted}: {files:#?}"
        );
    }
}

#[test]
fn importing_twice_is_idempotent_and_deduplicated() {
    let node = Node::new();
    let model = common::smollm2();
    let path = model.to_str().expect("utf-8 path");
    let first = node.json(&["import", path, "--name", "a:1"]);
    let blobs = node.blob_files();
    let second = node.json(&["import", path, "--name", "b:1"]);
    assert_eq!(
        first["digest"], second["digest"],
        "same bytes, same identity"
    );
    assert_eq!(node.blob_files(), blobs, "no new blob for the same bytes");
    assert_eq!(node.model_count(), 2, "two names for one model");
}
