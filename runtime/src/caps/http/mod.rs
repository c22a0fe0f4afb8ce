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
//!
//! The parts: `transport` (the shared client, its public-only resolver and
//! what a network failure tells the guest), `request` (checking the
//! guest's request, building each hop with its secrets, the leak scan),
//! `redirect` (the hops, each judged again against the grant) and
//! `response` (the size and time a response may take, and its scrubbing).

mod redirect;
mod request;
mod response;
#[cfg(test)]
mod tests;
mod transport;

pub use transport::{NonPublicAddress, PublicOnlyResolver, client};

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::http as wit;
use crate::policy::HttpGrant;
use crate::redact::Redactor;
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

/// Looks up a secret's value for the call's tenant.
pub type SecretLookup = Arc<dyn Fn(&str) -> Option<Zeroizing<Vec<u8>>> + Send + Sync>;

/// The http capability of one call.
pub struct HttpCtx {
    access: Result<Access, String>,
    audit: super::CallAudit,
}

/// What a call with HTTP access holds; `request`, `redirect` and
/// `response` implement its steps.
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
