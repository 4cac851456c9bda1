//! Weight lineage on the real models: a model against itself, against a
//! perturbed copy written here, and against an unrelated model; plus the
//! dequantizers checked against llama.cpp's own Python package.

mod common;

use std::path::{Path, PathBuf};

use common::{gemma3, python, smollm2, stderr, Node};
use commons_formats::dequant;
use commons_formats::gguf::GgufFile;
use serde_json::Value;

/// Writes a copy of the SmolLM2 GGUF with the same header and slightly
/// changed weights: the low bit of some Q4_1 quants flipped, some F32 values
/// scaled by 1.01. Every tensor changes a little, as in a short fine-tune.
fn perturbed_smollm2(dir: &Path) -> PathBuf {
    let source = smollm2();
    let mut bytes = std::fs::read(&source).unwrap();
    let file = GgufFile::open(&source).unwrap();
    let mut changed = 0;
    for tensor in file.tensors() {
        let range = file.header().tensor_range(tensor);
        let (start, end) = (range.start as usize, range.end as usize);
        match tensor.ggml_type.name() {
            "Q4_1" => {
                // 20-byte blocks: d, m (f16), then 16 bytes of quants.
                for block in (start..end).step_by(20).step_by(5) {
                    for q in &mut bytes[block + 4..block + 20] {
                        *q ^= 0x01;
                    }
                }
                changed += 1;
            }
            "F32" => {
                for at in (start..end).step_by(4).step_by(3) {
                    let v = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) * 1.01;
                    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                changed += 1;
            }
            _ => {}
        }
    }
    assert!(changed > 200, "only {changed} tensors perturbed");
    let path = dir.join("smollm2-perturbed.gguf");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn comparison(report: &Value) -> &Value {
    &report["comparisons"][0]
}

#[test]
fn identical_derived_and_unrelated_from_the_weights() {
    let node = Node::new();
    let smol = smollm2();
    let base = node.json(&["import", smol.to_str().unwrap(), "--name", "smol:base"]);
    let work = tempfile::tempdir().unwrap();
    let perturbed = perturbed_smollm2(work.path());
    node.json(&[
        "import",
        perturbed.to_str().unwrap(),
        "--name",
        "smol:tuned",
    ]);
    let gemma = gemma3();
    node.json(&["import", gemma.to_str().unwrap(), "--name", "gemma:1"]);

    // Itself.
    let same = node.json(&["lineage", "smol:base", "--base", "smol:base"]);
    assert_eq!(comparison(&same)["verdict"], "identical", "{same}");

    // The perturbed copy: no tensor has the same bytes for Q4_1/F32, yet the
    // values stay nearly parallel.
    let tuned = node.json(&["lineage", "smol:tuned", "--base", "smol:base"]);
    let c = comparison(&tuned);
    assert_eq!(c["verdict"], "derived", "{tuned}");
    assert_eq!(c["relation"], "fine-tune or merge");
    assert!(c["differing_tensors"].as_u64().unwrap() > 200, "{c}");
    assert!(c["mean_cosine"].as_f64().unwrap() > 0.95, "{c}");
    assert!(c["mean_cosine"].as_f64().unwrap() < 1.0, "{c}");
    assert_eq!(c["claim"], "unclaimed");

    // Unrelated architecture.
    let other = node.json(&["lineage", "gemma:1", "--base", "smol:base"]);
    assert_eq!(comparison(&other)["verdict"], "unrelated", "{other}");

    // The claimed base is checked against the weights.
    let digest = base["digest"].as_str().unwrap();
    let claim = format!(r#"[{{"name":"SmolLM2-135M","digest":"{digest}"}}]"#);
    node.json(&["provenance", "set", "smol:tuned", "base_models", &claim]);
    node.json(&["provenance", "set", "gemma:1", "base_models", &claim]);
    // Without --base, the claimed base (and any model sharing tensors) is compared.
    let tuned = node.json(&["lineage", "smol:tuned"]);
    assert_eq!(comparison(&tuned)["claim"], "consistent", "{tuned}");
    let out = node.run(&["lineage", "gemma:1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unrelated") && text.contains("INCONSISTENT"),
        "{text}"
    );
}

#[test]
fn a_requantized_copy_is_recognised_as_requantization() {
    let node = Node::new();
    let smol = smollm2();
    node.json(&["import", smol.to_str().unwrap(), "--name", "smol:q4_1"]);
    let work = tempfile::tempdir().unwrap();
    let requantized = work.path().join("smollm2-q8_0.gguf");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/requantize_gguf.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .arg(&smol)
        .arg(&requantized)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    node.json(&[
        "import",
        requantized.to_str().unwrap(),
        "--name",
        "smol:q8_0",
    ]);
    // Found without --base: the F32 tensors were copied unchanged.
    let report = node.json(&["lineage", "smol:q8_0"]);
    let c = comparison(&report);
    assert_eq!(c["base"], "smol:q4_1", "{report}");
    assert_eq!(c["verdict"], "derived", "{report}");
    assert_eq!(c["relation"], "requantization", "{report}");
    assert!(c["mean_cosine"].as_f64().unwrap() > 0.999, "{c}");
}

#[test]
fn lineage_of_a_model_with_no_relative_says_what_to_do() {
    let node = Node::new();
    let smol = smollm2();
    node.json(&["import", smol.to_str().unwrap(), "--name", "alone:1"]);
    let out = node.run(&["lineage", "alone:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("hint: compare with a specific model"),
        "{}",
        stderr(&out)
    );
    let out = node.run(&["lineage", "alone:1", "--base", "missing:1"]);
    assert!(!out.status.success());
}

#[test]
fn dequantization_matches_gguf_py_for_every_supported_type() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dequant_reference.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reference.len(), 11);
    for (dtype, case) in &reference {
        let bytes = from_hex(case["bytes"].as_str().unwrap());
        let expected: Vec<f64> = case["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut ours = Vec::new();
        dequant::dequantize(dtype, &bytes, 0, expected.len(), &mut ours).unwrap();
        assert_eq!(ours.len(), expected.len(), "{dtype}");
        for (i, (&a, &e)) in ours.iter().zip(&expected).enumerate() {
            let a = f64::from(a);
            assert!(
                (a - e).abs() <= 1e-6 * e.abs().max(1.0),
                "{dtype} element {i}: commons {a}, gguf-py {e}"
            );
        }
    }
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
