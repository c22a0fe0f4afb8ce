//! The signed-in request and the checked form.
//!
//! [`Ui`]: the session cookie names a live session whose credential still
//! authenticates (the API's own check, every request): else the browser is
//! sent to sign in (303; an htmx request gets 401 and `HX-Redirect`). A
//! POST must also come from the dashboard's own origin (`Origin`, or
//! `Sec-Fetch-Site: same-origin` without it).
//!
//! [`Posted`]: a [`Ui`] POST whose form carries the session's CSRF token
//! (compared in constant time); the rest of the form is `T`. A refusal is
//! a 403 page, changes nothing and is audited.

use super::page::Reject;
use super::session::{COOKIE, same};
use crate::auth::Scoped;
use crate::error::ApiError;
use crate::state::Gateway;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde::de::DeserializeOwned;
use wasmclaw::auth::Principal;
use wasmclaw::records::Role;

/// The largest form body.
pub(crate) const MAX_FORM: usize = 1024 * 1024;

/// A signed-in request.
pub(crate) struct Ui {
    /// Who is signed in (authenticated again for this request).
    pub principal: Principal,
    /// The session's key.
    pub key: [u8; 32],
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// Whether htmx sent it (then a fragment is answered).
    pub htmx: bool,
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn host(parts: &Parts) -> &str {
    parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("")
}

/// Refuses a state change that the dashboard's own pages did not send.
pub(crate) fn check_origin(gw: &Gateway, parts: &Parts) -> Result<(), Reject> {
    let origin = parts.headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or(""));
    let fetch_site = parts.headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let ok = match origin {
        Some(origin) => gw.dashboard().origin_allowed(origin, host(parts)),
        None => fetch_site == Some("same-origin"),
    };
    if ok {
        return Ok(());
    }
    gw.runtime().record_refusal("anonymous", None, "ui.origin", parts.uri.path(), "denied");
    Err(Reject::Forbidden("this form was not sent by the dashboard's own page (Origin)".into()))
}

impl FromRequestParts<Gateway> for Ui {
    type Rejection = Reject;

    async fn from_request_parts(parts: &mut Parts, gw: &Gateway) -> Result<Self, Reject> {
        if parts.method == Method::POST {
            check_origin(gw, parts)?;
        }
        let htmx = parts.headers.contains_key("hx-request");
        let next = parts.uri.path_and_query().map_or("/ui/", |p| p.as_str()).to_string();
        let login = || Reject::SignIn { next: next.clone(), htmx };
        let sessions = &gw.dashboard().sessions;
        let found = cookie(&parts.headers, COOKIE).and_then(|id| sessions.find(id)).ok_or_else(login)?;
        match crate::auth::authenticate(gw, &found.credential).await {
            Ok(Principal::Token(t)) if t.role == Role::Guest => {
                sessions.close(&found.key);
                Err(login())
            }
            Ok(principal) => Ok(Ui { principal, key: found.key, csrf: found.csrf, htmx }),
            Err(e) if e.status().is_server_error() => Err(Reject::Api(e)),
            // Revoked, expired, suspended, a changed admin key: the
            // session ends with its credential.
            Err(_) => {
                sessions.close(&found.key);
                Err(login())
            }
        }
    }
}

/// A checked form of a signed-in user.
pub(crate) struct Posted<T> {
    /// The request's signed-in user.
    pub ui: Ui,
    /// The form.
    pub form: T,
}

/// The pairs of a page's query string, strictly: a query that is not
/// UTF-8 once decoded is the 400 page.
pub(crate) fn query_pairs(query: Option<&str>) -> Result<Vec<(String, String)>, Reject> {
    form_pairs(query.unwrap_or("").as_bytes()).ok_or_else(|| Reject::BadForm("the query is not UTF-8".into()))
}

/// The form of a "type its name to confirm" step (deleting a tenant,
/// untrusting a publisher): what was typed.
#[derive(serde::Deserialize)]
pub(crate) struct Typed {
    #[serde(default)]
    confirm: String,
}

impl Typed {
    /// Whether what was typed is `name`, surrounding spaces aside.
    pub fn names(&self, name: &str) -> bool {
        self.confirm.trim() == name
    }
}

/// The pairs of a form body, each name and value decoded; `None` when one
/// is not UTF-8 once decoded (refused, never patched with U+FFFD).
pub(crate) fn form_pairs(body: &[u8]) -> Option<Vec<(String, String)>> {
    let decode = |s: &[u8]| {
        let plus: Vec<u8> = s.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        let bytes: Vec<u8> = percent_encoding::percent_decode(&plus).collect();
        String::from_utf8(bytes).ok()
    };
    body.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |&b| b == b'=');
            let k = it.next().unwrap_or_default();
            let v = it.next().unwrap_or_default();
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

impl<T: DeserializeOwned> FromRequest<Gateway> for Posted<T> {
    type Rejection = Reject;

    async fn from_request(req: Request, gw: &Gateway) -> Result<Self, Reject> {
        let (mut parts, body) = req.into_parts();
        let ui = Ui::from_request_parts(&mut parts, gw).await?;
        let body = axum::body::to_bytes(body, MAX_FORM)
            .await
            .map_err(|_| Reject::TooLarge(format!("a form is at most {} KiB", MAX_FORM / 1024)))?;
        let pairs = form_pairs(&body).ok_or_else(|| Reject::BadForm("the form is not UTF-8".into()))?;
        let sent = pairs.iter().find(|(k, _)| k == "csrf").map(|(_, v)| v.as_str()).unwrap_or("");
        if !same(sent, &ui.csrf) {
            gw.runtime().record_refusal(&ui.principal.actor(), None, "ui.csrf", parts.uri.path(), "denied");
            return Err(Reject::Forbidden(
                "the form's CSRF token is missing or stale: reload the page".into(),
            ));
        }
        let form =
            serde_urlencoded::from_bytes(&body).map_err(|e| Reject::BadForm(format!("the form: {e}")))?;
        Ok(Posted { ui, form })
    }
}

/// A page's path parameters (a path that is not UTF-8 once decoded is
/// the 404 page, as a path naming nothing).
pub(crate) type Params = crate::routes::PathParams;

/// A path parameter of `params` (the route names it, so it is there).
pub(crate) fn path_param(params: &Params, name: &str) -> Result<String, Reject> {
    if params.is_err() {
        return Err(Reject::Api(ApiError::not_found("no such page")));
    }
    Ok(crate::routes::param(params, name)?)
}

/// The `{tenant}` of the path as the signed-in user may see it
/// ([`Scoped::resolve`]: another tenant's is 404, audited).
pub(crate) fn scoped(gw: &Gateway, ui: &Ui, params: &Params) -> Result<Scoped, Reject> {
    let tenant = path_param(params, "tenant")?;
    Ok(Scoped::resolve(gw, ui.principal.clone(), Some(tenant))?)
}

impl Ui {
    /// The tenant this signed-in user is a token of (none for the operator).
    pub(crate) fn own_tenant(&self) -> Option<&wasmclaw::TenantId> {
        match &self.principal {
            Principal::Token(t) => Some(&t.tenant),
            Principal::Operator => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decode_and_refuse_non_utf8() {
        let p = form_pairs(b"a=1&b=x+y%2Bz&c=&d").unwrap();
        assert_eq!(
            p,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y+z".into()),
                ("c".into(), "".into()),
                ("d".into(), "".into())
            ]
        );
        assert!(form_pairs(b"a=%ff%fe").is_none());
        assert!(form_pairs(b"%c3=x").is_none());
        assert_eq!(form_pairs(b"").unwrap(), vec![]);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "a=1; __Host-wasmclaw-session-x=2".parse().unwrap());
        h.append(header::COOKIE, "__Host-wasmclaw-session=abc".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
