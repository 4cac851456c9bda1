//! The import pipeline: inspect → ingest every file (hashing tensors alongside)
//! → build the ModelPack config and manifest → commit.
//!
//! All validation happens in [`commons_formats::inspect`] before a byte is
//! written, so a file that is not a model leaves the store untouched. A failure
//! after copying started (the disk fills, a file changes under us) commits
//! nothing and removes its staging files; blobs already copied stay as
//! unreferenced blobs until [`Store::gc`] removes them.
//!
//! The identity of an imported model depends only on its files and on the
//! license it is imported under, never on when, where from or under which name
//! it was imported: importing the same files twice, even from two processes at
//! once, gives one manifest.

use std::path::{Path, PathBuf};

use commons_formats::{FileRole, FormatError, Inspection, ModelFormat, ModelInfo, TensorDigest};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::StoreError;
use crate::manifest::{
    self, Descriptor, Manifest, ModelConfig, ModelDescriptor, ModelFs, ModelRuntimeConfig,
};
use crate::reference::{sanitize_name, sanitize_tag, Reference, DEFAULT_TAG};
use crate::store::Store;
use crate::time::now_rfc3339;
use crate::{ModelEntry, NewModel, TensorRecord};

/// What the caller may decide about an import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// `name[:tag]`; when `None`, see [`default_reference`].
    pub name: Option<Reference>,
    /// SPDX license expression; overrides the license the files declare.
    pub license: Option<String>,
    /// The user's provenance record (contents of `--provenance FILE`), kept in the metadata.
    pub provenance: Option<serde_json::Value>,
}

/// Progress reports of an import. Every method has an empty default.
pub trait ImportProgress {
    /// Inspection succeeded; `total_bytes` (the sum of file sizes) will now be copied.
    fn started(&self, _inspection: &Inspection, _total_bytes: u64) {}
    /// Copying of one file begins.
    fn file_started(&self, _relative: &str, _size: u64) {}
    /// `bytes` more were copied and hashed.
    fn advanced(&self, _bytes: u64) {}
    /// Every file is copied; waiting for tensor hashes, then committing.
    fn finishing(&self) {}
}

/// An [`ImportProgress`] that reports nothing.
pub struct NoProgress;
impl ImportProgress for NoProgress {}

/// One file of an imported model, as recorded in its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedFile {
    /// Path inside the model (`org.cncf.model.filepath`).
    pub relative: String,
    pub role: FileRole,
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// The metadata JSON stored with an imported model ([`ModelEntry::metadata`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportMetadata {
    /// What `commons-formats` read from the files.
    pub info: ModelInfo,
    /// The effective license: `--license` if given, else what the files declare.
    pub license: Option<String>,
    /// `"option"` when the license came from `--license`, `"file"` when from the files.
    pub license_source: Option<String>,
    /// The user's provenance record, verbatim.
    pub provenance: Option<serde_json::Value>,
    pub files: Vec<ImportedFile>,
    /// Where the files were imported from (absolute path).
    pub source: PathBuf,
    pub imported_at: String,
    /// Non-fatal problems found by inspection.
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl ImportMetadata {
    /// The import metadata of a model, if it was imported (rather than, say, pulled).
    pub fn from_entry(entry: &ModelEntry) -> Option<ImportMetadata> {
        serde_json::from_value(entry.metadata.clone()).ok()
    }
}

/// What an import did.
#[derive(Clone, Debug)]
pub struct ImportOutcome {
    pub entry: ModelEntry,
    pub metadata: ImportMetadata,
    /// Bytes copied into the store (all file sizes; dedup may have kept fewer).
    pub total_bytes: u64,
    pub tensor_count: u64,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot derive a model name from `{}`", path.display())]
    NoName { path: PathBuf },
    #[error("`{}` changed while it was being imported: it was {expected} bytes when inspected and {actual} bytes when copied", path.display())]
    FileChanged {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("invalid license `{license}`: {reason}")]
    InvalidLicense { license: String, reason: String },
    #[error("hashing the tensors of `{}` failed unexpectedly: the worker thread panicked", path.display())]
    TensorHashing { path: PathBuf },
}

impl ImportError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ImportError::Format(e) => e.hint(),
            ImportError::Store(e) => e.hint(),
            ImportError::NoName { .. } => Some("pass a name with `--name NAME[:TAG]`".into()),
            ImportError::FileChanged { .. } => {
                Some("wait until the file is completely written, then import again".into())
            }
            ImportError::InvalidLicense { .. } => Some(
                "pass an SPDX license expression such as `Apache-2.0` or `MIT OR Apache-2.0`"
                    .into(),
            ),
            ImportError::TensorHashing { .. } => None,
        }
    }
}

/// Imports the model at `path` (a GGUF or safetensors file, a shard of a set,
/// or a Hugging Face-style folder) into `store`.
pub fn import(
    store: &Store,
    path: &Path,
    opts: ImportOptions,
    progress: &dyn ImportProgress,
) -> Result<ImportOutcome, ImportError> {
    // 1. Everything that can be refused is refused here, before any write.
    let inspection = commons_formats::inspect(path)?;
    let reference = match opts.name {
        Some(reference) => reference,
        None => default_reference(path, &inspection.info).ok_or_else(|| ImportError::NoName {
            path: path.to_path_buf(),
        })?,
    };
    let (license, license_source) = effective_license(opts.license, &inspection.info)?;
    let total_bytes: u64 = inspection.files.iter().map(|f| f.size).sum();
    progress.started(&inspection, total_bytes);

    // 2. Copy every file while another thread hashes the tensors from the
    //    same (now cached) bytes. The write guard keeps gc from deleting the
    //    new, still unreferenced blobs before the commit.
    let _guard = store.write_guard()?;
    let (copied, tensors) = std::thread::scope(|scope| {
        let tensor_job = scope.spawn(|| commons_formats::tensor_digests(&inspection.files));
        let copied = copy_files(store, &inspection, progress);
        let tensors = tensor_job.join();
        (copied, tensors)
    });
    let copied = copied?;
    let tensors = tensors.map_err(|_| ImportError::TensorHashing {
        path: path.to_path_buf(),
    })??;
    progress.finishing();

    // 3. Describe the model: ModelPack config blob, then the manifest.
    let config = model_config(&inspection.info, license.as_deref(), &copied);
    let config_blob = store.ingest_bytes(&config.to_canonical_json()?)?;
    let mut manifest = Manifest::new_model(
        Descriptor::new(
            manifest::MEDIA_TYPE_MODEL_CONFIG,
            config_blob.digest,
            config_blob.size,
        ),
        copied.iter().map(layer_descriptor).collect(),
    );
    if let Some(title) = &inspection.info.general.name {
        manifest
            .annotations
            .insert(manifest::ANNOTATION_TITLE.into(), title.clone());
    }
    if let Some(license) = &license {
        manifest
            .annotations
            .insert(manifest::ANNOTATION_LICENSES.into(), license.clone());
    }

    let tensor_count = tensors.len() as u64;
    let metadata = ImportMetadata {
        info: inspection.info,
        license,
        license_source,
        provenance: opts.provenance,
        files: copied,
        source: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        imported_at: now_rfc3339(),
        warnings: inspection.warnings,
    };
    let metadata_json = serde_json::to_value(&metadata).map_err(|source| StoreError::Json {
        action: format!("serialize the metadata of {reference}"),
        source,
    })?;

    // 4. One transaction makes the whole model visible at once.
    let entry = store.commit_model(NewModel {
        reference,
        manifest,
        metadata: metadata_json,
        tensors: tensors.into_iter().map(tensor_record).collect(),
    })?;
    Ok(ImportOutcome {
        entry,
        metadata,
        total_bytes,
        tensor_count,
    })
}

fn copy_files(
    store: &Store,
    inspection: &Inspection,
    progress: &dyn ImportProgress,
) -> Result<Vec<ImportedFile>, ImportError> {
    let mut copied = Vec::with_capacity(inspection.files.len());
    for file in &inspection.files {
        progress.file_started(&file.relative, file.size);
        let blob = store.ingest_file(&file.path, &|n| progress.advanced(n))?;
        if blob.size != file.size {
            return Err(ImportError::FileChanged {
                path: file.path.clone(),
                expected: file.size,
                actual: blob.size,
            });
        }
        copied.push(ImportedFile {
            relative: file.relative.clone(),
            role: file.role,
            media_type: media_type_for(file.role).to_string(),
            digest: blob.digest,
            size: blob.size,
        });
    }
    Ok(copied)
}

/// ModelPack media type for a file role. Tokenizers, configs and chat templates
/// are "weight config" (what the weights need to run); licenses and READMEs are docs.
pub fn media_type_for(role: FileRole) -> &'static str {
    match role {
        FileRole::Weights => manifest::MEDIA_TYPE_WEIGHT_RAW,
        FileRole::Config | FileRole::Tokenizer | FileRole::ChatTemplate => {
            manifest::MEDIA_TYPE_WEIGHT_CONFIG_RAW
        }
        FileRole::Doc | FileRole::License => manifest::MEDIA_TYPE_DOC_RAW,
        // Unknown files: documentation is the least harmful guess, and the
        // `untested` annotation says it is one.
        FileRole::Other => manifest::MEDIA_TYPE_DOC_RAW,
    }
}

fn layer_descriptor(file: &ImportedFile) -> Descriptor {
    let mut layer = Descriptor::new(&file.media_type, file.digest.clone(), file.size);
    layer
        .annotations
        .insert(manifest::ANNOTATION_FILEPATH.into(), file.relative.clone());
    if file.role == FileRole::Other {
        layer.annotations.insert(
            manifest::ANNOTATION_MEDIATYPE_UNTESTED.into(),
            "true".into(),
        );
    }
    layer
}

fn effective_license(
    option: Option<String>,
    info: &ModelInfo,
) -> Result<(Option<String>, Option<String>), ImportError> {
    if let Some(license) = option {
        let trimmed = license.trim();
        if trimmed.is_empty() || trimmed.chars().any(|c| c.is_control()) {
            return Err(ImportError::InvalidLicense {
                reason: "it is empty or contains control characters".into(),
                license,
            });
        }
        return Ok((Some(trimmed.to_string()), Some("option".into())));
    }
    let from_file = info
        .general
        .license
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    let source = from_file.as_ref().map(|_| "file".to_string());
    Ok((from_file, source))
}

/// Dtypes that are plain floating point: a precision, not a quantization.
fn is_float_dtype(dtype: &str) -> bool {
    matches!(
        dtype.to_ascii_uppercase().as_str(),
        "F64" | "F32" | "F16" | "BF16" | "ALL_F32" | "MOSTLY_F16" | "MOSTLY_BF16"
    )
}

/// ModelPack precision spelling (`fp16`, `bf16`, …) of a float dtype.
fn precision_name(dtype: &str) -> String {
    match dtype.to_ascii_uppercase().as_str() {
        "F64" => "fp64".into(),
        "F32" | "ALL_F32" => "fp32".into(),
        "F16" | "MOSTLY_F16" => "fp16".into(),
        "BF16" | "MOSTLY_BF16" => "bf16".into(),
        other => other.to_ascii_lowercase(),
    }
}

/// The ModelPack config. Deterministic on purpose: no timestamps, no import
/// path, no local name, so the same files give the same manifest digest.
fn model_config(info: &ModelInfo, license: Option<&str>, files: &[ImportedFile]) -> ModelConfig {
    let general = &info.general;
    let primary = info.quantization.primary.as_str();
    let (precision, quantization) = if primary.is_empty() {
        (None, None)
    } else if is_float_dtype(primary) {
        (Some(precision_name(primary)), None)
    } else {
        (None, Some(primary.to_string()))
    };
    ModelConfig {
        descriptor: ModelDescriptor {
            authors: general.author.iter().cloned().collect(),
            family: general
                .basename
                .clone()
                .or_else(|| info.architecture.clone()),
            name: general.name.clone(),
            doc_url: general.url.clone(),
            source_url: general.repo_url.clone(),
            version: general.version.clone(),
            vendor: general.organization.clone(),
            licenses: license.map(|l| vec![l.to_string()]).unwrap_or_default(),
            title: general.name.clone(),
            description: general.description.clone(),
            ..Default::default()
        },
        modelfs: ModelFs {
            diff_ids: files.iter().map(|f| f.digest.clone()).collect(),
            ..Default::default()
        },
        config: ModelRuntimeConfig {
            architecture: info.architecture.clone(),
            format: Some(info.format.as_str().to_string()),
            param_size: (info.parameter_count > 0)
                .then(|| manifest::param_size_string(info.parameter_count)),
            precision,
            quantization,
            capabilities: None,
        },
    }
}

pub(crate) fn tensor_record(t: TensorDigest) -> TensorRecord {
    TensorRecord {
        name: t.name,
        dtype: t.dtype,
        shape: t.shape,
        sha256: t.sha256,
        size: t.size,
    }
}

/// The reference an import gets when the user gives no `--name`.
///
/// The name is the file or folder name, lowercased and sanitised, without its
/// extension, its shard suffix (`-00001-of-00003`), a trailing `-gguf` (as in
/// Hugging Face repo names) or a trailing quantization. For GGUF the tag is the
/// quantization in lower case, the way Ollama users pull `model:q4_k_m`; for
/// safetensors (original weights) it is `latest`:
///
/// | path | reference |
/// |---|---|
/// | `SmolLM2-135M-Instruct.Q4_1.gguf` | `smollm2-135m-instruct:q4_1` |
/// | `Llama-3.2-1B-Instruct-Q4_K_M.gguf` | `llama-3.2-1b-instruct:q4_k_m` |
/// | `model-00001-of-00002.safetensors` in `Qwen2.5-0.5B/` | `model:latest` |
/// | folder `Qwen2.5-0.5B-Instruct/` (safetensors) | `qwen2.5-0.5b-instruct:latest` |
/// | folder `Llama-3.2-1B-Instruct-GGUF/` (Q8_0) | `llama-3.2-1b-instruct:q8_0` |
pub fn default_reference(path: &Path, info: &ModelInfo) -> Option<Reference> {
    let base = if path.is_dir() {
        let absolute = std::path::absolute(path).ok()?;
        // `import .` names the model after the folder, not after ".".
        let normalized: PathBuf = absolute.components().collect();
        normalized.file_name()?.to_str()?.to_string()
    } else {
        path.file_name()?.to_str()?.to_string()
    };
    let quant = match info.format {
        ModelFormat::Gguf if !info.quantization.primary.is_empty() => {
            Some(info.quantization.primary.as_str())
        }
        _ => None,
    };
    default_reference_for_name(&base, quant)
}

/// [`default_reference`] on a bare file or folder name.
pub fn default_reference_for_name(base: &str, quant: Option<&str>) -> Option<Reference> {
    let mut stem = base.to_string();
    let lower = stem.to_ascii_lowercase();
    for extension in [".safetensors.index.json", ".safetensors", ".gguf"] {
        if lower.ends_with(extension) {
            stem.truncate(stem.len() - extension.len());
            break;
        }
    }
    stem = strip_shard_suffix(&stem).to_string();
    if stem.to_ascii_lowercase().ends_with("-gguf") {
        stem.truncate(stem.len() - "-gguf".len());
    }
    if let Some(quant) = quant {
        let lower = stem.to_ascii_lowercase();
        let q = quant.to_ascii_lowercase();
        for separator in ['.', '-', '_'] {
            let suffix = format!("{separator}{q}");
            if lower.ends_with(&suffix) && lower.len() > suffix.len() {
                stem.truncate(stem.len() - suffix.len());
                break;
            }
        }
    }
    let name = sanitize_name(&stem)?;
    let tag = match quant {
        Some(q) => sanitize_tag(&q.to_ascii_lowercase())?,
        None => DEFAULT_TAG.to_string(),
    };
    Reference::new(&name, &tag).ok()
}

/// Removes `-00001-of-00003` (gguf-split and Hugging Face shard names).
fn strip_shard_suffix(stem: &str) -> &str {
    let bytes = stem.as_bytes();
    // "-" 5 digits "-of-" 5 digits = 15 bytes.
    if bytes.len() > 15 {
        let tail = &bytes[bytes.len() - 15..];
        let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        if tail[0] == b'-' && digits(&tail[1..6]) && &tail[6..10] == b"-of-" && digits(&tail[10..])
        {
            return &stem[..stem.len() - 15];
        }
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(base: &str, quant: Option<&str>) -> String {
        default_reference_for_name(base, quant).unwrap().to_string()
    }

    #[test]
    fn default_names_read_like_ollama_references() {
        assert_eq!(
            name("SmolLM2-135M-Instruct.Q4_1.gguf", Some("Q4_1")),
            "smollm2-135m-instruct:q4_1"
        );
        assert_eq!(
            name("Llama-3.2-1B-Instruct-Q4_K_M.gguf", Some("Q4_K_M")),
            "llama-3.2-1b-instruct:q4_k_m"
        );
        assert_eq!(name("model.gguf", Some("F16")), "model:f16");
        assert_eq!(
            name("Qwen2.5-0.5B-Instruct", None),
            "qwen2.5-0.5b-instruct:latest"
        );
        assert_eq!(
            name("Llama-3.2-1B-Instruct-GGUF", Some("Q8_0")),
            "llama-3.2-1b-instruct:q8_0"
        );
        assert_eq!(
            name("model-00001-of-00002.safetensors", None),
            "model:latest"
        );
        assert_eq!(
            name("big-Q4_K_M-00002-of-00003.gguf", Some("Q4_K_M")),
            "big:q4_k_m"
        );
        assert!(default_reference_for_name("???.gguf", None).is_none());
    }

    #[test]
    fn float_types_are_precision_and_others_quantization() {
        assert!(is_float_dtype("BF16") && is_float_dtype("f32"));
        assert!(!is_float_dtype("Q4_K_M"));
        assert_eq!(precision_name("F16"), "fp16");
    }
}
