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

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::http as wit;
use crate::origin::Origin;
use crate::policy::HttpGrant;
use crate::redact::expand_placeholders;
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
/// The longest one request may take, whatever time the call has left.
pub const MAX_REQUEST_TIME: Duration = Duration::from_secs(30);

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
const FORBIDDEN_HEADERS: [&str; 10] = [
    "host",
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
            access: Ok(Access { client, grants, secrets, deadline, used: Vec::new() }),
            audit: Default::default(),
        }
    }

    /// Notes this context's refusals in `audit`.
    pub fn with_audit(mut self, audit: super::CallAudit) -> Self {
        self.audit = audit;
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

pub use crate::origin::is_public;

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

    /// Builds one hop's request: checks the origin, then substitutes the
    /// secrets that origin may receive.
    fn build(
        &mut self,
        url_template: &str,
        t: &Template,
        method: &reqwest::Method,
        with_body: bool,
    ) -> Result<reqwest::RequestBuilder, WitError> {
        // The origin is judged on the URL before substitution: a secret
        // cannot change where a request goes.
        let raw = url::Url::parse(url_template).map_err(|e| invalid(format!("the URL: {e}")))?;
        let grant = self.grant_for(&raw)?.clone();
        let url = self.expand(url_template, &grant)?;
        let url = url::Url::parse(&url).map_err(|e| invalid(format!("the URL after substitution: {e}")))?;
        if Origin::of_url(&url).ok().as_ref() != Some(&grant.origin) {
            return Err(WitError::Denied("a secret may not change the request's origin".into()));
        }
        let mut rb = self.client.request(method.clone(), url);
        for (name, value) in &t.headers {
            let value = self.expand(value, &grant)?;
            rb = rb.header(name.as_str(), value);
        }
        if let (true, Some(body)) = (with_body, &t.body) {
            let body = match std::str::from_utf8(body) {
                Ok(text) => self.expand(text, &grant)?.into_bytes(),
                Err(_) => body.clone(),
            };
            rb = rb.body(body);
        }
        Ok(rb)
    }

    async fn send(&mut self, req: wit::Request) -> Result<wit::Response, WitError> {
        let (mut url, t) = check_request(req)?;
        let mut method = t.method.clone();
        let mut with_body = true;
        for _hop in 0..=MAX_REDIRECTS {
            let remaining = self.deadline.saturating_duration_since(Instant::now()).min(MAX_REQUEST_TIME);
            if remaining.is_zero() {
                return Err(WitError::Unavailable("the call has no time left for a request".into()));
            }
            let rb = self.build(&url, &t, &method, with_body)?;
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
                continue;
            }
            return read_response(resp, remaining).await;
        }
        Err(WitError::Unavailable(format!("more than {MAX_REDIRECTS} redirects")))
    }
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
            Ok(a) => a.send(req).await,
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

    /// A local server: `/echo` returns the request's headers and body as
    /// JSON; `/to?u=URL` redirects; `/big` returns 5 MiB.
    async fn server() -> SocketAddr {
        use axum::Router;
        use axum::extract::Query;
        use axum::http::HeaderMap;
        use axum::response::Redirect;
        use axum::routing::{any, get};
        let app = Router::new()
            .route(
                "/echo",
                any(|headers: HeaderMap, body: String| async move {
                    let h: HashMap<String, String> = headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                        .collect();
                    axum::Json(serde_json::json!({ "headers": h, "body": body }))
                }),
            )
            .route(
                "/to",
                get(|Query(q): Query<HashMap<String, String>>| async move { Redirect::temporary(&q["u"]) }),
            )
            .route("/big", get(|| async { vec![b'x'; 5 * 1024 * 1024] }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
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
}
