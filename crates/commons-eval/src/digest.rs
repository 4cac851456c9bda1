//! Canonical JSON and the digests built on it. A suite and a run's per-item
//! results are identified by the sha256 of their canonical bytes, so the same
//! content has the same digest on every machine however it was formatted.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// Compact JSON with object keys sorted (by bytes) at every level.
///
/// Written by hand rather than relying on `serde_json::Map` order: another
/// crate in the build turning on serde_json's `preserve_order` would otherwise
/// silently change every digest.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        // Scalars: serde_json's own rendering (minimal escaping, shortest round-trip floats).
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Canonical JSON Lines: one canonical value per line, each ending in `\n`.
pub fn canonical_jsonl<'a>(values: impl IntoIterator<Item = &'a Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for value in values {
        out.extend_from_slice(canonical_json(value).as_bytes());
        out.push(b'\n');
    }
    out
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest (or the input when it has no prefix).
pub fn hex_part(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// Whether `s` is `sha256:` followed by 64 lowercase hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_at_every_level_and_output_is_compact() {
        let value = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": "é\n"}], "c": null}});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"z":[1,{"x":"é\n","y":2}]},"b":1}"#
        );
    }

    #[test]
    fn the_same_content_parsed_from_differently_formatted_text_has_one_digest() {
        let a: Value = serde_json::from_str(r#"{"id": "q1", "choices": ["x", "y"]}"#).unwrap();
        let b: Value =
            serde_json::from_str("{\"choices\":[\"x\",\"y\"],\n \"id\":\"q1\"}").unwrap();
        assert_eq!(
            sha256_digest(&canonical_jsonl([&a])),
            sha256_digest(&canonical_jsonl([&b]))
        );
    }

    #[test]
    fn floats_render_as_shortest_round_trip() {
        assert_eq!(canonical_json(&json!(-1.25f64)), "-1.25");
        assert_eq!(canonical_json(&json!(0.1f64)), "0.1");
    }

    #[test]
    fn digest_shape() {
        let d = sha256_digest(b"");
        assert!(is_sha256_digest(&d));
        assert_eq!(
            hex_part(&d),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(!is_sha256_digest("sha256:ABC"));
    }
}
