//! Operator routes: the trusted publisher keys. Removing a key disables the
//! skills it signed; adding it back enables them; both answers list them.

use crate::auth::{Caller, OPERATOR};
use crate::error::ApiResult;
use crate::routes::{ApiJson, PathParams, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKey {
    pub(crate) name: String,
    pub(crate) key: String,
}

pub(crate) async fn add(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiJson(body): ApiJson<NewKey>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.allow(&gw, OPERATOR, "trust publisher keys")?;
    let enabled = gw.runtime().trust_add(&caller.0.actor(), &body.name, &body.key)?;
    let key = wasmclaw::signing::PublicKey::parse(&body.key).map(|k| k.to_string()).unwrap_or(body.key);
    Ok((StatusCode::CREATED, Json(json!({ "name": body.name, "key": key, "enabled": enabled }))))
}

pub(crate) async fn list(State(gw): State<Gateway>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "list trusted keys")?;
    Ok(Json(json!({ "keys": gw.runtime().trusted_keys()? })))
}

/// `GET /v1/trust/{name}/skills`: the skills the key signed, in every
/// tenant: what removing it would disable.
pub(crate) async fn skills(
    State(gw): State<Gateway>,
    caller: Caller,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    let name = param(&params, "name")?;
    skills_of(State(gw), caller, &name).await
}

/// [`skills`] of key `name` (the dashboard's way in).
pub(crate) async fn skills_of(
    State(gw): State<Gateway>,
    caller: Caller,
    name: &str,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "list the skills a key signed")?;
    let (rt, name) = (gw.runtime().clone(), name.to_string());
    let (key, skills) = tokio::task::spawn_blocking(move || rt.trusted_key_skills(&name))
        .await
        .map_err(|e| crate::error::ApiError::from(wasmclaw::Error::Internal(format!("trust task: {e}"))))??;
    Ok(Json(json!({ "name": key.name, "key": key.key, "skills": skills })))
}

pub(crate) async fn remove(
    State(gw): State<Gateway>,
    caller: Caller,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    let name = param(&params, "name")?;
    remove_named(State(gw), caller, &name).await
}

/// [`remove`] of key `name` (the dashboard's way in).
pub(crate) async fn remove_named(
    State(gw): State<Gateway>,
    caller: Caller,
    name: &str,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "remove trusted keys")?;
    let disabled = gw.runtime().trust_remove(&caller.0.actor(), name)?;
    Ok(Json(json!({ "removed": name, "disabled": disabled })))
}
