//! A model's current provenance record.

use commons_formats::FileRole;
use commons_provenance::derive::{record_from_files, FileFacts};
use commons_provenance::ProvenanceRecord;
use commons_store::import::ImportMetadata;
use commons_store::{ModelEntry, Store, StoreError};

/// The record in force for a model, and its stored version.
pub struct CurrentRecord {
    pub record: ProvenanceRecord,
    /// `None` when no version is stored yet and the record was derived.
    pub version: Option<u64>,
}

/// What the model's files state, with the user's import-time record over it.
/// A user record that does not validate (kept by an older commons) is ignored.
pub fn derived_record(meta: &ImportMetadata) -> ProvenanceRecord {
    let license_text = meta
        .files
        .iter()
        .find(|f| f.role == FileRole::License)
        .map(|f| f.digest.to_string());
    let from_files = record_from_files(
        &meta.info.general,
        FileFacts {
            license: meta.license.as_deref(),
            license_text_digest: license_text.as_deref(),
        },
    );
    match meta
        .provenance
        .as_ref()
        .and_then(|v| ProvenanceRecord::from_json(v).ok())
    {
        Some(user) => from_files.merged_with(&user),
        None => from_files,
    }
}

/// The latest stored version of the model's record, else the derived one.
pub fn current_record(store: &Store, entry: &ModelEntry) -> Result<CurrentRecord, StoreError> {
    if let Some(stored) = store.latest_provenance(&entry.digest)? {
        if let Ok(record) = ProvenanceRecord::from_json(&stored.record) {
            return Ok(CurrentRecord {
                record,
                version: Some(stored.version),
            });
        }
    }
    let record = ImportMetadata::from_entry(entry)
        .map(|m| derived_record(&m))
        .unwrap_or_default();
    Ok(CurrentRecord {
        record,
        version: None,
    })
}
