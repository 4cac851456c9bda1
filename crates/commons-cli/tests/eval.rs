//! `commons eval` on the real SmolLM2 model with the small fixture suites in
//! `tests/fixtures/eval/`: determinism, signed attestations (verify, tamper,
//! wrong model), reproduction and two evaluators side by side. Item counts are
//! kept small (`--limit`) so the whole file runs in well under a minute on 2 cores.

mod common;

use std::path::PathBuf;

use base64::Engine as _;
use common::{smollm2, Node};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/eval")
        .join(name)
}

fn node_with_model() -> Node {
    let node = Node::new();
    node.json(&["import", smollm2().to_str().unwrap(), "--name", "smollm2"]);
    node.json(&[
        "eval",
        "import",
        fixture("tiny-mc.suite.yaml").to_str().unwrap(),
        fixture("tiny-gen.suite.yaml").to_str().unwrap(),
    ]);
    node
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn suites_import_list_and_bad_items_are_named() {
    let node = Node::new();
    let imported = node.json(&[
        "eval",
        "import",
        fixture("tiny-mc.suite.yaml").to_str().unwrap(),
    ]);
    let digest = imported[0]["digest"].as_str().unwrap().to_string();
    let listed = node.json(&["eval", "list"]);
    assert_eq!(listed[0]["name"], "tiny-facts");
    assert_eq!(listed[0]["items"], 10);
    assert_eq!(listed[0]["digest"], digest.as_str());
    // Importing again is idempotent.
    node.json(&[
        "eval",
        "import",
        fixture("tiny-mc.suite.yaml").to_str().unwrap(),
    ]);
    assert_eq!(node.json(&["eval", "list"]).as_array().unwrap().len(), 1);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(fixture("tiny-mc.suite.yaml"))
        .unwrap()
        .replace(
            "\"choices\": [\"five\", \"seven\", \"ten\", \"twelve\"], \"answer\": 1",
            "\"choices\": [\"five\", \"seven\", \"ten\", \"twelve\"], \"answer\": 5",
        );
    std::fs::write(&bad, text).unwrap();
    let out = node.run(&["eval", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("item 6 (id \"days-week\"): answer 5 is not among the 4 choices"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", stderr(&out));
}

#[test]
fn a_run_is_deterministic_attested_verified_and_reproduced_bit_for_bit() {
    let node = node_with_model();
    let run = |suite: &str, limit: &str| {
        node.json(&[
            "eval",
            "run",
            "smollm2",
            "--suite",
            suite,
            "--limit",
            limit,
            "--threads",
            "2",
        ])
    };
    let first = run("tiny-facts", "4");
    let second = run("tiny-facts", "4");
    assert_eq!(first["samples"], 4);
    assert_eq!(first["results_digest"], second["results_digest"]);
    assert_eq!(first["metrics"], second["metrics"]);
    assert_eq!(first["metrics"][0]["metric"], "acc");
    let p = &first["metrics"][0];
    assert!(p["low"].as_f64().unwrap() <= p["value"].as_f64().unwrap());
    assert!(p["value"].as_f64().unwrap() <= p["high"].as_f64().unwrap());

    let generation = run("tiny-arith", "2");
    assert_eq!(generation["samples"], 2);
    assert_eq!(generation["metrics"][0]["metric"], "numeric");

    // Every attestation attached to the model verifies with the node's own key.
    let verified = node.json(&["eval", "verify", "smollm2"]);
    assert_eq!(verified.as_array().unwrap().len(), 3);
    assert!(verified
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["verified"] == true && v["results_checked"] == true));

    let attestation = first["attestation"]["digest"].as_str().unwrap();
    let reproduced = node.json(&["eval", "reproduce", attestation, "--threads", "2"]);
    assert_eq!(reproduced["bit_for_bit"], true, "{reproduced}");
    assert_eq!(reproduced["agreeing_items"], 4);
}

/// Decodes the envelope's statement, lets `edit` change it, and re-encodes it
/// without re-signing.
fn tamper(envelope: &[u8], edit: impl Fn(&mut Value)) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut env: Value = serde_json::from_slice(envelope).unwrap();
    let mut statement: Value =
        serde_json::from_slice(&b64.decode(env["payload"].as_str().unwrap()).unwrap()).unwrap();
    edit(&mut statement);
    env["payload"] = Value::String(b64.encode(serde_json::to_vec(&statement).unwrap()));
    serde_json::to_vec(&env).unwrap()
}

#[test]
fn tampered_and_wrong_model_attestations_are_refused() {
    let node = node_with_model();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("att.json");
    node.json(&[
        "eval",
        "run",
        "smollm2",
        "--suite",
        "tiny-facts",
        "--limit",
        "2",
        "--threads",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    node.json(&["eval", "verify", out.to_str().unwrap()]);

    let envelope = std::fs::read(&out).unwrap();
    let forged = dir.path().join("forged.json");
    std::fs::write(
        &forged,
        tamper(&envelope, |s| {
            s["predicate"]["metrics"][0]["correct"] = Value::from(2)
        }),
    )
    .unwrap();
    let result = node.run(&["eval", "verify", forged.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("signature does not match"),
        "{}",
        stderr(&result)
    );

    // Another model (same weights, another license annotation: another manifest digest).
    node.json(&[
        "import",
        smollm2().to_str().unwrap(),
        "--name",
        "other",
        "--license",
        "MIT",
    ]);
    let model_digest = node.json(&["show", "smollm2"])["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let other_digest = node.json(&["show", "other"])["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(model_digest, other_digest);
    let result = node.run(&["eval", "verify", out.to_str().unwrap(), "--model", "other"]);
    assert!(!result.status.success());
    let message = stderr(&result);
    assert!(
        message.contains(&model_digest) && message.contains(&other_digest),
        "{message}"
    );
}

#[test]
fn two_evaluators_are_compared_side_by_side() {
    let node = node_with_model();
    // A second evaluator: another node's key (created by signing any file there).
    let other = Node::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("note.txt");
    std::fs::write(&file, "x").unwrap();
    other.json(&["sign", file.to_str().unwrap()]);
    let other_key = other.home().join("keys/node-key.pem");

    let run = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "run",
            "smollm2",
            "--suite",
            "tiny-facts",
            "--limit",
            "3",
            "--threads",
            "2",
        ];
        args.extend_from_slice(extra);
        node.json(&args)
    };
    let mine = run(&[]);
    let theirs = run(&[
        "--key",
        other_key.to_str().unwrap(),
        "--as",
        "second evaluator",
    ]);
    let (mine_key, their_key) = (
        mine["attestation"]["key_hint"].as_str().unwrap(),
        theirs["attestation"]["key_hint"].as_str().unwrap(),
    );
    assert_ne!(mine_key, their_key);

    let comparison = node.json(&["eval", "compare", "smollm2"]);
    let rows = comparison["models"][0]["rows"].as_array().unwrap();
    let acc: Vec<&Value> = rows.iter().filter(|r| r["metric"] == "acc").collect();
    assert_eq!(acc.len(), 2, "{comparison:#}");
    let hints: Vec<&str> = acc
        .iter()
        .map(|r| r["evaluator"]["key_hint"].as_str().unwrap())
        .collect();
    assert!(hints.contains(&mine_key) && hints.contains(&their_key));
    let named = acc
        .iter()
        .find(|r| r["evaluator"]["key_hint"] == their_key)
        .unwrap();
    assert_eq!(named["evaluator"]["name"], "second evaluator");
    // Only the node's own key is trusted here.
    assert!(named["evaluator"].get("trusted_as").is_none());
    // The same engine gives the same numbers: no disagreement; tiny-facts is covered
    // twice, tiny-arith by nobody.
    assert_eq!(comparison["disagreements"].as_array().unwrap().len(), 0);
    let thin: Vec<&str> = comparison["thin_coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["suite"].as_str().unwrap())
        .collect();
    assert_eq!(thin, vec!["tiny-arith"]);

    // This node does not trust the other evaluator's key: verifying everything attached fails
    // and says so.
    let result = node.run(&["eval", "verify", "smollm2"]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("no trusted key"),
        "{}",
        stderr(&result)
    );
}
