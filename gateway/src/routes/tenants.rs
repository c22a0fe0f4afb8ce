//! Operator routes: tenants. The `{tenant}` of the path is resolved by
//! [`Scoped`] (a missing one is 404), then only the operator is admitted.

use crate::auth::{Caller, MEMBERS, OPERATOR, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::ApiJson;
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::TenantId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    pub(crate) id: String,
}

pub(crate) async fn create(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiJson(body): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.allow(&gw, OPERATOR, "create tenants")?;
    let id = TenantId::parse(&body.id).map_err(|e| ApiError::invalid(e.to_string()))?;
    let t = gw.runtime().create_tenant(&caller.0.actor(), &id)?;
    Ok((StatusCode::CREATED, Json(json!(t))))
}

pub(crate) async fn list(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "list tenants")?;
    Ok(Json(json!({ "tenants": gw.runtime().tenants()? })))
}

pub(crate) async fn show(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, OPERATOR, "read tenants")?;
    Ok(Json(json!(gw.runtime().tenant(&scoped.tenant)?)))
}

/// `GET …/summary`: what the tenant holds and its use of each quota.
pub(crate) async fn summary(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read the tenant's summary")?;
    let rt = gw.runtime().clone();
    let tenant = scoped.tenant.clone();
    // A few store reads: off the async workers, as the other blocking reads.
    let summary = tokio::task::spawn_blocking(move || rt.tenant_summary(&tenant))
        .await
        .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("summary task: {e}"))))??;
    Ok(Json(json!(summary)))
}

pub(crate) async fn delete(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, OPERATOR, "delete tenants")?;
    gw.runtime().delete_tenant(&scoped.actor(), &scoped.tenant).await?;
    Ok(Json(json!({ "deleted": scoped.tenant.as_str() })))
}

pub(crate) async fn suspend(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, OPERATOR, "suspend tenants")?;
    Ok(Json(json!(gw.runtime().suspend_tenant(&scoped.actor(), &scoped.tenant)?)))
}

pub(crate) async fn resume(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, OPERATOR, "resume tenants")?;
    Ok(Json(json!(gw.runtime().resume_tenant(&scoped.actor(), &scoped.tenant)?)))
}
