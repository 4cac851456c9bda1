//! The everyday commands on a real model: list, show, tag, rm, verify, gc.

mod common;

use std::fs;

use common::Node;

fn imported_node() -> (Node, serde_json::Value) {
    let node = Node::new();
    let model = common::smollm2();
    let imported = node.json(&["import", model.to_str().unwrap(), "--name", "smol:q4"]);
    (node, imported)
}

#[test]
fn list_show_tag_and_remove() {
    let (node, imported) = imported_node();
    let digest = imported["digest"].as_str().expect("digest").to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    node.json(&["tag", "smol:q4", "smol:latest"]);
    let list = node.json(&["list"]);
    let names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}:{}",
                m["name"].as_str().unwrap(),
                m["tag"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["smol:latest", "smol:q4"]);

    // A bare name means :latest; a digest prefix resolves too.
    assert_eq!(node.json(&["show", "smol"])["digest"], digest.as_str());
    let prefix = &digest["sha256:".len().."sha256:".len() + 12];
    assert_eq!(node.json(&["show", prefix])["digest"], digest.as_str());

    let tensors = node.json(&["show", "smol", "--tensors"]);
    let list = tensors["tensors"].as_array().expect("tensors listed");
    assert_eq!(list.len() as u64, tensors["tensor_count"].as_u64().unwrap());
    assert!(list
        .iter()
        .all(|t| t["sha256"].as_str().is_some_and(|h| h.len() == 64)));

    let blobs_before = node.blob_files();
    node.json(&["rm", "smol:q4"]);
    assert_eq!(node.json(&["list"]).as_array().unwrap().len(), 1);
    node.json(&["gc"]);
    assert_eq!(
        node.blob_files(),
        blobs_before,
        "still referenced by smol:latest"
    );

    node.json(&["rm", "smol:latest"]);
    let gc = node.json(&["gc"]);
    assert_eq!(
        gc["removed_blobs"].as_u64(),
        Some(blobs_before.len() as u64)
    );
    assert!(node.blob_files().is_empty());
}

#[test]
fn verify_reports_and_quarantines_a_corrupt_blob() {
    let (node, _) = imported_node();
    assert!(node.run(&["verify"]).status.success());

    // Flip one byte in the largest blob: the weights.
    let weights = node
        .blob_files()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .unwrap();
    let mut bytes = fs::read(&weights).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&weights, &bytes).unwrap();

    let out = node.run(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "verify fails on a corrupt blob");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let digest_hex = weights.file_name().unwrap().to_str().unwrap();
    assert!(
        stdout.contains(&digest_hex[..12]),
        "names the bad blob: {stdout}"
    );
    assert!(
        stdout.contains("smol:q4"),
        "names the model using it: {stdout}"
    );
    assert!(
        !weights.exists(),
        "the corrupt blob is moved aside, never served"
    );

    let report = node.run(&["verify", "--json"]);
    assert_eq!(report.status.code(), Some(1));
}

#[test]
fn show_json_has_the_contract_fields() {
    let (node, _) = imported_node();
    let shown = node.json(&["show", "smol:q4"]);
    // Digests stay in the snapshot: the same bytes must keep the same identity.
    insta::assert_json_snapshot!(shown, { ".created_at" => "[time]" });
}
