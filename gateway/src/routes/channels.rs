//! Channels: managed by the operator and the tenant's admins; the inbound
//! endpoint takes no gateway credential (the channel's signature or secret
//! token is the credential, checked by the runtime).

use crate::auth::{MANAGERS, Scoped};
use crate::error::ApiResult;
use crate::routes::{ApiBytes, ApiJson, PathParams, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use wasmclaw::channels::telegram;
use wasmclaw::messaging::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use wasmclaw::records::ChannelSpec;

pub(crate) async fn add(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiJson(spec): ApiJson<ChannelSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "add channels")?;
    gw.runtime().channel_add(&scoped.actor(), &scoped.tenant, &spec)?;
    let endpoint = format!("/v1/inbound/{}/{}", scoped.tenant, spec.name);
    let mut v = json!(spec);
    v["endpoint"] = json!(endpoint);
    Ok((StatusCode::CREATED, Json(v)))
}

pub(crate) async fn list(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "list channels")?;
    Ok(Json(json!({ "channels": gw.runtime().channels(&scoped.tenant)? })))
}

pub(crate) async fn remove(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    let name = param(&params, "name")?;
    remove_named(State(gw), scoped, &name).await
}

/// [`remove`] of channel `name` (the dashboard's way in).
pub(crate) async fn remove_named(
    State(gw): State<Gateway>,
    scoped: Scoped,
    name: &str,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "remove channels")?;
    gw.runtime().channel_remove(&scoped.actor(), &scoped.tenant, name)?;
    Ok(Json(json!({ "removed": name })))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An inbound request: a signed webhook, or a Telegram update (the
/// channel's kind decides which).
pub(crate) async fn inbound(
    State(gw): State<Gateway>,
    params: PathParams,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Value>> {
    let (tenant, name) = (param(&params, "tenant")?, param(&params, "channel")?);
    let rt = gw.runtime();
    // Telegram sends its secret-token header; a signed webhook does not.
    if let Some(token) = header(&headers, telegram::SECRET_HEADER) {
        let done = rt.channel_telegram(&tenant, &name, Some(token), &body).await?;
        return Ok(Json(json!(done)));
    }
    let (ts, sig) = (header(&headers, TIMESTAMP_HEADER), header(&headers, SIGNATURE_HEADER));
    let reply = rt.channel_webhook(&tenant, &name, ts, sig, &body).await?;
    Ok(Json(json!(reply)))
}
