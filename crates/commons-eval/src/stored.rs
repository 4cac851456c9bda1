//! Suites and attestations in the node's store, as OCI artifacts, so they are
//! content-addressed, kept by `gc`, and carried by `commons push`/`pull`.
//!
//! - A suite is a manifest in repository `eval-suites/NAME`, tagged with its
//!   digest's hex, whose one layer is the suite's canonical bytes.
//! - An attestation is a referrer of the model's manifest (in the model's
//!   repository) with two layers: the DSSE envelope and the per-item results.

use std::collections::BTreeMap;

use commons_store::manifest::MEDIA_TYPE_OCI_MANIFEST;
use commons_store::registry::MEDIA_TYPE_EMPTY;
use commons_store::{Descriptor, Digest, ModelEntry, Store, StoredManifest};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::attest::{ARTIFACT_TYPE, ENVELOPE_MEDIA_TYPE, RESULTS_MEDIA_TYPE};
use crate::digest::{hex_part, sha256_digest};
use crate::error::EvalError;
use crate::suite::Suite;

pub const SUITE_REPOSITORY_PREFIX: &str = "eval-suites/";
pub const SUITE_ARTIFACT_TYPE: &str = "application/vnd.commons.eval.suite.v1";
pub const SUITE_MEDIA_TYPE: &str = "application/vnd.commons.eval.suite.v1+jsonl";

const ANNOTATION_NAME: &str = "dev.commons.eval.suite.name";
const ANNOTATION_VERSION: &str = "dev.commons.eval.suite.version";
const ANNOTATION_KIND: &str = "dev.commons.eval.suite.kind";
const ANNOTATION_ITEMS: &str = "dev.commons.eval.suite.items";
const ANNOTATION_LICENSE: &str = "dev.commons.eval.suite.license";
const ANNOTATION_SOURCE: &str = "dev.commons.eval.suite.source";

/// A stored suite as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteEntry {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub items: usize,
    pub license: String,
    pub source: String,
    /// `sha256:` of the canonical bytes (the suite's identity).
    pub digest: String,
}

/// Stores `suite`; importing the same suite again changes nothing.
pub fn import_suite(store: &Store, suite: &Suite) -> Result<SuiteEntry, EvalError> {
    let header = &suite.header;
    let blob = store.ingest_bytes(suite.canonical_bytes())?;
    let empty = store.ingest_bytes(b"{}")?;
    let source = format!("{} {}", header.source.package, header.source.version);
    let annotations = BTreeMap::from([
        (ANNOTATION_NAME.to_string(), header.name.clone()),
        (ANNOTATION_VERSION.to_string(), header.version.clone()),
        (
            ANNOTATION_KIND.to_string(),
            header.kind.as_str().to_string(),
        ),
        (ANNOTATION_ITEMS.to_string(), suite.items.len().to_string()),
        (ANNOTATION_LICENSE.to_string(), header.license.clone()),
        (ANNOTATION_SOURCE.to_string(), source.clone()),
    ]);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": SUITE_ARTIFACT_TYPE,
        "config": Descriptor::new(MEDIA_TYPE_EMPTY, empty.digest, empty.size),
        "layers": [Descriptor::new(SUITE_MEDIA_TYPE, blob.digest, blob.size)],
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|source| EvalError::Json {
        context: "serialize a suite manifest".into(),
        source,
    })?;
    let repository = format!("{SUITE_REPOSITORY_PREFIX}{}", header.name);
    store.put_manifest(&repository, Some(hex_part(suite.digest())), &bytes)?;
    Ok(SuiteEntry {
        name: header.name.clone(),
        version: header.version.clone(),
        kind: header.kind.as_str().to_string(),
        items: suite.items.len(),
        license: header.license.clone(),
        source,
        digest: suite.digest().to_string(),
    })
}

fn entry_of(manifest: &StoredManifest, tag: &str) -> SuiteEntry {
    let get = |key: &str| manifest.annotations.get(key).cloned().unwrap_or_default();
    SuiteEntry {
        name: get(ANNOTATION_NAME),
        version: get(ANNOTATION_VERSION),
        kind: get(ANNOTATION_KIND),
        items: get(ANNOTATION_ITEMS).parse().unwrap_or(0),
        license: get(ANNOTATION_LICENSE),
        source: get(ANNOTATION_SOURCE),
        digest: format!("sha256:{tag}"),
    }
}

/// Every stored suite, by name then version.
pub fn list_suites(store: &Store) -> Result<Vec<SuiteEntry>, EvalError> {
    let mut out = Vec::new();
    for repository in store.repositories()? {
        if !repository.starts_with(SUITE_REPOSITORY_PREFIX) {
            continue;
        }
        for tag in store.repository_tags(&repository)? {
            let manifest = store.get_manifest(&repository, &tag)?;
            if manifest.artifact_type.as_deref() == Some(SUITE_ARTIFACT_TYPE) {
                out.push(entry_of(&manifest, &tag));
            }
        }
    }
    out.sort_by(|a, b| (&a.name, &a.version, &a.digest).cmp(&(&b.name, &b.version, &b.digest)));
    Ok(out)
}

/// The stored suite named by `NAME`, `NAME@VERSION`, or a digest (`sha256:…` or
/// at least 12 hex digits), parsed back and checked against its digest.
pub fn load_suite(store: &Store, reference: &str) -> Result<Suite, EvalError> {
    let entries = list_suites(store)?;
    let hex = hex_part(reference);
    let by_digest = hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let matches: Vec<&SuiteEntry> = entries
        .iter()
        .filter(|e| {
            if by_digest {
                return hex_part(&e.digest).starts_with(&hex.to_ascii_lowercase());
            }
            match reference.split_once('@') {
                Some((name, version)) => e.name == name && e.version == version,
                None => e.name == reference,
            }
        })
        .collect();
    let entry = match matches.as_slice() {
        [] => return Err(EvalError::SuiteNotFound(reference.to_string())),
        [one] => *one,
        many => {
            return Err(EvalError::AmbiguousSuite {
                name: reference.to_string(),
                count: many.len(),
            })
        }
    };
    let repository = format!("{SUITE_REPOSITORY_PREFIX}{}", entry.name);
    let manifest = store.get_manifest(&repository, hex_part(&entry.digest))?;
    let layer = first_layer(&manifest, SUITE_MEDIA_TYPE)
        .ok_or_else(|| EvalError::SuiteNotFound(reference.to_string()))?;
    let bytes = store.read_blob(&layer)?;
    let text = String::from_utf8(bytes).map_err(|_| EvalError::InvalidSuite {
        origin: entry.digest.clone(),
        problems: vec!["the stored suite is not UTF-8".into()],
    })?;
    let suite = Suite::parse_text(&text, &entry.digest)?;
    if suite.digest() != entry.digest {
        return Err(EvalError::InvalidSuite {
            origin: entry.digest.clone(),
            problems: vec![format!(
                "the stored bytes parse to suite {}",
                suite.digest()
            )],
        });
    }
    Ok(suite)
}

#[derive(Deserialize)]
struct Layers {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

fn layers(manifest: &StoredManifest) -> Vec<Descriptor> {
    serde_json::from_slice::<Layers>(&manifest.bytes)
        .map(|l| l.layers)
        .unwrap_or_default()
}

fn first_layer(manifest: &StoredManifest, media_type: &str) -> Option<Digest> {
    layers(manifest)
        .into_iter()
        .find(|l| l.media_type == media_type)
        .map(|l| l.digest)
}

/// Stores a signed attestation and its per-item results as a referrer of `model`.
pub fn attach_attestation(
    store: &Store,
    model: &ModelEntry,
    envelope: &[u8],
    results_jsonl: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<StoredManifest, EvalError> {
    let subject = store.stored_manifest(&model.digest)?.ok_or_else(|| {
        EvalError::Store(commons_store::StoreError::MissingManifest {
            digest: model.digest.clone(),
            needed_by: "an evaluation attestation".into(),
        })
    })?;
    let empty = store.ingest_bytes(b"{}")?;
    let envelope_blob = store.ingest_bytes(envelope)?;
    let results_blob = store.ingest_bytes(results_jsonl)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": Descriptor::new(MEDIA_TYPE_EMPTY, empty.digest, empty.size),
        "layers": [
            Descriptor::new(ENVELOPE_MEDIA_TYPE, envelope_blob.digest, envelope_blob.size),
            Descriptor::new(RESULTS_MEDIA_TYPE, results_blob.digest, results_blob.size),
        ],
        "subject": Descriptor::new(&subject.media_type, model.digest.clone(), subject.bytes.len() as u64),
        "annotations": annotations,
    });
    let bytes = serde_json::to_vec(&manifest).map_err(|source| EvalError::Json {
        context: "serialize an attestation manifest".into(),
        source,
    })?;
    Ok(store.put_manifest(&model.name, None, &bytes)?)
}

/// An attestation attached to a model, as stored (not yet verified).
#[derive(Debug, Clone)]
pub struct StoredAttestation {
    /// Digest of the referrer manifest.
    pub manifest_digest: String,
    pub envelope: Vec<u8>,
    /// The per-item results, when their layer is in the store.
    pub results: Option<Vec<u8>>,
}

/// Every attestation attached to the manifest `model`, oldest first.
pub fn attestations(store: &Store, model: &Digest) -> Result<Vec<StoredAttestation>, EvalError> {
    let mut out = Vec::new();
    for descriptor in store.referrers(model)? {
        if descriptor.artifact_type.as_deref() != Some(ARTIFACT_TYPE) {
            continue;
        }
        let Some(manifest) = store.stored_manifest(&descriptor.digest)? else {
            continue;
        };
        let Some(envelope) = first_layer(&manifest, ENVELOPE_MEDIA_TYPE) else {
            continue;
        };
        let results =
            first_layer(&manifest, RESULTS_MEDIA_TYPE).and_then(|d| store.read_blob(&d).ok());
        out.push(StoredAttestation {
            manifest_digest: descriptor.digest.to_string(),
            envelope: store.read_blob(&envelope)?,
            results,
        });
    }
    Ok(out)
}

/// Whether `results` are the bytes the digest names.
pub fn results_match(results: &[u8], digest: &str) -> bool {
    sha256_digest(results) == digest
}
