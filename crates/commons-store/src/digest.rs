//! Content digests: the names of blobs and the identity of models.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;

const ALGORITHM_PREFIX: &str = "sha256:";
const HEX_LEN: usize = 64;

/// A validated `sha256:<64 lowercase hex>` content digest.
///
/// Only sha256 is accepted: every blob on disk is named by it, and accepting
/// other algorithms would let two names point at the same bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// Wraps a finished sha256 hash.
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest(format!("{ALGORITHM_PREFIX}{}", hex::encode(hash)))
    }

    /// The 64 hex characters without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        self.0.get(ALGORITHM_PREFIX.len()..).unwrap_or_default()
    }

    /// The full `sha256:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex characters, the short form shown to people (as docker and ollama do).
    pub fn short(&self) -> &str {
        self.hex().get(..12).unwrap_or_default()
    }

    /// Accepts either `sha256:<hex>` or a bare 64-character hex string.
    pub fn parse_lenient(input: &str) -> Result<Digest, StoreError> {
        if is_lower_hex(input) && input.len() == HEX_LEN {
            return Ok(Digest(format!("{ALGORITHM_PREFIX}{input}")));
        }
        input.parse()
    }
}

pub(crate) fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl FromStr for Digest {
    type Err = StoreError;

    fn from_str(input: &str) -> Result<Digest, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidDigest {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let Some((algorithm, hex)) = input.split_once(':') else {
            return Err(invalid("expected `sha256:<64 hex digits>`"));
        };
        if algorithm != "sha256" {
            return Err(invalid(&format!(
                "unsupported algorithm `{algorithm}`; only sha256 is supported"
            )));
        }
        if hex.len() != HEX_LEN {
            return Err(invalid(&format!(
                "expected 64 hex digits after `sha256:`, found {}",
                hex.len()
            )));
        }
        if !is_lower_hex(hex) {
            return Err(invalid("the hex digits must be lowercase 0-9a-f"));
        }
        Ok(Digest(input.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn digest_of_empty_input_matches_the_well_known_value() {
        assert_eq!(Digest::of_bytes(b"").to_string(), EMPTY);
        assert_eq!(Digest::of_bytes(b"").hex().len(), 64);
        assert_eq!(Digest::of_bytes(b"").short(), "e3b0c44298fc");
    }

    #[test]
    fn parse_accepts_valid_and_rejects_invalid() {
        assert!(EMPTY.parse::<Digest>().is_ok());
        for bad in [
            "",
            "sha256",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0",
            "sha256:g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:é3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
        ] {
            let err = bad.parse::<Digest>().unwrap_err();
            assert!(err.to_string().contains("digest"), "{err}");
        }
    }

    #[test]
    fn serde_round_trips_as_a_plain_string() {
        let d = Digest::of_bytes(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }

    #[test]
    fn lenient_parse_accepts_bare_hex() {
        let d = Digest::of_bytes(b"x");
        assert_eq!(Digest::parse_lenient(d.hex()).unwrap(), d);
        assert_eq!(Digest::parse_lenient(d.as_str()).unwrap(), d);
    }
}
