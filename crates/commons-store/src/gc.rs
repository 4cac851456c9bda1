//! `gc`: delete blobs no manifest needs and staging files no live process owns.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io;

use serde::{Deserialize, Serialize};

use crate::blobs;
use crate::error::{IoContext, StoreError};
use crate::store::Store;

/// What [`Store::gc`] removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    pub removed_blobs: u64,
    /// Bytes freed by removed blobs and removed staging files.
    pub freed_bytes: u64,
    pub removed_tmp: u64,
    /// Folders of derived files (converted GGUF, shard links) of models no tag names.
    #[serde(default)]
    pub removed_derived: u64,
    /// True when a writer (an import, a pull) held the store lock, so unreferenced
    /// blobs were left alone this time: they may be about to be committed.
    pub blobs_skipped_busy: bool,
}

impl Store {
    /// Removes blobs that no manifest in the catalog references, and files in
    /// `tmp/` that no process holds a lock on (leftovers of killed imports).
    ///
    /// Concurrency: staging files of running imports are locked and survive.
    /// Blob deletion needs the exclusive store lock; while any writer holds its
    /// shared side, blobs are skipped and [`GcReport::blobs_skipped_busy`] is set.
    /// Quarantined blobs in `blobs/corrupt/` are kept for inspection.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let mut report = GcReport::default();
        self.sweep_tmp(&mut report)?;
        let (uploads, upload_bytes) = self.sweep_uploads()?;
        report.removed_tmp += uploads;
        report.freed_bytes += upload_bytes;
        match blobs::try_exclusive_writers_lock(&self.layout)? {
            Some(_exclusive) => {
                self.sweep_blobs(&mut report)?;
                let (folders, bytes) = self.sweep_derived()?;
                report.removed_derived += folders;
                report.freed_bytes += bytes;
            }
            None => {
                tracing::info!("a writer holds the store lock; unreferenced blobs kept this time");
                report.blobs_skipped_busy = true;
            }
        }
        tracing::debug!(?report, "gc finished");
        Ok(report)
    }

    fn sweep_blobs(&self, report: &mut GcReport) -> Result<(), StoreError> {
        let referenced: HashSet<String> = self.referenced_blobs()?.into_iter().collect();
        for (digest, size, path) in blobs::list_blobs(&self.layout)? {
            if referenced.contains(digest.as_str()) {
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.removed_blobs += 1;
                    report.freed_bytes += size;
                    if let Some(prefix_dir) = path.parent() {
                        // Fails harmlessly while the directory still has blobs.
                        let _ = fs::remove_dir(prefix_dir);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io_context("remove unreferenced blob", path),
            }
        }
        Ok(())
    }

    /// Removes every plain file in tmp/ whose lock we can take: its owner is gone.
    fn sweep_tmp(&self, report: &mut GcReport) -> Result<(), StoreError> {
        let tmp = &self.layout.tmp;
        let entries = match fs::read_dir(tmp) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).io_context("list", tmp),
        };
        for entry in entries {
            let entry = entry.io_context("list", tmp)?;
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).io_context("open staging file", path),
            };
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => continue, // a live import owns it
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).io_context("lock staging file", path)
                }
            }
            match fs::remove_file(&path) {
                Ok(()) => {
                    report.removed_tmp += 1;
                    report.freed_bytes += meta.len();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io_context("remove staging file", path),
            }
        }
        Ok(())
    }
}
