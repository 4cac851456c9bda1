//! The import pipeline on synthetic GGUF and safetensors models.

mod support;

use std::cell::Cell;
use std::fs;
use std::path::Path;

use commons_formats::{FileRole, Inspection};
use commons_store::import::{
    import, ImportError, ImportMetadata, ImportOptions, ImportProgress, NoProgress,
};
use commons_store::manifest::{self, ModelConfig};
use commons_store::{Reference, Store};
use support::{blob_count, files_in, write_gguf, write_safetensors};

fn tiny_gguf(dir: &Path, file_name: &str) -> std::path::PathBuf {
    let path = dir.join(file_name);
    write_gguf(
        &path,
        &[
            ("general.architecture", "llama"),
            ("general.name", "SmolLM2 135M Instruct"),
            ("general.license", "apache-2.0"),
        ],
        3, // Q4_1
        &[("token_embd.weight", 64), ("output_norm.weight", 16)],
    );
    path
}

#[derive(Default)]
struct Recorder {
    total: Cell<u64>,
    advanced: Cell<u64>,
    files: Cell<u32>,
    finished: Cell<bool>,
}

impl ImportProgress for Recorder {
    fn started(&self, _: &Inspection, total_bytes: u64) {
        self.total.set(total_bytes);
    }
    fn file_started(&self, _: &str, _: u64) {
        self.files.set(self.files.get() + 1);
    }
    fn advanced(&self, bytes: u64) {
        self.advanced.set(self.advanced.get() + bytes);
    }
    fn finishing(&self) {
        self.finished.set(true);
    }
}

#[test]
fn imports_a_gguf_file_as_a_modelpack_manifest() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = tiny_gguf(src.path(), "SmolLM2-135M-Instruct.Q4_1.gguf");
    let store = Store::open(home.path()).unwrap();
    let progress = Recorder::default();

    let outcome = import(&store, &path, ImportOptions::default(), &progress).unwrap();
    let entry = &outcome.entry;
    let file_size = fs::metadata(&path).unwrap().len();

    assert_eq!(entry.reference(), "smollm2-135m-instruct:q4_1");
    assert_eq!(entry.size_bytes, file_size);
    assert_eq!(progress.total.get(), file_size);
    assert_eq!(progress.advanced.get(), file_size);
    assert_eq!(progress.files.get(), 1);
    assert!(progress.finished.get());
    assert_eq!(outcome.tensor_count, 2);
    assert_eq!(store.tensors(&entry.digest).unwrap().len(), 2);

    // Manifest: OCI + ModelPack, one raw weight layer with its file path.
    let m = &entry.manifest;
    assert_eq!(m.media_type, manifest::MEDIA_TYPE_OCI_MANIFEST);
    assert_eq!(
        m.artifact_type.as_deref(),
        Some(manifest::ARTIFACT_TYPE_MODEL_MANIFEST)
    );
    assert_eq!(m.config.media_type, manifest::MEDIA_TYPE_MODEL_CONFIG);
    assert_eq!(m.layers.len(), 1);
    assert_eq!(m.layers[0].media_type, manifest::MEDIA_TYPE_WEIGHT_RAW);
    assert_eq!(
        m.layers[0].filepath(),
        Some("SmolLM2-135M-Instruct.Q4_1.gguf")
    );
    assert_eq!(
        fs::read(store.blob_path(&m.layers[0].digest)).unwrap(),
        fs::read(&path).unwrap()
    );

    // Config blob: ModelPack schema with what formats read.
    let config: ModelConfig =
        serde_json::from_slice(&store.read_blob(&m.config.digest).unwrap()).unwrap();
    assert_eq!(config.config.format.as_deref(), Some("gguf"));
    assert_eq!(config.config.architecture.as_deref(), Some("llama"));
    assert_eq!(config.config.quantization.as_deref(), Some("Q4_1"));
    assert_eq!(config.config.param_size.as_deref(), Some("80"));
    assert_eq!(config.modelfs.diff_ids, vec![m.layers[0].digest.clone()]);
    assert_eq!(config.descriptor.licenses, vec!["apache-2.0".to_string()]);

    // Metadata: ModelInfo + license from the file.
    let metadata = ImportMetadata::from_entry(entry).unwrap();
    assert_eq!(metadata.license.as_deref(), Some("apache-2.0"));
    assert_eq!(metadata.license_source.as_deref(), Some("file"));
    assert_eq!(metadata.info.tensor_count, 2);
    assert_eq!(metadata.files[0].role, FileRole::Weights);

    assert!(files_in(&home.path().join("tmp")).is_empty());
    // Weights, config, manifest.
    assert_eq!(blob_count(home.path()), 3);
    assert!(store.verify(None, &|_| {}).unwrap().is_ok());
}

#[test]
fn importing_twice_gives_one_model_and_no_new_blobs() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = tiny_gguf(src.path(), "m.gguf");
    let store = Store::open(home.path()).unwrap();
    let first = import(&store, &path, ImportOptions::default(), &NoProgress).unwrap();
    let blobs = blob_count(home.path());
    let second = import(&store, &path, ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!(first.entry.digest, second.entry.digest);
    assert_eq!(blob_count(home.path()), blobs);
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn two_stores_importing_the_same_file_at_once_end_with_one_model() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = tiny_gguf(src.path(), "m.gguf");
    let a = Store::open(home.path()).unwrap();
    let b = Store::open(home.path()).unwrap();
    let (ra, rb) = std::thread::scope(|s| {
        let ha = s.spawn(|| import(&a, &path, ImportOptions::default(), &NoProgress));
        let hb = s.spawn(|| import(&b, &path, ImportOptions::default(), &NoProgress));
        (ha.join().unwrap().unwrap(), hb.join().unwrap().unwrap())
    });
    assert_eq!(ra.entry.digest, rb.entry.digest);
    assert_eq!(a.list().unwrap().len(), 1);
    assert_eq!(blob_count(home.path()), 3);
    assert!(files_in(&home.path().join("tmp")).is_empty());
}

#[test]
fn options_override_name_and_license_and_keep_provenance() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = tiny_gguf(src.path(), "m.gguf");
    let store = Store::open(home.path()).unwrap();
    let provenance = serde_json::json!({"trained_by": "someone", "datasets": ["d1"]});
    let outcome = import(
        &store,
        &path,
        ImportOptions {
            name: Some(Reference::parse("mine/tiny:v1").unwrap()),
            license: Some("MIT".into()),
            provenance: Some(provenance.clone()),
        },
        &NoProgress,
    )
    .unwrap();
    assert_eq!(outcome.entry.reference(), "mine/tiny:v1");
    let metadata = ImportMetadata::from_entry(&outcome.entry).unwrap();
    assert_eq!(metadata.license.as_deref(), Some("MIT"));
    assert_eq!(metadata.license_source.as_deref(), Some("option"));
    assert_eq!(metadata.provenance, Some(provenance));
    assert_eq!(
        outcome
            .entry
            .manifest
            .annotations
            .get(manifest::ANNOTATION_LICENSES)
            .map(String::as_str),
        Some("MIT")
    );
    let err = import(
        &store,
        &path,
        ImportOptions {
            license: Some("  ".into()),
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, ImportError::InvalidLicense { .. }), "{err}");
}

#[test]
fn imports_a_safetensors_folder_with_side_files() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("Tiny-Model-v2");
    fs::create_dir(&folder).unwrap();
    write_safetensors(
        &folder.join("model.safetensors"),
        &[("a.weight", 32), ("b.bias", 8)],
        1,
    );
    fs::write(
        folder.join("config.json"),
        r#"{"architectures":["LlamaForCausalLM"],"model_type":"llama","max_position_embeddings":2048}"#,
    )
    .unwrap();
    fs::write(folder.join("README.md"), "---\nlicense: mit\n---\n# Tiny\n").unwrap();
    fs::write(folder.join("LICENSE"), "MIT License\n").unwrap();
    let store = Store::open(home.path()).unwrap();

    let outcome = import(&store, &folder, ImportOptions::default(), &NoProgress).unwrap();
    assert_eq!(outcome.entry.reference(), "tiny-model-v2:latest");
    let by_path = |p: &str| outcome.entry.layer_by_path(p).unwrap().media_type.clone();
    assert_eq!(
        by_path("model.safetensors"),
        manifest::MEDIA_TYPE_WEIGHT_RAW
    );
    assert_eq!(
        by_path("config.json"),
        manifest::MEDIA_TYPE_WEIGHT_CONFIG_RAW
    );
    assert_eq!(by_path("README.md"), manifest::MEDIA_TYPE_DOC_RAW);
    assert_eq!(by_path("LICENSE"), manifest::MEDIA_TYPE_DOC_RAW);
    assert_eq!(outcome.tensor_count, 2);
    let config: ModelConfig = serde_json::from_slice(
        &store
            .read_blob(&outcome.entry.manifest.config.digest)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config.config.format.as_deref(), Some("safetensors"));
    assert_eq!(config.config.precision.as_deref(), Some("fp32"));
    assert_eq!(config.modelfs.diff_ids.len(), 4);
}

/// The store as a test can see it: blobs, catalog rows, staging files.
fn snapshot(store: &Store, home: &Path) -> (usize, usize, Vec<String>) {
    (
        blob_count(home),
        store.list().unwrap().len(),
        files_in(&home.join("tmp")),
    )
}

#[test]
fn a_refused_import_leaves_the_store_unchanged() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    import(
        &store,
        &tiny_gguf(src.path(), "ok.gguf"),
        ImportOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let before = snapshot(&store, home.path());

    // Not a GGUF file despite its name.
    let garbage = src.path().join("broken.gguf");
    fs::write(&garbage, vec![0xAB; 4096]).unwrap();
    // A truncated GGUF: valid header, data cut short.
    let truncated = tiny_gguf(src.path(), "cut.gguf");
    let bytes = fs::read(&truncated).unwrap();
    fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    // A pickle checkpoint: refused, never loaded.
    let pickle = src.path().join("pytorch_model.bin");
    fs::write(&pickle, b"\x80\x02}q\x00.").unwrap();
    // Nothing at all.
    let missing = src.path().join("nope.gguf");

    for path in [&garbage, &truncated, &pickle, &missing] {
        let err = import(&store, path, ImportOptions::default(), &NoProgress).unwrap_err();
        assert!(
            matches!(err, ImportError::Format(_)),
            "{}: {err}",
            path.display()
        );
        assert!(
            err.to_string()
                .contains(path.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        assert_eq!(snapshot(&store, home.path()), before, "{}", path.display());
    }
}

#[test]
fn a_name_that_cannot_be_derived_asks_for_one() {
    let home = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let store = Store::open(home.path()).unwrap();
    let path = tiny_gguf(src.path(), "___.gguf");
    let err = import(&store, &path, ImportOptions::default(), &NoProgress).unwrap_err();
    assert!(matches!(err, ImportError::NoName { .. }), "{err}");
    assert!(err.hint().unwrap().contains("--name"));
    assert_eq!(blob_count(home.path()), 0);
}
