//! Byte ranges: the `Range` header of blob GETs (RFC 9110 §14) and the
//! `Content-Range` of upload chunks (the spec's `<start>-<end>`, inclusive).

/// What a `Range` header asks of a body of `size` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requested {
    /// No usable range: send everything (absent, malformed or several ranges,
    /// which RFC 9110 lets a server ignore).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A well-formed range that misses the body: 416.
    Unsatisfiable,
}

/// Interprets a `Range` header value for a body of `size` bytes.
pub fn requested(header: Option<&str>, size: u64) -> Requested {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Requested::Whole;
    };
    if spec.contains(',') {
        return Requested::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Requested::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (first.is_empty(), number(first), number(last)) {
        // `bytes=-N`: the last N bytes.
        (true, _, Some(suffix)) => {
            if suffix == 0 || size == 0 {
                Requested::Unsatisfiable
            } else {
                Requested::Part {
                    start: size.saturating_sub(suffix),
                    end: size - 1,
                }
            }
        }
        (false, Some(start), end) if last.is_empty() || end.is_some() => {
            if start >= size {
                return Requested::Unsatisfiable;
            }
            match end {
                Some(end) if end < start => Requested::Whole,
                Some(end) => Requested::Part {
                    start,
                    end: end.min(size - 1),
                },
                None => Requested::Part {
                    start,
                    end: size - 1,
                },
            }
        }
        _ => Requested::Whole,
    }
}

/// Parses an upload chunk's `Content-Range: <start>-<end>` (inclusive). Some
/// clients write it as an HTTP content range (`bytes 0-99/*`); both are accepted.
pub fn content_range(value: &str) -> Option<(u64, u64)> {
    let value = value.trim();
    let value = value.strip_prefix("bytes ").unwrap_or(value);
    let value = value.split('/').next()?;
    let (start, end) = value.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(start) || !digits(end) {
        return None;
    }
    let (start, end) = (start.parse().ok()?, end.parse().ok()?);
    (end >= start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_ranges() {
        let r = |h| requested(Some(h), 10);
        assert_eq!(requested(None, 10), Requested::Whole);
        assert_eq!(r("bytes=0-3"), Requested::Part { start: 0, end: 3 });
        assert_eq!(r("bytes=4-"), Requested::Part { start: 4, end: 9 });
        assert_eq!(r("bytes=8-100"), Requested::Part { start: 8, end: 9 });
        assert_eq!(r("bytes=-3"), Requested::Part { start: 7, end: 9 });
        assert_eq!(r("bytes=-30"), Requested::Part { start: 0, end: 9 });
        assert_eq!(r("bytes=10-"), Requested::Unsatisfiable);
        assert_eq!(r("bytes=-0"), Requested::Unsatisfiable);
        assert_eq!(r("bytes=0-1,4-5"), Requested::Whole);
        assert_eq!(r("items=0-1"), Requested::Whole);
        assert_eq!(r("bytes=x-1"), Requested::Whole);
        assert_eq!(r("bytes=5-2"), Requested::Whole);
        assert_eq!(requested(Some("bytes=0-"), 0), Requested::Unsatisfiable);
    }

    #[test]
    fn chunk_ranges() {
        assert_eq!(content_range("0-99"), Some((0, 99)));
        assert_eq!(content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(content_range("5-4"), None);
        assert_eq!(content_range("-4"), None);
        assert_eq!(content_range("a-b"), None);
    }
}
