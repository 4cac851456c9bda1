//! Provenance records and signatures travel as OCI referrers of the model
//! manifest. The catalog keeps them in its own tables (for `commons provenance`
//! and `commons verify-signature`); this module turns catalog entries into
//! referrers before a push, and referrers back into catalog entries after a pull.

use std::collections::{BTreeMap, BTreeSet};

use commons_store::{Digest, ModelEntry, Store};

use crate::error::Result;

/// Artifact type of a provenance record referrer.
pub const ARTIFACT_PROVENANCE: &str = "application/vnd.commons.provenance.v1+json";
/// Artifact (and layer) type of a Sigstore bundle, as Sigstore tools attach them.
pub const ARTIFACT_SIGNATURE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// Makes sure the model's latest provenance record and every signature exist
/// as referrers; returns how many were added.
pub fn attach_catalog_records(store: &Store, entry: &ModelEntry) -> Result<usize> {
    let present = referrer_payloads(store, &entry.digest)?;
    let mut added = 0;
    let mut attach = |artifact_type: &str, payload: Vec<u8>, note: (&str, &str)| -> Result<()> {
        if present.contains(&Digest::of_bytes(&payload)) {
            return Ok(());
        }
        // Nothing that varies (no time, no local version number): the same
        // record or bundle always makes the same referrer manifest, so nodes
        // and concurrent processes attaching it never duplicate it.
        let mut annotations = BTreeMap::new();
        annotations.insert(note.0.to_string(), note.1.to_string());
        store.attach_referrer(
            &entry.name,
            &entry.digest,
            artifact_type,
            artifact_type,
            &payload,
            annotations,
        )?;
        added += 1;
        Ok(())
    };
    if let Some(latest) = store.latest_provenance(&entry.digest)? {
        let payload = serde_json::to_vec(&latest.record).unwrap_or_default();
        attach(
            ARTIFACT_PROVENANCE,
            payload,
            ("org.commons.provenance.schema", "commons.provenance.v1"),
        )?;
    }
    for signature in store.signatures(&entry.digest)? {
        attach(
            ARTIFACT_SIGNATURE,
            signature.bundle_json.into_bytes(),
            (
                "dev.sigstore.bundle.predicateType",
                "https://model_signing/signature/v1.0",
            ),
        )?;
    }
    Ok(added)
}

/// Records a pulled referrer of `subject` in the catalog when it is a
/// provenance record or a signature; returns what it was, if anything.
pub fn absorb_referrer(
    store: &Store,
    subject: &Digest,
    manifest: &[u8],
) -> Result<Option<&'static str>> {
    let value: serde_json::Value = match serde_json::from_slice(manifest) {
        Ok(v) => v,
        Err(_) => return Ok(None),
    };
    let Some(layer) = value["layers"].get(0) else {
        return Ok(None);
    };
    let Ok(digest) = layer["digest"].as_str().unwrap_or("").parse::<Digest>() else {
        return Ok(None);
    };
    match value["artifactType"].as_str() {
        Some(ARTIFACT_SIGNATURE) => {
            let payload = store.read_blob(&digest)?;
            let Ok(text) = String::from_utf8(payload) else {
                return Ok(None);
            };
            let bundle: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            let hint = bundle["verificationMaterial"]["publicKey"]["hint"]
                .as_str()
                .unwrap_or("unknown")
                .to_string();
            store.put_signature(subject, &hint, &text)?;
            Ok(Some("signature"))
        }
        Some(ARTIFACT_PROVENANCE) => {
            let payload = store.read_blob(&digest)?;
            let Ok(record) = serde_json::from_slice::<serde_json::Value>(&payload) else {
                return Ok(None);
            };
            let latest = store.latest_provenance(subject)?.map(|v| v.record);
            if latest.as_ref() != Some(&record) {
                store.add_provenance(subject, &record, "pulled with the model")?;
            }
            Ok(Some("provenance"))
        }
        _ => Ok(None),
    }
}

/// Digests of the first layer of every referrer of `subject`.
fn referrer_payloads(store: &Store, subject: &Digest) -> Result<BTreeSet<Digest>> {
    let mut out = BTreeSet::new();
    for descriptor in store.referrers(subject)? {
        let Some(manifest) = store.stored_manifest(&descriptor.digest)? else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_slice(&manifest.bytes).unwrap_or_default();
        if let Ok(digest) = value["layers"][0]["digest"].as_str().unwrap_or("").parse() {
            out.insert(digest);
        }
    }
    Ok(out)
}
