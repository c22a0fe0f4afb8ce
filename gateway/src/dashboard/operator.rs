//! The operator's pages: the overview and the tenants. Every action calls
//! the API route's own handler (its role check, runtime call and audit
//! record), with the session's principal as the caller.

use super::extract::{Params, Posted, Typed, Ui, scoped};
use super::login::Empty;
use super::page::{Chrome, Reject, html, reject, see_other};
use crate::auth::{Caller, OPERATOR};
use crate::routes::{ApiJson, observe, tenants};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use wasmclaw::auth::Principal;

/// A tenant as the operator's list shows it.
pub(crate) struct TenantRow {
    pub id: String,
    pub active: bool,
    pub created: String,
}

/// A date as pages show it (UTC, to the minute).
pub(crate) fn when(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map_or_else(|| "-".into(), |d| d.format("%Y-%m-%d %H:%M UTC").to_string())
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    chrome: Chrome,
    ready: bool,
    in_flight: u64,
    uptime: String,
    version: &'static str,
    active: usize,
    suspended: usize,
    critical: usize,
    warnings: usize,
}

/// `GET /ui/`: the operator's overview; a token's home is its tenant.
pub(crate) async fn home(State(gw): State<Gateway>, ui: Result<Ui, Reject>) -> Response {
    match overview(&gw, ui).await {
        Ok(r) => r,
        Err(r) => reject(Some(&gw), r),
    }
}

async fn overview(gw: &Gateway, ui: Result<Ui, Reject>) -> Result<Response, Reject> {
    let ui = ui?;
    if let Principal::Token(t) = &ui.principal {
        return Ok(see_other(&format!("/ui/t/{}/", t.tenant)));
    }
    let caller = Caller(ui.principal.clone());
    caller.allow(gw, OPERATOR, "list tenants")?;
    let all = gw.runtime().tenants()?;
    let axum::Json(findings) = observe::security(State(gw.clone()), Caller(ui.principal.clone())).await?;
    let count = |severity: &str| {
        findings["findings"].as_array().map_or(0, |f| f.iter().filter(|x| x["severity"] == severity).count())
    };
    let secs = gw.uptime().as_secs();
    let page = Overview {
        chrome: Chrome::signed_in(gw, &ui, "Overview", None, "/ui/"),
        ready: !gw.is_draining() && gw.store_ready().await.is_ok(),
        in_flight: gw.in_flight(),
        uptime: format!("{}d {}h {}m", secs / 86_400, secs / 3600 % 24, secs / 60 % 60),
        version: env!("CARGO_PKG_VERSION"),
        active: all.iter().filter(|t| !t.suspended).count(),
        suspended: all.iter().filter(|t| t.suspended).count(),
        critical: count("critical"),
        warnings: count("warning"),
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "tenants.html", blocks = ["content"])]
struct Tenants {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
    /// The create form's value and error (shown again on a bad id).
    new_id: String,
    id_error: Option<String>,
    /// The delete confirmation's tenant and error.
    delete_error: Option<(String, String)>,
    notice: Option<String>,
}

async fn tenants_page(
    gw: &Gateway,
    ui: &Ui,
    status: StatusCode,
    fill: impl FnOnce(&mut Tenants),
) -> Result<Response, Reject> {
    Caller(ui.principal.clone()).allow(gw, OPERATOR, "list tenants")?;
    let rows = gw
        .runtime()
        .tenants()?
        .into_iter()
        .map(|t| TenantRow { id: t.id.to_string(), active: !t.suspended, created: when(t.created) })
        .collect();
    let mut page = Tenants {
        chrome: Chrome::signed_in(gw, ui, "Tenants", None, "/ui/tenants"),
        tenants: rows,
        new_id: String::new(),
        id_error: None,
        delete_error: None,
        notice: None,
    };
    fill(&mut page);
    Ok(if ui.htmx { html(status, &page.as_content()) } else { html(status, &page) })
}

/// `GET /ui/tenants`.
pub(crate) async fn tenants(State(gw): State<Gateway>, ui: Result<Ui, Reject>) -> Response {
    let result = async { tenants_page(&gw, &ui?, StatusCode::OK, |_| {}).await }.await;
    result.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[derive(Deserialize)]
pub(crate) struct NewTenant {
    #[serde(default)]
    id: String,
}

/// `POST /ui/tenants`: create one.
pub(crate) async fn create_tenant(
    State(gw): State<Gateway>,
    posted: Result<Posted<NewTenant>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let id = form.id.trim().to_string();
        let body = tenants::NewTenant { id: id.clone() };
        match tenants::create(State(gw.clone()), Caller(ui.principal.clone()), ApiJson(body)).await {
            Ok(_) => Ok(see_other("/ui/tenants")),
            Err(e) if e.status() == StatusCode::BAD_REQUEST || e.status() == StatusCode::CONFLICT => {
                let message = e.message().to_string();
                tenants_page(&gw, &ui, e.status(), |p| {
                    p.new_id = id;
                    p.id_error = Some(message);
                })
                .await
            }
            Err(e) => Err(e.into()),
        }
    }
    .await;
    result.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// Suspends (`true`) or resumes a tenant through its route.
async fn set_suspended(
    gw: Gateway,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
    suspend: bool,
) -> Response {
    let result = async {
        let Posted { ui, .. } = posted?;
        let scoped = scoped(&gw, &ui, &params)?;
        let state = State(gw.clone());
        let _ = if suspend {
            tenants::suspend(state, scoped).await?
        } else {
            tenants::resume(state, scoped).await?
        };
        Ok(see_other("/ui/tenants"))
    }
    .await;
    result.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `POST /ui/tenants/{tenant}/suspend`.
pub(crate) async fn suspend(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
) -> Response {
    set_suspended(gw, params, posted, true).await
}

/// `POST /ui/tenants/{tenant}/resume`.
pub(crate) async fn resume(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
) -> Response {
    set_suspended(gw, params, posted, false).await
}

/// `POST /ui/tenants/{tenant}/delete`: only once its id is typed.
pub(crate) async fn delete(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Typed>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let scoped = scoped(&gw, &ui, &params)?;
        let id = scoped.tenant.to_string();
        if !form.names(&id) {
            let message = format!("Type {id} to delete it.");
            return tenants_page(&gw, &ui, StatusCode::BAD_REQUEST, |p| p.delete_error = Some((id, message)))
                .await;
        }
        let _ = tenants::delete(State(gw.clone()), scoped).await?;
        tenants_page(&gw, &ui, StatusCode::OK, |p| {
            p.notice = Some(format!("Deleted {id} and everything it owned."))
        })
        .await
    }
    .await;
    result.unwrap_or_else(|r| reject(Some(&gw), r))
}
