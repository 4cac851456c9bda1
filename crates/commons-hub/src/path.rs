//! Reading paths from the raw (still percent-encoded) request URI.
//!
//! Repo ids contain `/`, revisions arrive percent-encoded with `/` escaped, and
//! file paths arrive with literal `/`, so the routes match wildcards and this
//! module splits and decodes by hand. Files are only ever looked up by exact
//! match against the paths a manifest lists, so nothing here can reach the
//! filesystem; refusing `..`, `.`, empty components and encoded separators is a
//! second wall, and it makes such requests fail loudly (400) instead of quietly.

use percent_encoding::percent_decode_str;

use crate::error::HubError;

/// Percent-decodes `raw` as UTF-8.
pub(crate) fn decode(raw: &str) -> Result<String, HubError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| HubError::BadRequest(format!("`{raw}` is not valid UTF-8 once decoded")))
}

/// Checks one component of a path inside a repo.
fn check_component(component: &str, whole: &str) -> Result<(), HubError> {
    let bad = component.is_empty()
        || component == "."
        || component == ".."
        || component.contains(['/', '\\'])
        || component.chars().any(char::is_control);
    if bad {
        return Err(HubError::BadRequest(format!(
            "Invalid path `{whole}`: paths inside a repo are relative, without `.`, `..`, empty or encoded separators"
        )));
    }
    Ok(())
}

/// A file path of a `resolve` URL: raw segments separated by literal `/`. Each
/// segment is decoded on its own, so an encoded `/` (`%2F`) or `..` (`%2e%2e`)
/// is refused rather than turned into a separator or a parent step.
pub(crate) fn file_path(raw_segments: &[&str]) -> Result<String, HubError> {
    let whole = raw_segments.join("/");
    if raw_segments.is_empty() {
        return Err(HubError::BadRequest("a file path is missing".into()));
    }
    let mut parts = Vec::with_capacity(raw_segments.len());
    for raw in raw_segments {
        let part = decode(raw)?;
        check_component(&part, &whole)?;
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// The folder of a `tree` URL. Clients encode the whole folder path as one
/// segment (`/` becomes `%2F`), so here `%2F` is a separator; every component
/// is still checked. An empty path is the repo root.
pub(crate) fn tree_path(raw: &str) -> Result<String, HubError> {
    let decoded = decode(raw)?;
    let trimmed = decoded.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for component in trimmed.split('/') {
        check_component(component, trimmed)?;
    }
    Ok(trimmed.to_string())
}

/// True for a path a manifest may list and a client may write to disk: the
/// same rules as request paths, so a file we list can always be requested.
pub(crate) fn is_clean_relative(path: &str) -> bool {
    !path.is_empty() && path.split('/').all(|c| check_component(c, path).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_decode_each_segment() {
        assert_eq!(
            file_path(&["1_Pooling", "config.json"]).ok().as_deref(),
            Some("1_Pooling/config.json")
        );
        assert_eq!(file_path(&["a%20b.txt"]).ok().as_deref(), Some("a b.txt"));
    }

    #[test]
    fn file_paths_refuse_traversal_and_encoded_separators() {
        for bad in [
            &["..", "etc", "passwd"][..],
            &["%2e%2e", "x"],
            &["%2E%2E"],
            &["a%2Fb"],
            &["a%2f..%2fb"],
            &["a%5Cb"],
            &["."],
            &["a", "", "b"],
            &["%00"],
            &["%ff"],
            &[],
        ] {
            assert!(file_path(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn tree_paths_treat_encoded_slash_as_separator() {
        assert_eq!(
            tree_path("1_Pooling%2Fsub").ok().as_deref(),
            Some("1_Pooling/sub")
        );
        assert_eq!(tree_path("").ok().as_deref(), Some(""));
        assert_eq!(tree_path("dir/").ok().as_deref(), Some("dir"));
        assert!(tree_path("..").is_err());
        assert!(tree_path("a%2F..%2Fb").is_err());
    }

    #[test]
    fn clean_relative_paths() {
        assert!(is_clean_relative("model.safetensors"));
        assert!(is_clean_relative("1_Pooling/config.json"));
        assert!(!is_clean_relative("/etc/passwd"));
        assert!(!is_clean_relative("../x"));
        assert!(!is_clean_relative(""));
    }
}
