//! Moving one blob into the store: streamed, resumed with `Range` from the same
//! or the next source when a connection drops, verified against its digest
//! before it becomes visible, and downloaded once even when two pulls want it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::time::Duration;

use commons_store::{Descriptor, Digest, Store, StoreError};

use crate::error::{DistributionError, Result};

/// Somewhere a blob can be read from, starting at any offset.
pub trait BlobSource: Sync {
    /// Names the source in messages (host and repository).
    fn name(&self) -> String;
    /// A reader for the blob's bytes from `offset` on.
    fn open(&self, digest: &Digest, offset: u64) -> Result<Box<dyn Read + Send>>;
}

/// How often one source is re-opened after a dropped connection before the next is tried.
const REOPENS_PER_SOURCE: u32 = 3;

/// What a successful fetch did.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// Bytes downloaded (0 when the blob was already in the store).
    pub downloaded: u64,
    /// Times a transfer resumed after a dropped connection.
    pub resumed: u32,
    /// Sources that served bytes not matching the digest (they were skipped).
    pub bad_sources: Vec<String>,
}

/// Makes `blob` present in `store`, from the first of `sources` that delivers
/// bytes hashing to its digest. `progress` gets byte counts as they arrive.
pub fn fetch_blob(
    store: &Store,
    blob: &Descriptor,
    sources: &[&dyn BlobSource],
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Fetched> {
    if present(store, blob) {
        return Ok(Fetched::default());
    }
    // One download per blob across processes: the second waits, then finds it present.
    let _lock = BlobLock::acquire(store, &blob.digest)?;
    if present(store, blob) {
        return Ok(Fetched::default());
    }
    let mut fetched = Fetched::default();
    let mut failures = Vec::new();
    for start in 0..sources.len() {
        let order: Vec<&dyn BlobSource> = sources[start..].to_vec();
        let mut reader = ResumingReader {
            sources: &order,
            current: 0,
            digest: &blob.digest,
            size: blob.size,
            offset: 0,
            open: None,
            reopens: 0,
            resumed: 0,
            failures: Vec::new(),
            progress,
        };
        let first = order[0].name();
        let result = store.ingest_reader(&mut reader, &first, Some(&blob.digest), &|_| {});
        fetched.resumed += reader.resumed;
        failures.append(&mut reader.failures);
        match result {
            Ok(stored) if stored.size == blob.size => {
                fetched.downloaded += stored.size;
                return Ok(fetched);
            }
            Ok(stored) => failures.push(format!(
                "{first}: blob {} is {} bytes, the manifest says {}",
                blob.digest.short(),
                stored.size,
                blob.size
            )),
            Err(StoreError::DigestMismatch { actual, .. }) => {
                let served_by = order[reader.current.min(order.len() - 1)].name();
                tracing::warn!(source = served_by, digest = %blob.digest, %actual, "bad bytes");
                fetched.bad_sources.push(served_by.clone());
                failures.push(
                    DistributionError::BadContent {
                        source_name: served_by,
                        what: format!("blob {}", blob.digest.short()),
                        expected: blob.digest.to_string(),
                        actual: actual.to_string(),
                    }
                    .to_string(),
                );
            }
            Err(StoreError::Io {
                action: "read",
                source,
                ..
            }) => {
                // The resuming reader gave up only after every remaining source
                // failed: starting again from a later one would repeat that.
                failures.push(format!("{first}: {source}"));
                break;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(DistributionError::AllSourcesFailed {
        what: format!("blob {}", blob.digest),
        failures,
    })
}

fn present(store: &Store, blob: &Descriptor) -> bool {
    std::fs::metadata(store.blob_path(&blob.digest)).is_ok_and(|m| m.len() == blob.size)
}

/// Reads a blob across reconnects: on an error or an early end it re-opens the
/// current source at the offset reached, then moves on to the next source.
struct ResumingReader<'a> {
    sources: &'a [&'a dyn BlobSource],
    current: usize,
    digest: &'a Digest,
    size: u64,
    offset: u64,
    open: Option<Box<dyn Read + Send>>,
    reopens: u32,
    resumed: u32,
    failures: Vec<String>,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl ResumingReader<'_> {
    /// Gives up on the current connection; the next read re-opens.
    fn drop_connection(&mut self, why: String) -> io::Result<()> {
        self.open = None;
        let source = self.sources[self.current].name();
        self.failures.push(format!("{source}: {why}"));
        self.reopens += 1;
        if self.reopens > REOPENS_PER_SOURCE {
            self.current += 1;
            self.reopens = 0;
        }
        if self.current >= self.sources.len() {
            return Err(io::Error::other(format!(
                "every source failed for blob {} at byte {}",
                self.digest.short(),
                self.offset
            )));
        }
        if self.offset > 0 {
            self.resumed += 1;
        }
        std::thread::sleep(Duration::from_millis(100 * u64::from(self.reopens)));
        Ok(())
    }
}

impl Read for ResumingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.offset >= self.size {
                // Anything beyond the declared size would be read by the hasher
                // and make the digest fail; stop exactly at the size.
                return Ok(0);
            }
            if self.open.is_none() {
                match self.sources[self.current].open(self.digest, self.offset) {
                    Ok(reader) => self.open = Some(reader),
                    Err(e) => {
                        self.drop_connection(e.to_string())?;
                        continue;
                    }
                }
            }
            let Some(reader) = self.open.as_mut() else {
                continue;
            };
            let room = usize::try_from(self.size - self.offset).unwrap_or(usize::MAX);
            let limit = buf.len().min(room);
            match reader.read(&mut buf[..limit]) {
                Ok(0) => {
                    let why = format!(
                        "the connection ended at byte {} of {}",
                        self.offset, self.size
                    );
                    self.drop_connection(why)?;
                }
                Ok(n) => {
                    self.offset += n as u64;
                    (self.progress)(n as u64);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.drop_connection(e.to_string())?,
            }
        }
    }
}

/// An exclusive lock on `tmp/pull-<hex>.lock` while a blob downloads.
struct BlobLock {
    _file: File,
}

impl BlobLock {
    fn acquire(store: &Store, digest: &Digest) -> Result<BlobLock> {
        let path = store
            .root()
            .join("tmp")
            .join(format!("pull-{}.lock", digest.hex()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| DistributionError::Io {
                action: "create lock file",
                path: path.display().to_string(),
                error,
            })?;
        file.lock().map_err(|error| DistributionError::Io {
            action: "lock",
            path: path.display().to_string(),
            error,
        })?;
        Ok(BlobLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Serves `data`, cutting every connection after `cut` bytes.
    struct Flaky {
        name: &'static str,
        data: Vec<u8>,
        cut: usize,
        opens: AtomicU32,
    }

    impl BlobSource for Flaky {
        fn name(&self) -> String {
            self.name.into()
        }
        fn open(&self, _: &Digest, offset: u64) -> Result<Box<dyn Read + Send>> {
            self.opens.fetch_add(1, Ordering::SeqCst);
            let start = offset as usize;
            let end = (start + self.cut).min(self.data.len());
            Ok(Box::new(io::Cursor::new(self.data[start..end].to_vec())))
        }
    }

    fn descriptor(data: &[u8]) -> Descriptor {
        Descriptor::new(
            "application/octet-stream",
            Digest::of_bytes(data),
            data.len() as u64,
        )
    }

    #[test]
    fn a_dropped_connection_resumes_where_it_stopped() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let flaky = Flaky {
            name: "flaky",
            data: data.clone(),
            cut: 4_000,
            opens: AtomicU32::new(0),
        };
        let fetched = fetch_blob(&store, &descriptor(&data), &[&flaky], &|_| {}).unwrap();
        assert_eq!(fetched.downloaded, 10_000);
        assert_eq!(fetched.resumed, 2);
        assert_eq!(flaky.opens.load(Ordering::SeqCst), 3);
        assert_eq!(
            std::fs::read(store.blob_path(&Digest::of_bytes(&data))).unwrap(),
            data
        );
    }

    #[test]
    fn bad_bytes_are_rejected_named_and_fetched_from_the_next_source() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let data = b"the real bytes".to_vec();
        let mut corrupt = data.clone();
        corrupt[3] ^= 1;
        let bad = Flaky {
            name: "evil",
            data: corrupt,
            cut: usize::MAX,
            opens: AtomicU32::new(0),
        };
        let good = Flaky {
            name: "good",
            data: data.clone(),
            cut: usize::MAX,
            opens: AtomicU32::new(0),
        };
        let fetched = fetch_blob(&store, &descriptor(&data), &[&bad, &good], &|_| {}).unwrap();
        assert_eq!(fetched.bad_sources, vec!["evil".to_string()]);
        assert!(store.has_blob(&Digest::of_bytes(&data)));

        let other = b"other bytes".to_vec();
        let mut corrupt = other.clone();
        corrupt[0] ^= 1;
        let bad = Flaky {
            name: "evil",
            data: corrupt.clone(),
            cut: usize::MAX,
            opens: AtomicU32::new(0),
        };
        let err = fetch_blob(&store, &descriptor(&other), &[&bad], &|_| {}).unwrap_err();
        assert!(err.to_string().contains("evil served bad bytes"), "{err}");
        assert!(!store.has_blob(&Digest::of_bytes(&other)));
        assert!(!store.has_blob(&Digest::of_bytes(&corrupt)));
    }

    #[test]
    fn a_present_blob_is_not_downloaded_again() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        let data = b"already here".to_vec();
        store.ingest_bytes(&data).unwrap();
        let source = Flaky {
            name: "s",
            data: data.clone(),
            cut: usize::MAX,
            opens: AtomicU32::new(0),
        };
        let fetched = fetch_blob(&store, &descriptor(&data), &[&source], &|_| {}).unwrap();
        assert_eq!(fetched.downloaded, 0);
        assert_eq!(source.opens.load(Ordering::SeqCst), 0);
    }
}
