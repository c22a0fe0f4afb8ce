//! The routes: one module per resource, each handler a few lines over the
//! runtime. [`ROUTES`] lists every route once, with who may call it; the
//! router and the OpenAPI document are both built from it, so they cannot
//! disagree.

mod agents;
mod backup;
mod channels;
mod data;
mod observe;
mod skills;
mod tenants;
mod tokens;
mod trust;

use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::state::Gateway;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::routing::{MethodRouter, delete, get, post, put};
use serde::de::DeserializeOwned;

/// Largest body of most routes.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest body of an invoke (the operator's input cap bounds it further).
pub const MAX_INVOKE_BODY: usize = 8 * 1024 * 1024 + 1024;
/// Largest body of a skill install: a base64 component or package of up
/// to 32 MiB.
pub const MAX_INSTALL_BODY: usize = 44 * 1024 * 1024;
/// Largest body of a restore: a backup file of up to 256 GiB, streamed to
/// a file in the data directory (never held in memory).
pub const MAX_RESTORE_BODY: u64 = 256 << 30;

/// One route, as documented.
pub struct Route {
    /// HTTP method.
    pub method: &'static str,
    /// Path under the host; `{tenant}` routes also exist without the
    /// `/tenants/{tenant}` part, for tokens.
    pub path: &'static str,
    /// Who may call it (empty: anyone, without a credential).
    pub who: &'static [Who],
    /// What it does.
    pub summary: &'static str,
}

const fn r(method: &'static str, path: &'static str, who: &'static [Who], summary: &'static str) -> Route {
    Route { method, path, who, summary }
}

use crate::auth::{ANYONE, INVOKERS, MANAGERS, MEMBERS, OPERATOR};

/// Every route.
pub const ROUTES: &[Route] = &[
    r("GET", "/healthz", &[], "Liveness."),
    r("GET", "/readyz", &[], "Readiness; 503 while draining."),
    r("GET", "/openapi.json", &[], "This document."),
    r("GET", "/metrics", OPERATOR, "Prometheus metrics."),
    r("POST", "/v1/tenants", OPERATOR, "Create a tenant."),
    r("GET", "/v1/tenants", OPERATOR, "List tenants."),
    r("GET", "/v1/tenants/{tenant}", OPERATOR, "Show a tenant."),
    r("DELETE", "/v1/tenants/{tenant}", OPERATOR, "Delete a tenant and everything it owns."),
    r("POST", "/v1/tenants/{tenant}/suspend", OPERATOR, "Suspend a tenant."),
    r("POST", "/v1/tenants/{tenant}/resume", OPERATOR, "Resume a tenant."),
    r("POST", "/v1/tenants/{tenant}/tokens", MANAGERS, "Mint a token (shown once)."),
    r("GET", "/v1/tenants/{tenant}/tokens", MANAGERS, "List tokens (never secrets)."),
    r("POST", "/v1/tenants/{tenant}/tokens/{id}/rotate", MANAGERS, "Rotate a token."),
    r("DELETE", "/v1/tenants/{tenant}/tokens/{id}", MANAGERS, "Revoke a token."),
    r("GET", "/v1/tenants/{tenant}/policy", MANAGERS, "Read the tenant's policy."),
    r("PUT", "/v1/tenants/{tenant}/policy", MANAGERS, "Replace the tenant's policy (TOML or JSON)."),
    r("POST", "/v1/tenants/{tenant}/skills", MANAGERS, "Install a skill."),
    r("GET", "/v1/tenants/{tenant}/skills", ANYONE, "List skills (guests see guest skills)."),
    r("DELETE", "/v1/tenants/{tenant}/skills/{name}", MANAGERS, "Remove a skill."),
    r("POST", "/v1/tenants/{tenant}/skills/{name}/invoke", INVOKERS, "Invoke a skill."),
    r("POST", "/v1/tenants/{tenant}/agents", MANAGERS, "Create an agent."),
    r("GET", "/v1/tenants/{tenant}/agents", MEMBERS, "List agents."),
    r("GET", "/v1/tenants/{tenant}/agents/{name}", MEMBERS, "Show an agent."),
    r("PUT", "/v1/tenants/{tenant}/agents/{name}", MANAGERS, "Replace an agent."),
    r("DELETE", "/v1/tenants/{tenant}/agents/{name}", MANAGERS, "Remove an agent and its sessions."),
    r(
        "POST",
        "/v1/tenants/{tenant}/agents/{name}/messages",
        MEMBERS,
        "Send a peer's message to an agent; returns its reply.",
    ),
    r("GET", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}", MEMBERS, "A peer's session history."),
    r("DELETE", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}", MEMBERS, "Forget a peer's session."),
    r("POST", "/v1/tenants/{tenant}/channels", MANAGERS, "Add an inbound channel (webhook or telegram)."),
    r("GET", "/v1/tenants/{tenant}/channels", MANAGERS, "List channels."),
    r("DELETE", "/v1/tenants/{tenant}/channels/{name}", MANAGERS, "Remove a channel."),
    r(
        "POST",
        "/v1/inbound/{tenant}/{channel}",
        &[],
        "A channel's inbound endpoint: a signed webhook or a Telegram update (no credential: the signature is).",
    ),
    r("PUT", "/v1/tenants/{tenant}/secrets/{name}", MANAGERS, "Write a secret (write-only)."),
    r("GET", "/v1/tenants/{tenant}/secrets", MANAGERS, "List secret names."),
    r("GET", "/v1/tenants/{tenant}/memory", MEMBERS, "List memory entries."),
    r("DELETE", "/v1/tenants/{tenant}/memory/{key}", MEMBERS, "Delete a memory entry."),
    r("GET", "/v1/tenants/{tenant}/cron", MEMBERS, "List cron jobs."),
    r("DELETE", "/v1/tenants/{tenant}/cron/{id}", MEMBERS, "Remove a cron job."),
    r("GET", "/v1/tenants/{tenant}/contacts", MEMBERS, "List contacts."),
    r("GET", "/v1/tenants/{tenant}/usage", MEMBERS, "The tenant's usage."),
    r("GET", "/v1/tenants/{tenant}/audit", MANAGERS, "The tenant's audit events."),
    r("GET", "/v1/usage", MEMBERS, "Usage: every tenant's (operator, `?tenant=` filters) or the token's."),
    r("GET", "/v1/audit", MANAGERS, "Audit events: every tenant's (operator, `?tenant=`) or the token's."),
    r("GET", "/v1/security/audit", OPERATOR, "Security findings."),
    r("POST", "/v1/trust", OPERATOR, "Trust a publisher key (re-enables the skills it signed)."),
    r("GET", "/v1/trust", OPERATOR, "List the trusted publisher keys."),
    r(
        "DELETE",
        "/v1/trust/{name}",
        OPERATOR,
        "Stop trusting a publisher key (disables the skills it signed).",
    ),
    r("GET", "/v1/backup", OPERATOR, "A backup file of every tenant, or of `?tenant=`."),
    r("POST", "/v1/restore", OPERATOR, "Restore a backup file's tenants, or only `?tenant=`."),
];

/// The handler of a documented route.
fn handler(method: &str, path: &str) -> MethodRouter<Gateway> {
    let limit = |m: MethodRouter<Gateway>, bytes| m.layer(DefaultBodyLimit::max(bytes));
    match (method, path) {
        ("GET", "/healthz") => get(observe::healthz),
        ("GET", "/readyz") => get(observe::readyz),
        ("GET", "/openapi.json") => get(observe::openapi),
        ("GET", "/metrics") => get(observe::metrics),
        ("POST", "/v1/tenants") => post(tenants::create),
        ("GET", "/v1/tenants") => get(tenants::list),
        ("GET", "/v1/tenants/{tenant}") => get(tenants::show),
        ("DELETE", "/v1/tenants/{tenant}") => delete(tenants::delete),
        ("POST", "/v1/tenants/{tenant}/suspend") => post(tenants::suspend),
        ("POST", "/v1/tenants/{tenant}/resume") => post(tenants::resume),
        ("POST", "/v1/tenants/{tenant}/tokens") => post(tokens::mint),
        ("GET", "/v1/tenants/{tenant}/tokens") => get(tokens::list),
        ("POST", "/v1/tenants/{tenant}/tokens/{id}/rotate") => post(tokens::rotate),
        ("DELETE", "/v1/tenants/{tenant}/tokens/{id}") => delete(tokens::revoke),
        ("GET", "/v1/tenants/{tenant}/policy") => get(data::get_policy),
        ("PUT", "/v1/tenants/{tenant}/policy") => put(data::put_policy),
        ("POST", "/v1/tenants/{tenant}/skills") => limit(post(skills::install), MAX_INSTALL_BODY),
        ("GET", "/v1/tenants/{tenant}/skills") => get(skills::list),
        ("DELETE", "/v1/tenants/{tenant}/skills/{name}") => delete(skills::remove),
        ("POST", "/v1/tenants/{tenant}/skills/{name}/invoke") => limit(post(skills::invoke), MAX_INVOKE_BODY),
        ("POST", "/v1/tenants/{tenant}/agents") => post(agents::create),
        ("GET", "/v1/tenants/{tenant}/agents") => get(agents::list),
        ("GET", "/v1/tenants/{tenant}/agents/{name}") => get(agents::show),
        ("PUT", "/v1/tenants/{tenant}/agents/{name}") => put(agents::replace),
        ("DELETE", "/v1/tenants/{tenant}/agents/{name}") => delete(agents::remove),
        ("POST", "/v1/tenants/{tenant}/agents/{name}/messages") => post(agents::message),
        ("GET", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}") => get(agents::session),
        ("DELETE", "/v1/tenants/{tenant}/agents/{name}/sessions/{peer}") => delete(agents::forget),
        ("POST", "/v1/tenants/{tenant}/channels") => post(channels::add),
        ("GET", "/v1/tenants/{tenant}/channels") => get(channels::list),
        ("DELETE", "/v1/tenants/{tenant}/channels/{name}") => delete(channels::remove),
        ("POST", "/v1/inbound/{tenant}/{channel}") => post(channels::inbound),
        ("PUT", "/v1/tenants/{tenant}/secrets/{name}") => put(data::put_secret),
        ("GET", "/v1/tenants/{tenant}/secrets") => get(data::list_secrets),
        ("GET", "/v1/tenants/{tenant}/memory") => get(data::list_memory),
        ("DELETE", "/v1/tenants/{tenant}/memory/{key}") => delete(data::delete_memory),
        ("GET", "/v1/tenants/{tenant}/cron") => get(data::list_cron),
        ("DELETE", "/v1/tenants/{tenant}/cron/{id}") => delete(data::delete_cron),
        ("GET", "/v1/tenants/{tenant}/contacts") => get(data::contacts),
        ("GET", "/v1/tenants/{tenant}/usage") => get(observe::usage),
        ("GET", "/v1/tenants/{tenant}/audit") => get(observe::audit),
        ("GET", "/v1/usage") => get(observe::usage_all),
        ("GET", "/v1/audit") => get(observe::audit_all),
        ("GET", "/v1/security/audit") => get(observe::security),
        ("POST", "/v1/trust") => post(trust::add),
        ("GET", "/v1/trust") => get(trust::list),
        ("DELETE", "/v1/trust/{name}") => delete(trust::remove),
        ("GET", "/v1/backup") => get(backup::backup),
        ("POST", "/v1/restore") => post(backup::restore),
        _ => unreachable!("route {method} {path} has no handler"),
    }
}

/// The short form of a tenant route, for tokens: `/v1/tenants/{tenant}/x`
/// is also `/v1/x`. Routes about the tenant itself have none.
pub fn short_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v1/tenants/{tenant}/")?;
    let first = rest.split('/').next().unwrap_or("");
    (!matches!(first, "suspend" | "resume") && !matches!(rest, "usage" | "audit"))
        .then(|| format!("/v1/{rest}"))
}

/// The router of every route (without the middleware).
pub(crate) fn router() -> Router<Gateway> {
    let mut paths: Vec<(String, MethodRouter<Gateway>)> = Vec::new();
    let mut add = |path: String, m: MethodRouter<Gateway>| match paths.iter_mut().find(|(p, _)| *p == path) {
        Some((_, existing)) => *existing = std::mem::take(existing).merge(m),
        None => paths.push((path, m)),
    };
    for route in ROUTES {
        add(route.path.to_string(), handler(route.method, route.path));
        if let Some(short) = short_path(route.path) {
            add(short, handler(route.method, route.path));
        }
    }
    // `/v1/usage` and `/v1/audit` have their own handlers: every tenant
    // for the operator, the token's own tenant otherwise.
    let mut router = Router::new();
    for (path, m) in paths {
        router = router.route(&path, m);
    }
    router
}

/// A path parameter by name (already percent-decoded).
pub(crate) fn param(params: &RawPathParams, name: &str) -> ApiResult<String> {
    params
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| ApiError::invalid(format!("missing path parameter {name}")))
}

/// A JSON object in a body that may be empty (then `T::default()`). Only
/// an object: serde would also fill a struct from an array (`[]` would be a
/// valid, all-default body).
pub(crate) fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ApiError::invalid("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
}

/// `axum::Json` of a JSON object, with our error shape. (Every body taken
/// this way is an object; serde would also fill a struct from an array.)
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        let v = axum::Json::<serde_json::Value>::from_request(req, state).await?.0;
        if !v.is_object() {
            return Err(ApiError::invalid("the body must be a JSON object"));
        }
        serde_json::from_value(v).map(ApiJson).map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))
    }
}

/// A raw body with our error shape (413 when it passes the route's limit).
pub(crate) struct ApiBytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> ApiResult<Self> {
        Ok(ApiBytes(axum::body::Bytes::from_request(req, state).await?))
    }
}

/// `axum::extract::Query` with our error shape.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<Self> {
        Ok(ApiQuery(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}
