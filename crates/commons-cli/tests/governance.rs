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
    assert_eq!(
        recorded,
        [
            "import",
            "policy.decision",
            "tag",
            "token.create",
            "token.revoke",
            "delete"
        ]
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
    sql(
        &node,
        "UPDATE audit_log SET subject = 'other:v1' WHERE seq = 2",
    );
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

fn state_of(node: &Node, reference: &str) -> Option<String> {
    node.json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            format!(
                "{}:{}",
                m["name"].as_str().unwrap(),
                m["tag"].as_str().unwrap()
            ) == reference
        })
        .map(|m| m["state"].as_str().unwrap().to_string())
}

#[test]
fn the_default_policy_admits_the_quickstart_model() {
    let node = Node::new();
    let smollm2 = common::smollm2();
    node.json(&["import", smollm2.to_str().unwrap(), "--name", "smollm2:q4"]);
    let decision = node.json(&["policy", "check", "smollm2:q4"]);
    assert_eq!(decision["outcome"], "admit", "{decision:#}");
    assert!(!decision["checked"].as_array().unwrap().is_empty());
    assert_eq!(state_of(&node, "smollm2:q4").as_deref(), Some("admitted"));
    let shown = node.json(&["policy", "show"]);
    assert!(shown["version"].is_null(), "the shipped default: {shown:#}");
    assert!(actions(&node).contains(&"policy.decision".to_string()));
}

const STRICT: &str = r#"
[licenses]
deny_if = ["non_commercial"]
on_fail = "quarantine"

[provenance]
require = ["license"]
on_fail = "quarantine"

[size]
max_bytes = 2000
on_fail = "reject"
"#;

#[test]
fn crafted_models_are_admitted_quarantined_or_rejected_with_the_rules_named() {
    let node = Node::new();
    let policy = node.home().join("strict.toml");
    std::fs::write(&policy, STRICT).unwrap();
    assert_eq!(
        node.json(&["policy", "set", policy.to_str().unwrap()])["version"],
        1
    );

    // Admitted: an open license, small.
    let ok = apache(&node, "ok");
    node.json(&["import", ok.to_str().unwrap(), "--name", "ok:v1"]);
    assert_eq!(state_of(&node, "ok:v1").as_deref(), Some("admitted"));

    // Quarantined: non-commercial, and one without any license.
    let nc = crafted(
        node.home(),
        "nc.gguf",
        &[("general.license", "cc-by-nc-4.0")],
        32,
    );
    let out = node.run(&["import", nc.to_str().unwrap(), "--name", "nc:v1"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stderr(&out).contains("quarantined"),
        "{}",
        common::stderr(&out)
    );
    assert_eq!(state_of(&node, "nc:v1").as_deref(), Some("quarantined"));
    let decision = node.json(&["policy", "check", "nc:v1"]);
    assert_eq!(decision["outcome"], "quarantine");
    let rules: Vec<&str> = decision["decided_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["licenses.deny_if"]);
    let none = crafted(node.home(), "none.gguf", &[], 8);
    node.json(&["import", none.to_str().unwrap(), "--name", "none:v1"]);
    let decision = node.json(&["policy", "check", "none:v1"]);
    assert_eq!(decision["decided_by"][0]["rule"], "provenance.require");

    // Rejected: too big. Removed again, the command fails naming the rule.
    let big = crafted(node.home(), "big.gguf", &[("general.license", "mit")], 1024);
    let out = node.run(&["import", big.to_str().unwrap(), "--name", "big:v1"]);
    assert!(!out.status.success());
    let stderr = common::stderr(&out);
    assert!(
        stderr.contains("rejected") && stderr.contains("size.max_bytes"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(state_of(&node, "big:v1"), None);

    let decisions: Vec<Value> = node
        .json(&["audit", "list", "--limit", "100"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "policy.decision")
        .cloned()
        .collect();
    let outcomes: Vec<&str> = decisions
        .iter()
        .map(|e| e["details"]["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["admit", "quarantine", "quarantine", "reject"]);
    assert!(verify(&node).0);
}

#[test]
fn a_policy_with_an_unknown_rule_is_refused_and_the_old_one_kept() {
    let node = Node::new();
    let good = node.home().join("good.toml");
    std::fs::write(&good, STRICT).unwrap();
    node.json(&["policy", "set", good.to_str().unwrap()]);
    let bad = node.home().join("bad.toml");
    std::fs::write(&bad, "[licenses]\nalow = [\"MIT\"]\n").unwrap();
    let out = node.run(&["policy", "set", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = common::stderr(&out);
    assert!(stderr.contains("unknown rule `licenses.alow`"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    let shown = node.json(&["policy", "show"]);
    assert_eq!(shown["version"], 1);
    assert_eq!(shown["text"], STRICT);
}

#[test]
fn health_figures_match_the_catalog() {
    let node = Node::new();
    let made = [
        ("a:v1", "apache-2.0", "OrgA"),
        ("b:v1", "apache-2.0", "OrgA"),
        ("c:v1", "cc-by-nc-4.0", "OrgB"),
    ];
    for (i, (reference, license, org)) in made.iter().enumerate() {
        let path = crafted(
            node.home(),
            &format!("{i}.gguf"),
            &[("general.license", license), ("general.organization", org)],
            16 + i as u64 * 8,
        );
        node.json(&["import", path.to_str().unwrap(), "--name", reference]);
    }
    node.json(&["sign", "a:v1"]);
    let health = node.json(&["health"]);
    assert_eq!(health["models"], 3, "{health:#}");

    // Completeness and openness, model by model, as `show` states them.
    let mut sum = 0.0;
    for (reference, _, _) in &made {
        let shown = node.json(&["show", reference]);
        let completeness = shown["provenance"]["completeness"].as_f64().unwrap();
        sum += completeness;
        let figure = health["completeness"]["per_model"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == *reference)
            .unwrap();
        assert_eq!(figure["value"].as_f64(), Some(completeness));
        let class = shown["provenance"]["openness_class"].as_str().unwrap();
        let in_class = health["openness"][class].as_array().unwrap();
        assert!(in_class.iter().any(|m| m == reference), "{health:#}");
    }
    let mean = health["completeness"]["mean"].as_f64().unwrap();
    assert!((mean - sum / 3.0).abs() < 1e-12);

    assert_eq!(
        health["licenses"],
        serde_json::json!({"apache-2.0": ["a:v1", "b:v1"], "cc-by-nc-4.0": ["c:v1"]})
    );
    let shares = health["publishers"]["shares"].as_array().unwrap();
    assert_eq!(shares[0]["publisher"], "OrgA");
    assert_eq!(shares[0]["models"], serde_json::json!(["a:v1", "b:v1"]));
    let hhi = health["publishers"]["herfindahl"].as_f64().unwrap();
    assert!((hhi - 5.0 / 9.0).abs() < 1e-12, "{hhi}");

    // The default policy quarantines the non-commercial model; `list` agrees.
    assert_eq!(health["quarantined"], serde_json::json!(["c:v1"]));
    assert_eq!(state_of(&node, "c:v1").as_deref(), Some("quarantined"));
    assert_eq!(health["unsigned"], serde_json::json!(["b:v1", "c:v1"]));
    assert_eq!(
        health["evaluation"]["without_evaluations"],
        serde_json::json!(["a:v1", "b:v1", "c:v1"])
    );
    assert_eq!(health["mirrors"]["per_model"], "unknown");
}

/// A steward key pair as PEM files under the node's home: (private, public).
fn steward_key(node: &Node, name: &str) -> (String, String) {
    let dir = node.home().join("steward-keys").join(name);
    let (_, public) = commons_provenance::signing::keys::node_key(&dir).unwrap();
    (
        dir.join(commons_provenance::signing::keys::NODE_KEY)
            .to_str()
            .unwrap()
            .to_string(),
        public.to_str().unwrap().to_string(),
    )
}

/// A node with three stewards (s0, s1, s2) and a threshold of 2.
fn node_with_stewards() -> (Node, Vec<(String, String)>) {
    let node = Node::new();
    let keys: Vec<_> = (0..3)
        .map(|i| steward_key(&node, &format!("s{i}")))
        .collect();
    for (i, (_, public)) in keys.iter().enumerate() {
        let added = node.json(&["steward", "add-key", public, "--name", &format!("s{i}")]);
        assert_eq!(added["stewards"], i + 1);
    }
    assert_eq!(node.json(&["steward", "threshold", "2"])["threshold"], 2);
    (node, keys)
}

fn approve(node: &Node, id: &str, private: &str) -> Value {
    node.json(&["steward", "approve", id, "--key", private])
}

#[test]
fn a_policy_change_takes_effect_at_the_second_of_three_steward_approvals() {
    let (node, keys) = node_with_stewards();
    let policy = node.home().join("strict.toml");
    std::fs::write(
        &policy,
        "description = \"by stewards\"\n[size]\nmax_bytes = 10\n",
    )
    .unwrap();

    // `policy set` now proposes; nothing changes yet.
    let proposal = node.json(&["policy", "set", policy.to_str().unwrap()]);
    let id = proposal["id"].as_str().unwrap().to_string();
    assert_eq!(proposal["state"], "open");
    assert_eq!(proposal["threshold"], 2);
    assert_eq!(node.json(&["policy", "show"])["version"], Value::Null);

    let first = approve(&node, &id, &keys[0].0);
    assert_eq!(first["counted"], true, "{first:#}");
    assert_eq!(first["enacted"], false);
    assert_eq!(node.json(&["policy", "show"])["version"], Value::Null);

    let second = approve(&node, &id[..12], &keys[2].0);
    assert_eq!(second["counted"], true, "{second:#}");
    assert_eq!(second["enacted"], true);
    let shown = node.json(&["policy", "show"]);
    assert_eq!(shown["version"], 1);
    assert!(shown["text"].as_str().unwrap().contains("by stewards"));

    // Enacted: a third approval is refused.
    assert!(!node
        .run(&["steward", "approve", &id, "--key", &keys[1].0])
        .status
        .success());

    let listed = node.json(&["steward", "list"]);
    assert_eq!(listed["proposals"][0]["state"], "enacted");
    assert_eq!(listed["proposals"][0]["counted"], 2);
    let recorded = actions(&node);
    for action in [
        "steward.add",
        "steward.threshold",
        "steward.propose",
        "steward.approve",
        "steward.enact",
        "policy.change",
    ] {
        assert!(
            recorded.iter().any(|a| a == action),
            "{action}: {recorded:?}"
        );
    }
    assert!(verify(&node).0);
}

#[test]
fn forged_and_duplicated_steward_approvals_are_not_counted() {
    let (node, keys) = node_with_stewards();
    let policy = node.home().join("p.toml");
    std::fs::write(&policy, "description = \"x\"\n").unwrap();
    let id = node.json(&["steward", "propose", "policy", policy.to_str().unwrap()])["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A key that is not a steward's.
    let outsider = steward_key(&node, "outsider");
    let out = approve(&node, &id, &outsider.0);
    assert_eq!(out["counted"], false);
    assert!(
        out["note"].as_str().unwrap().contains("is not a steward"),
        "{out:#}"
    );

    // A steward's public key with a signature that is not theirs.
    let sig = approve(&node, &id, &keys[0].0);
    assert_eq!(sig["counted"], true);
    let signature = node.json(&["steward", "list"])["proposals"][0]["approvals"][1]["signature"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = node.json(&[
        "steward",
        "approve",
        &id,
        "--public-key",
        &keys[1].1,
        "--signature",
        &signature,
    ]);
    assert_eq!(forged["counted"], false);
    assert!(
        forged["note"].as_str().unwrap().contains("does not verify"),
        "{forged:#}"
    );

    // The same steward twice.
    let dup = approve(&node, &id, &keys[0].0);
    assert_eq!(dup["counted"], false);
    assert!(
        dup["note"].as_str().unwrap().contains("duplicate"),
        "{dup:#}"
    );
    assert_eq!(dup["enacted"], false);

    let listed = node.json(&["steward", "list"]);
    let p = &listed["proposals"][0];
    assert_eq!(p["state"], "open");
    assert_eq!(p["counted"], 1);
    assert_eq!(p["approvals"].as_array().unwrap().len(), 4);
    assert_eq!(node.json(&["policy", "show"])["version"], Value::Null);

    // The text listing shows why each approval is not counted.
    let text = String::from_utf8(node.run(&["steward", "list"]).stdout).unwrap();
    assert!(
        text.contains("not a steward") && text.contains("duplicate"),
        "{text}"
    );
}

#[test]
fn a_release_proposal_lifts_a_quarantine_once_approved() {
    let (node, keys) = node_with_stewards();
    // The default policy quarantines non-commercial licenses.
    let path = crafted(
        node.home(),
        "nc.gguf",
        &[("general.name", "nc"), ("general.license", "cc-by-nc-4.0")],
        32,
    );
    node.json(&["import", path.to_str().unwrap(), "--name", "nc:v1"]);
    assert_eq!(state_of(&node, "nc:v1").as_deref(), Some("quarantined"));

    let proposal = node.json(&["steward", "propose", "release", "nc:v1"]);
    assert_eq!(proposal["kind"], "release");
    let id = proposal["id"].as_str().unwrap().to_string();
    approve(&node, &id, &keys[1].0);
    assert_eq!(state_of(&node, "nc:v1").as_deref(), Some("quarantined"));
    let second = approve(&node, &id, &keys[0].0);
    assert_eq!(second["enacted"], true);
    assert_ne!(state_of(&node, "nc:v1").as_deref(), Some("quarantined"));

    // A model that is not quarantined cannot be proposed for release.
    assert!(!node
        .run(&["steward", "propose", "release", "nc:v1"])
        .status
        .success());
    assert!(verify(&node).0);
}

#[test]
fn without_stewards_policy_set_applies_at_once() {
    let node = Node::new();
    let policy = node.home().join("p.toml");
    std::fs::write(&policy, "description = \"x\"\n").unwrap();
    assert_eq!(
        node.json(&["policy", "set", policy.to_str().unwrap()])["version"],
        1
    );
    assert!(!node
        .run(&["steward", "propose", "policy", policy.to_str().unwrap()])
        .status
        .success());
}

#[test]
fn a_token_can_be_created_with_an_expiry() {
    let node = Node::new();
    let made = node.json(&[
        "token",
        "create",
        "ci",
        "--scope",
        "push",
        "--expires",
        "30d",
    ]);
    let expires = made["expires_at"].as_str().unwrap().to_string();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (earliest, latest) = (
        commons_store::rfc3339_from_unix(secs + 30 * 86_400 - 300),
        commons_store::rfc3339_from_unix(secs + 30 * 86_400),
    );
    assert!(
        expires >= earliest && expires <= latest,
        "{expires} not 30 days on ({earliest}..{latest})"
    );
    let listed = node.json(&["token", "list"]);
    assert_eq!(listed[0]["expires_at"], expires.as_str());
    let text = String::from_utf8(node.run(&["token", "list"]).stdout).unwrap();
    assert!(
        text.contains("EXPIRES") && text.contains(&expires),
        "{text}"
    );
    for bad in ["0d", "soon", "30", "-1d"] {
        let out = node.run(&["token", "create", "x", "--scope", "pull", "--expires", bad]);
        assert!(!out.status.success(), "--expires {bad} was accepted");
    }
    // The audit log records the expiry with the token.
    let log = node.json(&["audit", "list"]);
    let created = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "token.create")
        .unwrap();
    assert_eq!(created["details"]["expires_at"], expires.as_str());
}
