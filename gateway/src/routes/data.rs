//! A tenant's policy, secrets, memory entries, cron jobs, outbox and
//! contacts.

use crate::auth::{MANAGERS, MEMBERS, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiBytes, ApiQuery, PathParams, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::UserId;
use wasmclaw::policy::TenantPolicy;
use wasmclaw::records::MessageState;

pub(crate) async fn get_policy(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "read the policy")?;
    Ok(Json(json!(gw.runtime().policy(&scoped.tenant)?)))
}

pub(crate) async fn put_policy(
    State(gw): State<Gateway>,
    scoped: Scoped,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "set the policy")?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("the policy is not UTF-8"))?;
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ctype = ctype.split(';').next().unwrap_or("").trim();
    let policy = match ctype {
        "application/toml" => TenantPolicy::parse(text),
        "application/json" => TenantPolicy::parse_json(text),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the policy as application/toml or application/json",
            ));
        }
    }
    .map_err(|e| ApiError::invalid(format!("policy: {e}")))?;
    // The operator is trusted with the gateway's network; a tenant is not.
    if !matches!(scoped.principal, wasmclaw::auth::Principal::Operator) {
        policy.check_public().map_err(|e| ApiError::invalid(format!("policy: {e}")))?;
    }
    gw.runtime().set_policy(&scoped.actor(), &scoped.tenant, &policy)?;
    Ok(Json(json!(policy)))
}

pub(crate) async fn put_secret(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    body: ApiBytes,
) -> ApiResult<StatusCode> {
    let name = param(&params, "name")?;
    put_secret_named(State(gw), scoped, &name, body).await
}

/// [`put_secret`] of secret `name` (the dashboard's way in).
pub(crate) async fn put_secret_named(
    State(gw): State<Gateway>,
    scoped: Scoped,
    name: &str,
    ApiBytes(body): ApiBytes,
) -> ApiResult<StatusCode> {
    scoped.allow(&gw, MANAGERS, "write secrets")?;
    gw.runtime().put_secret(&scoped.actor(), &scoped.tenant, name, &body)?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn list_secrets(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "list secrets")?;
    Ok(Json(json!({ "secrets": gw.runtime().secret_names(&scoped.tenant)? })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemoryQuery {
    pub(crate) user: Option<String>,
    #[serde(default)]
    pub(crate) prefix: String,
}

fn user(raw: Option<&str>) -> ApiResult<Option<UserId>> {
    raw.map(|u| UserId::parse(u).map_err(|e| ApiError::invalid(e.to_string()))).transpose()
}

pub(crate) async fn list_memory(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiQuery(q): ApiQuery<MemoryQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read memory")?;
    let user = user(q.user.as_deref())?;
    let entries = gw.runtime().memory_entries(&scoped.tenant, user.as_ref(), &q.prefix)?;
    let entries: Vec<Value> =
        entries.into_iter().map(|e| json!({ "key": e.key, "value": e.value })).collect();
    Ok(Json(json!({ "entries": entries })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserQuery {
    user: Option<String>,
}

pub(crate) async fn delete_memory(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    ApiQuery(q): ApiQuery<UserQuery>,
) -> ApiResult<Json<Value>> {
    let key = param(&params, "key")?;
    delete_memory_key(State(gw), scoped, q.user.as_deref(), &key).await
}

/// [`delete_memory`] of `key` (of `user`, if any): the dashboard's way in.
pub(crate) async fn delete_memory_key(
    State(gw): State<Gateway>,
    scoped: Scoped,
    user_id: Option<&str>,
    key: &str,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "delete memory")?;
    let user = user(user_id)?;
    gw.runtime().delete_memory(&scoped.actor(), &scoped.tenant, user.as_ref(), key)?;
    Ok(Json(json!({ "deleted": true })))
}

pub(crate) async fn list_cron(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read cron jobs")?;
    let jobs: Vec<Value> = gw
        .runtime()
        .cron_jobs(&scoped.tenant)?
        .into_iter()
        .map(|j| {
            let mut v = json!({
                "id": j.id, "skill": j.skill, "schedule": j.schedule, "input": j.input,
                "next_run": j.next_run, "created": j.created,
                "last_run": j.last.as_ref().map(|l| l.at),
                "last_error": j.last.and_then(|l| l.error),
            });
            // As docs/api.md says: the scope a job fires in, when it has one.
            if let Some(user) = j.scope.user {
                v["user"] = json!(user.as_str());
            }
            if j.scope.in_session {
                v["in_session"] = json!(true);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

pub(crate) async fn delete_cron(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    let id = param(&params, "id")?;
    delete_cron_id(State(gw), scoped, &id).await
}

/// [`delete_cron`] of job `id` (the dashboard's way in).
pub(crate) async fn delete_cron_id(
    State(gw): State<Gateway>,
    scoped: Scoped,
    id: &str,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "remove cron jobs")?;
    gw.runtime().remove_cron_job(&scoped.actor(), &scoped.tenant, id)?;
    Ok(Json(json!({ "removed": id })))
}

/// The query of `GET …/outbox`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboxQuery {
    /// `pending`, `delivered` or `dead`; any state without it.
    pub(crate) state: Option<String>,
    /// The page after this message id (a page's `next`).
    #[serde(default)]
    pub(crate) after: String,
    /// At most this many messages (default 50).
    pub(crate) limit: Option<usize>,
}

/// The messages one page of `GET …/outbox` returns without `limit`.
pub(crate) const OUTBOX_DEFAULT_LIMIT: usize = 50;

/// `GET …/outbox`: a page of the tenant's outbox, bodies and errors
/// scrubbed; the contact's URL is left out (it is the policy's, which
/// members may not read).
pub(crate) async fn list_outbox(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read the outbox")?;
    let state = q
        .state
        .as_deref()
        .map(|s| MessageState::parse(s).ok_or_else(|| ApiError::invalid("state: pending, delivered or dead")))
        .transpose()?;
    let limit = q.limit.unwrap_or(OUTBOX_DEFAULT_LIMIT);
    let page = gw.runtime().outbox(&scoped.tenant, state.as_ref(), &q.after, limit)?;
    let messages: Vec<Value> = page
        .messages
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id, "skill": m.skill, "contact": m.contact, "body": m.body,
                "created": m.created, "state": m.state.as_str(), "attempts": m.attempts,
                "next_attempt": (m.state == MessageState::Pending).then_some(m.next_attempt),
                "last_error": m.last_error,
            })
        })
        .collect();
    Ok(Json(json!({ "messages": messages, "next": page.next })))
}

pub(crate) async fn contacts(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MEMBERS, "read contacts")?;
    let contacts: Vec<Value> = gw
        .runtime()
        .contacts(&scoped.tenant)?
        .into_iter()
        .map(|c| json!({ "name": c.name, "channel": c.channel }))
        .collect();
    Ok(Json(json!({ "contacts": contacts })))
}
