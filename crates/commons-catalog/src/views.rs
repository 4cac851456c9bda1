//! The views of a model that `list` and `show` print and the API serves: one
//! place decides which catalog facts make up the `--json` contract (DESIGN.md,
//! "Command line").

use commons_formats::GeneralMetadata;
use commons_provenance::{Completeness, Openness, ProvenanceRecord};
use commons_store::import::{ImportMetadata, ImportedFile};
use commons_store::{ModelEntry, Store, StoreError};
use serde::Serialize;

use crate::record::current_record;

/// One row of `commons list`.
#[derive(Debug, Serialize)]
pub struct ModelSummary {
    pub name: String,
    pub tag: String,
    pub digest: String,
    pub size_bytes: u64,
    pub format: Option<String>,
    pub architecture: Option<String>,
    pub parameters: Option<u64>,
    pub quantization: Option<String>,
    pub created_at: String,
}

impl ModelSummary {
    pub fn from_entry(entry: &ModelEntry) -> Self {
        let meta = ImportMetadata::from_entry(entry);
        let info = meta.as_ref().map(|m| &m.info);
        Self {
            name: entry.name.clone(),
            tag: entry.tag.clone(),
            digest: entry.digest.to_string(),
            size_bytes: entry.size_bytes,
            format: info.map(|i| i.format.as_str().to_owned()),
            architecture: info.and_then(|i| i.architecture.clone()),
            parameters: info.map(|i| i.parameter_count),
            quantization: info.map(|i| i.quantization.primary.clone()),
            created_at: entry.created_at.clone(),
        }
    }
}

/// `commons show`: everything the store knows about one model.
#[derive(Debug, Serialize)]
pub struct ModelDetails {
    pub name: String,
    pub tag: String,
    pub digest: String,
    pub format: Option<String>,
    pub architecture: Option<String>,
    pub parameters: Option<u64>,
    pub quantization: Option<String>,
    /// Tensors per dtype, e.g. `{"F32": 61, "Q4_1": 210}`.
    pub quantization_mix: serde_json::Value,
    pub context_length: Option<u64>,
    pub tensor_count: Option<u64>,
    pub size_bytes: u64,
    pub license: Option<String>,
    pub chat_template: bool,
    pub tokenizer: Option<String>,
    pub provenance: ProvenanceSummary,
    pub general: Option<GeneralMetadata>,
    pub files: Vec<FileSummary>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tensors: Option<Vec<commons_store::TensorRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Vec<SignatureSummary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referrers: Option<Vec<ReferrerSummary>>,
}

/// A model row with what a reader of the catalog wants at a glance: license,
/// provenance completeness, openness class, signatures.
#[derive(Debug, Serialize)]
pub struct CatalogRow {
    #[serde(flatten)]
    pub summary: ModelSummary,
    pub license: Option<String>,
    pub provenance: ProvenanceSummary,
    pub signatures: usize,
}

impl CatalogRow {
    pub fn load(store: &Store, entry: &ModelEntry) -> Result<Self, StoreError> {
        let record = current_record(store, entry)?.record;
        Ok(Self {
            summary: ModelSummary::from_entry(entry),
            license: ImportMetadata::from_entry(entry).and_then(|m| m.license),
            provenance: ProvenanceSummary::assess(&record),
            signatures: store.signatures(&entry.digest)?.len(),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct ProvenanceSummary {
    /// Share of the provenance checklist that is answered, 0.0 to 1.0.
    pub completeness: f64,
    pub present: Vec<&'static str>,
    pub missing: Vec<&'static str>,
    /// Model Openness Framework class: `class I`..`class III`, or `unclassified`.
    pub openness_class: &'static str,
}

impl ProvenanceSummary {
    pub fn assess(record: &ProvenanceRecord) -> Self {
        let completeness = Completeness::assess(record);
        Self {
            completeness: completeness.score,
            present: completeness.present,
            missing: completeness.missing,
            openness_class: Openness::assess(record).class_name(),
        }
    }
}

/// A signature kept for a model (the bundle itself is in the catalog and referrers).
#[derive(Debug, Serialize)]
pub struct SignatureSummary {
    pub key_hint: String,
    /// The name this node trusts the signing key under (its own key, or a `trust.toml`
    /// entry), as `commons eval compare` names evaluators; absent for keys it does not
    /// trust. Whether the signature verifies is `commons verify-signature`'s business.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_as: Option<String>,
    pub created_at: String,
}

/// An artifact attached to a model: provenance record, signature, attestation.
#[derive(Debug, Serialize)]
pub struct ReferrerSummary {
    pub digest: String,
    pub artifact_type: Option<String>,
    pub size: u64,
    pub annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub role: commons_formats::FileRole,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl From<&ImportedFile> for FileSummary {
    fn from(f: &ImportedFile) -> Self {
        Self {
            path: f.relative.clone(),
            role: f.role,
            media_type: f.media_type.clone(),
            digest: f.digest.to_string(),
            size: f.size,
        }
    }
}

impl ModelDetails {
    /// `record` is the model's current provenance record (see `commands::provenance`).
    pub fn from_entry(entry: &ModelEntry, record: &ProvenanceRecord) -> Self {
        let meta = ImportMetadata::from_entry(entry);
        let info = meta.as_ref().map(|m| &m.info);
        Self {
            name: entry.name.clone(),
            tag: entry.tag.clone(),
            digest: entry.digest.to_string(),
            format: info.map(|i| i.format.as_str().to_owned()),
            architecture: info.and_then(|i| i.architecture.clone()),
            parameters: info.map(|i| i.parameter_count),
            quantization: info.map(|i| i.quantization.primary.clone()),
            quantization_mix: info
                .and_then(|i| serde_json::to_value(&i.quantization.mix).ok())
                .unwrap_or(serde_json::Value::Null),
            context_length: info.and_then(|i| i.context_length),
            tensor_count: info.map(|i| i.tensor_count),
            size_bytes: entry.size_bytes,
            license: meta.as_ref().and_then(|m| m.license.clone()),
            chat_template: info.is_some_and(|i| i.chat_template.is_some()),
            tokenizer: info.and_then(|i| i.tokenizer.clone()),
            provenance: ProvenanceSummary::assess(record),
            general: info.map(|i| i.general.clone()),
            files: meta
                .as_ref()
                .map(|m| m.files.iter().map(FileSummary::from).collect())
                .unwrap_or_default(),
            created_at: entry.created_at.clone(),
            tensors: None,
            signatures: None,
            referrers: None,
        }
    }

    /// Details with the current provenance record, signatures and referrers read from `store`.
    pub fn load(store: &Store, entry: &ModelEntry) -> Result<Self, StoreError> {
        let record = current_record(store, entry)?.record;
        let mut details = Self::from_entry(entry, &record);
        let signatures = store.signatures(&entry.digest)?;
        let trusted = if signatures.is_empty() {
            Vec::new()
        } else {
            trusted_keys(store)
        };
        details.signatures = Some(
            signatures
                .into_iter()
                .map(|s| SignatureSummary {
                    trusted_as: trusted
                        .iter()
                        .find(|k| k.hint == s.key_hint)
                        .map(|k| k.name.clone()),
                    key_hint: s.key_hint,
                    created_at: s.created_at,
                })
                .collect(),
        );
        details.referrers = Some(
            store
                .referrers(&entry.digest)?
                .into_iter()
                .map(|d| ReferrerSummary {
                    digest: d.digest.to_string(),
                    artifact_type: d.artifact_type,
                    size: d.size,
                    annotations: d.annotations,
                })
                .collect(),
        );
        Ok(details)
    }
}

/// The keys the node trusts. A `trust.toml` that cannot be read names no signer here
/// rather than hiding the model; `commons verify-signature` reports what is wrong with it.
fn trusted_keys(store: &Store) -> Vec<commons_provenance::signing::trust::TrustedKey> {
    commons_provenance::signing::trust::load(store.root()).unwrap_or_default()
}
