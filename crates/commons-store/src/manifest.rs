//! OCI image manifests with CNCF ModelPack media types, serialized canonically.
//!
//! A model is an OCI image manifest whose `artifactType` is the ModelPack model
//! manifest type, whose config is a ModelPack model config (see [`ModelConfig`]),
//! and whose layers are the model's files, each unpacked (`.raw`) and annotated
//! with its relative path. Media types and field names follow
//! <https://github.com/modelpack/model-spec> (`specs-go/v1`, `schema/config-schema.json`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::StoreError;

/// OCI image manifest media type.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// ModelPack artifact type of a model manifest.
pub const ARTIFACT_TYPE_MODEL_MANIFEST: &str = "application/vnd.cncf.model.manifest.v1+json";
/// ModelPack model config (the manifest's `config` blob).
pub const MEDIA_TYPE_MODEL_CONFIG: &str = "application/vnd.cncf.model.config.v1+json";
/// Unarchived model weights (GGUF, safetensors).
pub const MEDIA_TYPE_WEIGHT_RAW: &str = "application/vnd.cncf.model.weight.v1.raw";
/// Unarchived weight configuration: `config.json`, `tokenizer.json`, chat templates…
pub const MEDIA_TYPE_WEIGHT_CONFIG_RAW: &str = "application/vnd.cncf.model.weight.config.v1.raw";
/// Unarchived documentation: README, LICENSE…
pub const MEDIA_TYPE_DOC_RAW: &str = "application/vnd.cncf.model.doc.v1.raw";
/// Unarchived code: scripts and modelling code shipped with the model.
pub const MEDIA_TYPE_CODE_RAW: &str = "application/vnd.cncf.model.code.v1.raw";
/// Unarchived datasets shipped with the model.
pub const MEDIA_TYPE_DATASET_RAW: &str = "application/vnd.cncf.model.dataset.v1.raw";

/// Layer annotation: the file's path relative to the model root.
pub const ANNOTATION_FILEPATH: &str = "org.cncf.model.filepath";
/// Layer annotation: `"true"` when the media type was guessed, not checked.
pub const ANNOTATION_MEDIATYPE_UNTESTED: &str = "org.cncf.model.file.mediatype.untested";
/// Standard OCI manifest annotation: when the artifact was created (RFC 3339).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Standard OCI manifest annotation: the artifact's title.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Standard OCI manifest annotation: SPDX license expression.
pub const ANNOTATION_LICENSES: &str = "org.opencontainers.image.licenses";

/// Upper bound on a manifest we accept, as registries do (4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// An OCI content descriptor.
///
/// Field order is the serialization order; together with `BTreeMap` annotations
/// and compact JSON that makes serialization canonical, so a manifest's digest
/// does not depend on who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The layer's `org.cncf.model.filepath` annotation, if any.
    pub fn filepath(&self) -> Option<&str> {
        self.annotations
            .get(ANNOTATION_FILEPATH)
            .map(String::as_str)
    }

    /// True for a weights layer (any ModelPack weight media type, not weight config).
    pub fn is_weights(&self) -> bool {
        self.media_type
            .starts_with("application/vnd.cncf.model.weight.v1.")
    }
}

/// An OCI image manifest (schema version 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// A ModelPack model manifest with the given config and layers.
    pub fn new_model(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_OCI_MANIFEST.to_string(),
            artifact_type: Some(ARTIFACT_TYPE_MODEL_MANIFEST.to_string()),
            config,
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        }
    }

    /// Canonical bytes: fixed field order, sorted annotation keys, no whitespace.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|source| StoreError::Json {
            action: "serialize a manifest".into(),
            source,
        })
    }

    /// The digest of the canonical bytes: the model's identity.
    pub fn digest(&self) -> Result<Digest, StoreError> {
        Ok(Digest::of_bytes(&self.to_canonical_json()?))
    }

    /// Parses manifest bytes, bounded by [`MAX_MANIFEST_BYTES`], and checks the structure.
    pub fn from_json(bytes: &[u8], context: &str) -> Result<Manifest, StoreError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(StoreError::InvalidManifest {
                context: context.to_string(),
                reason: format!(
                    "{} bytes is more than the {MAX_MANIFEST_BYTES} allowed",
                    bytes.len()
                ),
            });
        }
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| StoreError::InvalidManifest {
                context: context.to_string(),
                reason: e.to_string(),
            })?;
        manifest.validate(context)?;
        Ok(manifest)
    }

    /// Checks what the store relies on: schema version 2 and the OCI manifest media type.
    pub fn validate(&self, context: &str) -> Result<(), StoreError> {
        let invalid = |reason: String| StoreError::InvalidManifest {
            context: context.to_string(),
            reason,
        };
        if self.schema_version != 2 {
            return Err(invalid(format!(
                "schemaVersion is {}, expected 2",
                self.schema_version
            )));
        }
        if self.media_type != MEDIA_TYPE_OCI_MANIFEST {
            return Err(invalid(format!(
                "mediaType is `{}`, expected `{MEDIA_TYPE_OCI_MANIFEST}`",
                self.media_type
            )));
        }
        let mut paths = std::collections::BTreeSet::new();
        for layer in &self.layers {
            if let Some(path) = layer.filepath() {
                if !paths.insert(path) {
                    return Err(invalid(format!("two layers have the file path `{path}`")));
                }
            }
        }
        Ok(())
    }

    /// Every blob this manifest needs, config first, without duplicates.
    /// The `subject` is not included: it is another manifest, not a part of this one.
    pub fn blob_digests(&self) -> Vec<&Descriptor> {
        let mut seen = std::collections::BTreeSet::new();
        std::iter::once(&self.config)
            .chain(self.layers.iter())
            .filter(|d| seen.insert(&d.digest))
            .collect()
    }

    /// The sum of the layer sizes (what the model occupies, config excluded).
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// The ModelPack model config (`application/vnd.cncf.model.config.v1+json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub descriptor: ModelDescriptor,
    pub modelfs: ModelFs,
    pub config: ModelRuntimeConfig,
}

impl ModelConfig {
    /// Compact JSON in fixed field order (stable bytes, hence a stable digest).
    pub fn to_canonical_json(&self) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(self).map_err(|source| StoreError::Json {
            action: "serialize a model config".into(),
            source,
        })
    }
}

/// General information about the model (`descriptor`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "docURL", skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    #[serde(default, rename = "sourceURL", skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub licenses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Layer content hashes (`modelfs`); for raw layers a DiffID is the layer digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

impl Default for ModelFs {
    fn default() -> ModelFs {
        ModelFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// Technical metadata (`config`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelRuntimeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<ModelCapabilities>,
}

/// What the model can do (`config.capabilities`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCapabilities {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_usage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<bool>,
}

/// ModelPack `paramSize`: `<count><K|M|B|T|Q>` with at most one decimal, e.g. `135M`, `6.7B`.
pub fn param_size_string(parameters: u64) -> String {
    const SCALES: [(u64, &str); 5] = [
        (1_000_000_000_000_000, "Q"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "B"),
        (1_000_000, "M"),
        (1_000, "K"),
    ];
    for (scale, suffix) in SCALES {
        if parameters >= scale {
            let tenths = (parameters as u128 * 10 + scale as u128 / 2) / scale as u128;
            return if tenths.is_multiple_of(10) || tenths >= 1000 {
                format!("{}{suffix}", (tenths + 5) / 10)
            } else {
                format!("{}.{}{suffix}", tenths / 10, tenths % 10)
            };
        }
    }
    // Below a thousand (toy and test models) a plain count is the honest answer.
    parameters.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let config = Descriptor::new(MEDIA_TYPE_MODEL_CONFIG, Digest::of_bytes(b"{}"), 2);
        let mut layer = Descriptor::new(MEDIA_TYPE_WEIGHT_RAW, Digest::of_bytes(b"w"), 1);
        layer
            .annotations
            .insert(ANNOTATION_FILEPATH.into(), "model.gguf".into());
        Manifest::new_model(config, vec![layer])
    }

    #[test]
    fn canonical_json_has_fixed_order_and_no_whitespace() {
        let json = String::from_utf8(sample().to_canonical_json().unwrap()).unwrap();
        assert!(json.starts_with(
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.model.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"sha256:"#
        ), "{json}");
        assert!(json.contains(r#""annotations":{"org.cncf.model.filepath":"model.gguf"}"#));
        assert!(!json.contains(' ') && !json.contains('\n'));
    }

    #[test]
    fn round_trip_keeps_the_digest() {
        let m = sample();
        let bytes = m.to_canonical_json().unwrap();
        let back = Manifest::from_json(&bytes, "test").unwrap();
        assert_eq!(back, m);
        assert_eq!(back.digest().unwrap(), Digest::of_bytes(&bytes));
    }

    #[test]
    fn rejects_wrong_schema_and_duplicate_paths() {
        let mut m = sample();
        m.schema_version = 1;
        assert!(m
            .validate("x")
            .unwrap_err()
            .to_string()
            .contains("schemaVersion"));
        let mut m = sample();
        m.layers.push(m.layers[0].clone());
        assert!(m
            .validate("x")
            .unwrap_err()
            .to_string()
            .contains("model.gguf"));
        assert!(Manifest::from_json(b"{", "x").is_err());
    }

    #[test]
    fn model_config_uses_modelpack_field_names() {
        let config = ModelConfig {
            descriptor: ModelDescriptor {
                name: Some("m".into()),
                licenses: vec!["MIT".into()],
                ..Default::default()
            },
            modelfs: ModelFs {
                diff_ids: vec![Digest::of_bytes(b"w")],
                ..Default::default()
            },
            config: ModelRuntimeConfig {
                format: Some("gguf".into()),
                param_size: Some("135M".into()),
                ..Default::default()
            },
        };
        let json = String::from_utf8(config.to_canonical_json().unwrap()).unwrap();
        assert!(
            json.contains(r#""modelfs":{"type":"layers","diffIds":["sha256:"#),
            "{json}"
        );
        assert!(
            json.contains(r#""config":{"format":"gguf","paramSize":"135M"}"#),
            "{json}"
        );
        assert!(json.contains(r#""licenses":["MIT"]"#));
    }

    #[test]
    fn param_sizes_read_naturally() {
        assert_eq!(param_size_string(134_515_008), "135M");
        assert_eq!(param_size_string(8_030_261_248), "8B");
        assert_eq!(param_size_string(6_738_415_616), "6.7B");
        assert_eq!(param_size_string(999_960), "1000K");
        assert_eq!(param_size_string(1_500), "1.5K");
        assert_eq!(param_size_string(12), "12");
    }
}
