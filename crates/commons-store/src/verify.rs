//! `verify`: re-hash blobs, report missing and corrupt ones, quarantine the corrupt.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::blobs;
use crate::digest::Digest;
use crate::error::{IoContext, StoreError};
use crate::store::Store;

/// What [`Store::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub checked_blobs: u64,
    pub checked_bytes: u64,
    pub problems: Vec<BlobProblem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One blob that is not what its name says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobProblem {
    pub digest: Digest,
    pub kind: BlobProblemKind,
    /// `name:tag` of every model that needs this blob.
    pub models: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlobProblemKind {
    /// A manifest needs the blob but no file is there.
    Missing,
    /// The file's bytes hash to `actual`; it was moved to `quarantined_to`.
    Corrupt {
        actual: Digest,
        quarantined_to: Option<PathBuf>,
    },
}

impl Store {
    /// Re-hashes every blob of the model `filter` resolves to, or every blob in
    /// the store (and every blob the catalog needs) when `filter` is `None`.
    /// `progress` gets bytes hashed. A corrupt blob is moved to `blobs/corrupt/`
    /// so it is never served again; importing or pulling the model restores it.
    pub fn verify(
        &self,
        filter: Option<&str>,
        progress: &dyn Fn(u64),
    ) -> Result<VerifyReport, StoreError> {
        // digest -> whether the catalog needs it (only needed blobs can be "missing").
        let mut targets: BTreeMap<Digest, bool> = BTreeMap::new();
        match filter {
            Some(reference) => {
                let entry = self.resolve(reference)?;
                targets.insert(entry.digest.clone(), true);
                for descriptor in entry.manifest.blob_digests() {
                    targets.insert(descriptor.digest.clone(), true);
                }
            }
            None => {
                for digest in self.referenced_blobs()? {
                    if let Ok(digest) = digest.parse::<Digest>() {
                        targets.insert(digest, true);
                    }
                }
                for (digest, _, _) in blobs::list_blobs(&self.layout)? {
                    targets.entry(digest).or_insert(false);
                }
            }
        }

        let mut report = VerifyReport::default();
        for (digest, needed) in targets {
            let path = self.blob_path(&digest);
            let kind = match blobs::hash_file(&path, progress) {
                Err(StoreError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    if !needed {
                        continue; // Removed by a concurrent gc: nothing needed it.
                    }
                    BlobProblemKind::Missing
                }
                Err(e) => return Err(e),
                Ok((actual, size)) => {
                    report.checked_blobs += 1;
                    report.checked_bytes += size;
                    if actual == digest {
                        continue;
                    }
                    let quarantined_to = self.quarantine(&digest)?;
                    tracing::warn!(%digest, %actual, "corrupt blob quarantined");
                    BlobProblemKind::Corrupt {
                        actual,
                        quarantined_to,
                    }
                }
            };
            let models = self.models_using_blob(&digest)?;
            report.problems.push(BlobProblem {
                digest,
                kind,
                models,
            });
        }
        Ok(report)
    }

    /// Moves a blob to `blobs/corrupt/<hex>[.<n>]`; `None` if it vanished meanwhile.
    fn quarantine(&self, digest: &Digest) -> Result<Option<PathBuf>, StoreError> {
        let from = self.blob_path(digest);
        let dir = &self.layout.quarantine;
        fs::create_dir_all(dir).io_context("create directory", dir)?;
        let mut to = dir.join(digest.hex());
        let mut n = 1;
        while to.exists() {
            to = dir.join(format!("{}.{n}", digest.hex()));
            n += 1;
        }
        match fs::rename(&from, &to) {
            Ok(()) => Ok(Some(to)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).io_context("quarantine corrupt blob", from),
        }
    }
}
