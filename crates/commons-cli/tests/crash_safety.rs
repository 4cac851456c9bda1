//! A `commons import` killed with SIGKILL at any point leaves a consistent
//! store: `verify` is clean, `list` shows the whole model or nothing, and `gc`
//! removes the leftovers. Two imports of the same file at once end with one blob.

mod common;

use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::Node;

fn spawn_import(node: &Node, model: &str, name: &str) -> Child {
    node.command()
        .args(["import", model, "--name", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn commons import")
}

/// After a kill: the catalog holds the whole model or nothing, every blob the
/// store shows is intact, and gc leaves nothing the catalog does not need.
fn assert_consistent_after_kill(node: &Node, name: &str) {
    let verify = node.run(&["verify"]);
    assert!(
        verify.status.success(),
        "verify after kill: {}",
        common::stderr(&verify)
    );

    let list = node.json(&["list"]);
    let models = list.as_array().expect("list is an array");
    assert!(models.len() <= 1, "at most the one model: {list:#}");
    let complete = !models.is_empty();
    if complete {
        // The model that is listed must be entirely there.
        let shown = node.json(&["show", name]);
        assert!(shown["tensor_count"].as_u64().is_some_and(|n| n > 0));
        let v = node.run(&["verify", name]);
        assert!(v.status.success(), "{}", common::stderr(&v));
    }

    node.json(&["gc"]);
    // gc only removes temp files that no live import holds; none is live now.
    assert!(
        node.tmp_files().is_empty(),
        "gc cleans temp: {:?}",
        node.tmp_files()
    );
    if !complete {
        assert!(
            node.blob_files().is_empty(),
            "gc removes orphan blobs: {:?}",
            node.blob_files()
        );
    }
    // And the store still works: importing again succeeds and verifies.
    let model = common::smollm2();
    node.json(&["import", model.to_str().unwrap(), "--name", name]);
    let v = node.run(&["verify"]);
    assert!(v.status.success(), "{}", common::stderr(&v));
}

#[test]
fn sigkill_during_import_leaves_store_consistent() {
    let model = common::smollm2();
    let model = model.to_str().expect("utf-8 path");

    // How long one import takes here, so the kills below land at spread-out
    // points of it (where exactly does not matter: every point must be safe).
    let probe = Node::new();
    let start = Instant::now();
    probe.json(&["import", model, "--name", "probe"]);
    let full = start.elapsed();

    for fraction in [0.0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95, 1.1] {
        let node = Node::new();
        let mut child = spawn_import(&node, model, "victim:1");
        thread::sleep(full.mul_f64(fraction));
        let _ = child.kill(); // SIGKILL; it may already have finished
        let _ = child.wait();
        assert_consistent_after_kill(&node, "victim:1");
    }
}

#[test]
fn sigkill_once_temp_data_is_written() {
    // Kill as soon as the copy has visibly started, whatever the machine's speed.
    let model = common::smollm2();
    let node = Node::new();
    let mut child = spawn_import(&node, model.to_str().unwrap(), "victim:2");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let started = node
            .tmp_files()
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0));
        if started || child.try_wait().ok().flatten().is_some() {
            break;
        }
        thread::sleep(Duration::from_micros(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_consistent_after_kill(&node, "victim:2");
}

#[test]
fn concurrent_imports_of_one_file_end_with_one_blob_set() {
    let model = common::smollm2();
    let node = Node::new();
    let children: Vec<Child> = (0..3)
        .map(|_| spawn_import(&node, model.to_str().unwrap(), "same:1"))
        .collect();
    for mut child in children {
        let status = child.wait().expect("wait import");
        assert!(status.success(), "each concurrent import succeeds");
    }
    assert_eq!(node.model_count(), 1);
    let single = Node::new();
    single.json(&["import", model.to_str().unwrap(), "--name", "same:1"]);
    assert_eq!(
        node.blob_files().len(),
        single.blob_files().len(),
        "three imports store each blob once"
    );
    assert!(node.tmp_files().is_empty());
    let v = node.run(&["verify"]);
    assert!(v.status.success(), "{}", common::stderr(&v));
}
