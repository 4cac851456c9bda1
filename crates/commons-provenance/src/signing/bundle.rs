//! The Sigstore bundle v0.3 JSON, as much of it as key-based model-signing uses.

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{SignatureError, BUNDLE_MEDIA_TYPE};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    pub media_type: String,
    pub verification_material: VerificationMaterial,
    pub dsse_envelope: Envelope,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyId>,
    #[serde(default)]
    pub tlog_entries: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublicKeyId {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub payload: String,
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    pub sig: String,
    #[serde(default)]
    pub keyid: String,
}

impl Bundle {
    pub(crate) fn new(hint: String, payload: String, payload_type: String, sig: String) -> Self {
        Bundle {
            media_type: BUNDLE_MEDIA_TYPE.into(),
            verification_material: VerificationMaterial {
                public_key: Some(PublicKeyId { hint: Some(hint) }),
                tlog_entries: Vec::new(),
            },
            dsse_envelope: Envelope {
                payload,
                payload_type,
                signatures: vec![EnvelopeSignature {
                    sig,
                    keyid: String::new(),
                }],
            },
        }
    }

    pub fn parse(json: &str) -> Result<Self, SignatureError> {
        serde_json::from_str(json).map_err(|e| SignatureError::Malformed(e.to_string()))
    }

    pub fn key_hint(&self) -> Option<String> {
        self.verification_material
            .public_key
            .as_ref()
            .and_then(|k| k.hint.clone())
            .filter(|h| !h.is_empty())
    }
}

/// Protobuf JSON writes bytes as standard base64; accept the URL-safe
/// alphabet and missing padding too.
pub(crate) fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>, SignatureError> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(text.trim()).ok())
        .ok_or_else(|| SignatureError::Malformed(format!("`{field}` is not base64")))
}
