//! Operator routes: backup and restore (`wasmclaw::backup` does the work).
//! Each runs as a task of its own, so a client that goes away (or the
//! request timeout) cannot stop a restore halfway through its bookkeeping.

use crate::auth::{Caller, OPERATOR};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiBytes, ApiQuery};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::TenantId;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantQuery {
    tenant: Option<String>,
}

fn tenant(q: &TenantQuery) -> ApiResult<Option<TenantId>> {
    q.tenant.as_deref().map(|t| TenantId::parse(t).map_err(|e| ApiError::invalid(e.to_string()))).transpose()
}

fn joined(e: tokio::task::JoinError) -> ApiError {
    wasmclaw::Error::Internal(format!("backup task: {e}")).into()
}

pub(crate) async fn backup(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<impl IntoResponse> {
    caller.allow(&gw, OPERATOR, "back up tenants")?;
    let (rt, actor, only) = (gw.runtime().clone(), caller.0.actor(), tenant(&q)?);
    let bytes =
        tokio::spawn(async move { rt.backup(&actor, only.as_ref()).await }).await.map_err(joined)??;
    Ok(([(header::CONTENT_TYPE, "application/vnd.wasmclaw.backup")], bytes))
}

pub(crate) async fn restore(
    State(gw): State<Gateway>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<Value>> {
    caller.allow(&gw, OPERATOR, "restore tenants")?;
    let (rt, actor, only) = (gw.runtime().clone(), caller.0.actor(), tenant(&q)?);
    let outcome = tokio::spawn(async move { rt.restore(&actor, &body, only.as_ref()).await })
        .await
        .map_err(joined)??;
    Ok(Json(json!(outcome)))
}
