//! Attestations: an in-toto Statement v1 about one evaluation run, signed as a
//! DSSE envelope with the evaluator's ECDSA P-256 key (docs/eval.md, "Attestations").
//!
//! The subjects are the model (its manifest digest) and the suite (its
//! canonical digest), so the claim is bound to exact weights and exact items.
//! The predicate carries the evaluator's public key: anyone can check that the
//! envelope is intact; whether that key is *trusted* is the verifier's call
//! (`--key`, or `$COMMONS_HOME/trust.toml`).

use base64::Engine as _;
use commons_provenance::signing::{keys, pae, SigningKey, VerifyingKey};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::Signature;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::digest::{hex_part, is_sha256_digest};
use crate::error::EvalError;
use crate::runner::{EngineDescription, MetricValue};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://commons.dev/eval/v1";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// Media type of the envelope layer in the referrer.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// `artifactType` of the referrer that carries an attestation.
pub const ARTIFACT_TYPE: &str = "application/vnd.commons.eval.attestation.v1+json";
/// Media type of the per-item results layer.
pub const RESULTS_MEDIA_TYPE: &str = "application/vnd.commons.eval.results.v1+jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: SubjectDigest,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubjectDigest {
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRef {
    pub name: String,
    /// `sha256:<hex>` manifest digest.
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteRef {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub digest: String,
    /// Items in the suite (the run may have scored fewer, see `samples`).
    pub items: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub method: String,
    pub level: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRef {
    /// `sha256:` of the canonical per-item JSON Lines.
    pub digest: String,
    pub media_type: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluator {
    /// Hex sha256 of the public key PEM (model-signing's key hint).
    pub key_hint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub public_key: String,
}

/// What was measured, how, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    pub model: ModelRef,
    pub suite: SuiteRef,
    pub metrics: Vec<MetricValue>,
    pub interval: Interval,
    pub samples: usize,
    pub results: ResultsRef,
    /// Everything that can change the results: `backend`, `limit`, `seed`, and the
    /// backend's own (`engine`: slots, context, batch invariance; `openai`: endpoint).
    pub settings: Value,
    pub engine: EngineDescription,
    pub evaluator: Evaluator,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Predicate,
}

impl Statement {
    /// The statement for `predicate`, with the model and the suite as subjects.
    pub fn new(predicate: Predicate) -> Self {
        let subject = |name: &str, digest: &str| Subject {
            name: name.to_string(),
            digest: SubjectDigest {
                sha256: hex_part(digest).to_string(),
            },
        };
        Statement {
            statement_type: STATEMENT_TYPE.into(),
            subject: vec![
                subject(&predicate.model.name, &predicate.model.digest),
                subject(
                    &format!("{}@{}", predicate.suite.name, predicate.suite.version),
                    &predicate.suite.digest,
                ),
            ],
            predicate_type: PREDICATE_TYPE.into(),
            predicate,
        }
    }
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub payload: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub keyid: String,
    pub sig: String,
}

/// The evaluator's key and how it is described in the predicate.
pub fn evaluator(key: &SigningKey, name: Option<String>) -> Result<Evaluator, EvalError> {
    Ok(Evaluator {
        key_hint: keys::public_key_hint(key.verifying_key())?,
        name,
        public_key: keys::public_key_pem(key.verifying_key())?,
    })
}

/// Signs the statement; returns the envelope as JSON bytes.
pub fn sign(statement: &Statement, key: &SigningKey) -> Result<Vec<u8>, EvalError> {
    let payload = serde_json::to_vec(statement).map_err(|source| EvalError::Json {
        context: "serialize the statement".into(),
        source,
    })?;
    let signature: Signature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    let envelope = Envelope {
        payload_type: PAYLOAD_TYPE.into(),
        payload: b64.encode(&payload),
        signatures: vec![EnvelopeSignature {
            keyid: keys::public_key_hint(key.verifying_key())?,
            sig: b64.encode(signature.to_der().as_bytes()),
        }],
    };
    serde_json::to_vec_pretty(&envelope).map_err(|source| EvalError::Json {
        context: "serialize the envelope".into(),
        source,
    })
}

/// A statement whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    pub statement: Statement,
    /// The key hint of the key that signed it.
    pub key_hint: String,
}

fn malformed(reason: impl Into<String>) -> EvalError {
    EvalError::MalformedAttestation(reason.into())
}

/// The statement inside an envelope, *without* checking the signature (to
/// pick a key, or to show what an untrusted attestation claims).
pub fn read_unverified(envelope_json: &[u8]) -> Result<(Envelope, Statement), EvalError> {
    let envelope: Envelope = serde_json::from_slice(envelope_json)
        .map_err(|e| malformed(format!("not a DSSE envelope: {e}")))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(malformed(format!(
            "payload type `{}`, expected `{PAYLOAD_TYPE}`",
            envelope.payload_type
        )));
    }
    let payload = base64::engine::general_purpose::STANDARD
        .decode(&envelope.payload)
        .map_err(|e| malformed(format!("the payload is not base64: {e}")))?;
    let statement: Statement =
        serde_json::from_slice(&payload).map_err(|e| malformed(format!("the statement: {e}")))?;
    check_statement(&statement)?;
    Ok((envelope, statement))
}

/// Checks the envelope's signature with `key` when given, else with the key the
/// predicate names (an integrity check only: the caller decides on trust).
pub fn verify(envelope_json: &[u8], key: Option<&VerifyingKey>) -> Result<Verified, EvalError> {
    let (envelope, statement) = read_unverified(envelope_json)?;
    let embedded = keys::parse_public_key(&statement.predicate.evaluator.public_key)
        .ok_or_else(|| malformed("the evaluator's public key is not a P-256 PEM"))?;
    let embedded_hint = keys::public_key_hint(&embedded)?;
    if embedded_hint != statement.predicate.evaluator.key_hint {
        return Err(malformed(
            "the evaluator's key hint does not match its public key",
        ));
    }
    let key = match key {
        Some(given) => {
            let given_hint = keys::public_key_hint(given)?;
            if given_hint != embedded_hint {
                return Err(EvalError::KeyMismatch {
                    signed_by: embedded_hint,
                    given: given_hint,
                });
            }
            *given
        }
        None => embedded,
    };
    let [signature] = envelope.signatures.as_slice() else {
        return Err(malformed("expected exactly one signature"));
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(&envelope.payload)
        .map_err(|e| malformed(format!("the payload is not base64: {e}")))?;
    let sig_bytes = b64
        .decode(&signature.sig)
        .map_err(|_| EvalError::BadSignature)?;
    let sig = Signature::from_der(&sig_bytes)
        .or_else(|_| Signature::from_slice(&sig_bytes))
        .map_err(|_| EvalError::BadSignature)?;
    key.verify(&pae(&envelope.payload_type, &payload), &sig)
        .map_err(|_| EvalError::BadSignature)?;
    Ok(Verified {
        statement,
        key_hint: embedded_hint,
    })
}

/// The statement's own consistency: types, and subjects that match the predicate.
fn check_statement(s: &Statement) -> Result<(), EvalError> {
    if s.statement_type != STATEMENT_TYPE {
        return Err(malformed(format!("`_type` is `{}`", s.statement_type)));
    }
    if s.predicate_type != PREDICATE_TYPE {
        return Err(malformed(format!(
            "`predicateType` is `{}`",
            s.predicate_type
        )));
    }
    let p = &s.predicate;
    for digest in [&p.model.digest, &p.suite.digest, &p.results.digest] {
        if !is_sha256_digest(digest) {
            return Err(malformed(format!("`{digest}` is not a sha256 digest")));
        }
    }
    let expected = Statement::new(p.clone()).subject;
    if s.subject != expected {
        return Err(malformed(
            "the subjects do not match the model and suite in the predicate",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Proportion;
    use serde_json::json;

    pub(crate) fn predicate(key: &SigningKey) -> Predicate {
        Predicate {
            model: ModelRef {
                name: "smollm2:latest".into(),
                digest: format!("sha256:{}", "a".repeat(64)),
            },
            suite: SuiteRef {
                name: "tiny".into(),
                version: "1".into(),
                kind: "multiple_choice".into(),
                digest: format!("sha256:{}", "b".repeat(64)),
                items: 10,
            },
            metrics: vec![MetricValue {
                metric: "acc".into(),
                proportion: Proportion::new(7, 10),
            }],
            interval: Interval {
                method: "wilson".into(),
                level: 0.95,
            },
            samples: 10,
            results: ResultsRef {
                digest: format!("sha256:{}", "c".repeat(64)),
                media_type: RESULTS_MEDIA_TYPE.into(),
                count: 10,
            },
            settings: json!({"backend": "engine", "seed": 42}),
            engine: EngineDescription {
                name: "llama.cpp".into(),
                version: "0.1.0".into(),
                endpoint: None,
            },
            evaluator: evaluator(key, Some("tester".into())).unwrap(),
            started_at: "2025-01-01T00:00:00Z".into(),
            finished_at: "2025-01-01T00:00:01Z".into(),
        }
    }

    #[test]
    fn a_signed_statement_verifies_with_its_key_and_the_embedded_one() {
        let key = keys::generate();
        let statement = Statement::new(predicate(&key));
        let envelope = sign(&statement, &key).unwrap();
        let verified = verify(&envelope, Some(key.verifying_key())).unwrap();
        assert_eq!(verified.statement, statement);
        assert_eq!(verified.statement.subject[0].digest.sha256, "a".repeat(64));
        assert_eq!(verified.statement.subject[1].name, "tiny@1");
        verify(&envelope, None).unwrap();
    }

    #[test]
    fn another_key_is_named_as_a_mismatch() {
        let key = keys::generate();
        let other = keys::generate();
        let envelope = sign(&Statement::new(predicate(&key)), &key).unwrap();
        let err = verify(&envelope, Some(other.verifying_key())).unwrap_err();
        assert!(matches!(err, EvalError::KeyMismatch { .. }), "{err}");
    }

    #[test]
    fn a_tampered_payload_fails() {
        let key = keys::generate();
        let envelope = sign(&Statement::new(predicate(&key)), &key).unwrap();
        let mut parsed: Envelope = serde_json::from_slice(&envelope).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = String::from_utf8(b64.decode(&parsed.payload).unwrap()).unwrap();
        let forged = payload.replace("\"correct\":7", "\"correct\":9");
        assert_ne!(payload, forged);
        parsed.payload = b64.encode(forged);
        let tampered = serde_json::to_vec(&parsed).unwrap();
        assert!(matches!(
            verify(&tampered, None),
            Err(EvalError::BadSignature)
        ));
    }

    #[test]
    fn swapping_in_another_evaluators_key_fails() {
        // Re-labelling a statement with a different public key breaks the signature.
        let key = keys::generate();
        let mallory = keys::generate();
        let mut predicate = predicate(&key);
        let envelope = sign(&Statement::new(predicate.clone()), &key).unwrap();
        predicate.evaluator = evaluator(&mallory, None).unwrap();
        let mut parsed: Envelope = serde_json::from_slice(&envelope).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        parsed.payload = b64.encode(serde_json::to_vec(&Statement::new(predicate)).unwrap());
        let tampered = serde_json::to_vec(&parsed).unwrap();
        assert!(matches!(
            verify(&tampered, None),
            Err(EvalError::BadSignature)
        ));
    }

    #[test]
    fn subjects_must_match_the_predicate() {
        let key = keys::generate();
        let mut statement = Statement::new(predicate(&key));
        statement.subject[0].digest.sha256 = "d".repeat(64);
        let envelope = sign(&statement, &key).unwrap();
        let err = verify(&envelope, None).unwrap_err();
        assert!(err.to_string().contains("subjects do not match"), "{err}");
    }
}
