//! Health, the API description, usage, the audit log, metrics and the
//! security findings.

use crate::auth::{Caller, MANAGERS, MEMBERS, OPERATOR, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::ApiQuery;
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::TenantId;
use wasmclaw::audit::AuditFilter;
use wasmclaw::auth::Principal;

pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: not draining, and the store answers (a PostgreSQL store within
/// 2 s; its answer shared for a second). A store that does not answer is
/// 503 `store-unavailable` with `Retry-After`, so a load balancer sends
/// nothing here that would only get 503s; the details go to the log.
pub(crate) async fn readyz(State(gw): State<Gateway>) -> Response {
    if gw.is_draining() {
        let body = json!({ "error": { "code": "draining", "message": "the gateway is shutting down" } });
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    if let Err(why) = gw.store_ready().await {
        tracing::debug!(error = %why, "not ready: the store does not answer");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "the gateway's store does not answer just now; retry shortly",
        )
        .into_response();
    }
    Json(json!({ "status": "ready" })).into_response()
}

pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

fn tenant_filter(raw: Option<&str>) -> ApiResult<Option<TenantId>> {
    raw.map(|t| TenantId::parse(t).map_err(|e| ApiError::invalid(e.to_string()))).transpose()
}

pub(crate) async fn usage_all(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<UsageAllQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, MEMBERS, "read usage")?;
    let tenant = own_or(&caller, tenant_filter(q.tenant.as_deref())?)?;
    let rt = gw.runtime();
    let tenants = match &tenant {
        Some(t) => vec![t.clone()],
        None => rt.tenants()?.into_iter().map(|t| t.id).collect(),
    };
    let mut models = Vec::new();
    for t in &tenants {
        for row in rt.model_usage(t, q.since.unwrap_or(0))? {
            let mut v = json!(row);
            v["tenant"] = json!(t.as_str());
            models.push(v);
        }
    }
    let usage: Vec<Value> =
        rt.usage(tenant.as_ref())?.into_iter().map(|row| scrubbed_row(rt, json!(row))).collect();
    for m in &mut models {
        *m = scrubbed_row(rt, std::mem::take(m));
    }
    Ok(Json(json!({ "usage": usage, "models": models })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageAllQuery {
    tenant: Option<String>,
    /// Model usage from the day of this time (seconds since the Unix epoch).
    since: Option<u64>,
}

/// `row` (naming its tenant in `tenant`) scrubbed of that tenant's secrets:
/// labels (skill, agent, model names) are the tenant's own text, and secret
/// values are write-only for every reader.
fn scrubbed_row(rt: &wasmclaw::Runtime, mut row: Value) -> Value {
    if let Some(t) = row["tenant"].as_str().and_then(|t| TenantId::parse(t).ok()) {
        rt.scrub_json(&t, &mut row);
    }
    row
}

/// On the short routes the operator reads every tenant (or the one asked
/// for); a token reads its own tenant only.
fn own_or(caller: &Caller, asked: Option<TenantId>) -> ApiResult<Option<TenantId>> {
    match &caller.0 {
        Principal::Operator => Ok(asked),
        Principal::Token(t) if asked.as_ref().is_none_or(|a| a == &t.tenant) => Ok(Some(t.tenant.clone())),
        Principal::Token(_) => Err(ApiError::not_found("no such tenant")),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageQuery {
    /// Model usage from the day of this time (seconds since the Unix epoch).
    since: Option<u64>,
}

pub(crate) async fn usage(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiQuery(q): ApiQuery<UsageQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read usage")?;
    let rt = gw.runtime();
    let since = q.since.unwrap_or(0);
    let mut v = json!({
        "usage": rt.usage(Some(&scoped.tenant))?,
        "models": rt.model_usage(&scoped.tenant, since)?,
    });
    rt.scrub_json(&scoped.tenant, &mut v);
    Ok(Json(v))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeriesQuery {
    /// `hour` (the default) or `day`.
    pub(crate) step: Option<String>,
    /// The span's start and end, seconds since the Unix epoch.
    pub(crate) since: Option<u64>,
    pub(crate) until: Option<u64>,
    /// One skill's rows only.
    pub(crate) skill: Option<String>,
}

/// `GET …/usage/series`: the tenant's usage by hour or day and skill.
pub(crate) async fn usage_series(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiQuery(q): ApiQuery<SeriesQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read usage")?;
    let step = wasmclaw::runtime::Step::parse(q.step.as_deref().unwrap_or("hour"))?;
    let (rt, tenant) = (gw.runtime().clone(), scoped.tenant.clone());
    let series = tokio::task::spawn_blocking(move || {
        rt.usage_series(&tenant, step, q.since, q.until, q.skill.as_deref())
    })
    .await
    .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("usage task: {e}"))))??;
    let mut v = json!(series);
    gw.runtime().scrub_json(&scoped.tenant, &mut v);
    Ok(Json(v))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    pub(crate) tenant: Option<String>,
    pub(crate) since: Option<u64>,
    pub(crate) limit: Option<usize>,
    /// An action (`token.mint`) or a prefix of one ending in `*` (`token.*`).
    pub(crate) action: Option<String>,
    /// An outcome word (`ok`, `denied`).
    pub(crate) outcome: Option<String>,
    /// Latest matching events to leave out (the next page).
    pub(crate) skip: Option<usize>,
}

/// The most events a listing may skip.
const AUDIT_MAX_SKIP: usize = 10_000_000;

/// Checks the filters of an audit query. Actions and outcome words are the
/// gateway's own vocabulary; anything else (an outcome's free-text reason,
/// which may hold what a skill chose) cannot be matched, so a filter is no
/// oracle for what scrubbing hides.
fn audit_filters(q: &AuditQuery) -> ApiResult<(Option<String>, Option<String>, usize)> {
    let word = |s: &str, extra: &[u8]| {
        s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b))
    };
    if let Some(a) = &q.action {
        let stem = a.strip_suffix('*').unwrap_or(a);
        if a.is_empty() || a.len() > 64 || !word(stem, b"._-") {
            return Err(ApiError::invalid(
                "action: 1 to 64 of a-z, 0-9, '.', '_' and '-', optionally ending in '*' (a prefix)",
            ));
        }
    }
    if let Some(o) = &q.outcome
        && (o.is_empty() || o.len() > 32 || !word(o, b"-"))
    {
        return Err(ApiError::invalid("outcome: 1 to 32 of a-z, 0-9 and '-' (ok, denied, failed, …)"));
    }
    let skip = q.skip.unwrap_or(0);
    if skip > AUDIT_MAX_SKIP {
        return Err(ApiError::invalid(format!("skip: at most {AUDIT_MAX_SKIP}")));
    }
    Ok((q.action.clone(), q.outcome.clone(), skip))
}

/// Events returned when no limit is asked, and the most ever returned.
const AUDIT_DEFAULT_LIMIT: usize = 1000;
const AUDIT_MAX_LIMIT: usize = 10_000;

/// The events `q` asks for of `tenant` (or every tenant's). A tenant's
/// own token reads from the tenant's latest creation on (`tenant_reader`):
/// a tenant created again under a deleted one's id never reads its
/// predecessor's events.
async fn read_audit(
    gw: &Gateway,
    tenant: Option<String>,
    q: &AuditQuery,
    tenant_reader: bool,
) -> ApiResult<Json<Value>> {
    let (action, outcome, skip) = audit_filters(q)?;
    let filter = AuditFilter {
        tenant,
        since: q.since,
        limit: q.limit.unwrap_or(AUDIT_DEFAULT_LIMIT).min(AUDIT_MAX_LIMIT),
        action,
        outcome,
        skip,
        since_created: tenant_reader,
    };
    let rt = gw.runtime().clone();
    let events = tokio::task::spawn_blocking(move || {
        // Targets name what skills and people chose (keys, job ids, reasons):
        // each event is scrubbed of its tenant's secrets.
        rt.audit()
            .query(&filter)
            .map(|events| events.into_iter().map(|e| scrubbed_row(&rt, json!(e))).collect::<Vec<Value>>())
    })
    .await
    .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("audit task: {e}"))))?
    .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("cannot read the audit log: {e}"))))?;
    Ok(Json(json!({ "events": events })))
}

pub(crate) async fn audit_all(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, MANAGERS, "read the audit log")?;
    let tenant = own_or(&caller, tenant_filter(q.tenant.as_deref())?)?.map(|t| t.to_string());
    let tenant_reader = !matches!(caller.0, wasmclaw::auth::Principal::Operator);
    read_audit(&gw, tenant, &q, tenant_reader).await
}

pub(crate) async fn audit(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "read the audit log")?;
    if q.tenant.as_deref().is_some_and(|t| t != scoped.tenant.as_str()) {
        return Err(ApiError::invalid("the tenant is given by the path or the token"));
    }
    let tenant_reader = !matches!(scoped.principal, wasmclaw::auth::Principal::Operator);
    read_audit(&gw, Some(scoped.tenant.to_string()), &q, tenant_reader).await
}

pub(crate) async fn metrics(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Response> {
    caller.allow(&gw, OPERATOR, "read metrics")?;
    let text = crate::metrics::render(&gw)?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}

/// `GET /v1/config`: the effective configuration, credentials in URLs
/// hidden. (Not the cluster's settings digest: it hashes the credentials
/// too, and would let a guess at one be checked offline.)
pub(crate) async fn config(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "read the configuration")?;
    Ok(Json(json!({ "config": gw.runtime().config().redacted() })))
}

pub(crate) async fn security(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "run the security audit")?;
    let rt = gw.runtime().clone();
    let mut findings = tokio::task::spawn_blocking(move || crate::findings::collect(&rt))
        .await
        .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("security task: {e}"))))??;
    let rt = gw.runtime();
    if let (Some(node), Some(nodes)) = (rt.node_id(), rt.cluster_nodes().await?) {
        findings.extend(wasmclaw::security::cluster_findings(node, &rt.config().shared_digest(), &nodes));
        findings.sort_by_key(|f| f.severity);
    }
    Ok(Json(json!({ "findings": findings })))
}
