//! Language-model providers: the conversation as the runtime keeps it
//! ([`Turn`]), and clients for two real wire formats over HTTP —
//! OpenAI-compatible chat completions ([`openai`]) and Anthropic messages
//! ([`anthropic`]) — with a timeout per request and retries on 429 and 5xx.
//!
//! Each format module is two pure functions (the request body from a
//! [`Request`], a [`ModelReply`] from the response body), tested without a
//! network; [`Provider::complete`] does the HTTP.

pub mod anthropic;
pub mod openai;

use crate::records::{ToolCall, Turn};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// A tool the model may call: one skill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The skill's name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input.
    pub input_schema: serde_json::Value,
}

/// One request to a model.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The model's name, as the provider knows it.
    pub model: &'a str,
    /// The system prompt.
    pub system: &'a str,
    /// The conversation so far, oldest first.
    pub turns: &'a [Turn],
    /// The tools it may call.
    pub tools: &'a [ToolSpec],
    /// Most tokens it may answer with.
    pub max_tokens: u32,
}

/// Tokens a request used, as the provider counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// Prompt (input) tokens.
    #[serde(rename = "input_tokens")]
    pub input: u64,
    /// Completion (output) tokens.
    #[serde(rename = "output_tokens")]
    pub output: u64,
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    /// Its text, if any.
    pub text: Option<String>,
    /// The tools it asked for; empty when the answer is final.
    pub tool_calls: Vec<ToolCall>,
    /// Tokens used.
    pub usage: TokenUsage,
}

/// The wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// OpenAI-compatible `POST {base}/chat/completions`.
    Openai,
    /// Anthropic `POST {base}/messages`.
    Anthropic,
}

/// A provider, as the operator configures it (`[providers.NAME]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Its wire format.
    pub kind: Kind,
    /// Its API base, e.g. `https://api.openai.com/v1` or
    /// `https://api.anthropic.com/v1` (the default for the kind).
    #[serde(default)]
    pub base_url: Option<String>,
    /// An environment variable holding an operator-level API key, used for
    /// agents that name no tenant secret (their usage is billed to their
    /// tenant).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Longest one HTTP request may take, in seconds (default 60).
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Retries after a 429, a 5xx or a connection failure (default 2).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
}

fn default_timeout_secs() -> u64 {
    60
}

fn default_retries() -> u32 {
    2
}

impl ProviderConfig {
    /// The API base, without a trailing `/`.
    pub fn base(&self) -> &str {
        let default = match self.kind {
            Kind::Openai => "https://api.openai.com/v1",
            Kind::Anthropic => "https://api.anthropic.com/v1",
        };
        self.base_url.as_deref().unwrap_or(default).trim_end_matches('/')
    }

    /// Checks what serde cannot: the base is an http(s) URL.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        let base = self.base();
        let url = url::Url::parse(base).map_err(|e| format!("providers.{name}.base_url {base:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("providers.{name}.base_url must be http or https"));
        }
        if self.timeout_secs == 0 {
            return Err(format!("providers.{name}.timeout_secs must be at least 1"));
        }
        Ok(())
    }
}

/// Why a model request failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The provider answered with an error status (after any retries).
    #[error("the provider answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The provider's message (truncated).
        message: String,
    },
    /// The provider could not be reached, or took too long (after retries).
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered something that is not its wire format.
    #[error("the provider's answer is malformed: {0}")]
    Malformed(String),
}

/// Longest provider message kept in an error.
const MAX_ERROR_MESSAGE: usize = 300;

/// The provider's own message in an error body (both formats put it at
/// `error.message`), else the start of the body.
fn error_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string));
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut end = clean.len().min(MAX_ERROR_MESSAGE);
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    clean[..end].trim().to_string()
}

/// Largest response body read from a provider.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Longest wait a `retry-after` may ask for before the request is retried.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A provider's HTTP client.
#[derive(Clone)]
pub struct Provider {
    http: reqwest::Client,
    config: ProviderConfig,
}

impl Provider {
    /// A client for `config`, sharing `http`'s connection pool.
    pub fn new(http: reqwest::Client, config: ProviderConfig) -> Self {
        Provider { http, config }
    }

    /// Sends `req` with `api_key`, retrying 429, 5xx and connection failures
    /// with backoff, never past `deadline`.
    pub async fn complete(
        &self,
        req: &Request<'_>,
        api_key: &str,
        deadline: Instant,
    ) -> Result<ModelReply, LlmError> {
        let (url, body) = match self.config.kind {
            Kind::Openai => (format!("{}/chat/completions", self.config.base()), openai::request_body(req)),
            Kind::Anthropic => (format!("{}/messages", self.config.base()), anthropic::request_body(req)),
        };
        // Shared, not copied, by each attempt.
        let body =
            bytes::Bytes::from(serde_json::to_vec(&body).map_err(|e| LlmError::Malformed(e.to_string()))?);
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LlmError::Unreachable("the turn's deadline passed".into()));
            }
            let timeout = left.min(Duration::from_secs(self.config.timeout_secs));
            let (retryable, err, wait) = match self.send_once(&url, &body, api_key, timeout).await {
                Ok(bytes) => {
                    return match self.config.kind {
                        Kind::Openai => openai::parse_reply(&bytes),
                        Kind::Anthropic => anthropic::parse_reply(&bytes),
                    };
                }
                Err(Attempt { retryable, error, retry_after }) => (retryable, error, retry_after),
            };
            if !retryable || attempt >= self.config.max_retries {
                return Err(err);
            }
            let backoff = wait.unwrap_or(Duration::from_millis(250 << attempt)).min(MAX_RETRY_AFTER);
            if Instant::now() + backoff >= deadline {
                return Err(err);
            }
            tracing::warn!(error = %err, attempt, "provider request failed; retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    async fn send_once(
        &self,
        url: &str,
        body: &bytes::Bytes,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, Attempt> {
        let mut rb = self
            .http
            .post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(body.clone());
        rb = match self.config.kind {
            Kind::Openai => rb.bearer_auth(api_key),
            Kind::Anthropic => {
                rb.header("x-api-key", api_key).header("anthropic-version", anthropic::VERSION)
            }
        };
        let unreachable = |e: reqwest::Error| Attempt {
            retryable: true,
            // Without the URL: it is the operator's, not the tenant's.
            error: LlmError::Unreachable(if e.is_timeout() {
                "timed out".into()
            } else {
                "connection failed".into()
            }),
            retry_after: None,
        };
        let mut resp = rb.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(unreachable)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Attempt {
                    retryable: false,
                    error: LlmError::Malformed("the answer is larger than 4 MiB".into()),
                    retry_after: None,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        Err(Attempt {
            retryable: status == 429 || status >= 500,
            error: LlmError::Status { status, message: error_message(&bytes) },
            retry_after,
        })
    }
}

struct Attempt {
    retryable: bool,
    error: LlmError,
    retry_after: Option<Duration>,
}

/// The arguments of a call as a JSON value (the model may write anything;
/// malformed arguments become `{}` in the request, and the tool call itself
/// reports them).
pub(crate) fn arguments_value(arguments: &str) -> serde_json::Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_message_is_taken_from_either_format_and_bounded() {
        let openai = br#"{"error":{"message":"Rate limit reached","type":"requests"}}"#;
        assert_eq!(error_message(openai), "Rate limit reached");
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(anthropic), "Overloaded");
        let long = "é\n".repeat(1000);
        let m = error_message(long.as_bytes());
        assert!(m.len() <= MAX_ERROR_MESSAGE && !m.contains('\n'), "{m}");
    }

    #[test]
    fn a_provider_base_must_be_http() {
        let mut c = ProviderConfig {
            kind: Kind::Openai,
            base_url: None,
            api_key_env: None,
            timeout_secs: 60,
            max_retries: 2,
        };
        assert_eq!(c.base(), "https://api.openai.com/v1");
        assert!(c.validate("p").is_ok());
        c.base_url = Some("ftp://x".into());
        assert!(c.validate("p").unwrap_err().contains("http"));
        c.base_url = Some("http://127.0.0.1:9/v1/".into());
        assert_eq!(c.base(), "http://127.0.0.1:9/v1");
    }
}
