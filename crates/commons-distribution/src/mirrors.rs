//! Configured mirrors: registries or commons nodes a pull tries, in order,
//! after (or instead of) the location it was given. Kept in
//! `$COMMONS_HOME/mirrors.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DistributionError, Result};
use crate::location::{Location, OciLocation};

/// One mirror: a registry base such as `oci://host:5000` or `http://node:11434`,
/// optionally with a repository prefix (`oci://host/team`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mirror {
    pub url: String,
    pub added_at: String,
}

#[derive(Default, Serialize, Deserialize)]
struct MirrorFile {
    mirrors: Vec<Mirror>,
}

/// The mirror list of a node.
pub struct Mirrors {
    path: PathBuf,
}

impl Mirrors {
    pub fn new(home: &Path) -> Mirrors {
        Mirrors {
            path: home.join("mirrors.json"),
        }
    }

    pub fn list(&self) -> Result<Vec<Mirror>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice::<MirrorFile>(&bytes)
                .map(|f| f.mirrors)
                .map_err(|e| DistributionError::Io {
                    action: "parse",
                    path: self.path.display().to_string(),
                    error: std::io::Error::other(e),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(DistributionError::Io {
                action: "read",
                path: self.path.display().to_string(),
                error,
            }),
        }
    }

    /// Adds `url` at the end (or leaves it where it is); returns the list.
    pub fn add(&self, url: &str) -> Result<Vec<Mirror>> {
        let url = url.trim_end_matches('/').to_string();
        // Check it now, so a typo fails here and not in a later pull.
        mirror_location(&url, "probe", "latest")?;
        let mut mirrors = self.list()?;
        if !mirrors.iter().any(|m| m.url == url) {
            mirrors.push(Mirror {
                url,
                added_at: commons_store::now_rfc3339(),
            });
            self.save(&mirrors)?;
        }
        Ok(mirrors)
    }

    /// Removes `url`; false when it was not configured.
    pub fn remove(&self, url: &str) -> Result<bool> {
        let url = url.trim_end_matches('/');
        let mut mirrors = self.list()?;
        let before = mirrors.len();
        mirrors.retain(|m| m.url != url);
        if mirrors.len() == before {
            return Ok(false);
        }
        self.save(&mirrors)?;
        Ok(true)
    }

    fn save(&self, mirrors: &[Mirror]) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&MirrorFile {
            mirrors: mirrors.to_vec(),
        })
        .unwrap_or_default();
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|error| DistributionError::Io {
                action: "write",
                path: self.path.display().to_string(),
                error,
            })
    }
}

/// Where `repository:reference` would be on the mirror at `url`.
pub fn mirror_location(url: &str, repository: &str, reference: &str) -> Result<OciLocation> {
    let separator = if reference.starts_with("sha256:") {
        '@'
    } else {
        ':'
    };
    let full = format!(
        "{}/{repository}{separator}{reference}",
        url.trim_end_matches('/')
    );
    match Location::parse(&full, None, false)? {
        Location::Oci(location) => Ok(location),
        Location::Hub(_) => Err(DistributionError::InvalidLocation {
            input: url.to_string(),
            reason: "mirrors are OCI registries or commons nodes".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_are_kept_in_order_without_duplicates() {
        let home = tempfile::tempdir().unwrap();
        let mirrors = Mirrors::new(home.path());
        assert!(mirrors.list().unwrap().is_empty());
        mirrors.add("oci://127.0.0.1:5000").unwrap();
        mirrors.add("http://127.0.0.1:11434/").unwrap();
        let list = mirrors.add("oci://127.0.0.1:5000").unwrap();
        let urls: Vec<&str> = list.iter().map(|m| m.url.as_str()).collect();
        assert_eq!(urls, ["oci://127.0.0.1:5000", "http://127.0.0.1:11434"]);
        assert!(mirrors.add("ftp://x").is_err());
        assert!(mirrors.remove("oci://127.0.0.1:5000").unwrap());
        assert!(!mirrors.remove("oci://127.0.0.1:5000").unwrap());
        let at = mirror_location("oci://127.0.0.1:5000/team", "m", "v1").unwrap();
        assert_eq!(
            (at.repository.as_str(), at.reference.as_str()),
            ("team/m", "v1")
        );
    }
}
