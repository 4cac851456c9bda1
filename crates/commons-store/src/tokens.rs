//! Scoped access tokens for a node's HTTP APIs.
//!
//! A token is shown once, when it is created; the catalog keeps only its
//! sha256, so a copied catalog does not leak working credentials.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::StoreError;
use crate::store::Store;
use crate::time::now_rfc3339;
use crate::uploads::random_hex;

/// Every token starts with this, so leaked ones are easy to grep for.
pub const TOKEN_PREFIX: &str = "cmn_";

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read models and blobs (only needed when anonymous reads are off).
    Pull,
    /// Upload blobs and manifests, set tags.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Pull, Scope::Push, Scope::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Pull => "pull",
            Scope::Push => "push",
            Scope::Delete => "delete",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Scope, StoreError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| StoreError::InvalidToken {
                reason: format!("unknown scope `{s}`: expected pull, push or delete"),
            })
    }
}

/// A token as the catalog knows it (never the secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
}

impl TokenInfo {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

impl Store {
    /// Creates a token called `name` with `scopes`; returns the secret (shown once).
    pub fn create_token(
        &self,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(String, TokenInfo), StoreError> {
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(StoreError::InvalidToken {
                reason: format!("token name `{name}` must be 1 to 64 printable characters"),
            });
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(StoreError::InvalidToken {
                reason: "a token needs at least one scope".into(),
            });
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_hex(20)?);
        let info = TokenInfo {
            name: name.to_string(),
            scopes,
            created_at: now_rfc3339(),
        };
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let tx = catalog.write()?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO tokens (name, secret_sha256, scopes, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![
                    name,
                    secret_hash(&secret),
                    join(&info.scopes),
                    info.created_at
                ],
            )
            .and_then(|n| tx.commit().map(|()| n))
            .map_err(|source| StoreError::Catalog {
                action: "create a token",
                path,
                source,
            })?;
        if inserted == 0 {
            return Err(StoreError::InvalidToken {
                reason: format!("a token called `{name}` exists already; revoke it first"),
            });
        }
        Ok((secret, info))
    }

    /// The token whose secret is `secret`, if there is one.
    pub fn check_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = self.read_catalog("check a token", |conn| {
            conn.query_row(
                "SELECT name, scopes, created_at FROM tokens WHERE secret_sha256 = ?1",
                [secret_hash(secret)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()
        })?;
        row.map(|(name, scopes, created_at): (String, String, String)| {
            Ok(TokenInfo {
                name,
                scopes: split(&scopes)?,
                created_at,
            })
        })
        .transpose()
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<(String, String, String)> = self.read_catalog("list tokens", |conn| {
            let mut stmt =
                conn.prepare("SELECT name, scopes, created_at FROM tokens ORDER BY name")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(name, scopes, created_at)| {
                Ok(TokenInfo {
                    name,
                    scopes: split(&scopes)?,
                    created_at,
                })
            })
            .collect()
    }

    /// Deletes the token called `name`; false when there was none.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let tx = catalog.write()?;
        tx.execute("DELETE FROM tokens WHERE name = ?1", [name])
            .and_then(|n| tx.commit().map(|()| n > 0))
            .map_err(|source| StoreError::Catalog {
                action: "revoke a token",
                path,
                source,
            })
    }
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn split(scopes: &str) -> Result<Vec<Scope>, StoreError> {
    scopes.split(',').map(str::parse).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_checked_by_its_secret_and_revoked_by_name() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let (secret, info) = store
            .create_token("ci", &[Scope::Push, Scope::Pull, Scope::Push])
            .unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(info.scopes, vec![Scope::Pull, Scope::Push]);
        let checked = store.check_token(&secret).unwrap().unwrap();
        assert!(checked.allows(Scope::Push) && !checked.allows(Scope::Delete));
        assert!(store.check_token("cmn_wrong").unwrap().is_none());
        assert!(store.check_token("").unwrap().is_none());
        assert!(store.create_token("ci", &[Scope::Pull]).is_err());
        assert_eq!(store.tokens().unwrap().len(), 1);
        assert!(store.revoke_token("ci").unwrap());
        assert!(store.check_token(&secret).unwrap().is_none());
        assert!(!store.revoke_token("ci").unwrap());
    }
}
