//! Parsing `/v2/…` paths.
//!
//! Repository names contain `/`, so the router hands over everything after
//! `/v2/` and the route is recognised from the end, as the reference registry
//! does: `<name>/manifests/<ref>`, `<name>/blobs/<digest>`,
//! `<name>/blobs/uploads/[<id>]`, `<name>/tags/list`, `<name>/referrers/<digest>`.
//!
//! The raw (still percent-encoded) path is parsed: no valid name, tag, digest or
//! upload id contains `%`, so an encoded `/` or `.` can never sneak a second
//! meaning past the checks, and `..` is not a valid name component.

use commons_store::{Digest, Reference};

use crate::error::OciError;

/// What a `/v2/` path addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/manifests/<reference>`; the reference is checked by the handler
    /// because a bad tag means different things to a read and to a push.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: Digest },
    /// `/v2/<name>/blobs/uploads/`: starts an upload (or mounts a blob).
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: String, id: String },
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers { name: String, digest: Digest },
}

impl Route {
    /// The repository the route is about, if any (for auth scopes).
    pub fn repository(&self) -> Option<&str> {
        match self {
            Route::Base | Route::Catalog => None,
            Route::Manifest { name, .. }
            | Route::Blob { name, .. }
            | Route::UploadStart { name }
            | Route::Upload { name, .. }
            | Route::Tags { name }
            | Route::Referrers { name, .. } => Some(name),
        }
    }
}

/// Parses the part of the path after `/v2/`. `Ok(None)` means no such route (404).
pub fn parse(rest: &str) -> Result<Option<Route>, OciError> {
    match rest {
        "" => return Ok(Some(Route::Base)),
        "_catalog" => return Ok(Some(Route::Catalog)),
        _ => {}
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let n = parts.len();
    let name_of = |len: usize| -> Result<String, OciError> { check_name(&parts[..len].join("/")) };
    // Upload routes first: `uploads` sits where the other routes have their
    // last-but-one segment.
    if n >= 4 && parts[n - 3] == "blobs" && parts[n - 2] == "uploads" {
        let name = name_of(n - 3)?;
        let id = parts[n - 1];
        return Ok(Some(if id.is_empty() {
            Route::UploadStart { name }
        } else {
            Route::Upload {
                name,
                id: id.to_string(),
            }
        }));
    }
    if n < 3 {
        return Ok(None);
    }
    let (kind, last) = (parts[n - 2], parts[n - 1]);
    let route = match kind {
        "blobs" if last == "uploads" => Route::UploadStart {
            name: name_of(n - 2)?,
        },
        "blobs" => Route::Blob {
            name: name_of(n - 2)?,
            digest: parse_digest(last)?,
        },
        "manifests" if !last.is_empty() => Route::Manifest {
            name: name_of(n - 2)?,
            reference: last.to_string(),
        },
        "tags" if last == "list" => Route::Tags {
            name: name_of(n - 2)?,
        },
        "referrers" => Route::Referrers {
            name: name_of(n - 2)?,
            digest: parse_digest(last)?,
        },
        _ => return Ok(None),
    };
    Ok(Some(route))
}

/// A repository name as the distribution spec and the store define it.
pub fn check_name(name: &str) -> Result<String, OciError> {
    if name.contains('%') {
        return Err(OciError::name_invalid(
            name,
            "percent-encoded characters are not allowed in names",
        ));
    }
    // The store's reference rules are the OCI name grammar; any valid tag will do.
    Reference::new(name, commons_store::DEFAULT_TAG)
        .map(|r| r.name)
        .map_err(|e| match e {
            commons_store::StoreError::InvalidReference { reason, .. } => {
                OciError::name_invalid(name, reason)
            }
            other => OciError::name_invalid(name, other),
        })
}

/// A `sha256:` digest from a URL or query; anything else is DIGEST_INVALID.
pub fn parse_digest(text: &str) -> Result<Digest, OciError> {
    text.parse::<Digest>()
        .map_err(|e| OciError::digest_invalid(e.to_string()))
}

/// True when `reference` names a digest rather than a tag (tags have no `:`).
pub fn is_digest_reference(reference: &str) -> bool {
    reference.contains(':')
}

/// Whether `tag` is a valid tag.
pub fn is_valid_tag(tag: &str) -> bool {
    Reference::new("a", tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn ok(rest: &str) -> Route {
        parse(rest).unwrap().unwrap()
    }

    fn code(rest: &str) -> Code {
        parse(rest).unwrap_err().code
    }

    #[test]
    fn routes_are_recognised_from_the_end_with_slashes_in_names() {
        assert_eq!(ok(""), Route::Base);
        assert_eq!(ok("_catalog"), Route::Catalog);
        assert_eq!(
            ok("org/team/model/manifests/latest"),
            Route::Manifest {
                name: "org/team/model".into(),
                reference: "latest".into()
            }
        );
        assert_eq!(
            ok(&format!("a/blobs/{D}")),
            Route::Blob {
                name: "a".into(),
                digest: D.parse().unwrap()
            }
        );
        assert_eq!(
            ok("a/b/blobs/uploads/"),
            Route::UploadStart { name: "a/b".into() }
        );
        assert_eq!(
            ok("a/blobs/uploads"),
            Route::UploadStart { name: "a".into() }
        );
        assert_eq!(
            ok("a/blobs/uploads/0123"),
            Route::Upload {
                name: "a".into(),
                id: "0123".into()
            }
        );
        assert_eq!(ok("x/tags/list"), Route::Tags { name: "x".into() });
        assert_eq!(
            ok(&format!("x/referrers/{D}")),
            Route::Referrers {
                name: "x".into(),
                digest: D.parse().unwrap()
            }
        );
        assert_eq!(parse("a/unknown/x").unwrap(), None);
        assert_eq!(parse("a").unwrap(), None);
        assert_eq!(parse("a/manifests/").unwrap(), None);
    }

    #[test]
    fn traversal_encoded_slashes_and_bad_names_are_name_invalid() {
        for rest in [
            "../manifests/latest",
            "a/../b/manifests/latest",
            "a%2F..%2Fb/manifests/latest",
            "a%2fb/tags/list",
            "./a/tags/list",
            "A/tags/list",
            "a//b/tags/list",
            "/a/tags/list",
        ] {
            assert_eq!(code(rest), Code::NameInvalid, "{rest}");
        }
    }

    #[test]
    fn digests_are_sha256_only() {
        assert_eq!(code("a/blobs/sha512:abcd"), Code::DigestInvalid);
        assert_eq!(code("a/blobs/sha256:abcd"), Code::DigestInvalid);
        assert_eq!(code("a/referrers/latest"), Code::DigestInvalid);
    }

    #[test]
    fn tags_and_digest_references() {
        assert!(is_valid_tag("v1.0_rc-1"));
        assert!(!is_valid_tag(".hidden"));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(is_digest_reference(D));
        assert!(!is_digest_reference("latest"));
    }
}
