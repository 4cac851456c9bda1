//! Governance through the real binary on crafted models: the audit log
//! (every change recorded; edits, removals and reorders made with SQL are
//! named), hosting policy (admit / quarantine / reject) and the health report.

mod common;
#[path = "../../commons-store/tests/support/mod.rs"]
mod gguf;

use std::path::{Path, PathBuf};

use common::Node;
use serde_json::Value;

/// A tiny GGUF with the given `general.*` strings.
fn crafted(dir: &Path, file: &str, strings: &[(&str, &str)], elements: u64) -> PathBuf {
    let path = dir.join(file);
    let mut all = vec![("general.architecture", "llama")];
    all.extend_from_slice(strings);
    gguf::write_gguf(
        &path,
        &all,
        3,
        &[("token_embd.weight", elements), ("output_norm.weight", 16)],
    );
    path
}

fn apache(node: &Node, name: &str) -> PathBuf {
    crafted(
        node.home(),
        &format!("{name}.gguf"),
        &[("general.name", name), ("general.license", "apache-2.0")],
        64,
    )
}

fn sql(node: &Node, statements: &str) {
    let conn = rusqlite::Connection::open(node.home().join("catalog.db")).unwrap();
    conn.execute_batch(statements).unwrap();
}

/// `audit verify --json`, which exits 1 on a broken log but still prints the report.
fn verify(node: &Node) -> (bool, Value) {
    let out = node.run(&["audit", "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    assert_eq!(out.status.success(), report["ok"] == true, "{report:#}");
    (out.status.success(), report)
}

/// A node whose log holds: import, tag, token.create, token.revoke, delete.
fn node_with_history() -> Node {
    let node = Node::new();
    let model = apache(&node, "tiny");
    node.json(&["import", model.to_str().unwrap(), "--name", "tiny:v1"]);
    node.json(&["tag", "tiny:v1", "tiny:latest"]);
    node.json(&["token", "create", "ci", "--scope", "push"]);
    node.json(&["token", "revoke", "ci"]);
    node.json(&["rm", "tiny:latest"]);
    node
}

fn actions(node: &Node) -> Vec<String> {
    node.json(&["audit", "list", "--limit", "100"])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_change_is_recorded_and_an_intact_log_verifies() {
    let node = node_with_history();
    let recorded = actions(&node);
    assert!(
        recorded.ends_with(&[
            "import".to_string(),
            "tag".into(),
            "token.create".into(),
            "token.revoke".into(),
            "delete".into()
        ]),
        "{recorded:?}"
    );
    let list = node.json(&["audit", "list"]);
    let import = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "import")
        .unwrap();
    assert_eq!(import["actor"], "local");
    assert_eq!(import["subject"], "tiny:v1");
    assert!(import["digest"].as_str().unwrap().starts_with("sha256:"));

    let (ok, report) = verify(&node);
    assert!(ok);
    assert_eq!(report["entries"].as_u64(), Some(recorded.len() as u64));

    let checkpoint = node.json(&["audit", "checkpoint"]);
    assert_eq!(checkpoint["seq"].as_u64(), Some(recorded.len() as u64));
    let (ok, report) = verify(&node);
    assert!(ok && report["unanchored"] == 0, "{report:#}");

    let out = node.home().join("audit.jsonl");
    node.json(&["audit", "export", "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), recorded.len());
    for pair in lines.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    assert!(lines.last().unwrap()["checkpoint"]["signature"].is_string());
}

#[test]
fn an_entry_edited_with_sql_is_named() {
    let node = node_with_history();
    sql(&node, "UPDATE audit_log SET subject = 'other:v1' WHERE seq = 2");
    let (ok, report) = verify(&node);
    assert!(!ok);
    assert_eq!(report["first_bad"]["seq"], 2, "{report:#}");
    assert_eq!(report["first_bad"]["problem"], "edited");
    // The human report names it too.
    let out = node.run(&["audit", "verify"]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("first bad entry: 2"));
}

#[test]
fn a_deleted_entry_is_named() {
    let node = node_with_history();
    sql(&node, "DELETE FROM audit_log WHERE seq = 3");
    let (ok, report) = verify(&node);
    assert!(!ok);
    assert_eq!(report["first_bad"]["seq"], 3, "{report:#}");
    assert_eq!(report["first_bad"]["problem"], "removed");
}

#[test]
fn reordered_entries_are_named() {
    let node = node_with_history();
    sql(
        &node,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = -1;",
    );
    let (ok, report) = verify(&node);
    assert!(!ok);
    assert_eq!(report["first_bad"]["seq"], 2, "{report:#}");
    assert_eq!(report["first_bad"]["problem"], "reordered");
}

#[test]
fn entries_cut_off_after_a_checkpoint_are_named() {
    let node = node_with_history();
    node.json(&["audit", "checkpoint"]);
    sql(&node, "DELETE FROM audit_log WHERE seq >= 4");
    let (ok, report) = verify(&node);
    assert!(!ok);
    assert_eq!(report["first_bad"]["seq"], 4, "{report:#}");
    assert_eq!(report["first_bad"]["problem"], "removed");
}
