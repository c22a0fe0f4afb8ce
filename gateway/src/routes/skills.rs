//! Skills of a tenant: install, list, remove, invoke.

use crate::auth::{ANYONE, INVOKERS, MANAGERS, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiBytes, ApiJson, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::{RawPathParams, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::{Call, UserId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Install {
    component: String,
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    guest: bool,
}

/// The header naming the user a call runs for within the tenant.
pub(crate) const USER_HEADER: &str = "x-wasmclaw-user";

pub(crate) async fn install(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiJson(body): ApiJson<Install>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "install skills")?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(body.component.as_bytes())
        .map_err(|e| ApiError::invalid(format!("component: not base64: {e}")))?;
    let skill = gw
        .runtime()
        .install_skill(&scoped.actor(), &scoped.tenant, component, body.manifest.as_deref(), body.guest)
        .await?;
    Ok((StatusCode::CREATED, Json(listed(&skill))))
}

/// A skill as listed: the record without the manifest text.
fn listed(s: &wasmclaw::installed::InstalledSkill) -> Value {
    let mut v = json!(s);
    if let Some(o) = v.as_object_mut() {
        o.remove("manifest");
    }
    v
}

pub(crate) async fn list(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, ANYONE, "list skills")?;
    let guest = scoped.is_guest();
    let skills: Vec<Value> = gw
        .runtime()
        .installed_skills(&scoped.tenant)?
        .iter()
        .filter(|s| !guest || s.guest)
        .map(listed)
        .collect();
    Ok(Json(json!({ "skills": skills })))
}

pub(crate) async fn remove(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: RawPathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "remove skills")?;
    let name = param(&params, "name")?;
    gw.runtime().remove_skill(&scoped.actor(), &scoped.tenant, &name)?;
    Ok(Json(json!({ "removed": name })))
}

pub(crate) async fn invoke(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: RawPathParams,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    scoped.allow(&gw, INVOKERS, "invoke skills")?;
    let name = param(&params, "name")?;
    let runtime = gw.runtime();
    let bound = runtime.installed(&scoped.tenant, &name).await?;
    if scoped.is_guest() && !runtime.installed_skill(&scoped.tenant, &name)?.guest {
        runtime.record(&scoped.actor(), Some(&scoped.tenant), "invoke", &name, "role-denied");
        return Err(ApiError::forbidden(format!(
            "a guest token may not invoke {name}: it is not a guest skill"
        )));
    }
    let user = match headers.get(USER_HEADER) {
        None => None,
        Some(v) => {
            let v = v.to_str().map_err(|_| ApiError::invalid(format!("{USER_HEADER}: not text")))?;
            Some(UserId::parse(v).map_err(|e| ApiError::invalid(e.to_string()))?)
        }
    };
    let input = std::str::from_utf8(&body).map_err(|_| ApiError::invalid("the input is not UTF-8 JSON"))?;
    let outcome = runtime.invoke(&bound, &Call { user, ..Default::default() }, input).await?;
    let usage = serde_json::to_string(&outcome.usage)
        .map_err(|e| ApiError::from(wasmclaw::Error::Internal(format!("usage: {e}"))))?;
    // The output is JSON the runtime validated: spliced, not re-parsed.
    let body = format!("{{\"output\":{},\"usage\":{usage}}}", outcome.output);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
