//! `name[:tag]` model references, validated like OCI repository names and tags.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// The tag used when a reference names no tag, as in Docker and Ollama.
pub const DEFAULT_TAG: &str = "latest";

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A movable pointer `name:tag` to a model manifest.
///
/// Names follow OCI repository names: path components of lowercase letters and
/// digits, joined inside a component by `.`, `_`, `__` or runs of `-`, and
/// components joined by `/`. Tags are `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub tag: String,
}

impl Reference {
    /// Builds a reference from parts, validating both.
    pub fn new(name: &str, tag: &str) -> Result<Reference, StoreError> {
        let whole = format!("{name}:{tag}");
        validate_name(name).map_err(|reason| invalid(&whole, reason))?;
        validate_tag(tag).map_err(|reason| invalid(&whole, reason))?;
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// Parses `name` or `name:tag`; the tag defaults to [`DEFAULT_TAG`].
    pub fn parse(input: &str) -> Result<Reference, StoreError> {
        // The tag separator is the last `:` after the last `/`, so that a `:` can
        // never hide inside a tag; names themselves cannot contain `:`.
        let last_slash = input.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match input.get(last_slash..).and_then(|tail| tail.rfind(':')) {
            Some(colon) => {
                let at = last_slash + colon;
                (&input[..at], &input[at + 1..])
            }
            None => (input, DEFAULT_TAG),
        };
        if input.contains('@') {
            return Err(invalid(
                input,
                "`@digest` references are not names; pass the digest alone".into(),
            ));
        }
        validate_name(name).map_err(|reason| invalid(input, reason))?;
        validate_tag(tag).map_err(|reason| invalid(input, reason))?;
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }
}

fn invalid(input: &str, reason: String) -> StoreError {
    let suggestion = suggest_valid(input).filter(|s| s != input);
    StoreError::InvalidReference {
        input: input.to_string(),
        reason,
        suggestion,
    }
}

/// A valid reference close to `input` (lowercased, bad characters replaced), if one exists.
fn suggest_valid(input: &str) -> Option<String> {
    let (name, tag) = match input.rsplit_once(':') {
        Some((n, t)) if !n.is_empty() && !t.contains('/') => (n, Some(t)),
        _ => (input, None),
    };
    let name = sanitize_name(name)?;
    let reference = match tag {
        Some(t) => Reference::new(&name, &sanitize_tag(t)?).ok()?,
        None => Reference::new(&name, DEFAULT_TAG).ok()?,
    };
    Some(if tag.is_some() {
        reference.to_string()
    } else {
        reference.name
    })
}

/// Turns arbitrary text into a valid repository name: lowercase, runs of other
/// characters collapsed to `-`, no separator at either end of a component.
/// Returns `None` when nothing usable is left.
pub fn sanitize_name(text: &str) -> Option<String> {
    let components: Vec<String> = text
        .split('/')
        .filter_map(|component| {
            let mut out = String::with_capacity(component.len());
            for ch in component.chars() {
                let ch = ch.to_ascii_lowercase();
                if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
                    out.push(ch);
                } else if matches!(ch, '.' | '_' | '-') {
                    // Keep `.` and `_` only singly and never twice in a row with anything else.
                    match out.chars().last() {
                        Some(last) if last.is_ascii_alphanumeric() => out.push(ch),
                        Some('-') if ch == '-' => out.push(ch),
                        _ => {}
                    }
                } else if out
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    out.push('-');
                }
            }
            while out.ends_with(['.', '_', '-']) {
                out.pop();
            }
            (!out.is_empty()).then_some(out)
        })
        .collect();
    let mut name = components.join("/");
    name.truncate(MAX_NAME_LEN);
    while name.ends_with(['.', '_', '-', '/']) {
        name.pop();
    }
    validate_name(&name).is_ok().then_some(name)
}

/// Turns arbitrary text into a valid tag, or `None` when nothing usable is left.
pub fn sanitize_tag(text: &str) -> Option<String> {
    let mut tag: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while tag.starts_with(['.', '-']) {
        tag.remove(0);
    }
    tag.truncate(MAX_TAG_LEN);
    validate_tag(&tag).is_ok().then_some(tag)
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        ));
    }
    for component in name.split('/') {
        validate_component(component)?;
    }
    Ok(())
}

/// One path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn validate_component(component: &str) -> Result<(), String> {
    if component.is_empty() {
        return Err("the name has an empty path component (`//`, or `/` at an end)".into());
    }
    let bytes = component.as_bytes();
    let mut i = 0;
    let mut expect_alnum = true;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            expect_alnum = false;
            i += 1;
            continue;
        }
        if b.is_ascii_uppercase() {
            return Err("names must be lowercase".into());
        }
        if !matches!(b, b'.' | b'_' | b'-') {
            let shown = component
                .get(i..)
                .and_then(|s| s.chars().next())
                .unwrap_or('?');
            return Err(format!("the name contains `{shown}`, which is not allowed"));
        }
        if expect_alnum {
            return Err(format!(
                "`{component}` must start with a letter or digit and separators must sit between letters or digits"
            ));
        }
        // Consume one separator: `.`, `_`, `__` or a run of `-`.
        let run_end = match b {
            b'.' => i + 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => i + 2,
            b'_' => i + 1,
            _ => {
                let mut j = i;
                while bytes.get(j) == Some(&b'-') {
                    j += 1;
                }
                j
            }
        };
        i = run_end;
        expect_alnum = true;
    }
    if expect_alnum {
        return Err(format!("`{component}` must end with a letter or digit"));
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), String> {
    if tag.is_empty() {
        return Err("the tag after `:` is empty".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return Err(format!(
            "the tag is {} characters long; at most {MAX_TAG_LEN} are allowed",
            tag.len()
        ));
    }
    let mut chars = tag.chars();
    let first = chars.next().unwrap_or('-');
    if !(first.is_ascii_alphanumeric() || first == '_') {
        return Err("the tag must start with a letter, digit or `_`".into());
    }
    if let Some(bad) = tag
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!("the tag contains `{bad}`, which is not allowed"));
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Reference, StoreError> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_tag() {
        let r = Reference::parse("smollm2-135m:q4_K_M").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("smollm2-135m", "q4_K_M")
        );
        let r = Reference::parse("org/model.v2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("org/model.v2", "latest")
        );
        assert_eq!(r.to_string(), "org/model.v2:latest");
        let r = Reference::parse("a__b--c/d_e:_x.y-z").unwrap();
        assert_eq!(r.tag, "_x.y-z");
    }

    #[test]
    fn rejects_invalid_names_and_tags_with_reasons() {
        for (input, needle) in [
            ("", "empty"),
            ("SmolLM", "lowercase"),
            ("a//b", "empty path component"),
            ("-a", "start"),
            ("a-", "end"),
            ("a..b", "separators"),
            ("a___b", "separators"),
            ("a b", "not allowed"),
            ("a:", "tag after `:` is empty"),
            ("a:-x", "must start"),
            ("a:x/y", "not allowed"),
            ("a@sha256:00", "@digest"),
        ] {
            let err = Reference::parse(input).unwrap_err();
            assert!(
                err.to_string().contains(needle),
                "{input:?}: {err} should mention {needle:?}"
            );
        }
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn invalid_reference_suggests_a_valid_one() {
        let err = Reference::parse("SmolLM2-135M:Q4_K_M").unwrap_err();
        assert_eq!(err.hint().as_deref(), Some("try `smollm2-135m:Q4_K_M`"));
    }

    #[test]
    fn sanitize_produces_valid_names() {
        assert_eq!(
            sanitize_name("SmolLM2-135M-Instruct").as_deref(),
            Some("smollm2-135m-instruct")
        );
        assert_eq!(
            sanitize_name("  My Model (v2)!! ").as_deref(),
            Some("my-model-v2")
        );
        assert_eq!(sanitize_name("__x..y__").as_deref(), Some("x.y"));
        assert_eq!(sanitize_name("???"), None);
        assert_eq!(sanitize_tag("Q4_K_M").as_deref(), Some("Q4_K_M"));
        assert_eq!(sanitize_tag("..v1 beta").as_deref(), Some("v1-beta"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(input in "\\PC{0,80}") {
            if let Ok(r) = Reference::parse(&input) {
                let again = Reference::parse(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(again, r);
            }
        }

        #[test]
        fn sanitized_names_and_tags_are_always_valid(input in "\\PC{0,300}") {
            if let Some(name) = sanitize_name(&input) {
                proptest::prop_assert!(validate_name(&name).is_ok(), "{}", name);
            }
            if let Some(tag) = sanitize_tag(&input) {
                proptest::prop_assert!(validate_tag(&tag).is_ok(), "{}", tag);
            }
        }
    }
}
