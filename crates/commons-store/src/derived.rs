//! Files derived from a stored model: the GGUF converted from a safetensors
//! folder, the shard names llama.cpp expects for a split GGUF. They live in
//! `derived/<manifest hex>/`, are rebuilt from the blobs whenever missing,
//! never count toward a model's identity, and `gc` removes them once no tag
//! names their model.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::blobs::{sync_dir, TmpFile};
use crate::digest::Digest;
use crate::error::{IoContext, StoreError};
use crate::Store;

impl Store {
    /// The folder of files derived from the model whose manifest is `model`.
    pub fn derived_dir(&self, model: &Digest) -> PathBuf {
        self.layout.derived.join(model.hex())
    }

    /// The derived file `name` of `model`. The first call writes it with
    /// `write` into `tmp/`, fsyncs it and renames it into place, so a killed
    /// writer never leaves half a file where a reader looks; later calls (and
    /// other processes) find it there.
    pub fn derived_file<E: From<StoreError>>(
        &self,
        model: &Digest,
        name: &str,
        write: impl FnOnce(&mut File) -> Result<(), E>,
    ) -> Result<PathBuf, E> {
        let dir = self.derived_dir(model);
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
        let mut tmp = TmpFile::create(&self.layout)?;
        write(tmp.file_mut())?;
        fs::create_dir_all(&dir).io_context("create directory", &dir)?;
        tmp.persist_replacing(&path)?;
        Ok(path)
    }

    /// Symbolic links in `model`'s derived folder, each `(name, blob)`: gives
    /// blobs the file names a loader looks for (`model-00002-of-00003.gguf`).
    /// Returns the folder.
    pub fn derived_links(
        &self,
        model: &Digest,
        links: &[(String, Digest)],
    ) -> Result<PathBuf, StoreError> {
        let dir = self.derived_dir(model);
        fs::create_dir_all(&dir).io_context("create directory", &dir)?;
        let mut changed = false;
        for (name, blob) in links {
            let target = self.blob_path(blob);
            let link = dir.join(name);
            if fs::read_link(&link).is_ok_and(|existing| existing == target) {
                continue;
            }
            match fs::remove_file(&link) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io_context("replace link", &link),
            }
            changed = true;
            match std::os::unix::fs::symlink(&target, &link) {
                Ok(()) => {}
                // Another process made the same link first.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).io_context("create link", &link),
            }
        }
        if changed {
            sync_dir(&dir)?;
        }
        Ok(dir)
    }

    /// Removes the derived folders of models no tag names any more.
    /// Returns how many folders and bytes went.
    pub(crate) fn sweep_derived(&self) -> Result<(u64, u64), StoreError> {
        let root = &self.layout.derived;
        let entries = match fs::read_dir(root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e).io_context("list", root),
        };
        let live: std::collections::HashSet<String> = self
            .list()?
            .into_iter()
            .map(|entry| entry.digest.hex().to_owned())
            .collect();
        let (mut removed, mut freed) = (0, 0);
        for entry in entries {
            let entry = entry.io_context("list", root)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if live.contains(&name) {
                continue;
            }
            let path = entry.path();
            freed += size_of_files(&path);
            match fs::remove_dir_all(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).io_context("remove derived files", &path),
            }
        }
        Ok((removed, freed))
    }
}

/// Bytes of the regular files directly in `dir` (links count nothing).
fn size_of_files(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| fs::symlink_metadata(entry.path()).ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}
