//! A bounded little-endian reader over untrusted bytes.
//!
//! Every read checks the remaining length first and reports a shortfall as
//! [`Short`], which the caller turns into a [`FormatError::Truncated`] that
//! says what it was reading. Nothing here can panic or allocate.

use std::path::Path;

use crate::FormatError;

/// A read that ran past the end of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Short {
    pub offset: u64,
    pub needed: u64,
}

impl Short {
    pub(crate) fn describe(self, path: &Path, size: u64, what: impl Into<String>) -> FormatError {
        FormatError::Truncated {
            path: path.to_path_buf(),
            what: what.into(),
            offset: self.offset,
            needed: self.needed,
            size,
        }
    }
}

pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    pub(crate) fn position(&self) -> u64 {
        self.position as u64
    }

    pub(crate) fn remaining(&self) -> u64 {
        (self.bytes.len() - self.position.min(self.bytes.len())) as u64
    }

    /// The next `count` bytes, without copying.
    pub(crate) fn take(&mut self, count: u64) -> Result<&'a [u8], Short> {
        let short = Short {
            offset: self.position(),
            needed: count,
        };
        let count = usize::try_from(count).map_err(|_| short)?;
        let end = self.position.checked_add(count).ok_or(short)?;
        let slice = self.bytes.get(self.position..end).ok_or(short)?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let slice = self.take(N as u64)?;
        let mut array = [0u8; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        Ok(u8::from_le_bytes(self.array()?))
    }
    pub(crate) fn i8(&mut self) -> Result<i8, Short> {
        Ok(i8::from_le_bytes(self.array()?))
    }
    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub(crate) fn i16(&mut self) -> Result<i16, Short> {
        Ok(i16::from_le_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, Short> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(crate) fn f32(&mut self) -> Result<f32, Short> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    pub(crate) fn f64(&mut self) -> Result<f64, Short> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_stops_at_the_end() {
        let mut reader = ByteReader::new(&[1, 0, 0, 0, 2]);
        assert_eq!(reader.u32(), Ok(1));
        assert_eq!(reader.remaining(), 1);
        assert_eq!(
            reader.u16(),
            Err(Short {
                offset: 4,
                needed: 2
            })
        );
        // A failed read consumes nothing.
        assert_eq!(reader.u8(), Ok(2));
    }

    #[test]
    fn huge_takes_fail_without_overflow() {
        let mut reader = ByteReader::new(&[0; 8]);
        assert!(reader.take(u64::MAX).is_err());
        assert!(reader.take(9).is_err());
        assert_eq!(reader.take(8).map(<[u8]>::len), Ok(8));
    }
}
