//! The `wasmclaw:skill/http` capability: outbound HTTP to granted origins
//! only, with secrets injected by the host.
//!
//! Each request (and each redirect hop) must go to an origin in the grant
//! (the skill's manifest ∩ the tenant's policy). Names are resolved by the
//! host's [`PublicOnlyResolver`], which drops loopback, private, link-local,
//! unique-local, metadata and other non-public addresses: a DNS name can
//! never lead to an internal address. An IP-literal origin does not go
//! through DNS; it is reachable only because the grant names it exactly
//! (how tests reach their local server). `{{secret:NAME}}` placeholders in
//! the URL, headers and body are replaced by the host, per hop, only when
//! NAME is granted for that hop's origin; the guest never sees the value.
//!
//! A secret's value reaches only the origins it is granted to, however the
//! guest came by it: every hop's final request (URL, header names and
//! values, body, after substitution) is scanned for every secret of the
//! tenant, in clear and in every encoding the [`Redactor`] knows, and a
//! request carrying one not granted to its origin is `denied` (and audited);
//! the scan also reads each part percent-decoded, so a value with only some
//! bytes encoded is found. What comes back (header names and values, body)
//! is scrubbed of the tenant's secrets before the guest sees it, so an
//! origin reflecting a value hands the guest `[redacted:NAME]`; so are the
//! texts of the errors this capability returns. The guest may not set
//! `accept-encoding`, and a content-encoded body is refused rather than
//! handed over unscrubbed. A redirect's `Location` is followed literally: it is the
//! server's text, never a template for the host to fill.

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::http as wit;
use crate::origin::Origin;
use crate::policy::HttpGrant;
use crate::redact::{Redactor, expand_placeholders};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Linker};
use zeroize::Zeroizing;

/// Largest request body accepted from a guest.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Largest response body returned to a guest.
pub const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;
/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most headers, and most header bytes, in one request.
pub const MAX_HEADERS: usize = 64;
/// Most bytes of all header names and values together.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Redirects followed before giving up.
pub const MAX_REDIRECTS: usize = 5;
/// Response bodies larger than this are scrubbed on the blocking pool.
const SCRUB_INLINE_BYTES: usize = 64 * 1024;
/// The longest one request may take, whatever time the call has left.
pub const MAX_REQUEST_TIME: Duration = Duration::from_secs(30);

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

/// Looks up a secret's value for the call's tenant.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<Zeroizing<Vec<u8>>> + Send + Sync>;

/// The http capability of one call.
pub struct HttpCtx {
    access: Result<Access, String>,
    audit: super::CallAudit,
}

struct Access {
    client: reqwest::Client,
    grants: Arc<Vec<HttpGrant>>,
    secrets: SecretLookup,
    deadline: Instant,
    /// Names of the secrets substituted into requests during this call.
    used: Vec<String>,
    /// Every secret of the tenant (`None`: it has none).
    redactor: Option<Arc<Redactor>>,
    /// Names of the secrets scrubbed from responses during this call.
    redacted: Vec<String>,
}

impl HttpCtx {
    /// HTTP limited to `grants`, with secrets from `secrets`, ending at
    /// `deadline` (the call's).
    pub fn new(
        client: reqwest::Client,
        grants: Arc<Vec<HttpGrant>>,
        secrets: SecretLookup,
        deadline: Instant,
    ) -> Self {
        if grants.is_empty() {
            return Self::denied("no HTTP origin is granted to this skill for this tenant");
        }
        HttpCtx {
            access: Ok(Access {
                client,
                grants,
                secrets,
                deadline,
                used: Vec::new(),
                redactor: None,
                redacted: Vec::new(),
            }),
            audit: Default::default(),
        }
    }

    /// Notes this context's refusals in `audit`.
    pub fn with_audit(mut self, audit: super::CallAudit) -> Self {
        self.audit = audit;
        self
    }

    /// Scans requests and scrubs responses with `redactor`, built from every
    /// secret of the call's tenant.
    pub fn with_redactor(mut self, redactor: Option<Arc<Redactor>>) -> Self {
        if let Ok(a) = &mut self.access {
            a.redactor = redactor;
        }
        self
    }

    /// A context in which every request is `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        HttpCtx { access: Err(reason.into()), audit: Default::default() }
    }

    /// The secrets substituted into requests so far.
    pub fn secrets_used(&self) -> &[String] {
        self.access.as_ref().map(|a| a.used.as_slice()).unwrap_or(&[])
    }

    /// The secrets found and scrubbed in responses so far (sorted).
    pub fn secrets_redacted(&self) -> &[String] {
        self.access.as_ref().map(|a| a.redacted.as_slice()).unwrap_or(&[])
    }
}

/// Builds the shared client: no proxies from the environment, no automatic
/// redirects (the capability follows them itself, checking each hop), and
/// name resolution through [`PublicOnlyResolver`].
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PublicOnlyResolver))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("wasmclaw/", env!("CARGO_PKG_VERSION")))
        .build()
}

use crate::origin::is_public;

/// Why a name did not resolve to a usable address.
#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to non-public addresses")]
pub struct NonPublicAddress(String);

/// A resolver that keeps only public addresses, so that no DNS name, and
/// no rebinding of one, can reach an internal service.
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if addrs.is_empty() {
                return Err(Box::new(NonPublicAddress(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn invalid(msg: impl Into<String>) -> WitError {
    WitError::Invalid(msg.into())
}

/// The checked parts of a guest request that do not change between hops.
struct Template {
    method: reqwest::Method,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

fn check_request(req: wit::Request) -> Result<(String, Template), WitError> {
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
    fn build(
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

    /// `resp` with the tenant's secrets scrubbed from its headers and body
    /// (a large body on the blocking pool), noting the names found.
    async fn scrub(&mut self, mut resp: wit::Response) -> Result<wit::Response, WitError> {
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
    fn scrub_error(&mut self, e: WitError) -> WitError {
        let Some(r) = self.redactor.clone() else {
            return e;
        };
        e.map_message(|text| {
            let red = r.redact(&text);
            self.note_redacted(red.hits);
            red.text
        })
    }

    async fn send(&mut self, req: wit::Request) -> Result<wit::Response, WitError> {
        let (mut url, t) = check_request(req)?;
        let mut method = t.method.clone();
        let mut with_body = true;
        // Only the guest's own URL is a template.
        let mut expand_url = true;
        for _hop in 0..=MAX_REDIRECTS {
            let remaining = self.deadline.saturating_duration_since(Instant::now()).min(MAX_REQUEST_TIME);
            if remaining.is_zero() {
                return Err(WitError::Unavailable("the call has no time left for a request".into()));
            }
            let rb = self.build(&url, expand_url, &t, &method, with_body)?;
            let resp = tokio::time::timeout(remaining, rb.send())
                .await
                .map_err(|_| WitError::Unavailable("the request timed out".into()))?
                .map_err(network_error)?;
            let status = resp.status();
            if status.is_redirection()
                && let Some(loc) = resp.headers().get(reqwest::header::LOCATION)
            {
                let loc = loc.to_str().map_err(|_| WitError::Unavailable("a bad redirect".into()))?;
                let next =
                    resp.url().join(loc).map_err(|e| WitError::Unavailable(format!("bad redirect: {e}")))?;
                // 303, and 301/302 after a POST, continue as a GET without body.
                if status == reqwest::StatusCode::SEE_OTHER
                    || ((status == reqwest::StatusCode::MOVED_PERMANENTLY
                        || status == reqwest::StatusCode::FOUND)
                        && method == reqwest::Method::POST)
                {
                    method = reqwest::Method::GET;
                    with_body = false;
                }
                url = next.to_string();
                expand_url = false;
                continue;
            }
            let resp = read_response(resp, remaining).await?;
            return self.scrub(resp).await;
        }
        Err(WitError::Unavailable(format!("more than {MAX_REDIRECTS} redirects")))
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

fn network_error(e: reqwest::Error) -> WitError {
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        if let Some(np) = s.downcast_ref::<NonPublicAddress>() {
            return WitError::Denied(np.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        WitError::Unavailable("the request timed out".into())
    } else if e.is_connect() {
        WitError::Unavailable("cannot connect".into())
    } else {
        WitError::Unavailable("the request failed".into())
    }
}

async fn read_response(mut resp: reqwest::Response, time: Duration) -> Result<wit::Response, WitError> {
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

impl wit::Host for HttpCtx {
    async fn send(&mut self, req: wit::Request) -> Result<wit::Response, WitError> {
        let r = match &mut self.access {
            Ok(a) => a.send(req).await.map_err(|e| a.scrub_error(e)),
            Err(reason) => Err(WitError::Denied(reason.clone())),
        };
        self.audit.check("http", r)
    }
}

struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = &'a mut HttpCtx;
}

/// Adds `wasmclaw:skill/http` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut HttpCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasHttp>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use wit::Host;

    fn req(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> wit::Request {
        wit::Request {
            method: method.into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| wit::Header { name: (*n).into(), value: (*v).into() })
                .collect(),
            body: body.map(|b| b.as_bytes().to_vec()),
        }
    }

    /// Every request a test server received: method, URI, headers and body,
    /// one string each.
    type Seen = Arc<std::sync::Mutex<Vec<String>>>;

    /// A local server: `/echo` returns the request's URI, headers and body
    /// as JSON; `/to?u=URL` redirects; `/big` returns 5 MiB.
    async fn server() -> SocketAddr {
        recording_server().await.0
    }

    /// [`server`], also recording what it received.
    async fn recording_server() -> (SocketAddr, Seen) {
        use axum::Router;
        use axum::extract::Query;
        use axum::http::{HeaderMap, Method, Uri};
        use axum::response::Redirect;
        use axum::routing::{any, get};
        let seen: Seen = Default::default();
        let record = seen.clone();
        let app = Router::new()
            .route(
                "/echo",
                any(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| async move {
                        let h: HashMap<String, String> = headers
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        let body = String::from_utf8_lossy(&body).into_owned();
                        record.lock().unwrap().push(format!("{method} {uri} {h:?} {body}"));
                        axum::Json(serde_json::json!({ "uri": uri.to_string(), "headers": h, "body": body }))
                    },
                ),
            )
            .route(
                "/to",
                get(|Query(q): Query<HashMap<String, String>>| async move { Redirect::temporary(&q["u"]) }),
            )
            .route("/big", get(|| async { vec![b'x'; 5 * 1024 * 1024] }))
            // Reflects OTHER's value as a header name.
            .route("/hdr", get(|| async { ([("other-value", "1")], "ok") }))
            // A body the host cannot read (compressed), whatever was asked.
            .route(
                "/enc",
                get(|| async { ([("content-encoding", "gzip")], vec![0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]) }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, seen)
    }

    fn ctx(addr: SocketAddr, secrets_for_origin: &[&str]) -> HttpCtx {
        let grant = HttpGrant {
            origin: Origin::parse(&format!("http://{addr}")).unwrap(),
            secrets: secrets_for_origin.iter().map(|s| s.to_string()).collect(),
        };
        let lookup: SecretLookup = Arc::new(|name: &str| match name {
            "API_KEY" => Some(Zeroizing::new(b"s3cr3t-value".to_vec())),
            "OTHER" => Some(Zeroizing::new(b"other-value".to_vec())),
            _ => None,
        });
        HttpCtx::new(
            client().unwrap(),
            Arc::new(vec![grant]),
            lookup,
            Instant::now() + Duration::from_secs(10),
        )
    }

    fn json(r: &wit::Response) -> serde_json::Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn allowed_request_with_an_injected_secret() {
        let addr = server().await;
        let mut h = ctx(addr, &["API_KEY"]);
        let r = h
            .send(req(
                "POST",
                &format!("http://{addr}/echo"),
                &[("authorization", "Bearer {{secret:API_KEY}}")],
                Some("key={{secret:API_KEY}}"),
            ))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let v = json(&r);
        assert_eq!(v["headers"]["authorization"], "Bearer s3cr3t-value");
        assert_eq!(v["body"], "key=s3cr3t-value");
        assert_eq!(h.secrets_used(), ["API_KEY".to_string()]);
    }

    #[tokio::test]
    async fn ungranted_origins_and_secrets_are_denied() {
        let addr = server().await;
        let mut h = ctx(addr, &["API_KEY"]);
        let denied = |r: Result<wit::Response, WitError>| matches!(r, Err(WitError::Denied(_)));
        // Another port on the same host is another origin.
        assert!(denied(h.send(req("GET", "http://127.0.0.1:1/echo", &[], None)).await));
        assert!(denied(h.send(req("GET", "http://169.254.169.254/latest/meta-data/", &[], None)).await));
        // A secret not granted for this origin.
        let r = h.send(req("GET", &format!("http://{addr}/echo"), &[("x", "{{secret:OTHER}}")], None)).await;
        assert!(denied(r));
        // A redirect to an ungranted origin is refused at that hop.
        let to = format!("http://{addr}/to?u=http://127.0.0.2:{}/echo", addr.port());
        assert!(denied(h.send(req("GET", &to, &[], None)).await));
        // A DNS name that resolves to loopback is refused even when granted.
        let mut by_name = HttpCtx::new(
            client().unwrap(),
            Arc::new(vec![HttpGrant {
                origin: Origin::parse(&format!("http://localhost:{}", addr.port())).unwrap(),
                secrets: vec![],
            }]),
            Arc::new(|_: &str| None),
            Instant::now() + Duration::from_secs(10),
        );
        let r = by_name.send(req("GET", &format!("http://localhost:{}/echo", addr.port()), &[], None)).await;
        assert!(matches!(&r, Err(WitError::Denied(m)) if m.contains("non-public")), "{:?}", r.err());
        // A context without grants.
        let mut none = HttpCtx::denied("no grant");
        assert!(denied(none.send(req("GET", &format!("http://{addr}/echo"), &[], None)).await));
    }

    #[tokio::test]
    async fn redirects_within_the_grant_are_followed() {
        let addr = server().await;
        let mut h = ctx(addr, &[]);
        let to = format!("http://{addr}/to?u=/echo");
        let r = h.send(req("GET", &to, &[], None)).await.unwrap();
        assert_eq!(r.status, 200);
        assert!(json(&r)["headers"].is_object());
    }

    #[tokio::test]
    async fn bad_requests_are_invalid_and_big_bodies_limited() {
        let addr = server().await;
        let mut h = ctx(addr, &["API_KEY"]);
        let url = format!("http://{addr}/echo");
        for bad in [
            req("CONNECT", &url, &[], None),
            req("GET", "not a url", &[], None),
            req("GET", &url, &[("host", "evil")], None),
            req("GET", &url, &[("x", "a\r\nb: c")], None),
            req("GET", &url, &[("bad name", "v")], None),
            req("GET", &url, &[("x", "{{secret:API_KEY")], None),
            req("GET", "ftp://127.0.0.1/", &[], None),
        ] {
            let r = h.send(bad).await;
            assert!(matches!(r, Err(WitError::Invalid(_)) | Err(WitError::Denied(_))), "{:?}", r.err());
        }
        let big = "x".repeat(MAX_REQUEST_BODY + 1);
        assert!(matches!(h.send(req("POST", &url, &[], Some(&big))).await, Err(WitError::LimitExceeded(_))));
        let r = h.send(req("GET", &format!("http://{addr}/big"), &[], None)).await;
        assert!(matches!(r, Err(WitError::LimitExceeded(_))), "{:?}", r.err());
    }

    #[tokio::test]
    async fn a_secret_cannot_redirect_the_request() {
        let addr = server().await;
        let grant = HttpGrant {
            origin: Origin::parse(&format!("http://{addr}")).unwrap(),
            secrets: vec!["HOST".into()],
        };
        let mut h = HttpCtx::new(
            client().unwrap(),
            Arc::new(vec![grant]),
            Arc::new(|_: &str| Some(Zeroizing::new(b"169.254.169.254".to_vec()))),
            Instant::now() + Duration::from_secs(10),
        );
        // The placeholder sits in the host part: the template's origin is not granted.
        let r = h.send(req("GET", "http://{{secret:HOST}}/", &[], None)).await;
        assert!(matches!(r, Err(WitError::Invalid(_)) | Err(WitError::Denied(_))), "{:?}", r.err());
    }

    // Reserved characters, so that its percent-encoding differs from it.
    const API_KEY: &str = "s3cr3t-v@lue/k+y";

    /// A context granting `x` with API_KEY and `y` with no secret, scanning
    /// and scrubbing with the tenant's two secrets.
    fn two_origins(x: SocketAddr, y: SocketAddr) -> HttpCtx {
        let grant = |addr: SocketAddr, secrets: &[&str]| HttpGrant {
            origin: Origin::parse(&format!("http://{addr}")).unwrap(),
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
        };
        let values = [("API_KEY", API_KEY), ("OTHER", "other-value")];
        let pairs: Vec<(String, crate::vault::SecretValue)> =
            values.iter().map(|(n, v)| (n.to_string(), Zeroizing::new(v.as_bytes().to_vec()))).collect();
        let lookup: SecretLookup = Arc::new(move |name: &str| {
            values.iter().find(|(n, _)| *n == name).map(|(_, v)| Zeroizing::new(v.as_bytes().to_vec()))
        });
        HttpCtx::new(
            client().unwrap(),
            Arc::new(vec![grant(x, &["API_KEY"]), grant(y, &[])]),
            lookup,
            Instant::now() + Duration::from_secs(10),
        )
        .with_redactor(Some(Arc::new(Redactor::new(&pairs))))
    }

    #[tokio::test]
    async fn a_secret_reaches_only_the_origins_it_is_granted_to() {
        use base64::Engine;
        let ((x, seen_x), (y, seen_y)) = (recording_server().await, recording_server().await);
        let mut h = two_origins(x, y);

        // Allowed: the granted origin receives the expanded value.
        let r = h
            .send(req(
                "POST",
                &format!("http://{x}/echo?k={{{{secret:API_KEY}}}}"),
                &[("authorization", "Bearer {{secret:API_KEY}}")],
                Some("key={{secret:API_KEY}}"),
            ))
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        let got = seen_x.lock().unwrap().join("\n");
        assert_eq!(got.matches(API_KEY).count(), 3, "{got}");
        // ... and reflects it, but the guest reads it scrubbed.
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(!body.contains(API_KEY), "{body}");
        assert_eq!(json(&r)["headers"]["authorization"], "Bearer [redacted:API_KEY]");
        assert_eq!(json(&r)["body"], "key=[redacted:API_KEY]");
        assert_eq!(h.secrets_redacted(), ["API_KEY".to_string()]);

        // Denied: the value, however the guest came by it, sent to Y (granted,
        // but not this secret) in a body, the URL or a header, in clear or
        // encoded.
        let b64 = base64::engine::general_purpose::STANDARD.encode(API_KEY);
        let hex = hex::encode(API_KEY);
        let pct: String = url::form_urlencoded::byte_serialize(API_KEY.as_bytes()).collect();
        assert_ne!(pct, API_KEY);
        let echo = format!("http://{y}/echo");
        let attempts = [
            req("POST", &echo, &[], Some(&format!("stolen={API_KEY}"))),
            req("POST", &echo, &[], Some(&format!("stolen={b64}"))),
            req("POST", &echo, &[], Some(&format!("stolen={hex}"))),
            req("POST", &echo, &[], Some(&format!("stolen={pct}"))),
            req("GET", &format!("{echo}?stolen={API_KEY}"), &[], None),
            req("GET", &format!("{echo}?stolen={pct}"), &[], None),
            req("GET", &format!("http://{y}/{hex}/echo"), &[], None),
            req("GET", &echo, &[("x-stolen", API_KEY)], None),
            req("GET", &echo, &[("x-stolen", b64.as_str())], None),
            req("GET", &echo, &[(format!("x-{hex}").as_str(), "1")], None),
        ];
        for a in attempts {
            let shown = format!(
                "{} {} {:?} {:?}",
                a.method,
                a.url,
                a.headers.len(),
                a.body.as_ref().map(|b| b.len())
            );
            let r = h.send(a).await;
            assert!(
                matches!(&r, Err(WitError::Denied(m)) if m.contains("API_KEY") && !m.contains(API_KEY)),
                "{shown}: {:?}",
                r.as_ref().err()
            );
        }
        // A body that is not UTF-8 is scanned as bytes.
        let mut raw = vec![0xff, 0xfe];
        raw.extend_from_slice(API_KEY.as_bytes());
        let r = h
            .send(wit::Request { method: "POST".into(), url: echo.clone(), headers: vec![], body: Some(raw) })
            .await;
        assert!(matches!(r, Err(WitError::Denied(_))), "{:?}", r.err());
        assert!(seen_y.lock().unwrap().is_empty(), "Y received {:?}", seen_y.lock().unwrap());
        // Text without a secret still reaches Y.
        h.send(req("POST", &echo, &[], Some("nothing secret"))).await.unwrap();
        assert_eq!(seen_y.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_redirect_location_is_followed_literally_never_expanded() {
        let ((x, seen_x), (y, _)) = (recording_server().await, recording_server().await);
        let mut h = two_origins(x, y);
        // The server (not the guest) names a placeholder in its Location.
        let to = format!("http://{x}/to?u=/echo%3Fk%3D%7B%7Bsecret:API_KEY%7D%7D");
        let r = h.send(req("GET", &to, &[], None)).await.unwrap();
        assert_eq!(r.status, 200);
        let got = seen_x.lock().unwrap().join("\n");
        assert!(!got.contains(API_KEY), "the host filled the server's template: {got}");
        assert!(json(&r)["uri"].as_str().unwrap().contains("k={{secret:API_KEY}}"), "{:?}", json(&r));
    }

    #[tokio::test]
    async fn a_value_partly_percent_encoded_is_still_found() {
        let ((x, _), (y, seen_y)) = (recording_server().await, recording_server().await);
        let mut h = two_origins(x, y);
        // Only some bytes encoded (`3` as %33): no whole encoding the
        // redactor knows, but the server decodes it to the value.
        let partly = "s%33cr3t-v%40lue%2Fk%2By";
        let echo = format!("http://{y}/echo");
        for a in [
            req("GET", &format!("{echo}?stolen={partly}"), &[], None),
            req(
                "POST",
                &echo,
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(&format!("stolen={partly}")),
            ),
            req("GET", &echo, &[("x-stolen", partly)], None),
        ] {
            let shown = format!("{} {} {:?}", a.method, a.url, a.body.as_ref().map(|b| b.len()));
            let r = h.send(a).await;
            assert!(
                matches!(&r, Err(WitError::Denied(m)) if m.contains("API_KEY")),
                "{shown}: {:?}",
                r.err()
            );
        }
        assert!(seen_y.lock().unwrap().is_empty(), "Y received {:?}", seen_y.lock().unwrap());
        // Percent-encoded text without a secret still reaches Y.
        h.send(req("GET", &format!("{echo}?q=a%20b%2Fc"), &[], None)).await.unwrap();
        assert_eq!(seen_y.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn response_header_names_are_scrubbed() {
        let ((x, _), (y, _)) = (recording_server().await, recording_server().await);
        let mut h = two_origins(x, y);
        let r = h.send(req("GET", &format!("http://{y}/hdr"), &[], None)).await.unwrap();
        let shown = format!("{:?}", r.headers);
        assert!(!shown.contains("other-value"), "{shown}");
        assert_eq!(h.secrets_redacted(), ["OTHER".to_string()]);
    }

    #[tokio::test]
    async fn a_body_the_host_cannot_scrub_is_not_handed_over() {
        let ((x, seen_x), (y, _)) = (recording_server().await, recording_server().await);
        let mut h = two_origins(x, y);
        // Asking for a compressed reflection would hide the value from the
        // scrubber: the host chooses the encodings.
        let r = h
            .send(req(
                "GET",
                &format!("http://{x}/echo?k={{{{secret:API_KEY}}}}"),
                &[("accept-encoding", "gzip")],
                None,
            ))
            .await;
        assert!(matches!(r, Err(WitError::Invalid(_))), "{:?}", r.as_ref().map(|r| r.status));
        assert!(seen_x.lock().unwrap().is_empty());
        // A server compressing unasked: the body is refused, not passed on.
        let r = h.send(req("GET", &format!("http://{x}/enc"), &[], None)).await;
        assert!(matches!(r, Err(WitError::Unavailable(_))), "{:?}", r.as_ref().map(|r| r.status));
        // An uncompressed body still arrives.
        assert_eq!(h.send(req("GET", &format!("http://{x}/echo"), &[], None)).await.unwrap().status, 200);
    }

    #[tokio::test]
    async fn error_texts_are_scrubbed() {
        let (x, y) = (server().await, server().await);
        let mut h = two_origins(x, y);
        // An ungranted origin whose URL carries the value: the refusal's
        // text names the URL, scrubbed.
        let r = h.send(req("GET", &format!("ftp://{API_KEY}.example/"), &[], None)).await;
        let text = format!("{:?}", r.err());
        assert!(!text.contains(API_KEY), "{text}");
    }
}
