//! The `Range` request header, single ranges only (RFC 9110 §14): what
//! `huggingface_hub` sends to resume a download (`bytes=N-`) and what other
//! clients use to read a file's header.

/// What to send for a `Range` header against a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    /// No usable range: the whole file, 200. Malformed, multi-range and
    /// non-byte ranges land here too, as RFC 9110 lets a server ignore them.
    Full,
    /// `start..=end`, both inside the file: 206.
    Partial { start: u64, end: u64 },
    /// A well-formed range that misses the file: 416.
    Unsatisfiable,
}

pub(crate) fn parse(header: Option<&str>, size: u64) -> ByteRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ByteRange::Full;
    };
    if spec.contains(',') {
        return ByteRange::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (number(first), last.trim().is_empty()) {
        // `bytes=-N`: the last N bytes.
        (None, false) if first.trim().is_empty() => match number(last) {
            Some(0) | None => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(n) => ByteRange::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
        },
        // `bytes=N-`: from N to the end.
        (Some(start), true) if start < size => ByteRange::Partial {
            start,
            end: size - 1,
        },
        (Some(_), true) => ByteRange::Unsatisfiable,
        // `bytes=N-M`.
        (Some(start), false) => match number(last) {
            Some(end) if end < start => ByteRange::Full,
            Some(_) if start >= size => ByteRange::Unsatisfiable,
            Some(end) => ByteRange::Partial {
                start,
                end: end.min(size - 1),
            },
            None => ByteRange::Full,
        },
        _ => ByteRange::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse(None, 10), Full);
        assert_eq!(parse(Some("bytes=0-"), 10), Partial { start: 0, end: 9 });
        assert_eq!(parse(Some("bytes=4-"), 10), Partial { start: 4, end: 9 });
        assert_eq!(parse(Some("bytes=2-5"), 10), Partial { start: 2, end: 5 });
        assert_eq!(parse(Some("bytes=2-500"), 10), Partial { start: 2, end: 9 });
        assert_eq!(parse(Some("bytes=-3"), 10), Partial { start: 7, end: 9 });
        assert_eq!(parse(Some("bytes=-30"), 10), Partial { start: 0, end: 9 });
    }

    #[test]
    fn ranges_outside_the_file_are_unsatisfiable() {
        assert_eq!(parse(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=10-20"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(parse(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn ranges_we_do_not_serve_give_the_whole_file() {
        for header in [
            "items=0-5",
            "bytes=0-1,4-5",
            "bytes=5-2",
            "bytes=x-",
            "bytes=1-y",
            "bytes=-",
            "bytes=+1-2",
            "0-5",
        ] {
            assert_eq!(parse(Some(header), 10), Full, "{header}");
        }
    }
}
