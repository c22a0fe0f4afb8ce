//! A small HTTP client for the remote commands: a base URL, an optional
//! bearer credential, JSON answers. An error answer
//! (`{"error":{"code","message"}}`) becomes a [`ClientError::Api`] carrying
//! its code, which decides the exit code; a gateway that cannot be reached
//! becomes [`ClientError::Unreachable`] (exit 14), naming the URL.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::time::Duration;
use wasmclaw::Error;

/// The gateway's default URL (the default `--listen` of `serve`).
pub(crate) const DEFAULT_URL: &str = "http://127.0.0.1:8420";

/// Longest wait for a connection to the gateway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for a whole answer (the gateway has its own, shorter,
/// request timeout; this only keeps a wedged connection from hanging).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// How much of an answer that is not the API's error shape is shown.
const MAX_SHOWN_BODY: usize = 200;

/// Why a request to the gateway did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No answer: the connection failed, or broke before the answer was
    /// complete.
    #[error("cannot reach the gateway at {url}: {reason}")]
    Unreachable {
        /// The gateway's URL as given.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The gateway answered with an error.
    #[error("{message} ({code}){hint}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`not-found`, `unauthorized`, …).
        code: String,
        /// The API's message.
        message: String,
        /// A hint of ours, appended to the message (may be empty).
        hint: String,
    },
    /// The gateway answered success with something that is not JSON.
    #[error("the gateway at {url} answered something that is not JSON: {reason}")]
    BadAnswer {
        /// The gateway's URL as given.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl ClientError {
    /// The exit code: the runtime's code of the API error code, 14 when
    /// the gateway cannot be reached, 1 otherwise.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => 14,
            ClientError::Api { code, .. } => api_exit_code(code),
            ClientError::BadAnswer { .. } => 1,
        }
    }
}

/// The exit code of an API error code (the runtime's `Error::exit_code` of
/// the error of that kind).
pub(crate) fn api_exit_code(code: &str) -> u8 {
    match code {
        "invalid-input" => 3,
        "invalid-skill" => 4,
        "skill-error" => 5,
        "trap" => 6,
        "out-of-fuel" => 7,
        "timeout" => 8,
        "memory-limit" => 9,
        "denied" => 10,
        "busy" => 11,
        "invalid-output" => 12,
        "not-found" => 16,
        "conflict" => 17,
        "unauthorized" => 18,
        "forbidden" => 19,
        "suspended" => 20,
        "untrusted" => 23,
        "too-large" => 22,
        "provider" => 24,
        "quota-exceeded" => 25,
        "step-limit" => 26,
        _ => 1,
    }
}

/// Parses `--url`: an absolute `http` or `https` URL.
pub(crate) fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() || url.host().is_none() {
        return Err("the gateway's URL must be http://HOST[:PORT] or https://HOST[:PORT]".into());
    }
    Ok(url)
}

/// A request body and its content type.
pub(crate) struct Body {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl Body {
    /// A JSON body.
    pub(crate) fn json(v: &Value) -> Body {
        Body { bytes: v.to_string().into_bytes(), content_type: "application/json" }
    }

    /// Raw bytes of the given content type.
    pub(crate) fn raw(bytes: Vec<u8>, content_type: &'static str) -> Body {
        Body { bytes, content_type }
    }
}

/// A client of one gateway with one credential.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    credential: Option<HeaderValue>,
}

impl Client {
    /// A client of the gateway at `base`, sending `credential` (if any) as
    /// a bearer token.
    pub(crate) fn new(base: &Url, credential: Option<&str>) -> anyhow::Result<Client> {
        let credential = credential
            .map(|c| {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", c.trim())).map_err(|_| {
                    Error::InvalidInput("the credential has characters a header cannot carry".into())
                })?;
                v.set_sensitive(true);
                Ok::<_, Error>(v)
            })
            .transpose()?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, base: base.clone(), credential })
    }

    /// Whether a credential is sent.
    pub(crate) fn has_credential(&self) -> bool {
        self.credential.is_some()
    }

    /// The URL of `path` (segments, each percent-encoded) with `query`.
    fn url(&self, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// The base URL as the messages show it (without a trailing `/`).
    fn shown(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_string()
    }

    /// `GET path?query` → the JSON answer.
    pub(crate) async fn get(&self, path: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.send(Method::GET, path, query, None, &[]).await
    }

    /// `POST path` with a JSON body → the JSON answer.
    pub(crate) async fn post(&self, path: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.send(Method::POST, path, &[], Some(Body::json(body)), &[]).await
    }

    /// `PUT path` with `body` → the JSON answer (`null` for 204).
    pub(crate) async fn put(&self, path: &[&str], body: Body) -> anyhow::Result<Value> {
        self.send(Method::PUT, path, &[], Some(body), &[]).await
    }

    /// `DELETE path` → the JSON answer.
    pub(crate) async fn delete(&self, path: &[&str]) -> anyhow::Result<Value> {
        self.send(Method::DELETE, path, &[], None, &[]).await
    }

    /// Sends one request and turns the answer into JSON or a
    /// [`ClientError`]. A success without a body (204) is `null`.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<Body>,
        headers: &[(HeaderName, HeaderValue)],
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, self.url(path, query));
        if let Some(c) = &self.credential {
            req = req.header(AUTHORIZATION, c.clone());
        }
        for (name, value) in headers {
            req = req.header(name.clone(), value.clone());
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, body.content_type).body(body.bytes);
        }
        let unreachable =
            |e: reqwest::Error| ClientError::Unreachable { url: self.shown(), reason: reason(&e) };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::BadAnswer { url: self.shown(), reason: e.to_string() }.into());
        }
        Err(self.api_error(status, &bytes).into())
    }

    /// The error of an answer with a non-success status.
    pub(crate) fn api_error(&self, status: StatusCode, body: &[u8]) -> ClientError {
        let parsed: Option<(String, String)> = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            let e = v.get("error")?;
            Some((e.get("code")?.as_str()?.to_string(), e.get("message")?.as_str()?.to_string()))
        });
        let (code, message) = parsed.unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(MAX_SHOWN_BODY).collect();
            let message = if text.is_empty() {
                format!("the gateway at {} answered {status}", self.shown())
            } else {
                format!("the gateway at {} answered {status}: {text}", self.shown())
            };
            (format!("http-{}", status.as_u16()), message)
        });
        let hint = if code == "unauthorized" && !self.has_credential() {
            "; no credential was given: pass --admin-key or --token (or set WASMCLAW_ADMIN_KEY or \
             WASMCLAW_TOKEN)"
                .to_string()
        } else {
            String::new()
        };
        ClientError::Api { status: status.as_u16(), code, message, hint }
    }
}

/// What went wrong under a transport error, without the URL (the message
/// names the gateway already).
pub(crate) fn reason(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if e.is_timeout() {
        parts.insert(0, "timed out".into());
    }
    if parts.is_empty() { e.to_string() } else { parts.join(": ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("http://127.0.0.1:8420").is_ok());
        assert!(parse_url("https://gw.example/base/").is_ok());
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("127.0.0.1:8420").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn paths_are_percent_encoded_under_the_base() {
        let c = Client::new(&parse_url("http://h:1/gw/").unwrap(), None).unwrap();
        let u = c.url(&["v1", "tenants", "a/../b", "skills"], &[("since", "5".into())]);
        assert_eq!(u.as_str(), "http://h:1/gw/v1/tenants/a%2F..%2Fb/skills?since=5");
        let c = Client::new(&parse_url("http://h:1").unwrap(), None).unwrap();
        assert_eq!(c.url(&["healthz"], &[]).as_str(), "http://h:1/healthz");
    }

    #[test]
    fn error_answers_carry_their_code() {
        let c = Client::new(&parse_url("http://h:1").unwrap(), None).unwrap();
        let e = c.api_error(StatusCode::NOT_FOUND, br#"{"error":{"code":"not-found","message":"no x"}}"#);
        assert_eq!(e.exit_code(), 16);
        assert_eq!(e.to_string(), "no x (not-found)");
        let e = c.api_error(StatusCode::UNAUTHORIZED, br#"{"error":{"code":"unauthorized","message":"m"}}"#);
        assert_eq!(e.exit_code(), 18);
        assert!(e.to_string().contains("--token"));
        let e = c.api_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert_eq!(e.exit_code(), 1);
        assert!(e.to_string().contains("502"));
        assert!(Client::new(&parse_url("http://h:1").unwrap(), Some("a\nb")).is_err());
    }

    #[test]
    fn every_api_code_has_its_exit_code() {
        let codes = [
            ("invalid-input", 3),
            ("invalid-skill", 4),
            ("skill-error", 5),
            ("trap", 6),
            ("out-of-fuel", 7),
            ("timeout", 8),
            ("memory-limit", 9),
            ("denied", 10),
            ("busy", 11),
            ("invalid-output", 12),
            ("not-found", 16),
            ("conflict", 17),
            ("unauthorized", 18),
            ("forbidden", 19),
            ("suspended", 20),
            ("too-large", 22),
            ("untrusted", 23),
            ("provider", 24),
            ("quota-exceeded", 25),
            ("step-limit", 26),
            ("internal", 1),
            ("draining", 1),
        ];
        for (code, exit) in codes {
            assert_eq!(api_exit_code(code), exit, "{code}");
        }
    }
}
