//! One guest request, checked and built: its method, URL, headers and body
//! bounded ([`check_request`]), then per hop its origin judged against the
//! grant, its `{{secret:NAME}}` placeholders filled for that origin only,
//! and the bytes to be sent scanned for any other secret of the tenant.

use super::{Access, MAX_HEADER_BYTES, MAX_HEADERS, MAX_REQUEST_BODY, MAX_URL_BYTES, wit};
use crate::bindings::WitError;
use crate::origin::Origin;
use crate::policy::HttpGrant;
use crate::redact::{Redactor, expand_placeholders};
use zeroize::Zeroizing;

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/// `accept-encoding` is the host's: a compressed reflection of a secret
/// would pass the scrubber unseen.
const FORBIDDEN_HEADERS: [&str; 11] = [
    "host",
    "accept-encoding",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
];

fn invalid(msg: impl Into<String>) -> WitError {
    WitError::Invalid(msg.into())
}

/// The checked parts of a guest request that do not change between hops.
pub(super) struct Template {
    pub(super) method: reqwest::Method,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

pub(super) fn check_request(req: wit::Request) -> Result<(String, Template), WitError> {
    let method = req.method.to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(invalid(format!("method {:?} is not one of {}", req.method, METHODS.join(", "))));
    }
    if req.url.len() > MAX_URL_BYTES {
        return Err(invalid(format!("the URL is longer than {MAX_URL_BYTES} bytes")));
    }
    if req.headers.len() > MAX_HEADERS {
        return Err(invalid(format!("more than {MAX_HEADERS} headers")));
    }
    let header_bytes: usize = req.headers.iter().map(|h| h.name.len() + h.value.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(invalid(format!("headers are larger than {MAX_HEADER_BYTES} bytes")));
    }
    let mut headers = Vec::with_capacity(req.headers.len());
    for h in req.headers {
        let name = h.name.to_ascii_lowercase();
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(invalid(format!("{:?} is not a header name", h.name)));
        }
        if FORBIDDEN_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-") {
            return Err(invalid(format!("the {name} header is set by the host")));
        }
        if h.value.contains(['\r', '\n', '\0']) {
            return Err(invalid(format!("the value of {name} contains a control character")));
        }
        headers.push((name, h.value));
    }
    if let Some(b) = &req.body
        && b.len() > MAX_REQUEST_BODY
    {
        return Err(WitError::LimitExceeded(format!(
            "the request body is larger than {MAX_REQUEST_BODY} bytes"
        )));
    }
    let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| invalid(e.to_string()))?;
    Ok((req.url, Template { method, headers, body: req.body }))
}

impl Access {
    fn grant_for(&self, url: &url::Url) -> Result<&HttpGrant, WitError> {
        let origin = Origin::of_url(url).map_err(|e| invalid(format!("{url}: {e}")))?;
        self.grants.iter().find(|g| g.origin == origin).ok_or_else(|| {
            WitError::Denied(format!("{origin} is not an origin granted to this skill for this tenant"))
        })
    }

    /// Expands placeholders in `text` for a request to `grant`'s origin.
    fn expand(&mut self, text: &str, grant: &HttpGrant) -> Result<String, WitError> {
        let (secrets, used) = (&self.secrets, &mut self.used);
        expand_placeholders(text, &mut |name| {
            if !grant.secrets.iter().any(|s| s == name) {
                return Err(WitError::Denied(format!("secret {name} may not be sent to {}", grant.origin)));
            }
            let value =
                secrets(name).ok_or_else(|| WitError::NotFound(format!("secret {name} is not set")))?;
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| WitError::Invalid(format!("secret {name} is not UTF-8 text")))?;
            if !used.iter().any(|u| u == name) {
                used.push(name.to_string());
            }
            Ok(value)
        })
    }

    /// Builds one hop's request: checks the origin, substitutes the
    /// secrets that origin may receive (in the URL only when it is the
    /// guest's template, not a redirect's `Location`), then checks that the
    /// bytes to be sent carry no other secret of the tenant.
    pub(super) fn build(
        &mut self,
        url: &str,
        expand_url: bool,
        t: &Template,
        method: &reqwest::Method,
        with_body: bool,
    ) -> Result<reqwest::RequestBuilder, WitError> {
        // The origin is judged on the URL before substitution: a secret
        // cannot change where a request goes.
        let raw = url::Url::parse(url).map_err(|e| invalid(format!("the URL: {e}")))?;
        let grant = self.grant_for(&raw)?.clone();
        let url = if expand_url {
            let url = self.expand(url, &grant)?;
            let url =
                url::Url::parse(&url).map_err(|e| invalid(format!("the URL after substitution: {e}")))?;
            if Origin::of_url(&url).ok().as_ref() != Some(&grant.origin) {
                return Err(WitError::Denied("a secret may not change the request's origin".into()));
            }
            url
        } else {
            raw
        };
        let mut headers = Vec::with_capacity(t.headers.len());
        for (name, value) in &t.headers {
            headers.push((name.as_str(), Zeroizing::new(self.expand(value, &grant)?)));
        }
        let body = match (with_body, &t.body) {
            (true, Some(body)) => Some(match std::str::from_utf8(body) {
                Ok(text) => Zeroizing::new(self.expand(text, &grant)?.into_bytes()),
                Err(_) => Zeroizing::new(body.clone()),
            }),
            _ => None,
        };

        if let Some(r) = &self.redactor {
            let allowed = |name: &str| grant.secrets.iter().any(|s| s == name);
            let mut found = scan(r, url.as_str().as_bytes(), &allowed);
            for (name, value) in &headers {
                found.extend(scan(r, name.as_bytes(), &allowed));
                found.extend(scan(r, value.as_bytes(), &allowed));
            }
            if let Some(body) = &body {
                found.extend(scan(r, body, &allowed));
            }
            if !found.is_empty() {
                found.sort();
                found.dedup();
                return Err(WitError::Denied(format!(
                    "the request carries the value of secret {}, which may not be sent to {}",
                    found.join(", "),
                    grant.origin
                )));
            }
        }

        let mut rb = self.client.request(method.clone(), url);
        for (name, value) in headers {
            rb = rb.header(name, value.as_str());
        }
        if let Some(body) = body {
            rb = rb.body(body.to_vec());
        }
        Ok(rb)
    }
}

/// The secrets `r` finds in `bytes` that `allowed` refuses, in the bytes as
/// they are and percent-decoded (also with `+` as a space): a value with
/// only some of its bytes encoded matches no whole encoding, yet any server
/// decodes it.
fn scan(r: &Redactor, bytes: &[u8], allowed: &dyn Fn(&str) -> bool) -> Vec<String> {
    let mut found = r.found_except(bytes, allowed);
    if bytes.contains(&b'%') {
        let decoded: Zeroizing<Vec<u8>> = Zeroizing::new(percent_encoding::percent_decode(bytes).collect());
        found.extend(r.found_except(&decoded, allowed));
        if bytes.contains(&b'+') {
            let spaced: Zeroizing<Vec<u8>> =
                Zeroizing::new(bytes.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect());
            let decoded: Zeroizing<Vec<u8>> =
                Zeroizing::new(percent_encoding::percent_decode(&spaced).collect());
            found.extend(r.found_except(&decoded, allowed));
        }
    }
    found
}
