//! Who evaluated a model: the evaluation attestations attached to it as
//! referrers (written by `commons-eval`), reduced to distinct evaluator keys.
//!
//! Only attestations whose DSSE signature checks out with the key the
//! statement names, and whose model digest is this model, count: anyone can
//! attach bytes to a model, but not a signed claim in someone else's name.
//! Trust in the evaluator is a separate question (`trust.toml`).

use std::collections::BTreeSet;

use base64::Engine as _;
use commons_provenance::signing::{keys, pae};
use commons_store::{Digest, Store, StoreError};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::Signature;
use serde::Serialize;
use serde_json::Value;

/// `artifactType` of an evaluation attestation referrer (`commons_eval::attest::ARTIFACT_TYPE`;
/// copied, not imported, so governance does not build the evaluation engine).
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.commons.eval.attestation.v1+json";
/// Media type of the layer holding the DSSE envelope.
const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The evaluations of one model.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Evaluations {
    /// Distinct evaluator key hints with a valid attestation.
    pub evaluators: BTreeSet<String>,
    /// Suite name → the evaluators that ran it.
    pub suites: std::collections::BTreeMap<String, BTreeSet<String>>,
    /// Attestations that did not verify (not counted).
    pub invalid: usize,
}

/// Reads every attestation referrer of `model`.
pub fn evaluations(store: &Store, model: &Digest) -> Result<Evaluations, StoreError> {
    let mut out = Evaluations::default();
    for descriptor in store.referrers(model)? {
        if descriptor.artifact_type.as_deref() != Some(ATTESTATION_ARTIFACT_TYPE) {
            continue;
        }
        let envelope = store
            .stored_manifest(&descriptor.digest)?
            .and_then(|m| serde_json::from_slice::<Value>(&m.bytes).ok())
            .and_then(|m| envelope_digest(&m))
            .and_then(|d| store.read_blob(&d).ok());
        match envelope.and_then(|bytes| verified_claim(&bytes, model)) {
            Some((evaluator, suite)) => {
                out.suites
                    .entry(suite)
                    .or_default()
                    .insert(evaluator.clone());
                out.evaluators.insert(evaluator);
            }
            None => out.invalid += 1,
        }
    }
    Ok(out)
}

fn envelope_digest(manifest: &Value) -> Option<Digest> {
    manifest["layers"]
        .as_array()?
        .iter()
        .find(|l| l["mediaType"] == ENVELOPE_MEDIA_TYPE)?["digest"]
        .as_str()?
        .parse()
        .ok()
}

/// `(evaluator key hint, suite name)` when the envelope is signed by the key
/// its statement names and is about `model`.
fn verified_claim(envelope: &[u8], model: &Digest) -> Option<(String, String)> {
    let envelope: Value = serde_json::from_slice(envelope).ok()?;
    if envelope["payloadType"] != PAYLOAD_TYPE {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(envelope["payload"].as_str()?).ok()?;
    let statement: Value = serde_json::from_slice(&payload).ok()?;
    let predicate = &statement["predicate"];
    if predicate["model"]["digest"].as_str()? != model.as_str() {
        return None;
    }
    let evaluator = &predicate["evaluator"];
    let key = keys::parse_public_key(evaluator["public_key"].as_str()?)?;
    let hint = keys::public_key_hint(&key).ok()?;
    if evaluator["key_hint"].as_str()? != hint {
        return None;
    }
    let [signature] = envelope["signatures"].as_array()?.as_slice() else {
        return None;
    };
    let sig_bytes = b64.decode(signature["sig"].as_str()?).ok()?;
    let sig = Signature::from_der(&sig_bytes)
        .or_else(|_| Signature::from_slice(&sig_bytes))
        .ok()?;
    key.verify(&pae(PAYLOAD_TYPE, &payload), &sig).ok()?;
    let suite = predicate["suite"]["name"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    Some((hint, suite))
}
