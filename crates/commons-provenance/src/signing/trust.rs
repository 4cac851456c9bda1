//! Which public keys this node trusts, and for which publishers:
//! `$COMMONS_HOME/trust.toml`.
//!
//! ```toml
//! [[key]]
//! name = "SmolLM release key"
//! public_key = "keys/smollm.pub.pem"   # relative to $COMMONS_HOME, or absolute
//! publishers = ["HuggingFaceTB"]       # omit (or "*") to trust it for any publisher
//! ```
//!
//! The node's own key is always trusted, for every publisher.

use std::path::{Path, PathBuf};

use p256::ecdsa::VerifyingKey;
use serde::Deserialize;

use super::{keys, SignatureError};

pub const TRUST_FILE: &str = "trust.toml";

#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub name: String,
    pub key: VerifyingKey,
    pub hint: String,
    /// Empty: any publisher.
    pub publishers: Vec<String>,
}

impl TrustedKey {
    pub fn allows(&self, publisher: Option<&str>) -> bool {
        self.publishers.is_empty()
            || self.publishers.iter().any(|p| p == "*")
            || publisher.is_some_and(|p| self.publishers.iter().any(|a| a.eq_ignore_ascii_case(p)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: Option<String>,
    public_key: PathBuf,
    #[serde(default)]
    publishers: Vec<String>,
}

/// The trusted keys of the node at `home`: the node key (if created) and
/// those listed in `trust.toml` (if present).
pub fn load(home: &Path) -> Result<Vec<TrustedKey>, SignatureError> {
    let mut trusted = Vec::new();
    let node_public = home.join("keys").join(keys::NODE_PUBLIC_KEY);
    if node_public.exists() {
        let key = keys::read_public_key(&node_public)?;
        trusted.push(TrustedKey {
            name: "this node's key".into(),
            hint: keys::public_key_hint(&key)?,
            key,
            publishers: Vec::new(),
        });
    }
    let path = home.join(TRUST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(trusted),
        Err(source) => {
            return Err(SignatureError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    let file: TrustFile = toml::from_str(&text)
        .map_err(|e| SignatureError::Key(format!("{}: {e}", path.display())))?;
    for entry in file.key {
        let key_path = if entry.public_key.is_absolute() {
            entry.public_key.clone()
        } else {
            home.join(&entry.public_key)
        };
        let key = keys::read_public_key(&key_path)?;
        trusted.push(TrustedKey {
            name: entry
                .name
                .unwrap_or_else(|| entry.public_key.display().to_string()),
            hint: keys::public_key_hint(&key)?,
            key,
            publishers: entry.publishers,
        });
    }
    Ok(trusted)
}
