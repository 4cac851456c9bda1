//! Provenance records, completeness, openness and license checks through the
//! real binary on the real models.

mod common;

use common::{gemma3, smollm2, stderr, Node};
use serde_json::Value;

fn write_json(node: &Node, name: &str, value: &Value) -> String {
    let path = node.home().join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_provenance_file_that_breaks_the_schema_is_refused_naming_the_field() {
    let node = Node::new();
    let bad = write_json(
        &node,
        "bad.json",
        &serde_json::json!({"datasets": [{"name": "smoltalk", "role": "pretrain"}]}),
    );
    let model = smollm2();
    let out = node.run(&["import", model.to_str().unwrap(), "--provenance", &bad]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("datasets[0].role"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    insta::assert_snapshot!(err.replace(&node.home().display().to_string(), "[HOME]"));
    assert_eq!(node.model_count(), 0, "nothing is imported");

    let typo = write_json(&node, "typo.json", &serde_json::json!({"publsher": "x"}));
    let out = node.run(&[
        "import",
        model.to_str().unwrap(),
        "--provenance",
        &typo,
        "--json",
    ]);
    assert!(!out.status.success());
    let failure: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = failure.to_string();
    assert!(text.contains("publsher"), "{text}");
}

#[test]
fn import_builds_a_record_and_every_change_is_a_new_version() {
    let node = Node::new();
    let extra = write_json(
        &node,
        "prov.json",
        &serde_json::json!({
            "source": "https://example.org/smollm2",
            "training": {"method": "sft", "code": "https://example.org/code"},
            "datasets": [{"name": "smoltalk", "role": "fine-tuning", "license": "apache-2.0"}],
        }),
    );
    let model = smollm2();
    node.json(&[
        "import",
        model.to_str().unwrap(),
        "--name",
        "smol:1",
        "--provenance",
        &extra,
    ]);

    let shown = node.json(&["provenance", "show", "smol:1"]);
    assert_eq!(shown["version"], 1);
    // From the GGUF's general.* keys ...
    assert_eq!(shown["record"]["publisher"]["name"], "HuggingFaceTB");
    assert_eq!(shown["record"]["license"]["id"], "apache-2.0");
    // ... merged with the file.
    assert_eq!(shown["record"]["training"]["method"], "sft");
    assert_eq!(shown["openness_class"], "class III");
    assert!(shown["missing"]
        .as_array()
        .unwrap()
        .contains(&"evaluation".into()));

    let set = node.json(&[
        "provenance",
        "set",
        "smol:1",
        "evaluation",
        r#"["sha256:0011"]"#,
    ]);
    assert_eq!(set["version"], 2);
    assert_eq!(set["openness_class"], "class II", "{set}");
    let set = node.json(&[
        "provenance",
        "set",
        "smol:1",
        "intended_use",
        "small on-device chat",
    ]);
    assert_eq!(set["version"], 3);

    let bad = node.run(&[
        "provenance",
        "set",
        "smol:1",
        "datasets",
        r#"[{"role":"eval"}]"#,
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("datasets[0]"), "{}", stderr(&bad));

    // Importing the same model again keeps the edited record.
    node.json(&["import", model.to_str().unwrap(), "--name", "smol:1"]);
    assert_eq!(node.json(&["provenance", "show", "smol:1"])["version"], 3);

    let history = node.json(&["provenance", "history", "smol:1"]);
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0]["change"], "import");
    assert!(
        versions[0]["record"].get("evaluation").is_none(),
        "old version kept as it was"
    );

    let show = node.json(&["show", "smol:1"]);
    let p = &show["provenance"];
    assert!(p["present"]
        .as_array()
        .unwrap()
        .contains(&"intended_use".into()));
    assert_eq!(p["openness_class"], "class II");
    assert!(p["completeness"].as_f64().unwrap() > 0.7);

    let edited = write_json(
        &node,
        "edit.json",
        &serde_json::json!({"publisher": "Someone Else"}),
    );
    let shown = node.json(&["provenance", "edit", "smol:1", "--file", &edited]);
    assert_eq!(shown["version"], 4);
    assert_eq!(shown["record"]["publisher"]["name"], "Someone Else");
    assert!(
        shown["record"].get("evaluation").is_none(),
        "edit replaces the record"
    );
}

#[test]
fn license_drift_over_tags_and_against_a_base_is_flagged() {
    let node = Node::new();
    let smol = smollm2();
    let smol = smol.to_str().unwrap();
    node.json(&["import", smol, "--name", "m:v1", "--license", "Apache-2.0"]);
    node.json(&[
        "import",
        smol,
        "--name",
        "m:v2",
        "--license",
        "CC-BY-NC-4.0",
    ]);

    let out = node.run(&["license", "check", "m:v2", "--json"]);
    assert!(!out.status.success(), "drift exits 1");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["drift"], true);
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["tightened_over_tags"]);
    assert!(report["findings"][0]["message"]
        .as_str()
        .unwrap()
        .contains("forbids commercial use"));

    // A fine-tune claiming Apache-2.0 over a Llama-licensed base.
    let base = node.json(&["import", smol, "--name", "base:1", "--license", "llama3.1"]);
    let gemma = gemma3();
    node.json(&[
        "import",
        gemma.to_str().unwrap(),
        "--name",
        "ft:1",
        "--license",
        "Apache-2.0",
    ]);
    let digest = base["digest"].as_str().unwrap();
    node.json(&[
        "provenance",
        "set",
        "ft:1",
        "base_models",
        &format!(r#"[{{"digest":"{digest}"}}]"#),
    ]);
    let out = node.run(&["license", "check", "ft:1"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("base:1") && text.contains("Llama3.1"),
        "{text}"
    );
    assert!(stderr(&out).contains("hint:"));

    // An unknown license is flagged but not guessed, and is not drift.
    node.json(&[
        "provenance",
        "set",
        "m:v1",
        "license",
        "mystery-license-1.0",
    ]);
    let report = node.json(&["license", "check", "m:v1"]);
    assert_eq!(report["license"]["known"], false);
    assert_eq!(report["findings"][0]["kind"], "unknown_license");
    assert_eq!(report["drift"], false);
}

#[test]
fn license_show_knows_model_licenses_case_insensitively() {
    let node = Node::new();
    let l = node.json(&["license", "show", "LLAMA3.2"]);
    assert_eq!(l["effective"]["id"], "Llama3.2");
    assert_eq!(l["effective"]["user_limit"], 700_000_000u64);
    let out = node.run(&["license", "show", "apache"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown license"));
}
