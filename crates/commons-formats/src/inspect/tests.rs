//! `inspect` and `tensor_digests` end to end on synthetic folders and files.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::gguf::GgmlType;
use crate::test_support::{safetensors_bytes, GgufBuilder};
use crate::{inspect, tensor_digests, FileRole, FormatError, ModelFormat};

fn write(dir: &Path, relative: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create test folder");
    }
    std::fs::write(&path, bytes).expect("write test file");
    path
}

fn small_safetensors() -> Vec<u8> {
    safetensors_bytes(
        &[
            ("embeddings.weight", "F32", &[8, 4]),
            ("norm.weight", "BF16", &[4]),
        ],
        &[("format", "pt")],
    )
}

const README: &str = "---\nlicense: mit\nbase_model: org/base\ndatasets: [d/one]\n\
                      language: en\ntags: [a, b]\n---\n# Model\n";

fn hf_folder(dir: &Path) {
    write(dir, "model.safetensors", &small_safetensors());
    write(
        dir,
        "config.json",
        br#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "max_position_embeddings": 2048}"#,
    );
    write(
        dir,
        "tokenizer.json",
        br#"{"version": "1.0", "model": {"type": "BPE", "vocab": {}}}"#,
    );
    write(
        dir,
        "tokenizer_config.json",
        br#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#,
    );
    write(dir, "README.md", README.as_bytes());
    write(dir, "LICENSE", b"MIT");
    write(dir, "generation_config.json", b"{}");
    write(dir, "1_Pooling/config.json", b"{}");
    write(dir, ".gitattributes", b"*.safetensors filter=lfs");
    write(dir, ".git/config", b"");
    write(dir, ".cache/huggingface/x", b"");
}

#[test]
fn hugging_face_folder() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    let inspection = inspect(dir.path())?;
    let info = &inspection.info;
    assert_eq!(info.format, ModelFormat::Safetensors);
    assert_eq!(info.architecture.as_deref(), Some("LlamaForCausalLM"));
    assert_eq!(info.context_length, Some(2048));
    assert_eq!(info.tokenizer.as_deref(), Some("bpe"));
    assert_eq!(info.chat_template.as_deref(), Some("D"));
    assert_eq!(info.parameter_count, 36);
    assert_eq!(info.tensor_count, 2);
    assert_eq!(info.quantization.primary, "F32");
    assert_eq!(info.general.license.as_deref(), Some("mit"));
    assert_eq!(
        info.general
            .base_models
            .first()
            .and_then(|b| b.name.as_deref()),
        Some("org/base")
    );
    assert_eq!(info.general.datasets, ["d/one"]);
    assert_eq!(info.general.languages, ["en"]);
    assert_eq!(info.general.tags, ["a", "b"]);
    assert!(inspection.warnings.is_empty());

    let listed: Vec<(&str, FileRole)> = inspection
        .files
        .iter()
        .map(|f| (f.relative.as_str(), f.role))
        .collect();
    assert_eq!(
        listed,
        [
            ("1_Pooling/config.json", FileRole::Config),
            ("LICENSE", FileRole::License),
            ("README.md", FileRole::Doc),
            ("config.json", FileRole::Config),
            ("generation_config.json", FileRole::Config),
            ("model.safetensors", FileRole::Weights),
            ("tokenizer.json", FileRole::Tokenizer),
            ("tokenizer_config.json", FileRole::Tokenizer),
        ]
    );
    for file in &inspection.files {
        assert!(file.path.is_absolute());
        assert_eq!(std::fs::metadata(&file.path)?.len(), file.size);
    }
    Ok(())
}

#[test]
fn chat_template_jinja_wins_over_tokenizer_config() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    write(dir.path(), "chat_template.jinja", b"{{ jinja }}");
    let inspection = inspect(dir.path())?;
    assert_eq!(
        inspection.info.chat_template.as_deref(),
        Some("{{ jinja }}")
    );
    let role = inspection
        .files
        .iter()
        .find(|f| f.relative == "chat_template.jinja")
        .map(|f| f.role);
    assert_eq!(role, Some(FileRole::ChatTemplate));
    Ok(())
}

#[test]
fn a_broken_model_card_is_a_warning_not_a_failure() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    write(dir.path(), "README.md", b"---\nlicense: [oops\n---\n");
    let inspection = inspect(dir.path())?;
    assert_eq!(inspection.info.general.license, None);
    assert_eq!(inspection.warnings.len(), 1);
    assert!(inspection.warnings[0].contains("README.md"));
    Ok(())
}

#[test]
fn a_broken_config_is_an_error_naming_it() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    write(dir.path(), "config.json", b"{\"architectures\": ");
    let err = inspect(dir.path());
    assert!(
        matches!(&err, Err(FormatError::Json { path, .. }) if path.ends_with("config.json")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn pytorch_bins_beside_safetensors_are_left_out() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    write(dir.path(), "pytorch_model.bin", b"\x80\x02}q\x00.");
    write(dir.path(), "training_args.bin", b"\x80\x04.");
    let inspection = inspect(dir.path())?;
    assert!(inspection
        .files
        .iter()
        .all(|f| !f.relative.ends_with(".bin")));
    Ok(())
}

#[test]
fn pickle_only_folders_and_files_are_refused() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "config.json", b"{}");
    let bin = write(dir.path(), "pytorch_model.bin", b"\x80\x02}q\x00.");
    let err = inspect(dir.path());
    assert!(
        matches!(&err, Err(FormatError::PickleRefused { path }) if *path == bin),
        "{err:?}"
    );
    let message = err
        .err()
        .map(|e| (e.to_string(), e.hint()))
        .unwrap_or_default();
    assert!(message.0.contains("arbitrary code"));
    assert!(message.1.unwrap_or_default().contains("safetensors"));

    for name in [
        "model.pt",
        "model.pth",
        "model.ckpt",
        "model.pkl",
        "pytorch_model.bin",
    ] {
        let path = write(dir.path(), name, b"\x80\x02.");
        assert!(
            matches!(inspect(&path), Err(FormatError::PickleRefused { .. })),
            "{name}"
        );
    }
    // Recognised by content too, whatever the name.
    let blob = write(dir.path(), "sha256-abc", b"\x80\x04\x95\x00\x00");
    assert!(matches!(
        inspect(&blob),
        Err(FormatError::PickleRefused { .. })
    ));
    Ok(())
}

#[test]
fn folders_without_weights_say_so() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(dir.path(), "config.json", b"{}");
    write(dir.path(), "sub/model.safetensors", &small_safetensors());
    let err = inspect(dir.path());
    let Err(err @ FormatError::NoWeights { .. }) = err else {
        panic!("expected NoWeights, got {err:?}");
    };
    assert!(err
        .to_string()
        .starts_with("no model weights (*.safetensors or *.gguf) in "));
    assert!(err.hint().is_some());
    Ok(())
}

#[test]
fn gguf_folders_are_inspected_as_gguf() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "tiny.Q4_K_M.gguf",
        &GgufBuilder::tiny_model(3).build(),
    );
    write(
        dir.path(),
        "mmproj-tiny-f16.gguf",
        &GgufBuilder::new(3).build(),
    );
    write(dir.path(), "README.md", README.as_bytes());
    let inspection = inspect(dir.path())?;
    assert_eq!(inspection.info.format, ModelFormat::Gguf);
    assert_eq!(inspection.info.architecture.as_deref(), Some("llama"));
    // What the GGUF leaves out, the card supplies.
    assert_eq!(inspection.info.general.license.as_deref(), Some("mit"));
    let roles: Vec<_> = inspection
        .files
        .iter()
        .map(|f| (f.relative.as_str(), f.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("README.md", FileRole::Doc),
            ("mmproj-tiny-f16.gguf", FileRole::Other),
            ("tiny.Q4_K_M.gguf", FileRole::Weights),
        ]
    );

    write(
        dir.path(),
        "tiny.Q8_0.gguf",
        &GgufBuilder::tiny_model(3).build(),
    );
    let err = inspect(dir.path());
    assert!(
        matches!(&err, Err(FormatError::AmbiguousWeights { candidates, .. }) if candidates.len() == 2),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn safetensors_win_over_gguf_in_the_same_folder() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    write(
        dir.path(),
        "model.Q4_K_M.gguf",
        &GgufBuilder::tiny_model(3).build(),
    );
    let inspection = inspect(dir.path())?;
    assert_eq!(inspection.info.format, ModelFormat::Safetensors);
    let gguf_role = inspection
        .files
        .iter()
        .find(|f| f.relative.ends_with(".gguf"))
        .map(|f| f.role);
    assert_eq!(gguf_role, Some(FileRole::Other));
    Ok(())
}

#[test]
fn sharded_folders_use_their_index() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    write(
        dir.path(),
        "config.json",
        br#"{"model_type": "gpt2", "n_positions": 1024}"#,
    );
    write(
        dir.path(),
        "model-00001-of-00002.safetensors",
        &safetensors_bytes(&[("a", "F16", &[4])], &[]),
    );
    write(
        dir.path(),
        "model-00002-of-00002.safetensors",
        &safetensors_bytes(&[("b", "F16", &[4])], &[]),
    );
    write(
        dir.path(),
        "model.safetensors.index.json",
        br#"{"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
    );
    let inspection = inspect(dir.path())?;
    assert_eq!(inspection.info.architecture.as_deref(), Some("gpt2"));
    assert_eq!(inspection.info.context_length, Some(1024));
    assert_eq!(inspection.info.tensor_count, 2);
    let weights = inspection
        .files
        .iter()
        .filter(|f| f.role == FileRole::Weights)
        .count();
    assert_eq!(weights, 2);
    Ok(())
}

#[cfg(unix)]
#[test]
fn symlinks_leaving_the_folder_are_not_followed() -> Result<(), Box<dyn std::error::Error>> {
    let outside = tempfile::tempdir()?;
    let secret = write(outside.path(), "secret.txt", b"do not import");
    let dir = tempfile::tempdir()?;
    hf_folder(dir.path());
    std::os::unix::fs::symlink(&secret, dir.path().join("notes.txt"))?;
    std::os::unix::fs::symlink(dir.path().join("LICENSE"), dir.path().join("LICENSE.link"))?;
    std::os::unix::fs::symlink(dir.path(), dir.path().join("loop"))?;
    let inspection = inspect(dir.path())?;
    let names: Vec<_> = inspection
        .files
        .iter()
        .map(|f| f.relative.as_str())
        .collect();
    assert!(!names.contains(&"notes.txt"));
    assert!(names.contains(&"LICENSE.link"));
    assert!(!names.iter().any(|n| n.starts_with("loop")));
    Ok(())
}

#[cfg(unix)]
#[test]
fn hugging_face_cache_snapshots_follow_their_blob_links() -> Result<(), Box<dyn std::error::Error>>
{
    let cache = tempfile::tempdir()?;
    let repo = cache.path().join("models--org--tiny");
    let blob = write(&repo, "blobs/0123abcd", &small_safetensors());
    let snapshot = repo.join("snapshots/main");
    std::fs::create_dir_all(&snapshot)?;
    std::os::unix::fs::symlink(&blob, snapshot.join("model.safetensors"))?;
    let inspection = inspect(&snapshot)?;
    assert_eq!(inspection.info.tensor_count, 2);
    assert_eq!(inspection.files.len(), 1);
    assert_eq!(inspection.files[0].relative, "model.safetensors");
    Ok(())
}

#[test]
fn files_without_extension_are_recognised_by_content() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let blob = write(
        dir.path(),
        "sha256-0123",
        &GgufBuilder::tiny_model(3).build(),
    );
    assert_eq!(inspect(&blob)?.info.format, ModelFormat::Gguf);
    let blob = write(dir.path(), "sha256-4567", &small_safetensors());
    assert_eq!(inspect(&blob)?.info.format, ModelFormat::Safetensors);
    let other = write(dir.path(), "notes", b"hello");
    assert!(matches!(
        inspect(&other),
        Err(FormatError::UnsupportedFile { .. })
    ));
    let missing = dir.path().join("absent.gguf");
    let err = inspect(&missing);
    assert!(matches!(&err, Err(FormatError::Io { path, .. }) if *path == missing));
    Ok(())
}

#[test]
fn digests_hash_exactly_each_tensors_bytes() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let gguf_bytes = GgufBuilder::tiny_model(3)
        .tensor("extra", &[32, 3], GgmlType::Q5_1)
        .build();
    let gguf = write(dir.path(), "m.gguf", &gguf_bytes);
    let inspection = inspect(&gguf)?;
    let digests = tensor_digests(&inspection.files)?;
    let header = crate::gguf::GgufHeader::parse(&gguf, &gguf_bytes)?;
    assert_eq!(digests.len(), header.tensors.len());
    for (digest, tensor) in digests.iter().zip(&header.tensors) {
        let range = header.tensor_range(tensor);
        let expected = hex::encode(Sha256::digest(
            &gguf_bytes[range.start as usize..range.end as usize],
        ));
        assert_eq!(digest.name, tensor.name);
        assert_eq!(digest.sha256, expected, "{}", tensor.name);
        assert_eq!(digest.size, tensor.size);
        assert_eq!(digest.dtype, tensor.ggml_type.name());
    }
    let unique: std::collections::HashSet<_> = digests.iter().map(|d| &d.sha256).collect();
    assert_eq!(
        unique.len(),
        digests.len(),
        "distinct data, distinct digests"
    );

    let folder = tempfile::tempdir()?;
    hf_folder(folder.path());
    let inspection = inspect(folder.path())?;
    let digests = tensor_digests(&inspection.files)?;
    assert_eq!(
        digests.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["embeddings.weight", "norm.weight"]
    );
    let bytes = small_safetensors();
    let header = crate::safetensors::SafetensorsHeader::parse(Path::new("x"), &bytes)?;
    let norm = &header.tensors[1];
    let range = header.tensor_range(norm);
    assert_eq!(
        digests[1].sha256,
        hex::encode(Sha256::digest(
            &bytes[range.start as usize..range.end as usize]
        ))
    );
    assert_eq!(
        (digests[1].dtype.as_str(), digests[1].shape.clone()),
        ("BF16", vec![4])
    );
    Ok(())
}

#[test]
fn digests_refuse_pickles_named_as_weights() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = write(dir.path(), "pytorch_model.bin", b"\x80\x02.");
    let files = [crate::ModelFile {
        path,
        relative: "pytorch_model.bin".into(),
        size: 3,
        role: FileRole::Weights,
    }];
    assert!(matches!(
        tensor_digests(&files),
        Err(FormatError::PickleRefused { .. })
    ));
    Ok(())
}
