//! Signatures in the OpenSSF model-signing format (v1.0 predicate), so a
//! model signed here verifies with the `model_signing` tool and the reverse.
//!
//! A signature is a Sigstore bundle v0.3 holding a DSSE envelope whose
//! payload is an in-toto statement: one resource per file (`name` is the
//! path relative to the model folder with `/`, `"."` for a single-file
//! model; `digest` the hex sha256), sorted by path components, and one
//! subject named after the model whose sha256 is taken over the resources'
//! raw digests in that order. The envelope is signed with ECDSA P-256 /
//! SHA-256 over the DSSE pre-authentication encoding; the signature is DER,
//! base64 in the JSON. Key-based bundles carry no certificate, only
//! `verificationMaterial.publicKey.hint`: the hex sha256 of the signer's
//! public key PEM.

mod bundle;
pub mod files;
pub mod keys;
pub mod trust;

use std::cmp::Ordering;

use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use bundle::Bundle;
pub use p256::ecdsa::{SigningKey, VerifyingKey};

pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// The file name `model_signing sign` writes by default.
pub const DEFAULT_SIGNATURE_NAME: &str = "model.sig";
/// Paths at the model's root that model-signing leaves out by default.
pub const GIT_PATHS: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// One signed file: its path in the model and the hex sha256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub name: String,
    pub digest: String,
}

/// What a verified signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    pub model_name: String,
    pub resources: Vec<Resource>,
    /// Paths the signer left out (relative to the model root).
    pub ignore_paths: Vec<String>,
    pub key_hint: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature is not a Sigstore bundle: {0}")]
    Malformed(String),
    #[error("unsupported bundle: {0}")]
    Unsupported(String),
    #[error("the signature was made by another key (its key hint is {signed_by}, the key given is {given})")]
    KeyMismatch { signed_by: String, given: String },
    #[error("no trusted key matches the signature's key hint {hint}")]
    Untrusted { hint: String },
    #[error("key {hint} is trusted for {allowed}, not for publisher `{publisher}`")]
    WrongPublisher {
        hint: String,
        allowed: String,
        publisher: String,
    },
    #[error(
        "the signature does not match its payload: it was made for other bytes or with another key"
    )]
    BadSignature,
    #[error("the signed statement is inconsistent: {0}")]
    Inconsistent(String),
    #[error("the files do not match the signature: {}", .0.join("; "))]
    FilesDiffer(Vec<String>),
    #[error("{0}")]
    Key(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is a symbolic link; model-signing does not follow links")]
    Symlink { path: String },
}

impl SignatureError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            SignatureError::Malformed(_) => "the file is truncated or not a signature; sign the model again".into(),
            SignatureError::Unsupported(_) => "only key-based model-signing v1.0 signatures are supported".into(),
            SignatureError::KeyMismatch { .. } => "pass the signer's public key with `--key PUBLIC.pem`".into(),
            SignatureError::Untrusted { .. } => "pass the signer's public key with `--key PUBLIC.pem`, or trust it in $COMMONS_HOME/trust.toml (see docs/provenance.md)".into(),
            SignatureError::WrongPublisher { .. } => "the key is not trusted for this model's publisher; check $COMMONS_HOME/trust.toml".into(),
            SignatureError::BadSignature => "the signature or its payload was altered; get the signature again from the publisher".into(),
            SignatureError::Inconsistent(_) => "the signature was tampered with; get it again from the publisher".into(),
            SignatureError::FilesDiffer(_) => "the named files changed since signing; get the model again from its publisher".into(),
            SignatureError::Key(_) => "keys are PEM files: an ECDSA P-256 private key (PKCS#8 or SEC1) or public key (SubjectPublicKeyInfo)".into(),
            SignatureError::Io { .. } => return None,
            SignatureError::Symlink { .. } => "replace the link with the file it points to".into(),
        })
    }
}

/// model-signing's resource order: by path components, as Python compares paths.
pub fn sort_resources(resources: &mut [Resource]) {
    resources.sort_by(|a, b| compare_paths(&a.name, &b.name));
}

fn compare_paths(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// sha256 over the resources' raw digests, in order.
fn root_digest(resources: &[Resource]) -> Result<String, SignatureError> {
    let mut hasher = Sha256::new();
    for r in resources {
        let raw = hex::decode(&r.digest).map_err(|_| {
            SignatureError::Inconsistent(format!("digest of `{}` is not hex", r.name))
        })?;
        hasher.update(raw);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn statement(
    model_name: &str,
    resources: &[Resource],
    ignore_paths: &[String],
) -> Result<serde_json::Value, SignatureError> {
    Ok(serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": model_name, "digest": {"sha256": root_digest(resources)?}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": false,
                "ignore_paths": ignore_paths,
            },
            "resources": resources.iter().map(|r| serde_json::json!({
                "name": r.name,
                "algorithm": "sha256",
                "digest": r.digest,
            })).collect::<Vec<_>>(),
        }
    }))
}

/// Signs `resources` (sorted here) as model `model_name`; returns the bundle JSON.
pub fn sign(
    key: &SigningKey,
    model_name: &str,
    mut resources: Vec<Resource>,
    ignore_paths: &[String],
) -> Result<String, SignatureError> {
    sort_resources(&mut resources);
    let payload = serde_json::to_vec_pretty(&statement(model_name, &resources, ignore_paths)?)
        .map_err(|e| SignatureError::Malformed(e.to_string()))?;
    let signature: Signature = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let b64 = base64::engine::general_purpose::STANDARD;
    let bundle = Bundle::new(
        keys::public_key_hint(key.verifying_key())?,
        b64.encode(&payload),
        PAYLOAD_TYPE.into(),
        b64.encode(signature.to_der().as_bytes()),
    );
    serde_json::to_string_pretty(&bundle).map_err(|e| SignatureError::Malformed(e.to_string()))
}

/// The key hint a bundle names, without verifying anything (to pick a key).
pub fn key_hint_of(bundle_json: &str) -> Result<Option<String>, SignatureError> {
    Ok(Bundle::parse(bundle_json)?.key_hint())
}

/// Checks the bundle's signature with `key` and returns what it vouches for.
/// The files themselves are compared separately ([`compare_files`]).
pub fn verify(bundle_json: &str, key: &VerifyingKey) -> Result<SignedManifest, SignatureError> {
    let bundle = Bundle::parse(bundle_json)?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(SignatureError::Unsupported(format!(
            "media type `{}`, expected `{BUNDLE_MEDIA_TYPE}`",
            bundle.media_type
        )));
    }
    let given = keys::public_key_hint(key)?;
    if let Some(hint) = bundle.key_hint() {
        if hint != given {
            return Err(SignatureError::KeyMismatch {
                signed_by: hint,
                given,
            });
        }
    }
    let envelope = &bundle.dsse_envelope;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(SignatureError::Unsupported(format!(
            "payload type `{}`",
            envelope.payload_type
        )));
    }
    let payload = bundle::decode_base64(&envelope.payload, "dsseEnvelope.payload")?;
    let sig_b64 = envelope
        .signatures
        .first()
        .map(|s| s.sig.as_str())
        .ok_or_else(|| SignatureError::Malformed("the envelope has no signature".into()))?;
    let sig_bytes = bundle::decode_base64(sig_b64, "dsseEnvelope.signatures[0].sig")?;
    let signature = Signature::from_der(&sig_bytes)
        .or_else(|_| Signature::from_slice(&sig_bytes))
        .map_err(|_| SignatureError::BadSignature)?;
    key.verify(&pae(&envelope.payload_type, &payload), &signature)
        .map_err(|_| SignatureError::BadSignature)?;

    let statement: Statement = serde_json::from_slice(&payload)
        .map_err(|e| SignatureError::Malformed(format!("the signed statement: {e}")))?;
    if statement.predicate_type != PREDICATE_TYPE {
        return Err(SignatureError::Unsupported(format!(
            "predicate type `{}`",
            statement.predicate_type
        )));
    }
    let [subject] = statement.subject.as_slice() else {
        return Err(SignatureError::Inconsistent(
            "expected exactly one subject".into(),
        ));
    };
    let resources: Vec<Resource> = statement
        .predicate
        .resources
        .iter()
        .map(|r| {
            if r.algorithm == "sha256" {
                Ok(Resource {
                    name: r.name.clone(),
                    digest: r.digest.to_ascii_lowercase(),
                })
            } else {
                Err(SignatureError::Unsupported(format!(
                    "hash algorithm `{}` of `{}`",
                    r.algorithm, r.name
                )))
            }
        })
        .collect::<Result<_, _>>()?;
    let root = root_digest(&resources)?;
    if subject.digest.sha256 != root {
        return Err(SignatureError::Inconsistent(format!(
            "the subject digest is {} but the resources hash to {root}",
            subject.digest.sha256
        )));
    }
    Ok(SignedManifest {
        model_name: subject.name.clone(),
        resources,
        ignore_paths: statement.predicate.serialization.ignore_paths,
        key_hint: bundle.key_hint(),
    })
}

/// Compares signed resources with the actual files; names every file that
/// changed, is missing or was added.
pub fn compare_files(signed: &[Resource], actual: &[Resource]) -> Result<(), SignatureError> {
    use std::collections::BTreeMap;
    let expected: BTreeMap<&str, &str> = signed
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_str()))
        .collect();
    let found: BTreeMap<&str, &str> = actual
        .iter()
        .map(|r| (r.name.as_str(), r.digest.as_str()))
        .collect();
    let mut problems = Vec::new();
    for (name, digest) in &expected {
        match found.get(name) {
            None => problems.push(format!("`{name}` is missing")),
            Some(d) if d != digest => problems.push(format!(
                "`{name}` changed (signed sha256 {digest}, now {d})"
            )),
            Some(_) => {}
        }
    }
    for name in found.keys().filter(|n| !expected.contains_key(*n)) {
        problems.push(format!("`{name}` is not covered by the signature"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SignatureError::FilesDiffer(problems))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Statement {
    subject: Vec<Subject>,
    predicate_type: String,
    predicate: Predicate,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(default)]
    name: String,
    digest: SubjectDigest,
}

#[derive(Deserialize)]
struct SubjectDigest {
    sha256: String,
}

#[derive(Deserialize)]
struct Predicate {
    serialization: Serialization,
    resources: Vec<StatementResource>,
}

#[derive(Deserialize)]
struct Serialization {
    #[serde(default)]
    ignore_paths: Vec<String>,
}

#[derive(Deserialize)]
struct StatementResource {
    name: String,
    algorithm: String,
    digest: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Vec<Resource> {
        vec![
            Resource {
                name: "sub.txt".into(),
                digest: "00".repeat(32),
            },
            Resource {
                name: "sub/b.bin".into(),
                digest: "11".repeat(32),
            },
            Resource {
                name: "a".into(),
                digest: "22".repeat(32),
            },
        ]
    }

    #[test]
    fn resources_sort_like_python_paths() {
        let mut r = resources();
        sort_resources(&mut r);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "sub/b.bin", "sub.txt"]);
    }

    #[test]
    fn sign_then_verify_and_tamper() {
        let key = keys::generate();
        let bundle = sign(&key, "m", resources(), &[]).unwrap();
        let signed = verify(&bundle, key.verifying_key()).unwrap();
        assert_eq!(signed.model_name, "m");
        assert_eq!(signed.resources.len(), 3);
        compare_files(&signed.resources, &resources()).unwrap();

        let other = keys::generate();
        assert!(matches!(
            verify(&bundle, other.verifying_key()),
            Err(SignatureError::KeyMismatch { .. })
        ));
        let truncated = &bundle[..bundle.len() / 2];
        assert!(matches!(
            verify(truncated, key.verifying_key()),
            Err(SignatureError::Malformed(_))
        ));
        // A signature for other bytes: swap in another bundle's payload.
        let other_bundle = sign(&key, "other", resources(), &[]).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&bundle).unwrap();
        let o: serde_json::Value = serde_json::from_str(&other_bundle).unwrap();
        v["dsseEnvelope"]["payload"] = o["dsseEnvelope"]["payload"].clone();
        assert!(matches!(
            verify(&v.to_string(), key.verifying_key()),
            Err(SignatureError::BadSignature)
        ));

        let mut changed = resources();
        changed[1].digest = "33".repeat(32);
        let err = compare_files(&signed.resources, &changed).unwrap_err();
        assert!(err.to_string().contains("sub/b.bin"), "{err}");
    }

    #[test]
    fn pae_matches_the_dsse_spec() {
        assert_eq!(pae("t", b"ab"), b"DSSEv1 1 t 2 ab".to_vec());
    }
}
