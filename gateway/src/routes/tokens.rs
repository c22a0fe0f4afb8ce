//! Tokens of a tenant: the operator or the tenant's admins.

use crate::auth::{MANAGERS, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiBytes, ApiJson, PathParams, optional_json, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use wasmclaw::records::{Role, TokenInfo};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Mint {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) name: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rotate {
    #[serde(default)]
    grace_secs: u64,
}

/// The most grace a rotated token may get: 30 days.
const MAX_GRACE_SECS: u64 = 30 * 24 * 3600;

fn minted(info: &TokenInfo, token: String) -> (StatusCode, Json<Value>) {
    let mut v = json!(info);
    v["token"] = Value::String(token);
    (StatusCode::CREATED, Json(v))
}

pub(crate) async fn mint(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiJson(body): ApiJson<Mint>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "mint tokens")?;
    let role: Role = body.role.parse().map_err(wasmclaw::Error::from)?;
    let (info, token) = gw.runtime().mint_token(&scoped.actor(), &scoped.tenant, role, &body.name)?;
    Ok(minted(&info, token))
}

pub(crate) async fn list(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "list tokens")?;
    Ok(Json(json!({ "tokens": gw.runtime().tokens(&scoped.tenant)? })))
}

pub(crate) async fn rotate(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    body: ApiBytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id = param(&params, "id")?;
    rotate_id(State(gw), scoped, &id, body).await
}

/// [`rotate`] of token `id` (the dashboard's way in).
pub(crate) async fn rotate_id(
    State(gw): State<Gateway>,
    scoped: Scoped,
    id: &str,
    ApiBytes(body): ApiBytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "rotate tokens")?;
    let grace = optional_json::<Rotate>(&body)?.grace_secs;
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::invalid(format!("grace_secs: at most {MAX_GRACE_SECS}")));
    }
    let (info, token) =
        gw.runtime().rotate_token(&scoped.actor(), &scoped.tenant, id, Duration::from_secs(grace))?;
    Ok(minted(&info, token))
}

pub(crate) async fn revoke(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    let id = param(&params, "id")?;
    revoke_id(State(gw), scoped, &id).await
}

/// [`revoke`] of token `id` (the dashboard's way in).
pub(crate) async fn revoke_id(State(gw): State<Gateway>, scoped: Scoped, id: &str) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "revoke tokens")?;
    gw.runtime().revoke_token(&scoped.actor(), &scoped.tenant, id)?;
    Ok(Json(json!({ "revoked": id })))
}
