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
    /// When it stops working (RFC 3339 UTC); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl TokenInfo {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether it has expired at `now` (RFC 3339 UTC, as [`now_rfc3339`] writes).
    pub fn expired_at(&self, now: &str) -> bool {
        self.expires_at.as_deref().is_some_and(|end| end <= now)
    }
}

impl Store {
    /// Creates a token called `name` with `scopes`; returns the secret (shown once).
    pub fn create_token(
        &self,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(String, TokenInfo), StoreError> {
        self.create_token_expiring(name, scopes, None)
    }

    /// [`Store::create_token`] for a token that stops working at `expires_at`
    /// (RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ`); `None`: never.
    pub fn create_token_expiring(
        &self,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<&str>,
    ) -> Result<(String, TokenInfo), StoreError> {
        if let Some(end) = expires_at {
            if end.len() != 20 || !end.ends_with('Z') || end.as_bytes()[10] != b'T' {
                return Err(StoreError::InvalidToken {
                    reason: format!(
                        "expiry `{end}` is not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)"
                    ),
                });
            }
        }
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
            expires_at: expires_at.map(str::to_string),
        };
        let mut catalog = self.catalog();
        let path = catalog.path.clone();
        let tx = catalog.write()?;
        let inserted = tx
            .execute(
                "INSERT OR IGNORE INTO tokens (name, secret_sha256, scopes, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    name,
                    secret_hash(&secret),
                    join(&info.scopes),
                    info.created_at,
                    info.expires_at
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

    /// The token whose secret is `secret`, if there is one; an expired one
    /// is refused with [`StoreError::TokenExpired`].
    pub fn check_token(&self, secret: &str) -> Result<Option<TokenInfo>, StoreError> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let row = self.read_catalog("check a token", |conn| {
            conn.query_row(
                "SELECT name, scopes, created_at, expires_at FROM tokens WHERE secret_sha256 = ?1",
                [secret_hash(secret)],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
            )
            .optional()
        })?;
        let Some(info) = row.map(token_from_row).transpose()? else {
            return Ok(None);
        };
        if info.expired_at(&now_rfc3339()) {
            return Err(StoreError::TokenExpired {
                expired_at: info.expires_at.clone().unwrap_or_default(),
                name: info.name,
            });
        }
        Ok(Some(info))
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows: Vec<TokenRow> = self.read_catalog("list tokens", |conn| {
            let mut stmt = conn
                .prepare("SELECT name, scopes, created_at, expires_at FROM tokens ORDER BY name")?;
            let rows = stmt.query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter().map(token_from_row).collect()
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

/// name, scopes, created_at, expires_at
type TokenRow = (String, String, String, Option<String>);

fn token_from_row(
    (name, scopes, created_at, expires_at): TokenRow,
) -> Result<TokenInfo, StoreError> {
    Ok(TokenInfo {
        name,
        scopes: split(&scopes)?,
        created_at,
        expires_at,
    })
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

    #[test]
    fn an_expired_token_is_refused_by_name_and_a_future_one_works() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let (old, info) = store
            .create_token_expiring("old", &[Scope::Push], Some("2000-01-01T00:00:00Z"))
            .unwrap();
        assert_eq!(info.expires_at.as_deref(), Some("2000-01-01T00:00:00Z"));
        let err = store.check_token(&old).unwrap_err().to_string();
        assert_eq!(err, "token `old` expired at 2000-01-01T00:00:00Z");
        let (fresh, _) = store
            .create_token_expiring("fresh", &[Scope::Pull], Some("9999-12-31T23:59:59Z"))
            .unwrap();
        assert_eq!(store.check_token(&fresh).unwrap().unwrap().name, "fresh");
        let listed = store.tokens().unwrap();
        assert_eq!(
            listed[1].expires_at.as_deref(),
            Some("2000-01-01T00:00:00Z")
        );
        assert_eq!(
            listed[0].expires_at.as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert!(store
            .create_token_expiring("bad", &[Scope::Pull], Some("tomorrow"))
            .is_err());
    }
}
