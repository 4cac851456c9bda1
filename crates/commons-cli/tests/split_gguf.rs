//! A split GGUF (the shards llama.cpp's `gguf-split` writes) imports and runs,
//! and answers exactly as the single file it was split from.

mod common;

use std::path::Path;

use common::Node;
use commons_formats::gguf::{GgufFile, GgufWriter, MetadataValue};

/// Writes `source` as `count` shards `<stem>-0000N-of-0000M.gguf` in `dir`, as
/// `gguf-split` does: every metadata key in the first shard, the split keys
/// in each, the tensors dealt out in order.
fn split(source: &Path, dir: &Path, stem: &str, count: usize) -> Vec<std::path::PathBuf> {
    let file = GgufFile::open(source).expect("open the source GGUF");
    let tensors = file.tensors();
    let per_shard = tensors.len().div_ceil(count);
    let mut paths = Vec::new();
    for (index, chunk) in tensors.chunks(per_shard).enumerate() {
        let mut writer = GgufWriter::new();
        if index == 0 {
            for (key, value) in file.metadata().iter() {
                writer.metadata(key, value.clone());
            }
            writer.metadata(
                "split.tensors.count",
                MetadataValue::I32(tensors.len() as i32),
            );
        }
        writer.metadata("split.no", MetadataValue::U16(index as u16));
        writer.metadata("split.count", MetadataValue::U16(count as u16));
        for tensor in chunk {
            let data = file.tensor_data(tensor).expect("tensor data");
            writer
                .tensor(&tensor.name, &tensor.dims, tensor.ggml_type, data)
                .expect("add tensor");
        }
        let path = dir.join(format!("{stem}-{:05}-of-{count:05}.gguf", index + 1));
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create shard"));
        writer.write_to(&mut out).expect("write shard");
        paths.push(path);
    }
    paths
}

fn answer(node: &Node, model: &str) -> serde_json::Value {
    node.json(&[
        "run",
        model,
        "Name three colours.",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--seed",
        "7",
        "--ctx-size",
        "512",
    ])
}

#[test]
fn a_split_gguf_runs_and_answers_like_the_file_it_was_split_from() {
    let shards = tempfile::tempdir().expect("temp dir");
    let paths = split(&common::smollm2(), shards.path(), "smollm2", 3);
    assert_eq!(paths.len(), 3);

    let node = Node::new();
    node.json(&[
        "import",
        common::smollm2().to_str().unwrap(),
        "--name",
        "whole",
    ]);
    // Any shard names the model; import finds the others.
    node.json(&["import", paths[1].to_str().unwrap(), "--name", "split"]);
    let shown = node.json(&["show", "split"]);
    assert_eq!(shown["format"], "gguf");

    let whole = answer(&node, "whole");
    let split = answer(&node, "split");
    assert!(
        whole["completion_tokens"].as_u64().unwrap_or(0) > 0,
        "{whole}"
    );
    assert_eq!(split["text"], whole["text"]);
    assert_eq!(split["prompt_tokens"], whole["prompt_tokens"]);

    // llama.cpp found the shards through links named as it expects.
    let links = common::files_under(&node.home().join("derived"));
    assert_eq!(links.len(), 3, "{links:?}");
    assert!(links
        .iter()
        .any(|l| l.ends_with("model-00001-of-00003.gguf")));
}
