//! Signing in and out.
//!
//! `POST /ui/login` takes the admin key, or an admin or member token, in
//! the form body, and checks it with the API's own code (hash, constant
//! time, refusals audited). Failures are also throttled per client address
//! ([`Throttle`]). A guest token cannot sign in. The session gets a new
//! random id (never one the browser brought: no fixation), sent once in a
//! `__Host-` cookie that is `Secure`, `HttpOnly` and `SameSite=Strict`;
//! the credential itself never reaches the page, storage or a URL.
//!
//! Where the browser could not keep a `Secure` cookie (plain HTTP off
//! loopback), the page says so instead of signing in to a loop.

use super::extract::{Posted, Ui, check_origin, form_pairs};
use super::page::{Chrome, Reject, html, reject, safe_next, see_other};
use super::session::COOKIE;
use crate::state::Gateway;
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use wasmclaw::auth::Principal;
use wasmclaw::records::Role;

/// Failed sign-ins one address may make in [`WINDOW`].
pub(crate) const MAX_FAILURES: u32 = 10;
/// The throttle's window.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses the throttle remembers at most.
const MAX_ADDRESSES: usize = 10_000;
/// The longest credential read.
const MAX_CREDENTIAL: usize = 256;

/// Failed sign-ins per client address, in fixed windows.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a try of `ip`, counted as a failure until [`Throttle::succeeded`]
    /// gives it back; false (and nothing taken) when `ip` has none left in
    /// this window. Taken before the credential is checked, so tries sent
    /// at once are counted as those sent one after another.
    pub(crate) fn try_take(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_ADDRESSES {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if map.len() >= MAX_ADDRESSES {
                map.clear();
            }
        }
        let entry = map.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        if entry.1 >= MAX_FAILURES {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Gives back the try of a sign-in that succeeded.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        if let Some(entry) = self.lock().get_mut(&ip) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    error: Option<String>,
    /// The browser cannot keep the cookie here: say to use https or loopback.
    insecure: bool,
}

fn host(req_headers: &axum::http::HeaderMap) -> &str {
    req_headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("")
}

fn login_page(
    gw: &Gateway,
    status: StatusCode,
    next: &str,
    error: Option<String>,
    insecure: bool,
) -> Response {
    let page = LoginPage {
        chrome: Chrome::anonymous(gw, "Sign in"),
        next: safe_next(next).to_string(),
        error,
        insecure,
    };
    html(status, &page)
}

/// `GET /ui/login`.
pub(crate) async fn form(
    State(gw): State<Gateway>,
    headers: axum::http::HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    // Strict, as every page's query: not UTF-8, or `next` twice, is 400.
    let next = super::extract::query_pairs(query.as_deref()).and_then(|pairs| {
        let mut next = pairs.into_iter().filter(|(k, _)| k == "next").map(|(_, v)| v);
        match (next.next(), next.next()) {
            (_, Some(_)) => Err(Reject::BadForm("give `next` once".into())),
            (one, None) => Ok(one.unwrap_or_default()),
        }
    });
    match next {
        Ok(next) => {
            let insecure = !gw.dashboard().cookie_possible(host(&headers));
            login_page(&gw, StatusCode::OK, &next, None, insecure)
        }
        Err(why) => reject(Some(&gw), why),
    }
}

/// `POST /ui/login`.
pub(crate) async fn submit(State(gw): State<Gateway>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(r) = check_origin(&gw, &parts) {
        return reject(Some(&gw), r);
    }
    if !gw.dashboard().cookie_possible(host(&parts.headers)) {
        return login_page(&gw, StatusCode::BAD_REQUEST, "/ui/", None, true);
    }
    let ip = match ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &gw).await {
        Ok(ConnectInfo(addr)) => addr.ip(),
        Err(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let throttle = &gw.dashboard().throttle;
    if !throttle.try_take(ip) {
        gw.runtime().record_refusal("anonymous", None, "ui.login", "throttled", "denied");
        let message =
            format!("Too many failed sign-ins from this address: wait a minute ({MAX_FAILURES} a minute).");
        return login_page(&gw, StatusCode::TOO_MANY_REQUESTS, "/ui/", Some(message), false);
    }
    let Ok(body) = axum::body::to_bytes(body, 16 * 1024).await else {
        return reject(Some(&gw), Reject::TooLarge("a sign-in form is at most 16 KiB".into()));
    };
    let Some(pairs) = form_pairs(&body) else {
        return reject(Some(&gw), Reject::BadForm("the form is not UTF-8".into()));
    };
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
    let (credential, next) = (field("credential"), field("next"));
    let refused =
        |message: &str| login_page(&gw, StatusCode::UNAUTHORIZED, next, Some(message.to_string()), false);
    if credential.is_empty() {
        return refused("Enter the admin key or a token.");
    }
    if credential.len() > MAX_CREDENTIAL {
        return refused("That is not a credential (too long).");
    }
    let principal = match crate::auth::authenticate(&gw, credential).await {
        Ok(p) => p,
        Err(e) if e.status().is_server_error() => {
            throttle.succeeded(ip);
            return reject(Some(&gw), Reject::Api(e));
        }
        Err(e) if e.status() == StatusCode::FORBIDDEN => return refused("This tenant is suspended."),
        Err(_) => return refused("Unknown, revoked or malformed credential."),
    };
    let home = match &principal {
        Principal::Token(t) if t.role == Role::Guest => {
            gw.runtime().record_refusal(&principal.actor(), Some(&t.tenant), "ui.login", "guest", "denied");
            return refused("Guest tokens cannot sign in to the dashboard.");
        }
        Principal::Token(t) => format!("/ui/t/{}/", t.tenant),
        Principal::Operator => "/ui/".to_string(),
    };
    throttle.succeeded(ip);
    let owner = match &principal {
        Principal::Token(t) => t.tenant.to_string(),
        Principal::Operator => String::new(),
    };
    let Some(id) = gw.dashboard().sessions.open(&owner, credential) else {
        return reject(
            Some(&gw),
            Reject::Api(crate::error::ApiError::from(wasmclaw::Error::Internal("no randomness".into()))),
        );
    };
    let tenant = match &principal {
        Principal::Token(t) => Some(t.tenant.clone()),
        Principal::Operator => None,
    };
    gw.runtime().record(&principal.actor(), tenant.as_ref(), "ui.login", "session", "ok");
    let to = match safe_next(next) {
        "/ui/" => home,
        other => other.to_string(),
    };
    let max_age = gw.dashboard().config.session_max_secs;
    let cookie = format!("{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    let mut r = see_other(&to);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The empty form of sign-out (its CSRF token is checked).
#[derive(Deserialize)]
pub(crate) struct Empty {}

/// `POST /ui/logout`.
pub(crate) async fn logout(State(gw): State<Gateway>, posted: Result<Posted<Empty>, Reject>) -> Response {
    let Posted { ui, .. } = match posted {
        Ok(p) => p,
        Err(r) => return reject(Some(&gw), r),
    };
    end(&gw, &ui)
}

fn end(gw: &Gateway, ui: &Ui) -> Response {
    gw.dashboard().sessions.close(&ui.key);
    gw.runtime().record(&ui.principal.actor(), ui.own_tenant(), "ui.logout", "session", "ok");
    let mut r = see_other("/ui/login");
    let clear = format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_stops_an_address_after_its_failures_and_no_other() {
        let t = Throttle::default();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..MAX_FAILURES {
            assert!(t.try_take(a));
        }
        assert!(!t.try_take(a));
        assert!(t.try_take(b));
        t.succeeded(b);
        t.succeeded(a);
        assert!(t.try_take(a), "a success gives its try back");
        assert!(!t.try_take(a));
    }
}
