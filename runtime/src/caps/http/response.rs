//! What comes back to the guest: a response read within its size
//! ([`MAX_RESPONSE_BODY`]) and its time, refused when it is encoded, and
//! scrubbed of the tenant's secrets (headers and body, a large body on the
//! blocking pool), as are the texts of the errors the capability returns.

use super::transport::network_error;
use super::{Access, MAX_RESPONSE_BODY, wit};
use crate::bindings::WitError;
use std::time::Duration;

/// Response bodies larger than this are scrubbed on the blocking pool.
const SCRUB_INLINE_BYTES: usize = 64 * 1024;

pub(super) async fn read_response(
    mut resp: reqwest::Response,
    time: Duration,
) -> Result<wit::Response, WitError> {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(n, v)| wit::Header {
            name: n.to_string(),
            value: String::from_utf8_lossy(v.as_bytes()).into_owned(),
        })
        .collect();
    if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BODY as u64) {
        return Err(WitError::LimitExceeded(format!(
            "the response body is larger than {MAX_RESPONSE_BODY} bytes"
        )));
    }
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.map_err(network_error)? {
            if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(WitError::LimitExceeded(format!(
                    "the response body is larger than {MAX_RESPONSE_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    tokio::time::timeout(time, read)
        .await
        .map_err(|_| WitError::Unavailable("the response timed out".into()))??;
    Ok(wit::Response { status, headers, body })
}

impl Access {
    /// `resp` with the tenant's secrets scrubbed from its headers and body
    /// (a large body on the blocking pool), noting the names found.
    pub(super) async fn scrub(&mut self, mut resp: wit::Response) -> Result<wit::Response, WitError> {
        let Some(r) = self.redactor.clone() else {
            return Ok(resp);
        };
        let mut hits = Vec::new();
        if let Some(h) = resp.headers.iter().find(|h| {
            h.name.eq_ignore_ascii_case("content-encoding")
                && !h.value.trim().eq_ignore_ascii_case("identity")
        }) {
            // The host asks for no encoding; a body it cannot read is one it
            // cannot scrub.
            let shown: String = r.redact(&h.value).text.chars().take(32).collect();
            return Err(WitError::Unavailable(format!(
                "the response is encoded ({shown}), which the host does not accept"
            )));
        }
        for h in &mut resp.headers {
            let name = r.redact(&h.name);
            h.name = name.text;
            hits.extend(name.hits);
            let red = r.redact(&h.value);
            h.value = red.text;
            hits.extend(red.hits);
        }
        let (body, found) = if resp.body.len() <= SCRUB_INLINE_BYTES {
            r.redact_bytes(&resp.body)
        } else {
            let body = std::mem::take(&mut resp.body);
            tokio::task::spawn_blocking(move || r.redact_bytes(&body))
                .await
                .map_err(|_| WitError::Failed("scrubbing the response failed".into()))?
        };
        resp.body = body;
        hits.extend(found);
        self.note_redacted(hits);
        Ok(resp)
    }

    fn note_redacted(&mut self, hits: Vec<String>) {
        if hits.is_empty() {
            return;
        }
        self.redacted.extend(hits);
        self.redacted.sort();
        self.redacted.dedup();
    }

    /// `e` with the tenant's secrets scrubbed from its text.
    pub(super) fn scrub_error(&mut self, e: WitError) -> WitError {
        let Some(r) = self.redactor.clone() else {
            return e;
        };
        e.map_message(|text| {
            let red = r.redact(&text);
            self.note_redacted(red.hits);
            red.text
        })
    }
}
