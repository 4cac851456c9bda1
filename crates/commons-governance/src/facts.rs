//! What policy and health look at for one model, gathered once from the
//! catalog: license (with what the knowledge base says about it),
//! provenance completeness, signatures by trusted keys, evaluators, files
//! that could run code, size and publisher.

use commons_catalog::current_record;
use commons_provenance::licenses::{self, LicenseInfo};
use commons_provenance::signing::trust::{self, TrustedKey};
use commons_provenance::signing::{self, Resource};
use commons_provenance::{Completeness, Openness};
use commons_store::{ModelEntry, Store};
use serde::Serialize;

use crate::evaluators::{self, Evaluations};
use crate::GovernanceError;

/// File endings of pickled checkpoints: loading them runs code.
const UNSAFE_ENDINGS: [&str; 6] = [".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"];

#[derive(Clone, Debug, Serialize)]
pub struct ModelFacts {
    /// `name:tag`.
    pub reference: String,
    pub digest: String,
    pub license: Option<String>,
    /// The license that decides, when every id in it is known.
    pub license_info: Option<LicenseInfo>,
    pub completeness: f64,
    pub present: Vec<&'static str>,
    pub missing: Vec<&'static str>,
    pub openness_class: &'static str,
    pub publisher: Option<String>,
    /// Names of trusted keys with a valid signature over every file.
    pub trusted_signers: Vec<String>,
    /// Signatures kept for the model, valid or not.
    pub signatures: usize,
    pub evaluations: Evaluations,
    /// Files that could run code when loaded.
    pub unsafe_files: Vec<String>,
    pub size_bytes: u64,
}

impl ModelFacts {
    pub fn gather(store: &Store, entry: &ModelEntry) -> Result<ModelFacts, GovernanceError> {
        let record = current_record(store, entry)?.record;
        let completeness = Completeness::assess(&record);
        let license = record.license_id().map(str::to_string);
        let license_info = license
            .as_deref()
            .and_then(|l| licenses::assess(l).effective);
        let publisher = record.publisher.as_ref().map(|p| p.name.clone());
        let trusted = trust::load(store.root())?;
        let bundles = store.signatures(&entry.digest)?;
        let files = files_of(entry);
        let trusted_signers = bundles
            .iter()
            .filter_map(|s| trusted_signer(&trusted, &s.bundle_json, &files, publisher.as_deref()))
            .collect();
        let unsafe_files = entry
            .manifest
            .layers
            .iter()
            .filter_map(|l| l.filepath())
            .filter(|p| {
                let p = p.to_ascii_lowercase();
                UNSAFE_ENDINGS.iter().any(|e| p.ends_with(e))
            })
            .map(str::to_string)
            .collect();
        Ok(ModelFacts {
            reference: entry.reference(),
            digest: entry.digest.to_string(),
            license,
            license_info,
            completeness: completeness.score,
            present: completeness.present,
            missing: completeness.missing,
            openness_class: Openness::assess(&record).class_name(),
            publisher,
            trusted_signers,
            signatures: bundles.len(),
            evaluations: evaluators::evaluations(store, &entry.digest)?,
            unsafe_files,
            size_bytes: entry.size_bytes,
        })
    }
}

/// The model's files as a signature names them. The store checked every
/// blob's sha256 when it took it in, so the manifest's digests are the files'.
fn files_of(entry: &ModelEntry) -> Vec<Resource> {
    let mut resources: Vec<Resource> = entry
        .manifest
        .layers
        .iter()
        .map(|l| Resource {
            name: l.filepath().unwrap_or(l.digest.hex()).to_string(),
            digest: l.digest.hex().to_string(),
        })
        .collect();
    signing::sort_resources(&mut resources);
    resources
}

/// The name of the trusted key that signed exactly these files, if any.
fn trusted_signer(
    trusted: &[TrustedKey],
    bundle: &str,
    files: &[Resource],
    publisher: Option<&str>,
) -> Option<String> {
    let hint = signing::key_hint_of(bundle).ok()??;
    let key = trusted
        .iter()
        .find(|t| t.hint == hint && t.allows(publisher))?;
    let signed = signing::verify(bundle, &key.key).ok()?;
    signing::compare_files(&signed.resources, files).ok()?;
    Some(key.name.clone())
}
