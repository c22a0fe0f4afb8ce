//! Skills of a tenant: install, list, remove, invoke.

use crate::auth::{ANYONE, INVOKERS, MANAGERS, Scoped};
use crate::error::{ApiError, ApiResult};
use crate::routes::{ApiBytes, ApiJson, PathParams, param};
use crate::state::Gateway;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use wasmclaw::installed::{InstallOptions, SkillSource};
use wasmclaw::records::InstalledSkill;
use wasmclaw::{Call, UserId};

/// An install: a signed `package` (base64 of a `.wcpkg`), or an unsigned
/// `component` (base64) with an optional `manifest` where the gateway allows
/// unsigned skills.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Install {
    #[serde(default)]
    package: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    guest: bool,
    #[serde(default)]
    accept_permissions: bool,
    #[serde(default)]
    allow_downgrade: bool,
    /// Decide everything and write nothing: 200 with what would be
    /// installed and the permission changes, or the refusal a real install
    /// would get.
    #[serde(default)]
    dry_run: bool,
    /// Install only if the permission changes are exactly these (a dry
    /// run's `changes`): 409 if what is installed changed since.
    #[serde(default)]
    expect_changes: Option<Vec<wasmclaw::permissions::PermissionChange>>,
}

impl Install {
    /// The install of a signed package (base64), as the dashboard sends it.
    pub(crate) fn package(
        package: String,
        guest: bool,
        accept_permissions: bool,
        dry_run: bool,
        expect_changes: Option<Vec<wasmclaw::permissions::PermissionChange>>,
    ) -> Install {
        Install {
            package: Some(package),
            component: None,
            manifest: None,
            guest,
            accept_permissions,
            allow_downgrade: false,
            dry_run,
            expect_changes,
        }
    }
}

fn base64_field(name: &str, value: &str) -> ApiResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|e| ApiError::invalid(format!("{name}: not base64: {e}")))
}

/// The header naming the user a call runs for within the tenant.
pub(crate) const USER_HEADER: &str = "x-wasmclaw-user";

pub(crate) async fn install(
    State(gw): State<Gateway>,
    scoped: Scoped,
    ApiJson(body): ApiJson<Install>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    scoped.allow(&gw, MANAGERS, "install skills")?;
    let source = match (&body.package, &body.component) {
        (Some(p), None) if body.manifest.is_none() => SkillSource::Package(base64_field("package", p)?),
        (Some(_), None) => return Err(ApiError::invalid("a package carries its manifest: drop `manifest`")),
        (None, Some(c)) => {
            SkillSource::Unsigned { component: base64_field("component", c)?, manifest: body.manifest }
        }
        _ => {
            return Err(ApiError::invalid(
                "give exactly one of `package` (signed) and `component` (unsigned)",
            ));
        }
    };
    let options = InstallOptions {
        guest: body.guest,
        accept_permissions: body.accept_permissions,
        allow_downgrade: body.allow_downgrade,
        dry_run: body.dry_run,
        expect_changes: body.expect_changes,
    };
    let runtime = gw.runtime();
    let outcome = runtime.install_skill(&scoped.actor(), &scoped.tenant, source, options).await?;
    let status =
        if outcome.replaced.is_some() || outcome.dry_run { StatusCode::OK } else { StatusCode::CREATED };
    let mut v = listed(runtime, &outcome.skill)?;
    if outcome.dry_run {
        v["dry_run"] = json!(true);
        v["decision"] = json!(if outcome.replaced.is_some() { "upgrade" } else { "install" });
    }
    v["replaced"] = json!(outcome.replaced);
    v["changes"] = json!(outcome.changes);
    v["warnings"] = json!(outcome.warnings);
    Ok((status, Json(v)))
}

/// A skill as listed: the record without the manifest text and signature,
/// with its status (`enabled`, or `disabled` and why).
fn listed(runtime: &wasmclaw::Runtime, s: &InstalledSkill) -> ApiResult<Value> {
    let mut v = json!(s);
    if let Some(o) = v.as_object_mut() {
        o.remove("manifest");
        if let Some(p) = o.get_mut("publisher").and_then(Value::as_object_mut) {
            p.remove("signature");
        }
        match runtime.skill_disabled(s)? {
            None => o.insert("status".into(), json!("enabled")),
            Some(why) => {
                o.insert("disabled".into(), json!(why));
                o.insert("status".into(), json!("disabled"))
            }
        };
    }
    Ok(v)
}

pub(crate) async fn list(State(gw): State<Gateway>, scoped: Scoped) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, ANYONE, "list skills")?;
    let guest = scoped.is_guest();
    let skills: Vec<Value> = gw
        .runtime()
        .installed_skills(&scoped.tenant)?
        .iter()
        .filter(|s| !guest || s.guest)
        .map(|s| listed(gw.runtime(), s))
        .collect::<ApiResult<_>>()?;
    Ok(Json(json!({ "skills": skills })))
}

pub(crate) async fn remove(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
) -> ApiResult<Json<Value>> {
    scoped.allow(&gw, MANAGERS, "remove skills")?;
    let name = param(&params, "name")?;
    gw.runtime().remove_skill(&scoped.actor(), &scoped.tenant, &name)?;
    Ok(Json(json!({ "removed": name })))
}

pub(crate) async fn invoke(
    State(gw): State<Gateway>,
    scoped: Scoped,
    params: PathParams,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Response> {
    scoped.allow(&gw, INVOKERS, "invoke skills")?;
    let name = param(&params, "name")?;
    let runtime = gw.runtime();
    let bound = runtime.installed(&scoped.tenant, &name).await?;
    if scoped.is_guest() && !bound.guest {
        runtime.record_refusal(&scoped.actor(), Some(&scoped.tenant), "invoke", &name, "role-denied");
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
