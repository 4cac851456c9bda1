//! The blob directory: content-addressed files, the tmp/ staging area, and the
//! read-while-hashing-and-writing pipeline that puts bytes into it.
//!
//! A blob becomes visible only by `rename` from tmp/ after its bytes were hashed,
//! written and fsynced, so every visible blob is complete and named by its digest.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{IoContext, StoreError};

/// Size of one pipeline chunk. Big enough that syscalls cost nothing, small
/// enough to stay in cache between the reading and the hashing core.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks in flight between the I/O thread and the hasher.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Written bytes after which writeback to disk is started, so the final fsync
/// finds little left to flush and the disk works while we are still hashing.
const WRITEBACK_STEP: u64 = 32 << 20;

/// Where everything lives under the store root.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
    pub blobs: PathBuf,
    pub quarantine: PathBuf,
    pub tmp: PathBuf,
    /// Files derived from stored models (`derived`): caches, rebuilt when missing.
    pub derived: PathBuf,
    pub catalog: PathBuf,
    pub writers_lock: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout {
            root: root.to_path_buf(),
            blobs: root.join("blobs").join("sha256"),
            quarantine: root.join("blobs").join("corrupt"),
            tmp: root.join("tmp"),
            derived: root.join("derived"),
            catalog: root.join("catalog.db"),
            writers_lock: root.join("store.lock"),
        }
    }

    pub fn create(&self) -> Result<(), StoreError> {
        for dir in [&self.blobs, &self.quarantine, &self.tmp] {
            fs::create_dir_all(dir).io_context("create directory", dir)?;
        }
        Ok(())
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.blobs.join(hex.get(..2).unwrap_or("00")).join(hex)
    }
}

/// A shared lock on `store.lock`, held by everyone who writes blobs that a
/// later catalog commit will reference. `gc` needs the exclusive lock to delete
/// unreferenced blobs, so it never deletes a blob an import is about to commit.
/// The OS drops the lock when the process dies, so a crash never leaves it held.
#[derive(Debug)]
pub struct WriteGuard {
    _file: File,
}

impl WriteGuard {
    pub(crate) fn acquire(layout: &Layout) -> Result<WriteGuard, StoreError> {
        let file = open_lock_file(&layout.writers_lock)?;
        file.lock_shared()
            .io_context("take a shared lock on", &layout.writers_lock)?;
        Ok(WriteGuard { _file: file })
    }
}

/// The exclusive side of [`WriteGuard`], or `None` when a writer holds the lock.
pub(crate) fn try_exclusive_writers_lock(layout: &Layout) -> Result<Option<File>, StoreError> {
    let file = open_lock_file(&layout.writers_lock)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => {
            Err(e).io_context("take an exclusive lock on", &layout.writers_lock)
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .io_context("open lock file", path)
}

/// A file in tmp/ that holds an exclusive advisory lock for as long as it is
/// open, so `gc` can tell live staging files from leftovers of dead processes.
/// Dropping it without [`TmpFile::persist_as`] removes it.
pub(crate) struct TmpFile {
    path: PathBuf,
    file: File,
    removed: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl TmpFile {
    pub fn create(layout: &Layout) -> Result<TmpFile, StoreError> {
        // gc may delete a file between our create and our lock (it saw it unlocked);
        // after locking, make sure the path still names our file, else start over.
        for _ in 0..16 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let name = format!(
                "ingest-{}-{}-{nanos:08x}.tmp",
                std::process::id(),
                TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let path = layout.tmp.join(name);
            let file = match OpenOptions::new()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).io_context("create temporary file", &path),
            };
            file.lock().io_context("lock temporary file", &path)?;
            let ours = file.metadata().io_context("stat temporary file", &path)?;
            match fs::metadata(&path) {
                Ok(on_disk) if on_disk.ino() == ours.ino() && on_disk.dev() == ours.dev() => {
                    return Ok(TmpFile {
                        path,
                        file,
                        removed: false,
                    })
                }
                _ => continue,
            }
        }
        Err(StoreError::Io {
            action: "create a temporary file that stays in place in",
            path: layout.tmp.clone(),
            source: io::Error::other("gave up after 16 attempts"),
        })
    }

    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// fsyncs the file, then moves it to `dest` unless a blob of the same size is
    /// already there (dedup: same name means same bytes). Returns true when this
    /// call created the blob.
    pub fn persist_as(mut self, dest: &Path, size: u64) -> Result<bool, StoreError> {
        if let Ok(existing) = fs::metadata(dest) {
            if existing.len() == size {
                return Ok(false); // Drop removes the tmp file.
            }
            // Same name, different size: the existing file is damaged. Replace it.
            tracing::warn!(path = %dest.display(), "replacing a blob whose size does not match its digest");
        }
        self.file.sync_all().io_context("fsync", &self.path)?;
        let parent = dest.parent().unwrap_or(dest);
        create_dir_durably(parent)?;
        fs::rename(&self.path, dest).io_context("move a verified blob into", dest)?;
        self.removed = true;
        sync_dir(parent)?;
        Ok(true)
    }
}

impl TmpFile {
    /// fsyncs the file and moves it to `dest`, replacing whatever is there.
    pub fn persist_replacing(mut self, dest: &Path) -> Result<(), StoreError> {
        self.file.sync_all().io_context("fsync", &self.path)?;
        let parent = dest.parent().unwrap_or(dest);
        fs::rename(&self.path, dest).io_context("move a finished file into", dest)?;
        self.removed = true;
        sync_dir(parent)
    }
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.removed {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::debug!(path = %self.path.display(), error = %e, "could not remove temporary file");
            }
        }
    }
}

/// Moves a complete, fsynced, verified file to its blob path, durably.
pub(crate) fn move_into_place(path: &Path, dest: &Path) -> Result<(), StoreError> {
    let parent = dest.parent().unwrap_or(dest);
    create_dir_durably(parent)?;
    fs::rename(path, dest).io_context("move a verified blob into", dest)?;
    sync_dir(parent)
}

/// Creates `dir` if needed and makes its entry durable in its parent.
fn create_dir_durably(dir: &Path) -> Result<(), StoreError> {
    match fs::create_dir(dir) {
        Ok(()) => {
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).io_context("create directory", dir)
        }
        Err(e) => Err(e).io_context("create directory", dir),
    }
}

/// fsync a directory so a rename or create inside it survives a power loss.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io_context("fsync directory", dir)
}

/// Which side of a copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Streams `reader` through sha256, writing every byte to `sink` on the way,
/// and reports progress per chunk. Returns the digest and the byte count.
///
/// Reading and writing run on a helper thread and hashing on the calling one,
/// so on two cores the copy costs little more than the hash. The bytes hashed
/// are exactly the bytes written: each chunk is written, then handed over.
pub(crate) fn copy_and_hash<R: Read + Send>(
    mut reader: R,
    mut sink: Option<&mut File>,
    progress: &dyn Fn(u64),
) -> Result<(Digest, u64), CopyError> {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(CHUNKS_IN_FLIGHT);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        for _ in 0..CHUNKS_IN_FLIGHT + 1 {
            // Cannot fail: the receiver is alive in this scope.
            let _ = free_tx.send(vec![0u8; CHUNK_BYTES]);
        }
        let io_thread = scope.spawn(move || -> Result<(), CopyError> {
            let mut written = 0u64;
            let mut flushed = 0u64;
            while let Ok(mut buffer) = free_rx.recv() {
                let filled = read_full(&mut reader, &mut buffer).map_err(CopyError::Read)?;
                if filled == 0 {
                    break;
                }
                if let Some(file) = sink.as_deref_mut() {
                    file.write_all(buffer.get(..filled).unwrap_or_default())
                        .map_err(CopyError::Write)?;
                    written += filled as u64;
                    if written - flushed >= WRITEBACK_STEP {
                        start_writeback(file, flushed, written - flushed);
                        flushed = written;
                    }
                }
                if full_tx.send((buffer, filled)).is_err() {
                    break;
                }
            }
            Ok(())
        });

        let mut hasher = Sha256::new();
        let mut total = 0u64;
        for (buffer, filled) in full_rx {
            hasher.update(buffer.get(..filled).unwrap_or_default());
            total += filled as u64;
            progress(filled as u64);
            let _ = free_tx.send(buffer);
        }
        drop(free_tx);
        match io_thread.join() {
            Ok(Ok(())) => Ok((Digest::from_sha256(hasher.finalize().into()), total)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(CopyError::Read(io::Error::other(
                "the reader thread panicked",
            ))),
        }
    })
}

/// Asks the kernel to start writing `len` bytes at `offset` to disk without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Purely a performance
/// hint: durability still comes from the fsync before the rename.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor is valid for the lifetime of `file`, and
    // sync_file_range only reads its integer arguments; no memory is shared.
    let rc = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if rc != 0 {
        tracing::trace!(error = %io::Error::last_os_error(), "sync_file_range failed; the final fsync will do");
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

/// Reads until `buffer` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let rest = buffer.get_mut(filled..).unwrap_or_default();
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Hashes a file already on disk.
pub(crate) fn hash_file(path: &Path, progress: &dyn Fn(u64)) -> Result<(Digest, u64), StoreError> {
    let file = File::open(path).io_context("open", path)?;
    copy_and_hash(file, None, progress).map_err(|e| match e {
        CopyError::Read(source) | CopyError::Write(source) => StoreError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        },
    })
}

/// Every `blobs/sha256/<2>/<64>` file: digest, size and path. Stray files are skipped.
pub(crate) fn list_blobs(layout: &Layout) -> Result<Vec<(Digest, u64, PathBuf)>, StoreError> {
    let mut found = Vec::new();
    let prefixes = match fs::read_dir(&layout.blobs) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
        Err(e) => return Err(e).io_context("list", &layout.blobs),
    };
    for prefix in prefixes {
        let prefix = prefix.io_context("list", &layout.blobs)?;
        let prefix_path = prefix.path();
        if !prefix_path.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&prefix_path).io_context("list", &prefix_path)? {
            let entry = entry.io_context("list", &prefix_path)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(digest) = Digest::parse_lenient(name) else {
                continue;
            };
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() {
                found.push((digest, meta.len(), entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_hash_matches_a_one_shot_hash_across_chunk_boundaries() {
        for len in [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES * 3 + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let dir = tempfile::tempdir().unwrap();
            let mut out = File::create(dir.path().join("out")).unwrap();
            let seen = std::cell::Cell::new(0u64);
            let (digest, size) =
                copy_and_hash(&data[..], Some(&mut out), &|n| seen.set(seen.get() + n)).unwrap();
            assert_eq!(digest, Digest::of_bytes(&data));
            assert_eq!(size, len as u64);
            assert_eq!(seen.get(), len as u64);
            assert_eq!(fs::read(dir.path().join("out")).unwrap(), data);
        }
    }

    #[test]
    fn read_errors_are_reported_as_read_errors() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("boom"))
            }
        }
        assert!(matches!(
            copy_and_hash(Failing, None, &|_| {}),
            Err(CopyError::Read(_))
        ));
    }
}
