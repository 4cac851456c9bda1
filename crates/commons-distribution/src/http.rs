//! One HTTP client for every remote, with the registry token dance: a 401 that
//! carries a `WWW-Authenticate: Bearer realm=…` challenge is answered by asking
//! the realm for a token (with our credentials as HTTP Basic) and retrying.

use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{HeaderMap, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use crate::error::{DistributionError, Result};

/// A remote endpoint: base URL, optional token, and the bearer token a
/// challenge handed us (reused until it is refused).
pub struct Remote {
    pub base: String,
    client: Client,
    token: Option<String>,
    bearer: Mutex<Option<String>>,
}

impl Remote {
    pub fn new(base: &str, token: Option<String>) -> Result<Remote> {
        let client = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Whole transfers of large weights take as long as they take; a
            // source that dies is noticed by the reset connection.
            .timeout(None)
            .user_agent(concat!("commons/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DistributionError::Transport {
                source_name: base.to_string(),
                action: "set up the HTTP client".into(),
                error: e.to_string(),
            })?;
        Ok(Remote {
            base: base.trim_end_matches('/').to_string(),
            client,
            token,
            bearer: Mutex::new(None),
        })
    }

    /// The host part, for messages.
    pub fn name(&self) -> &str {
        self.base.split("://").nth(1).unwrap_or(&self.base)
    }

    /// Sends `method path` (built fresh by `build` for each attempt), answering
    /// one auth challenge. Error statuses are returned as responses; only
    /// transport failures and refused credentials are errors.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        action: &str,
        build: &dyn Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let attempt = |auth: Option<String>| -> Result<Response> {
            let mut request = build(self.client.request(method.clone(), &url));
            if let Some(auth) = auth {
                request = request.header(AUTHORIZATION, auth);
            }
            request.send().map_err(|e| self.transport(action, &e))
        };
        let cached = self.bearer.lock().ok().and_then(|b| b.clone());
        let response = attempt(cached.clone().map(|b| format!("Bearer {b}")))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = parse_challenge(response.headers());
        let auth = match challenge {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                let bearer =
                    self.fetch_bearer(&realm, service.as_deref(), scope.as_deref(), action)?;
                if let Ok(mut slot) = self.bearer.lock() {
                    *slot = Some(bearer.clone());
                }
                format!("Bearer {bearer}")
            }
            Some(Challenge::Basic) | None => match &self.token {
                Some(token) => basic(token),
                None => return Err(self.unauthorized(action, 401)),
            },
        };
        let response = attempt(Some(auth))?;
        match response.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(self.unauthorized(action, response.status().as_u16()))
            }
            _ => Ok(response),
        }
    }

    fn fetch_bearer(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        action: &str,
    ) -> Result<String> {
        let mut request = self.client.get(realm);
        let mut query = Vec::new();
        if let Some(service) = service {
            query.push(("service", service));
        }
        if let Some(scope) = scope {
            query.push(("scope", scope));
        }
        request = request.query(&query);
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, basic(token));
        }
        let response = request
            .send()
            .map_err(|e| self.transport("get a registry token", &e))?;
        if !response.status().is_success() {
            return Err(self.unauthorized(action, response.status().as_u16()));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
        }
        let answer: TokenAnswer = response.json().map_err(|e| DistributionError::Protocol {
            source_name: self.name().to_string(),
            problem: format!("the token endpoint answered something that is not a token: {e}"),
        })?;
        answer
            .token
            .or(answer.access_token)
            .ok_or_else(|| self.unauthorized(action, 401))
    }

    pub fn transport(&self, action: &str, error: &reqwest::Error) -> DistributionError {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        DistributionError::Transport {
            source_name: self.name().to_string(),
            action: action.to_string(),
            error: text,
        }
    }

    pub fn io_error(&self, action: &str, error: &std::io::Error) -> DistributionError {
        DistributionError::Transport {
            source_name: self.name().to_string(),
            action: action.to_string(),
            error: error.to_string(),
        }
    }

    fn unauthorized(&self, action: &str, status: u16) -> DistributionError {
        DistributionError::Unauthorized {
            source_name: self.name().to_string(),
            action: action.to_string(),
            status,
        }
    }

    /// An error for an unexpected status, with the body's message when it has one.
    pub fn status_error(&self, action: &str, response: Response) -> DistributionError {
        let status = response.status().as_u16();
        let detail = response.text().ok().and_then(|body| error_detail(&body));
        DistributionError::Remote {
            source_name: self.name().to_string(),
            action: action.to_string(),
            status,
            detail,
        }
    }
}

fn basic(token: &str) -> String {
    let pair = format!("commons:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The first message of an OCI error body, or a Hub `{"error": …}`, or a short body.
fn error_detail(body: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(body).ok()?;
    if let Some(first) = json["errors"].get(0) {
        let code = first["code"].as_str().unwrap_or("");
        let message = first["message"].as_str().unwrap_or("");
        return Some(format!("{code} {message}").trim().to_string());
    }
    json["error"].as_str().map(str::to_string)
}

enum Challenge {
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    Basic,
}

fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let (scheme, params) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut scope = None;
    for (key, value) in auth_params(params) {
        match key.as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            "scope" => scope = Some(value),
            _ => {}
        }
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
        scope,
    })
}

/// `key="value", key2=value2` (values may contain commas inside quotes).
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.push((key, value.to_string()));
        rest = remaining.trim_start_matches([',', ' ']);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_with_quoted_commas() {
        let mut headers = HeaderMap::new();
        headers.insert(
            WWW_AUTHENTICATE,
            r#"Bearer realm="http://n:1/v2/token",service="commons",scope="repository:a/b:pull,push""#
                .parse()
                .unwrap(),
        );
        match parse_challenge(&headers) {
            Some(Challenge::Bearer {
                realm,
                service,
                scope,
            }) => {
                assert_eq!(realm, "http://n:1/v2/token");
                assert_eq!(service.as_deref(), Some("commons"));
                assert_eq!(scope.as_deref(), Some("repository:a/b:pull,push"));
            }
            _ => panic!("not parsed"),
        }
    }

    #[test]
    fn error_bodies_give_their_first_message() {
        assert_eq!(
            error_detail(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN no such manifest")
        );
        assert_eq!(
            error_detail(r#"{"error":"Repository not found"}"#).as_deref(),
            Some("Repository not found")
        );
        assert_eq!(error_detail("<html>"), None);
    }
}
