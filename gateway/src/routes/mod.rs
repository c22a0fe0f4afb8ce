//! The routes: one module per resource, each handler a few lines over the
//! runtime. [`ROUTES`] ([`table`]) lists every route once, with who may call it; the
//! router and the OpenAPI document are both built from it, so they cannot
//! disagree.

pub(crate) mod agents;
mod backup;
pub(crate) mod channels;
mod cluster;
pub(crate) mod data;
pub(crate) mod observe;
pub(crate) mod skills;
pub(crate) mod table;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod trust;

use table::{ROUTES, short_path};

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
        ("GET", "/v1/tenants/{tenant}/summary") => get(tenants::summary),
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
        ("GET", "/v1/tenants/{tenant}/agents/{name}/sessions") => get(agents::sessions),
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
        ("GET", "/v1/tenants/{tenant}/outbox") => get(data::list_outbox),
        ("GET", "/v1/tenants/{tenant}/contacts") => get(data::contacts),
        ("GET", "/v1/tenants/{tenant}/usage") => get(observe::usage),
        ("GET", "/v1/tenants/{tenant}/usage/series") => get(observe::usage_series),
        ("GET", "/v1/tenants/{tenant}/audit") => get(observe::audit),
        ("GET", "/v1/usage") => get(observe::usage_all),
        ("GET", "/v1/audit") => get(observe::audit_all),
        ("GET", "/v1/security/audit") => get(observe::security),
        ("GET", "/v1/config") => get(observe::config),
        ("POST", "/v1/trust") => post(trust::add),
        ("GET", "/v1/trust") => get(trust::list),
        ("GET", "/v1/cluster") => get(cluster::show),
        ("DELETE", "/v1/trust/{name}") => delete(trust::remove),
        ("GET", "/v1/trust/{name}/skills") => get(trust::skills),
        ("GET", "/v1/backup") => get(backup::backup),
        ("POST", "/v1/restore") => post(backup::restore),
        _ => unreachable!("route {method} {path} has no handler"),
    }
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

/// A route's path parameters; refused (as invalid input, in the error
/// shape) when one is not UTF-8 once percent-decoded.
pub(crate) type PathParams = Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>;

/// A path parameter by name (already percent-decoded).
pub(crate) fn param(params: &PathParams, name: &str) -> ApiResult<String> {
    params
        .as_ref()
        .map_err(|_| ApiError::invalid("the path is not valid UTF-8 once percent-decoded"))?
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
        // Strict UTF-8: the decoder would turn bad bytes into U+FFFD and
        // answer for a value nobody sent.
        let query = parts.uri.query().unwrap_or("");
        if percent_encoding::percent_decode_str(query).decode_utf8().is_err() {
            return Err(ApiError::invalid("the query string is not UTF-8 once percent-decoded"));
        }
        Ok(ApiQuery(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}
