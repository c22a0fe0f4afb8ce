//! A tenant's pages (`/ui/t/{tenant}/…`): the operator sees every
//! tenant's, a token its own (another tenant's path is the 404 page, as a
//! missing tenant, and the probe is audited). Admins may change things;
//! members see the read-only pages. Every action calls the API route's own
//! handler.

use super::extract::{Params, Posted, Ui, path_param, scoped};
use super::gauge::{self, Gauge};
use super::operator::when;
use super::page::{Chrome, Reject, html, is_manager, reject, see_other};
use crate::auth::{MANAGERS, Scoped};
use crate::routes::{ApiBytes, ApiJson, tokens};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

/// `GET /ui/t/{tenant}`.
pub(crate) async fn to_overview(
    State(gw): State<Gateway>,
    ui: Result<Ui, Reject>,
    params: Params,
) -> Response {
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        Ok(see_other(&format!("/ui/t/{}/", s.tenant)))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[derive(Template)]
#[template(path = "tenant.html")]
struct Overview {
    chrome: Chrome,
    tenant: String,
    active: bool,
    skills: u64,
    skills_disabled: u64,
    agents: u64,
    cron_jobs: u64,
    channels: u64,
    tokens: Option<usize>,
    gauges: Vec<Gauge>,
}

/// The gauges of a summary (`GET …/summary`'s answer).
fn gauges(v: &Value) -> Vec<Gauge> {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let (m, f, a) = (&v["memory"], &v["files"], &v["agents_this_month"]);
    let mut out = vec![
        Gauge::new("Memory", n(&m["bytes"]), n(&m["max_bytes"]), gauge::bytes),
        Gauge::new("Memory entries", n(&m["entries"]), n(&m["max_entries"]), gauge::count),
    ];
    if f["bytes"].is_u64() {
        out.push(Gauge::new("Files", n(&f["bytes"]), n(&f["max_bytes"]), gauge::bytes));
        out.push(Gauge::new("File entries", n(&f["entries"]), n(&f["max_entries"]), gauge::count));
    } else {
        out.push(Gauge::unknown("Files", "not counted since the gateway started (a call counts them)"));
    }
    out.push(Gauge::new("Model tokens this month", n(&a["tokens"]), n(&a["tokens_quota"]), gauge::count));
    // Cost in thousandths, so the gauge keeps its integer arithmetic.
    let milli = |v: &Value| (v.as_f64().unwrap_or(0.0).max(0.0) * 1000.0).round() as u64;
    let cost = |m: u64| format!("{:.3}", m as f64 / 1000.0);
    out.push(Gauge::new("Model cost this month", milli(&a["cost"]), milli(&a["cost_quota"]), cost));
    out
}

/// `GET /ui/t/{tenant}/`: the tenant's summary route, as cards and gauges.
pub(crate) async fn overview(State(gw): State<Gateway>, ui: Result<Ui, Reject>, params: Params) -> Response {
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let axum::Json(v) = crate::routes::tenants::summary(State(gw.clone()), s).await?;
        let tokens = if is_manager(&ui.principal) { Some(gw.runtime().tokens(&tenant)?.len()) } else { None };
        let c = &v["counts"];
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let page = Overview {
            chrome: Chrome::signed_in(
                &gw,
                &ui,
                "Tenant overview",
                Some(&tenant),
                &format!("/ui/t/{tenant}/"),
            ),
            tenant: tenant.to_string(),
            active: v["status"] == "active",
            skills: n("skills"),
            skills_disabled: n("skills_disabled"),
            agents: n("agents"),
            cron_jobs: n("cron_jobs"),
            channels: n("channels"),
            tokens,
            gauges: gauges(&v),
        };
        Ok(html(StatusCode::OK, &page))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// A token as the list shows it.
struct TokenRow {
    id: String,
    name: String,
    role: String,
    created: String,
    last_used: String,
    expires: String,
}

/// A token just minted or rotated: shown on this answer only.
struct Minted {
    token: String,
    what: String,
}

#[derive(Template)]
#[template(path = "tokens.html", blocks = ["content"])]
struct Tokens {
    chrome: Chrome,
    tenant: String,
    tokens: Vec<TokenRow>,
    minted: Option<Minted>,
    nonce: String,
    name: String,
    name_error: Option<String>,
    error: Option<String>,
}

fn tokens_page(
    gw: &Gateway,
    ui: &Ui,
    s: &Scoped,
    status: StatusCode,
    fill: impl FnOnce(&mut Tokens),
) -> Result<Response, Reject> {
    s.allow(gw, MANAGERS, "list tokens")?;
    let mut tokens = gw.runtime().tokens(&s.tenant)?;
    // By name (ids are random, and tokens minted in one second tie on time).
    tokens.sort_by(|a, b| (&a.name, a.created, &a.id).cmp(&(&b.name, b.created, &b.id)));
    let rows = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: super::page::visible(&t.name),
            role: t.role.to_string(),
            created: when(t.created),
            last_used: t.last_used.map_or_else(|| "never".into(), when),
            expires: t.expires.map_or_else(|| "-".into(), when),
        })
        .collect();
    let nonce = gw.dashboard().sessions.nonce(&ui.key).unwrap_or_default();
    let mut page = Tokens {
        chrome: Chrome::signed_in(gw, ui, "Tokens", Some(&s.tenant), &format!("/ui/t/{}/tokens", s.tenant)),
        tenant: s.tenant.to_string(),
        tokens: rows,
        minted: None,
        nonce,
        name: String::new(),
        name_error: None,
        error: None,
    };
    fill(&mut page);
    Ok(if ui.htmx { html(status, &page.as_content()) } else { html(status, &page) })
}

/// `GET /ui/t/{tenant}/tokens`.
pub(crate) async fn tokens(State(gw): State<Gateway>, ui: Result<Ui, Reject>, params: Params) -> Response {
    let result = async {
        let ui = ui?;
        let s = scoped(&gw, &ui, &params)?;
        tokens_page(&gw, &ui, &s, StatusCode::OK, |_| {})
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[derive(Deserialize)]
pub(crate) struct Mint {
    #[serde(default)]
    role: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    nonce: String,
}

/// The tokens page after a mint or a rotation through its route: the new
/// token shown this once (`what` names it), or the route's refusal of the
/// input beside the form.
fn minted(
    gw: &Gateway,
    ui: &Ui,
    s: &Scoped,
    answer: crate::error::ApiResult<(StatusCode, axum::Json<Value>)>,
    what: impl FnOnce(&Value) -> String,
    status: StatusCode,
) -> Result<Response, Reject> {
    match answer {
        Ok((_, axum::Json(v))) => {
            let minted =
                Minted { token: v["token"].as_str().unwrap_or_default().to_string(), what: what(&v) };
            tokens_page(gw, ui, s, status, |p| p.minted = Some(minted))
        }
        Err(e) if e.status() == StatusCode::BAD_REQUEST => {
            let error = e.message().to_string();
            tokens_page(gw, ui, s, StatusCode::BAD_REQUEST, |p| p.error = Some(error))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /ui/t/{tenant}/tokens`: mint one (its form's nonce is used up,
/// so posting the form again mints nothing).
pub(crate) async fn mint(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Mint>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let s = scoped(&gw, &ui, &params)?;
        s.allow(&gw, MANAGERS, "mint tokens")?;
        // As the route counts it (bytes), before the nonce is spent.
        if form.name.len() > 64 || form.name.chars().any(char::is_control) {
            let name = form.name.chars().take(64).collect();
            return tokens_page(&gw, &ui, &s, StatusCode::BAD_REQUEST, |p| {
                p.name = name;
                p.name_error = Some("A name is at most 64 bytes of printable characters.".into());
            });
        }
        if !gw.dashboard().sessions.take_nonce(&ui.key, &form.nonce) {
            let error =
                "This form was already sent (or is stale): nothing was minted. Mint again below.".to_string();
            return tokens_page(&gw, &ui, &s, StatusCode::CONFLICT, |p| p.error = Some(error));
        }
        let body = tokens::Mint { role: form.role, name: form.name };
        let answer = tokens::mint(State(gw.clone()), s.clone(), ApiJson(body)).await;
        let what = |v: &Value| format!("New {} token", v["role"].as_str().unwrap_or(""));
        minted(&gw, &ui, &s, answer, what, StatusCode::CREATED)
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[derive(Deserialize)]
pub(crate) struct Rotate {
    #[serde(default)]
    grace_secs: String,
    #[serde(default)]
    nonce: String,
}

/// `POST /ui/t/{tenant}/tokens/{id}/rotate` (a nonce, as minting).
pub(crate) async fn rotate(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Rotate>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let id = path_param(&params, "id")?;
        let s = scoped(&gw, &ui, &params)?;
        s.allow(&gw, MANAGERS, "rotate tokens")?;
        if !gw.dashboard().sessions.take_nonce(&ui.key, &form.nonce) {
            let error = "This form was already sent (or is stale): nothing was rotated.".to_string();
            return tokens_page(&gw, &ui, &s, StatusCode::CONFLICT, |p| p.error = Some(error));
        }
        let Ok(grace) = form.grace_secs.trim().parse::<u64>() else {
            return tokens_page(&gw, &ui, &s, StatusCode::BAD_REQUEST, |p| {
                p.error = Some("The grace period is a number of seconds.".into())
            });
        };
        let body = serde_json::json!({ "grace_secs": grace }).to_string();
        let answer = tokens::rotate_id(State(gw.clone()), s.clone(), &id, ApiBytes(body.into())).await;
        let what = |_: &Value| format!("Token {id} rotated; its replacement");
        minted(&gw, &ui, &s, answer, what, StatusCode::OK)
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `POST /ui/t/{tenant}/tokens/{id}/revoke`.
pub(crate) async fn revoke(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<super::login::Empty>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, .. } = posted?;
        let id = path_param(&params, "id")?;
        let s = scoped(&gw, &ui, &params)?;
        let tenant = s.tenant.clone();
        let _ = tokens::revoke_id(State(gw.clone()), s, &id).await?;
        Ok(see_other(&format!("/ui/t/{tenant}/tokens")))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}
