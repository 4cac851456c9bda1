//! Opening files: weights are memory-mapped, small side files are read with a size cap.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

use memmap2::Mmap;

use crate::FormatError;

/// The bytes of a file, mapped read-only. Empty files are represented without
/// a mapping, since a zero-length mmap is an error on some platforms.
#[derive(Debug)]
pub(crate) struct MappedFile {
    map: Option<Mmap>,
}

impl MappedFile {
    pub(crate) fn open(path: &Path) -> Result<Self, FormatError> {
        let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
        let size = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
        if size == 0 {
            return Ok(Self { map: None });
        }
        Ok(Self {
            map: Some(map_read_only(&file).map_err(|e| FormatError::io(path, e))?),
        })
    }

    /// Tells the kernel the mapping will be read front to back (hashing), so
    /// it reads ahead aggressively and drops pages behind us.
    pub(crate) fn advise_sequential(&self) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            // Advice is only a hint; failing to give it changes nothing but speed.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
    }
}

impl Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

#[allow(unsafe_code)]
fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is read-only and every byte read from it is treated
    // as untrusted input and bounds-checked, so concurrent modification can
    // yield wrong values or errors but no undefined behaviour in our parsers.
    // Truncating the file underneath us can still raise SIGBUS; that is the
    // accepted cost of zero-copy reads, as for every mmap-based model loader.
    unsafe { Mmap::map(file) }
}

/// Reads a small side file (config.json, README.md, ...) whole, refusing files
/// over `limit` bytes so that a hostile folder cannot make us allocate much.
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FormatError> {
    let file = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let size = file.metadata().map_err(|e| FormatError::io(path, e))?.len();
    if size > limit {
        return Err(FormatError::FileTooLarge {
            path: path.to_path_buf(),
            size,
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // `take` guards against a file that grows while we read it.
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FormatError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(FormatError::FileTooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Parses a small JSON side file into `T`, naming the file on failure.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: u64,
) -> Result<T, FormatError> {
    let bytes = read_capped(path, limit)?;
    serde_json::from_slice(&bytes).map_err(|source| FormatError::Json {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_files_map_to_empty_bytes() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("empty");
        std::fs::write(&path, b"")?;
        assert!(MappedFile::open(&path)?.is_empty());
        Ok(())
    }

    #[test]
    fn capped_reads_refuse_large_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("big.json");
        std::fs::write(&path, [b' '; 100])?;
        assert!(matches!(
            read_capped(&path, 99),
            Err(FormatError::FileTooLarge {
                size: 100,
                limit: 99,
                ..
            })
        ));
        assert_eq!(read_capped(&path, 100)?.len(), 100);
        Ok(())
    }
}
