//! Where models come from and go to: `oci://`, `http(s)://` (another commons
//! node or any registry, spoken to with the OCI protocol) and `hf://`.

use crate::error::{DistributionError, Result};

/// A parsed source or destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An OCI registry (a commons node is one too).
    Oci(OciLocation),
    /// A Hugging Face-compatible hub.
    Hub(HubLocation),
}

/// `base` is `http(s)://host[:port]`; `reference` a tag or a `sha256:` digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OciLocation {
    pub base: String,
    pub repository: String,
    pub reference: String,
}

impl OciLocation {
    /// `host[:port]/repo:tag` or `…@sha256:…`, for messages.
    pub fn display(&self) -> String {
        let host = self.base.split("://").nth(1).unwrap_or(&self.base);
        if self.reference.starts_with("sha256:") {
            format!("{host}/{}@{}", self.repository, self.reference)
        } else {
            format!("{host}/{}:{}", self.repository, self.reference)
        }
    }

    /// The tag, when the reference is one.
    pub fn tag(&self) -> Option<&str> {
        (!self.reference.starts_with("sha256:")).then_some(self.reference.as_str())
    }
}

/// A hub repository at a revision; `endpoint` is the hub's base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubLocation {
    pub endpoint: String,
    pub repo: String,
    pub revision: String,
}

impl Location {
    /// Parses `input`. `hub_endpoint` is used for `hf://` (from `--endpoint` or
    /// `HF_ENDPOINT`); `plain_http` forces `http` for `oci://` hosts, which is
    /// otherwise used only for loopback hosts, as container tools do.
    pub fn parse(input: &str, hub_endpoint: Option<&str>, plain_http: bool) -> Result<Location> {
        let invalid = |reason: &str| DistributionError::InvalidLocation {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = input.strip_prefix("hf://") {
            let endpoint = hub_endpoint.filter(|e| !e.is_empty()).ok_or_else(|| {
                invalid("hf:// needs a hub endpoint: pass --endpoint URL or set HF_ENDPOINT")
            })?;
            let (repo, revision) = match rest.split_once('@') {
                Some((repo, rev)) if !rev.is_empty() => (repo, rev),
                Some(_) => return Err(invalid("empty revision after `@`")),
                None => (rest, "main"),
            };
            let parts: Vec<&str> = repo.split('/').collect();
            if parts.is_empty() || parts.len() > 2 || parts.iter().any(|p| !valid_hub_part(p)) {
                return Err(invalid("a hub repository is `name` or `org/name`"));
            }
            return Ok(Location::Hub(HubLocation {
                endpoint: endpoint.trim_end_matches('/').to_string(),
                repo: repo.to_string(),
                revision: revision.to_string(),
            }));
        }
        let (scheme, rest) = if let Some(rest) = input.strip_prefix("oci://") {
            (None, rest)
        } else if let Some(rest) = input.strip_prefix("http://") {
            (Some("http"), rest)
        } else if let Some(rest) = input.strip_prefix("https://") {
            (Some("https"), rest)
        } else {
            return Err(invalid("expected oci://, http://, https:// or hf://"));
        };
        let (host, path) = rest
            .split_once('/')
            .ok_or_else(|| invalid("missing the repository after the host"))?;
        if host.is_empty() || host.contains(['@', '?', '#']) {
            return Err(invalid("missing or invalid host"));
        }
        let scheme = scheme.unwrap_or(if plain_http || is_loopback(host) {
            "http"
        } else {
            "https"
        });
        let path = path.trim_start_matches("v2/");
        let (name_and_tag, digest) = match path.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (path, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => (
                &name_and_tag[..last_slash + colon],
                Some(&name_and_tag[last_slash + colon + 1..]),
            ),
            None => (name_and_tag, None),
        };
        // Validate with the store's rules, which are the OCI rules.
        commons_store::Reference::new(repository, tag.unwrap_or("latest"))
            .map_err(|e| invalid(&e.to_string()))?;
        let reference = match digest {
            Some(d) => {
                d.parse::<commons_store::Digest>()
                    .map_err(|e| invalid(&e.to_string()))?;
                d.to_string()
            }
            None => tag.unwrap_or("latest").to_string(),
        };
        Ok(Location::Oci(OciLocation {
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            reference,
        }))
    }
}

fn valid_hub_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part.len() <= 96
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_loopback(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(name, "localhost" | "[::1]") || name.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(input: &str) -> OciLocation {
        match Location::parse(input, None, false).unwrap() {
            Location::Oci(l) => l,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oci_locations_default_the_tag_and_pick_http_for_loopback() {
        let l = oci("oci://127.0.0.1:5000/smollm2");
        assert_eq!(l.base, "http://127.0.0.1:5000");
        assert_eq!(
            (l.repository.as_str(), l.reference.as_str()),
            ("smollm2", "latest")
        );
        let l = oci("oci://registry.example:5000/org/model:q4");
        assert_eq!(l.base, "https://registry.example:5000");
        assert_eq!((l.repository.as_str(), l.tag()), ("org/model", Some("q4")));
        let digest = format!("sha256:{}", "a".repeat(64));
        let l = oci(&format!("http://node:8080/m@{digest}"));
        assert_eq!(
            (l.base.as_str(), l.reference.as_str()),
            ("http://node:8080", digest.as_str())
        );
        assert_eq!(l.tag(), None);
    }

    #[test]
    fn hub_locations_need_an_endpoint() {
        assert!(Location::parse("hf://org/repo", None, false).is_err());
        let l = Location::parse("hf://org/repo@v1", Some("http://127.0.0.1:9/"), false).unwrap();
        assert_eq!(
            l,
            Location::Hub(HubLocation {
                endpoint: "http://127.0.0.1:9".into(),
                repo: "org/repo".into(),
                revision: "v1".into()
            })
        );
    }

    #[test]
    fn bad_locations_say_why() {
        for bad in [
            "smollm2",
            "oci://host",
            "oci:///repo",
            "oci://host/UPPER",
            "oci://host/repo@sha256:xyz",
            "hf://a/b/c",
            "hf://../x",
        ] {
            let err = Location::parse(bad, Some("http://h"), false).unwrap_err();
            assert!(
                matches!(err, DistributionError::InvalidLocation { .. }),
                "{bad}: {err}"
            );
        }
    }
}
