//! Agents of a tenant: managed by the operator and the tenant's admins,
//! read and talked to by its members.

use crate::auth::{MANAGERS, MEMBERS, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiJson, PathParams, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::UserId;
use wasmclaw::records::AgentSpec;

pub(crate) async fn create(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiJson(spec): ApiJson<AgentSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "create agents")?;
    gw.runtime().agent_put(&scoped.actor(), &scoped.tenant, &spec, true)?;
    Ok((StatusCode::CREATED, Json(json!(gw.runtime().agent(&scoped.tenant, &spec.name)?))))
}

pub(crate) async fn replace(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    ApiJson(spec): ApiJson<AgentSpec>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "change agents")?;
    let name = param(&params, "name")?;
    if spec.name != name {
        return Err(ApiError::invalid(format!("the body names agent {:?}, the path {name:?}", spec.name)));
    }
    gw.runtime().agent_put(&scoped.actor(), &scoped.tenant, &spec, false)?;
    Ok(Json(json!(gw.runtime().agent(&scoped.tenant, &name)?)))
}

pub(crate) async fn list(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "list agents")?;
    Ok(Json(json!({ "agents": gw.runtime().agents(&scoped.tenant)? })))
}

pub(crate) async fn show(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read agents")?;
    Ok(Json(json!(gw.runtime().agent(&scoped.tenant, &param(&params, "name")?)?)))
}

pub(crate) async fn remove(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "remove agents")?;
    let name = param(&params, "name")?;
    gw.runtime().agent_remove(&scoped.actor(), &scoped.tenant, &name)?;
    Ok(Json(json!({ "removed": name })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Message {
    peer: String,
    text: String,
}

pub(crate) async fn message(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    ApiJson(body): ApiJson<Message>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "talk to agents")?;
    let name = param(&params, "name")?;
    let peer = UserId::parse(&body.peer).map_err(wasmclaw::Error::from)?;
    let reply = gw.runtime().agent_message(&scoped.actor(), &scoped.tenant, &name, &peer, &body.text).await?;
    Ok(Json(json!(reply)))
}

fn peer_param(params: &PathParams) -> ApiResult<UserId> {
    Ok(UserId::parse(&param(params, "peer")?).map_err(wasmclaw::Error::from)?)
}

/// The query of `GET …/agents/{name}/sessions`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionsQuery {
    /// The page after this peer (a page's `next`).
    #[serde(default)]
    pub(crate) after: String,
    /// At most this many sessions (default 50).
    pub(crate) limit: Option<usize>,
}

/// `GET …/agents/{name}/sessions`: a page of the agent's sessions by peer.
pub(crate) async fn sessions(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    crate::routes::ApiQuery(q): crate::routes::ApiQuery<SessionsQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read sessions")?;
    let name = param(&params, "name")?;
    let page = gw.runtime().agent_sessions(&scoped.tenant, &name, &q.after, q.limit.unwrap_or(50))?;
    Ok(Json(json!(page)))
}

pub(crate) async fn session(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read sessions")?;
    let (name, peer) = (param(&params, "name")?, peer_param(&params)?);
    Ok(Json(json!(gw.runtime().session(&scoped.tenant, &name, &peer)?)))
}

pub(crate) async fn forget(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "forget sessions")?;
    let (name, peer) = (param(&params, "name")?, peer_param(&params)?);
    gw.runtime().session_remove(&scoped.actor(), &scoped.tenant, &name, &peer)?;
    Ok(Json(json!({ "removed": format!("{name}/{peer}") })))
}
