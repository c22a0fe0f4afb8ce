//! Operator routes: tenants.

use crate::auth::{Caller, OPERATOR};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiJson, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::{RawPathParams, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::TenantId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    id: String,
}

fn tenant_param(params: &RawPathParams) -> ApiResult<TenantId> {
    let raw = param(params, "tenant")?;
    TenantId::parse(&raw).map_err(|_| ApiError::not_found(format!("no tenant {:?}", short(&raw))))
}

fn short(s: &str) -> String {
    s.chars().take(64).filter(|c| !c.is_control()).collect()
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

pub(crate) async fn show(
    State(gw): State<Gateway>,
    caller: Caller,
    params: RawPathParams,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "read tenants")?;
    Ok(Json(json!(gw.runtime().tenant(&tenant_param(&params)?)?)))
}

pub(crate) async fn delete(
    State(gw): State<Gateway>,
    caller: Caller,
    params: RawPathParams,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "delete tenants")?;
    let id = tenant_param(&params)?;
    gw.runtime().delete_tenant(&caller.0.actor(), &id).await?;
    Ok(Json(json!({ "deleted": id.as_str() })))
}

pub(crate) async fn suspend(
    State(gw): State<Gateway>,
    caller: Caller,
    params: RawPathParams,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "suspend tenants")?;
    Ok(Json(json!(gw.runtime().suspend_tenant(&caller.0.actor(), &tenant_param(&params)?)?)))
}

pub(crate) async fn resume(
    State(gw): State<Gateway>,
    caller: Caller,
    params: RawPathParams,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "resume tenants")?;
    Ok(Json(json!(gw.runtime().resume_tenant(&caller.0.actor(), &tenant_param(&params)?)?)))
}
