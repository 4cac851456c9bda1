//! The credentials a request carries: a Bearer token, or HTTP Basic with the
//! token as password (the user name is ignored).

use axum::http::{header, HeaderMap};
use base64::Engine as _;

use super::refusal::Refusal;
use super::ANONYMOUS_TOKEN;

/// Credentials as sent.
pub(super) enum Credentials {
    None,
    Secret(String),
}

pub(super) fn credentials(headers: &HeaderMap) -> Result<Credentials, Refusal> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let malformed = || Refusal::unauthorized("the Authorization header is not Bearer or Basic");
    let value = value.to_str().map_err(|_| malformed())?.trim();
    let (kind, rest) = value.split_once(' ').ok_or_else(malformed)?;
    let rest = rest.trim();
    if kind.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest == ANONYMOUS_TOKEN {
            return Ok(Credentials::None);
        }
        return Ok(Credentials::Secret(rest.to_string()));
    }
    if kind.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(malformed)?;
        let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
        // The token is the password; some tools only have a user field.
        let secret = if password.is_empty() { user } else { password };
        if secret.is_empty() {
            return Ok(Credentials::None);
        }
        return Ok(Credentials::Secret(secret.to_string()));
    }
    Err(malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_as_bearer_or_basic() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            credentials(&headers)
        };
        let secret = |c: Result<Credentials, Refusal>| match c {
            Ok(Credentials::Secret(s)) => Some(s),
            _ => None,
        };
        assert_eq!(secret(with("Bearer cmn_abc")).as_deref(), Some("cmn_abc"));
        let basic = base64::engine::general_purpose::STANDARD.encode("me:cmn_abc");
        assert_eq!(
            secret(with(&format!("Basic {basic}"))).as_deref(),
            Some("cmn_abc")
        );
        let user_only = base64::engine::general_purpose::STANDARD.encode("cmn_abc:");
        assert_eq!(
            secret(with(&format!("basic {user_only}"))).as_deref(),
            Some("cmn_abc")
        );
        assert!(matches!(with("Bearer anonymous"), Ok(Credentials::None)));
        assert!(with("Digest x").is_err());
        assert!(with("Basic !!!").is_err());
        assert!(matches!(
            credentials(&HeaderMap::new()),
            Ok(Credentials::None)
        ));
    }
}
