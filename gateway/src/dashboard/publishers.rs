//! The operator's Publishers page's changes: trust a key (the add form on
//! the list page), and stop trusting one only after a page has listed the
//! installed skills it signed, which removing it disables, and its name has
//! been typed. Each calls the trust route's own handler.

use super::extract::{Params, Posted, Typed, path_param};
use super::login::Empty;
use super::page::{Chrome, Reject, html, reject, see_other, visible};
use crate::auth::Caller;
use crate::routes::{ApiJson, trust};
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

#[derive(Deserialize)]
pub(crate) struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    key: String,
}

/// `POST /ui/publishers`: trust a key; a refused one is shown again beside
/// the form.
pub(crate) async fn add(State(gw): State<Gateway>, posted: Result<Posted<NewKey>, Reject>) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let body = trust::NewKey { name: form.name.trim().to_string(), key: form.key.trim().to_string() };
        match trust::add(State(gw.clone()), Caller(ui.principal.clone()), ApiJson(body)).await {
            Ok(_) => Ok(see_other("/ui/publishers")),
            Err(e) if e.status() == StatusCode::BAD_REQUEST || e.status() == StatusCode::CONFLICT => {
                let form = (form.name, form.key, Some(e.message().to_string()));
                super::lists::publishers_page(&gw, &ui, e.status(), form).await
            }
            Err(e) => Err(e.into()),
        }
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

#[derive(Template)]
#[template(path = "publisher_remove.html")]
struct Remove {
    chrome: Chrome,
    name: String,
    /// `(tenant, skill)` of each skill removing the key disables.
    skills: Vec<(String, String)>,
    error: Option<String>,
}

/// The confirmation page of removing key `name`.
async fn confirm_page(
    gw: &Gateway,
    ui: &super::extract::Ui,
    name: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, Reject> {
    let axum::Json(v) = trust::skills_of(State(gw.clone()), Caller(ui.principal.clone()), name).await?;
    let text = |v: &serde_json::Value| v.as_str().map(visible).unwrap_or_default();
    let skills = v["skills"]
        .as_array()
        .map(|a| a.iter().map(|s| (text(&s["tenant"]), text(&s["skill"]))).collect())
        .unwrap_or_default();
    let page = Remove {
        chrome: Chrome::signed_in(gw, ui, "Stop trusting a publisher", None, "/ui/publishers"),
        name: visible(name),
        skills,
        error,
    };
    Ok(html(status, &page))
}

/// `POST /ui/publishers/{name}/remove`: what removing it would disable.
pub(crate) async fn remove(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Empty>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, .. } = posted?;
        let name = path_param(&params, "name")?;
        confirm_page(&gw, &ui, &name, StatusCode::OK, None).await
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}

/// `POST /ui/publishers/{name}/delete`: stop trusting it, once its name is
/// typed.
pub(crate) async fn delete(
    State(gw): State<Gateway>,
    params: Params,
    posted: Result<Posted<Typed>, Reject>,
) -> Response {
    let result = async {
        let Posted { ui, form } = posted?;
        let name = path_param(&params, "name")?;
        if !form.names(&name) {
            let error = Some(format!("Type {} to stop trusting it.", visible(&name)));
            return confirm_page(&gw, &ui, &name, StatusCode::BAD_REQUEST, error).await;
        }
        let _removed = trust::remove_named(State(gw.clone()), Caller(ui.principal.clone()), &name).await?;
        Ok(see_other("/ui/publishers"))
    };
    result.await.unwrap_or_else(|r| reject(Some(&gw), r))
}
