//! The provenance record a model's own files state: GGUF `general.*` keys or
//! a model card's front matter (both read by commons-formats into
//! [`GeneralMetadata`]), plus the digest of a shipped license text. Nothing
//! is guessed: a fact the files do not state stays absent.

use commons_formats::GeneralMetadata;

use crate::record::{BaseModelRef, Dataset, License, ProvenanceRecord, Publisher, SCHEMA_ID};

/// What the files say besides `general`: the effective license (from
/// `--license` or the files) and the digest of a license file, if one ships.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileFacts<'a> {
    pub license: Option<&'a str>,
    pub license_text_digest: Option<&'a str>,
}

/// Builds the record the files state.
pub fn record_from_files(general: &GeneralMetadata, files: FileFacts<'_>) -> ProvenanceRecord {
    let set = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let license_id = files
        .license
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .or_else(|| set(&general.license));
    ProvenanceRecord {
        schema: SCHEMA_ID.into(),
        name: set(&general.name),
        version: set(&general.version),
        description: set(&general.description),
        publisher: set(&general.organization)
            .or_else(|| set(&general.author))
            .map(|name| Publisher { name, url: None }),
        source: set(&general.repo_url).or_else(|| set(&general.url)),
        license: license_id.map(|id| License {
            id,
            name: set(&general.license_name),
            link: set(&general.license_link),
            text_digest: files.license_text_digest.map(String::from),
        }),
        base_models: general
            .base_models
            .iter()
            .filter(|b| b.name.is_some() || b.repo_url.is_some())
            .map(|b| BaseModelRef {
                name: set(&b.name),
                organization: set(&b.organization),
                source: set(&b.repo_url),
                ..BaseModelRef::default()
            })
            .collect(),
        datasets: general
            .datasets
            .iter()
            .map(|d| d.trim())
            .filter(|d| !d.is_empty())
            .map(|name| Dataset {
                name: name.to_string(),
                ..Dataset::default()
            })
            .collect(),
        ..ProvenanceRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commons_formats::BaseModel;

    #[test]
    fn general_keys_become_record_fields() {
        let general = GeneralMetadata {
            name: Some("SmolLM2 135M Instruct".into()),
            organization: Some("HuggingFaceTB".into()),
            license: Some("apache-2.0".into()),
            repo_url: Some(" ".into()),
            base_models: vec![BaseModel {
                name: Some("SmolLM2 135M".into()),
                ..BaseModel::default()
            }],
            datasets: vec!["smoltalk".into(), "".into()],
            ..GeneralMetadata::default()
        };
        let r = record_from_files(
            &general,
            FileFacts {
                license: None,
                license_text_digest: Some("sha256:ab"),
            },
        );
        assert_eq!(r.publisher.unwrap().name, "HuggingFaceTB");
        let license = r.license.unwrap();
        assert_eq!(license.id, "apache-2.0");
        assert_eq!(license.text_digest.as_deref(), Some("sha256:ab"));
        assert_eq!(r.source, None);
        assert_eq!(r.base_models[0].name.as_deref(), Some("SmolLM2 135M"));
        assert_eq!(r.datasets.len(), 1);
    }

    #[test]
    fn the_given_license_wins_over_the_files() {
        let general = GeneralMetadata {
            license: Some("mit".into()),
            ..GeneralMetadata::default()
        };
        let r = record_from_files(
            &general,
            FileFacts {
                license: Some("Apache-2.0"),
                license_text_digest: None,
            },
        );
        assert_eq!(r.license.unwrap().id, "Apache-2.0");
    }
}
