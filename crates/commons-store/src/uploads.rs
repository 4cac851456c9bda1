//! Blob uploads that span several requests (OCI `POST`, `PATCH`…, `PUT ?digest=`).
//!
//! An upload is a file `uploads/<id>` that grows by appends. It becomes a blob
//! only when the client names its digest and the bytes hash to it; until then it
//! is invisible. Uploads are not in `tmp/` because no process holds them open
//! between requests: `gc` removes the ones untouched for [`UPLOAD_EXPIRY`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::blobs;
use crate::digest::Digest;
use crate::error::{IoContext, StoreError};
use crate::store::Store;
use crate::BlobRef;

/// Uploads untouched for this long are abandoned; `gc` deletes them.
pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 60 * 60);

/// An open append to an upload; see [`Store::upload_writer`].
pub struct UploadWriter {
    file: File,
    path: PathBuf,
    size: u64,
}

impl UploadWriter {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.file
            .write_all(bytes)
            .io_context("append to", &self.path)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Appends everything `reader` yields.
    pub fn write_from(&mut self, reader: &mut dyn Read) -> Result<(), StoreError> {
        let copied = io::copy(reader, &mut self.file).io_context("append to", &self.path)?;
        self.size += copied;
        Ok(())
    }

    /// The upload's size so far.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Store {
    /// Starts an empty upload and returns its id (32 hex digits).
    pub fn start_upload(&self) -> Result<String, StoreError> {
        let dir = self.uploads_dir();
        fs::create_dir_all(&dir).io_context("create", &dir)?;
        let id = random_hex(16)?;
        let path = dir.join(&id);
        OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .io_context("create upload", &path)?;
        Ok(id)
    }

    /// The number of bytes received so far by upload `id`.
    pub fn upload_size(&self, id: &str) -> Result<u64, StoreError> {
        let path = self.upload_path(id)?;
        let meta = fs::metadata(&path).map_err(|e| upload_error(id, &path, e))?;
        Ok(meta.len())
    }

    /// Opens upload `id` for appending. With `expected_offset`, the upload must
    /// currently be exactly that long (a client resuming at the wrong place gets
    /// [`StoreError::UploadOffset`] and nothing is written).
    pub fn upload_writer(
        &self,
        id: &str,
        expected_offset: Option<u64>,
    ) -> Result<UploadWriter, StoreError> {
        let path = self.upload_path(id)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| upload_error(id, &path, e))?;
        let size = file.metadata().io_context("read upload", &path)?.len();
        if let Some(expected) = expected_offset {
            if expected != size {
                return Err(StoreError::UploadOffset {
                    id: id.to_string(),
                    expected,
                    actual: size,
                });
            }
        }
        Ok(UploadWriter { file, path, size })
    }

    /// Turns upload `id` into the blob `digest` if its bytes hash to it; the
    /// upload is gone afterwards either way.
    pub fn finish_upload(&self, id: &str, digest: &Digest) -> Result<BlobRef, StoreError> {
        let path = self.upload_path(id)?;
        let _guard = self.write_guard()?;
        let mut file = File::open(&path).map_err(|e| upload_error(id, &path, e))?;
        let (actual, size) =
            blobs::copy_and_hash(&mut file, None, &|_| {}).map_err(|e| StoreError::Io {
                action: "read upload",
                path: path.clone(),
                source: match e {
                    blobs::CopyError::Read(e) | blobs::CopyError::Write(e) => e,
                },
            })?;
        if actual != *digest {
            let _ = fs::remove_file(&path);
            return Err(StoreError::DigestMismatch {
                source_name: format!("upload {id}"),
                expected: digest.clone(),
                actual,
            });
        }
        file.sync_all().io_context("fsync", &path)?;
        let dest = self.blob_path(digest);
        if fs::metadata(&dest).is_ok_and(|m| m.len() == size) {
            let _ = fs::remove_file(&path);
        } else {
            blobs::move_into_place(&path, &dest)?;
        }
        Ok(BlobRef {
            digest: digest.clone(),
            size,
        })
    }

    /// Abandons upload `id`.
    pub fn cancel_upload(&self, id: &str) -> Result<(), StoreError> {
        let path = self.upload_path(id)?;
        fs::remove_file(&path).map_err(|e| upload_error(id, &path, e))
    }

    /// Deletes uploads untouched for [`UPLOAD_EXPIRY`]; returns (count, bytes).
    pub(crate) fn sweep_uploads(&self) -> Result<(u64, u64), StoreError> {
        let dir = self.uploads_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e).io_context("list", &dir),
        };
        let now = SystemTime::now();
        let (mut count, mut bytes) = (0, 0);
        for entry in entries {
            let entry = entry.io_context("list", &dir)?;
            let Ok(meta) = entry.metadata() else { continue };
            let stale = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > UPLOAD_EXPIRY);
            if meta.is_file() && stale && fs::remove_file(entry.path()).is_ok() {
                count += 1;
                bytes += meta.len();
            }
        }
        Ok((count, bytes))
    }

    fn uploads_dir(&self) -> PathBuf {
        self.root().join("uploads")
    }

    fn upload_path(&self, id: &str) -> Result<PathBuf, StoreError> {
        // Ids come from URLs: only our own 32-hex form may reach the filesystem.
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::UploadUnknown { id: id.to_string() });
        }
        Ok(self.uploads_dir().join(id))
    }
}

fn upload_error(id: &str, path: &std::path::Path, error: io::Error) -> StoreError {
    if error.kind() == io::ErrorKind::NotFound {
        StoreError::UploadUnknown { id: id.to_string() }
    } else {
        StoreError::Io {
            action: "open upload",
            path: path.to_path_buf(),
            source: error,
        }
    }
}

/// `bytes` random bytes from the OS, as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String, StoreError> {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .io_context("read", "/dev/urandom")?;
    Ok(hex::encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_in_two_appends_becomes_a_blob_only_with_the_right_digest() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let id = store.start_upload().unwrap();
        store
            .upload_writer(&id, Some(0))
            .unwrap()
            .write(b"hello ")
            .unwrap();
        let err = store.upload_writer(&id, Some(0)).err().unwrap();
        assert!(
            matches!(err, StoreError::UploadOffset { actual: 6, .. }),
            "{err}"
        );
        let mut writer = store.upload_writer(&id, Some(6)).unwrap();
        writer.write(b"world").unwrap();
        assert_eq!(writer.size(), 11);
        drop(writer);
        assert_eq!(store.upload_size(&id).unwrap(), 11);

        let digest = Digest::of_bytes(b"hello world");
        let blob = store.finish_upload(&id, &digest).unwrap();
        assert_eq!(blob.size, 11);
        assert_eq!(store.read_blob(&digest).unwrap(), b"hello world");
        assert!(matches!(
            store.upload_size(&id),
            Err(StoreError::UploadUnknown { .. })
        ));
        assert!(matches!(
            store.cancel_upload(&id),
            Err(StoreError::UploadUnknown { .. })
        ));
    }

    #[test]
    fn a_wrong_digest_discards_the_upload_and_stores_nothing() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let id = store.start_upload().unwrap();
        store
            .upload_writer(&id, None)
            .unwrap()
            .write(b"abc")
            .unwrap();
        let claimed = Digest::of_bytes(b"abd");
        let err = store.finish_upload(&id, &claimed).unwrap_err();
        assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err}");
        assert!(!store.has_blob(&claimed));
        assert!(!store.has_blob(&Digest::of_bytes(b"abc")));
    }

    #[test]
    fn upload_ids_that_are_not_ours_never_reach_the_filesystem() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        for id in ["../catalog.db", "..%2Fx", "", &"g".repeat(32)] {
            assert!(matches!(
                store.upload_size(id),
                Err(StoreError::UploadUnknown { .. })
            ));
        }
    }
}
