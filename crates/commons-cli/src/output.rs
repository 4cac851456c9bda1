//! Small formatting helpers shared by the commands' human output.

use serde::Serialize;

pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Sizes the way people read them: 1000-based units, three significant digits.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else if value < 100.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// Parameter counts as model cards write them: 135M, 1.2B.
pub fn human_count(count: u64) -> String {
    let value = count as f64;
    if count >= 1_000_000_000 {
        format!("{:.1}B", value / 1e9)
    } else if count >= 1_000_000 {
        format!("{:.1}M", value / 1e6)
    } else if count >= 1_000 {
        format!("{:.1}K", value / 1e3)
    } else {
        count.to_string()
    }
}

/// The short digest shown in tables: the first 12 hex digits, as docker does.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(98_000_000), "98.0 MB");
        assert_eq!(human_bytes(1_234_000_000), "1.23 GB");
        assert_eq!(human_bytes(253_000_000), "253 MB");
    }

    #[test]
    fn counts_are_human() {
        assert_eq!(human_count(134_515_008), "134.5M");
        assert_eq!(human_count(22_713_216), "22.7M");
        assert_eq!(human_count(7_000_000_000), "7.0B");
    }

    #[test]
    fn short_digests() {
        assert_eq!(short_digest("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_digest("abc"), "abc");
    }
}
