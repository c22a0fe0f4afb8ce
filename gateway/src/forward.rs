//! Routing in a cluster: each tenant is served by the one replica holding
//! its lease ([`wasmclaw::cluster`]). A request about a tenant — the
//! `{tenant}` of `/v1/tenants/{tenant}/…` or `/v1/inbound/{tenant}/…`,
//! else the tenant a `wct_` token names — is served here when this replica
//! holds the lease or can take it, and otherwise sent once to the owner.
//!
//! - **One hop.** A forwarded request carries [`HOP`], signed by the
//!   forwarding replica for this very request
//!   ([`wasmclaw::cluster::HopKey`]). A request whose hop checks out is
//!   never sent on: a replica that does not own the tenant answers 503
//!   `tenant-unavailable`. Any other hop header (a client's) is removed,
//!   and the request routed as any other.
//! - **The caller first.** Before it takes a lease or forwards, a replica
//!   authenticates the caller: only the operator or a token of the tenant
//!   goes on; anyone else gets what a missing tenant gets, here. The
//!   inbound routes take no bearer credential (their signature is checked
//!   by the route, at the owner). A path a URL parser would rewrite is
//!   refused before routing, so the owner runs exactly the path routed.
//! - **No trust in the hop.** The owner authenticates the request again,
//!   exactly as if it had come straight from the client: the header grants
//!   nothing, and the token's tenant in the route only picks a replica.
//! - **A dead owner.** When the owner does not answer (it died, its lease
//!   has not lapsed yet), 503 `tenant-unavailable` with `Retry-After` the
//!   time its membership row has left: after that the tenant is taken here.
//!   A request of a small body that could not even connect to its owner
//!   (a graceful stop, a stale placement) is routed once more and served
//!   here if the lease is free. A request that reached the owner (the
//!   connection broke after it was sent) is never sent again: it may have
//!   run there, so it gets 503 saying so, and repeating it is the
//!   client's choice.
//! - Requests about no tenant (the operator's lists, usage, audit, trust,
//!   metrics, health) are answered by whichever replica receives them.

use crate::error::ApiError;
use crate::state::Gateway;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wasmclaw::TenantId;
use wasmclaw::cluster::Route;

/// The header a forwarded request carries: the forwarding replica's node
/// id, the time and a signature ([`wasmclaw::cluster::HopKey`]).
pub const HOP: &str = "x-wasmclaw-hop";

/// The tenant a request is about, if any: its path's, else its token's.
/// Only a well-formed tenant id counts; anything else is served here (and
/// refused by the route's own checks).
///
/// It reads both exactly as the routes do (the path segment
/// percent-decoded, the credential as [`crate::auth::bearer`] takes it), so
/// no spelling of a tenant reaches its routes at a replica that does not
/// own it. A path segment that is no tenant id once decoded is refused by
/// the route itself.
pub(crate) fn tenant_of(path: &str, headers: &HeaderMap) -> Option<String> {
    let mut parts = path.split('/');
    if let (Some(""), Some("v1"), Some("tenants" | "inbound"), Some(t)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let decoded = percent_encoding::percent_decode_str(t).decode_utf8().ok()?;
        return TenantId::parse(&decoded).ok().map(|t| t.as_str().to_string());
    }
    let token = crate::auth::bearer(headers.get(header::AUTHORIZATION)?)?;
    // wct_<tenant>_<12 hex>_<32 hex>; the tenant may hold `-`, never `_`.
    let rest = token.strip_prefix("wct_")?;
    let tenant = rest.split('_').next()?;
    TenantId::parse(tenant).ok().map(|t| t.as_str().to_string())
}

fn unavailable(retry_after_secs: u64, message: &str) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "tenant-unavailable", message)
        .retry_after(retry_after_secs)
        .into_response()
}

/// Before saying that a tenant is served elsewhere (which tells that it
/// exists), the caller must be one who may know: the operator or a token
/// of that tenant. Anyone else gets what a tenant that does not exist
/// gets: 401 without a valid credential, 404 with another tenant's.
async fn may_know(
    gw: &Gateway,
    parts: &mut axum::http::request::Parts,
    tenant: &str,
) -> Result<(), Response> {
    use axum::extract::FromRequestParts;
    use wasmclaw::auth::Principal;
    let caller =
        crate::auth::Caller::from_request_parts(parts, gw).await.map_err(IntoResponse::into_response)?;
    let actor = caller.0.actor();
    match caller.0 {
        Principal::Operator => Ok(()),
        Principal::Token(t) if t.tenant.as_str() == tenant => Ok(()),
        Principal::Token(t) => {
            // Audited as the route's own check does.
            gw.runtime().record_refusal(&actor, Some(&t.tenant), "cross-tenant", "path", "denied");
            Err(ApiError::not_found(format!("no tenant {tenant:?}")).into_response())
        }
    }
}

/// Bodies up to this size are read before a forward, so that a request
/// whose owner turns out to be gone (its process stopped, the placement
/// this replica remembered stale) can be routed again and served here.
/// Larger bodies (installs, restores) are streamed and not retried.
const RETRIED_BODY_BYTES: usize = 64 * 1024;

/// The middleware: serve here, or forward to the owner.
pub(crate) async fn route(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    let Some(tenant) = tenant_of(req.uri().path(), req.headers()) else { return next.run(req).await };
    if gw.runtime().node_id().is_none() {
        return next.run(req).await;
    }
    // Refused alike wherever the tenant is served, and whether it exists.
    if !forwardable(req.uri()) {
        return ApiError::invalid("the request's path cannot be forwarded as it was sent (dot segments?)")
            .into_response();
    }
    let (mut parts, body) = req.into_parts();
    // A hop header this cluster did not sign is a client's: removed, and
    // the request routed as any other.
    let hopped = from_a_replica(&gw, &mut parts);
    // Only a caller who may know of the tenant (the operator, a token of
    // it) makes a replica take its lease or learn where it is served;
    // anyone else gets here what a missing tenant gets. The inbound
    // routes take no bearer credential: their signature is checked by
    // the route, at the owner. A signed hop was checked so by the replica
    // that forwarded it (and the route authenticates it again).
    let inbound = is_inbound(parts.uri.path());
    if !inbound
        && !hopped
        && let Err(answer) = may_know(&gw, &mut parts, &tenant).await
    {
        return answer;
    }
    let req = Request::from_parts(parts, body);
    match gw.runtime().route(&tenant).await {
        Ok(None | Some(Route::NoTenant)) => next.run(req).await,
        Ok(Some(Route::Serve(lease))) => {
            let response = next.run(req).await;
            drop(lease);
            response
        }
        Ok(Some(Route::Forward { node_id, addr, retry_after_secs })) => {
            let (parts, body) = req.into_parts();
            if hopped {
                let why = "the tenant is served by another replica; retry shortly";
                return unavailable(retry_after_secs, why);
            }
            if !small_body(&parts.headers) {
                let body = reqwest::Body::wrap_stream(body.into_data_stream());
                return match send(&gw, &parts, body, &addr).await {
                    Ok(answer) => relay(&gw, &tenant, &parts.method, answer).await,
                    Err(e) => {
                        gone(&gw, &tenant, &node_id, &addr, &e);
                        unavailable(retry_after_secs, if e.is_connect() { NO_ANSWER } else { LOST })
                    }
                };
            }
            // Read as a route reads it, so that a body that cannot be read
            // gets the route's own answer here too.
            let mut whole = Request::new(body);
            *whole.headers_mut() = parts.headers.clone();
            let bytes =
                match <axum::body::Bytes as axum::extract::FromRequest<()>>::from_request(whole, &()).await {
                    Ok(bytes) => bytes,
                    Err(rejection) => return ApiError::from(rejection).into_response(),
                };
            match send(&gw, &parts, bytes.clone().into(), &addr).await {
                Ok(answer) => relay(&gw, &tenant, &parts.method, answer).await,
                Err(e) if !e.is_connect() => {
                    // The request may have reached the owner, and run
                    // there: it is never sent again, here or elsewhere.
                    gone(&gw, &tenant, &node_id, &addr, &e);
                    unavailable(retry_after_secs, LOST)
                }
                Err(e) => {
                    // No connection was made: the owner never saw it.
                    gone(&gw, &tenant, &node_id, &addr, &e);
                    // Asked again: a lease that is free now is taken here,
                    // and a new owner gets the request (still one hop).
                    match gw.runtime().route(&tenant).await {
                        Ok(None | Some(Route::NoTenant)) => {
                            next.run(Request::from_parts(parts, bytes.into())).await
                        }
                        Ok(Some(Route::Serve(lease))) => {
                            let response = next.run(Request::from_parts(parts, bytes.into())).await;
                            drop(lease);
                            response
                        }
                        Ok(Some(Route::Forward { node_id: moved, addr: to, retry_after_secs })) => {
                            if to == addr {
                                return unavailable(retry_after_secs, NO_ANSWER);
                            }
                            match send(&gw, &parts, bytes.into(), &to).await {
                                Ok(answer) => relay(&gw, &tenant, &parts.method, answer).await,
                                Err(e) => {
                                    gone(&gw, &tenant, &moved, &to, &e);
                                    unavailable(
                                        retry_after_secs,
                                        if e.is_connect() { NO_ANSWER } else { LOST },
                                    )
                                }
                            }
                        }
                        Err(e) => ApiError::from(e).into_response(),
                    }
                }
            }
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Whether the request came from a replica of this cluster: a hop header
/// it signed for this very request. Any other hop header is removed.
fn from_a_replica(gw: &Gateway, parts: &mut axum::http::request::Parts) -> bool {
    let mut values = parts.headers.get_all(HOP).iter();
    let (first, second) = (values.next(), values.next());
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let signed = match (first, second) {
        (Some(v), None) => {
            v.to_str().ok().and_then(|v| gw.runtime().hop_check(v, parts.method.as_str(), path)).is_some()
        }
        _ => false,
    };
    if !signed {
        parts.headers.remove(HOP);
    }
    signed
}

/// `/v1/inbound/…`: a channel's endpoint (no bearer credential).
fn is_inbound(path: &str) -> bool {
    path.starts_with("/v1/inbound/")
}

/// Whether the owner would receive exactly this path and query: a URL
/// parser resolves dot segments (`..`, `%2e%2e`) and backslashes, which
/// would make the owner run another route than the one routed here.
fn forwardable(uri: &axum::http::Uri) -> bool {
    let Some(pq) = uri.path_and_query() else { return true };
    match reqwest::Url::parse(&format!("http://owner{}", pq.as_str())) {
        Ok(url) => url.path() == uri.path() && url.query() == uri.query(),
        Err(_) => false,
    }
}

/// Whether the body is known to be small enough to read before a forward
/// (a `content-length` within [`RETRIED_BODY_BYTES`], or no body at all).
fn small_body(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_LENGTH) {
        Some(n) => {
            n.to_str().ok().and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| n <= RETRIED_BODY_BYTES)
        }
        None => !headers.contains_key(header::TRANSFER_ENCODING),
    }
}

/// Why a request whose owner did not answer is refused.
const NO_ANSWER: &str = "the replica serving this tenant does not answer; retry shortly";

/// Why a request sent to the owner, which then stopped answering, is
/// refused: it may have taken effect there.
const LOST: &str = "the replica serving this tenant stopped answering after the request was sent: \
                    it may have taken effect; retry shortly if it is safe to repeat";

/// The owner did not answer: logged, and its placement forgotten.
fn gone(gw: &Gateway, tenant: &str, owner: &str, addr: &str, e: &reqwest::Error) {
    tracing::warn!(owner, addr, error = %e, "the tenant's owner did not answer a forwarded request");
    gw.runtime().forget_placement(tenant);
}

/// Headers that belong to one connection, never passed on.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    ) || name.as_str() == HOP
}

/// Sends the request once to the owner at `addr`, with [`HOP`].
async fn send(
    gw: &Gateway,
    parts: &axum::http::request::Parts,
    body: reqwest::Body,
    addr: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    let target = format!(
        "{}{}",
        addr.trim_end_matches('/'),
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Some(hop) = gw
        .runtime()
        .hop_sign(parts.method.as_str(), path)
        .and_then(|v| reqwest::header::HeaderValue::from_str(&v).ok())
    {
        headers.insert(HeaderName::from_static(HOP), hop);
    }
    gw.forwarder().request(parts.method.clone(), &target).headers(headers).body(body).send().await
}

/// Answers up to this size whose length the owner gave are read whole and
/// sent with that length, framed exactly as a local answer is.
const WHOLE_ANSWER_BYTES: u64 = 1024 * 1024;

/// The owner's answer: read whole when small and of a known length (so
/// its framing is a local answer's), else streamed back.
async fn relay(
    gw: &Gateway,
    tenant: &str,
    method: &axum::http::Method,
    answer: reqwest::Response,
) -> Response {
    gw.forwarded();
    if answer.status() == StatusCode::SERVICE_UNAVAILABLE {
        // It may no longer serve the tenant (or not yet): ask again.
        gw.runtime().forget_placement(tenant);
    }
    let bad = || {
        ApiError::new(StatusCode::BAD_GATEWAY, "bad-gateway", "a bad answer from the tenant's owner")
            .into_response()
    };
    let mut response = Response::builder().status(answer.status());
    if let Some(h) = response.headers_mut() {
        for (name, value) in answer.headers() {
            if !hop_by_hop(name) {
                h.append(name.clone(), value.clone());
            }
        }
    }
    if method == axum::http::Method::HEAD {
        // No body, and the length the owner said its body has.
        if let (Some(h), Some(length)) =
            (response.headers_mut(), answer.headers().get(header::CONTENT_LENGTH))
        {
            h.insert(header::CONTENT_LENGTH, length.clone());
        }
        return response.body(Body::empty()).unwrap_or_else(|_| bad());
    }
    let body = match answer.content_length() {
        Some(n) if n <= WHOLE_ANSWER_BYTES => match answer.bytes().await {
            Ok(bytes) => Body::from(bytes),
            Err(_) => return bad(),
        },
        _ => Body::from_stream(answer.bytes_stream()),
    };
    response.body(body).unwrap_or_else(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        h
    }

    #[test]
    fn the_tenant_comes_from_the_path_first_then_the_token() {
        let none = HeaderMap::new();
        assert_eq!(tenant_of("/v1/tenants/acme/skills", &none).as_deref(), Some("acme"));
        assert_eq!(tenant_of("/v1/tenants/acme", &none).as_deref(), Some("acme"));
        assert_eq!(tenant_of("/v1/inbound/acme/webhook/x", &none).as_deref(), Some("acme"));
        let tok = bearer("wct_other-co_0123456789ab_0123456789abcdef0123456789abcdef");
        assert_eq!(tenant_of("/v1/tenants/acme/skills", &tok).as_deref(), Some("acme"), "the path wins");
        assert_eq!(tenant_of("/v1/skills/echo/invoke", &tok).as_deref(), Some("other-co"));
        // Spelled as the routes read them: percent-decoded, the credential
        // trimmed after `Bearer `.
        assert_eq!(tenant_of("/v1/tenants/%61cme/skills", &none).as_deref(), Some("acme"));
        assert_eq!(tenant_of("/v1/inbound/%61%63me/x", &none).as_deref(), Some("acme"));
        let spaced = bearer("  wct_other-co_0123456789ab_0123456789abcdef0123456789abcdef");
        assert_eq!(tenant_of("/v1/skills/echo/invoke", &spaced).as_deref(), Some("other-co"));
        let mut tab = HeaderMap::new();
        tab.insert(
            header::AUTHORIZATION,
            "Bearer \twct_other-co_0123456789ab_0123456789abcdef0123456789abcdef".parse().unwrap(),
        );
        assert_eq!(tenant_of("/v1/skills/echo/invoke", &tab).as_deref(), Some("other-co"));
    }

    #[test]
    fn no_tenant_for_operator_routes_malformed_ids_or_other_credentials() {
        let none = HeaderMap::new();
        for path in [
            "/v1/tenants",
            "/v1/usage",
            "/healthz",
            "/v1/tenants/",
            "/v1/tenants/ACME/skills",
            "/v1/tenants/a%2Fb",
        ] {
            assert_eq!(tenant_of(path, &none), None, "{path}");
        }
        for token in ["wca_0123", "wct_", "wct_UPPER_x_y", "wct__x_y"] {
            assert_eq!(tenant_of("/v1/skills/echo/invoke", &bearer(token)), None, "{token}");
        }
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, "Basic d2N0X2FjbWU=".parse().unwrap());
        assert_eq!(tenant_of("/v1/skills", &basic), None);
    }

    #[test]
    fn connection_headers_and_a_clients_hop_header_are_not_passed_on() {
        for h in ["connection", "host", "transfer-encoding", "content-length", HOP] {
            assert!(hop_by_hop(&HeaderName::from_static(h)), "{h}");
        }
        for h in ["authorization", "content-type", "x-request-id"] {
            assert!(!hop_by_hop(&HeaderName::from_static(h)), "{h}");
        }
    }
}
