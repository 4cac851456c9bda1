//! `commons sign` / `commons verify-signature` on stored models and folders:
//! the node key, the trust file, and every way a signature must fail.

mod common;

use common::{minilm, smollm2, stderr, Node};

fn fails_with(node: &Node, args: &[&str], expected: &str) -> String {
    let out = node.run(args);
    assert!(!out.status.success(), "commons {args:?} should fail");
    let err = stderr(&out);
    assert!(
        err.contains(expected),
        "commons {args:?}: expected `{expected}` in\n{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    err
}

#[test]
fn a_stored_model_is_signed_with_the_node_key_and_verified_from_its_blobs() {
    let node = Node::new();
    let smol = smollm2();
    node.json(&["import", smol.to_str().unwrap(), "--name", "smol:1"]);
    let signed = node.json(&["sign", "smol:1"]);
    assert!(
        node.home().join("keys/node-key.pem").exists(),
        "node key created on first use"
    );
    let hint = signed["key_hint"].as_str().unwrap().to_string();
    assert_eq!(hint.len(), 64);
    // The node's own key is trusted without configuration.
    let verified = node.json(&["verify-signature", "smol:1"]);
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["key_hint"], hint.as_str());
    // Signing again reuses the key.
    assert_eq!(node.json(&["sign", "smol:1"])["key_hint"], hint.as_str());
    // `show` names the signer: the node trusts its own key as "this node's key".
    let shown = node.json(&["show", "smol:1"]);
    assert_eq!(
        shown["signatures"],
        serde_json::json!([{"key_hint": hint, "trusted_as": "this node's key",
                            "created_at": shown["signatures"][0]["created_at"]}])
    );

    // A corrupted blob fails verification, naming the file.
    let digest = node.json(&["show", "smol:1"])["files"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = digest.strip_prefix("sha256:").unwrap();
    let blob = node
        .home()
        .join(format!("blobs/sha256/{}/{hex}", &hex[..2]));
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();
    fails_with(
        &node,
        &["verify-signature", "smol:1"],
        "SmolLM2-135M-Instruct.Q4_1.gguf` changed",
    );

    let out = node.run(&["verify-signature", "missing:1"]);
    assert!(!out.status.success());
}

#[test]
fn bad_signatures_and_untrusted_keys_fail_with_the_reason() {
    let node = Node::new();
    let folder = tempfile::tempdir().unwrap();
    // A small real model folder: MiniLM's files without the weights.
    for name in ["config.json", "tokenizer.json", "vocab.txt", "README.md"] {
        std::fs::copy(minilm().join(name), folder.path().join(name)).unwrap();
    }
    let path = folder.path().to_str().unwrap();
    let sig = folder.path().join("model.sig");
    let sig_str = sig.to_str().unwrap();
    node.json(&["sign", path]);
    node.json(&["verify-signature", path]);

    // Truncated bundle.
    let full = std::fs::read_to_string(&sig).unwrap();
    std::fs::write(&sig, &full[..full.len() / 2]).unwrap();
    fails_with(&node, &["verify-signature", path], "not a Sigstore bundle");

    // A signature made for other bytes: another folder's payload under this signature.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("config.json"), b"{}").unwrap();
    let other_sig = node.json(&["sign", other.path().to_str().unwrap()]);
    let other_bundle: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(other_sig["signature"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let mut bundle: serde_json::Value = serde_json::from_str(&full).unwrap();
    bundle["dsseEnvelope"]["payload"] = other_bundle["dsseEnvelope"]["payload"].clone();
    std::fs::write(&sig, bundle.to_string()).unwrap();
    fails_with(
        &node,
        &["verify-signature", path],
        "does not match its payload",
    );

    // A valid envelope whose files differ: the other folder's full signature here.
    std::fs::write(&sig, other_bundle.to_string()).unwrap();
    let err = fails_with(
        &node,
        &["verify-signature", path, "--signature", sig_str],
        "files do not match",
    );
    assert!(err.contains("vocab.txt"), "{err}");

    // A key this node does not trust.
    let stranger = Node::new();
    let stranger_folder = tempfile::tempdir().unwrap();
    std::fs::write(stranger_folder.path().join("w.bin"), b"weights").unwrap();
    stranger.json(&["sign", stranger_folder.path().to_str().unwrap()]);
    let stranger_path = stranger_folder.path().to_str().unwrap();
    fails_with(
        &node,
        &["verify-signature", stranger_path],
        "no trusted key",
    );
    // An explicit --key is the user's choice of trust.
    let stranger_pub = stranger.home().join("keys/node-key.pub.pem");
    node.json(&[
        "verify-signature",
        stranger_path,
        "--key",
        stranger_pub.to_str().unwrap(),
    ]);
}

#[test]
fn trust_toml_limits_keys_to_publishers() {
    let node = Node::new();
    let publisher = Node::new();
    let smol = smollm2();
    node.json(&["import", smol.to_str().unwrap(), "--name", "smol:1"]);
    // The publisher signs with its own key; its public key is all this node gets.
    let folder = tempfile::tempdir().unwrap();
    let sig = folder.path().join("smol.sig");
    publisher.json(&["import", smol.to_str().unwrap(), "--name", "smol:1"]);
    publisher.json(&["sign", "smol:1", "--signature", sig.to_str().unwrap()]);
    std::fs::copy(
        publisher.home().join("keys/node-key.pub.pem"),
        node.home().join("publisher.pub.pem"),
    )
    .unwrap();
    let sig = sig.to_str().unwrap();
    fails_with(
        &node,
        &["verify-signature", "smol:1", "--signature", sig],
        "no trusted key",
    );

    let trust = node.home().join("trust.toml");
    std::fs::write(
        &trust,
        "[[key]]\nname = \"someone\"\npublic_key = \"publisher.pub.pem\"\npublishers = [\"SomeoneElse\"]\n",
    )
    .unwrap();
    fails_with(
        &node,
        &["verify-signature", "smol:1", "--signature", sig],
        "not for publisher `HuggingFaceTB`",
    );

    std::fs::write(
        &trust,
        "[[key]]\nname = \"SmolLM release key\"\npublic_key = \"publisher.pub.pem\"\npublishers = [\"HuggingFaceTB\"]\n",
    )
    .unwrap();
    let verified = node.json(&["verify-signature", "smol:1", "--signature", sig]);
    assert_eq!(verified["key"], "SmolLM release key");
}
