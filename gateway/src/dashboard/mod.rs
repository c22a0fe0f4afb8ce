//! The web dashboard at `/ui`: server-rendered pages (askama templates
//! under `gateway/templates/`, checked at compile time) over the same
//! runtime calls, role checks and audit records as the API routes.
//!
//! - [`session`]: server-side sessions (only the id's hash kept), CSRF
//!   tokens, one-time nonces.
//! - `extract`: the signed-in request ([`extract::Ui`]), and a posted form
//!   whose Origin and CSRF token are checked ([`extract::Posted`]).
//! - `login`: sign-in (the API's own credential check, failures audited
//!   and throttled per address) and sign-out.
//! - `page`: what every page shares (the chrome, error pages, headers);
//!   `gauge`: a use against its quota, as an SVG bar.
//! - `operator`, `tenant`, `settings`: the pages; `lists`: the read-only list pages
//!   over their routes (`audit`: the audit pages' filters), `actions`: the
//!   list pages' changes; `outbox`: the Messages page's state links;
//!   `install`: a skill's upload, its decision and permission diff, and
//!   its confirmation; `publishers`: trusting and untrusting keys; `usage`:
//!   the Usage pages (the series drawn as SVG bars, CSV downloads);
//!   `sessions`: an agent's sessions, a transcript, forgetting one;
//!   `skill`: a skill's detail page.
//! - [`assets`]: the vendored scripts and the stylesheet, hashed names.
//!
//! The browser boundary: every `/ui` answer carries a strict CSP (no
//! inline script or style), `no-store` and `nosniff`; a `Host` outside the
//! allowlist is refused (DNS rebinding); the `/v1` API never reads the
//! cookie. See SECURITY.md.

mod actions;
pub mod assets;
mod audit;
mod extract;
mod gauge;
mod install;
mod lists;
mod login;
mod operator;
mod outbox;
mod page;
mod publishers;
pub(crate) mod session;
mod sessions;
mod settings;
mod skill;
mod tenant;
mod usage;

use crate::state::Gateway;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use std::net::IpAddr;
use std::time::Duration;
use wasmclaw::config::{DashboardConfig, public_host, strip_port};

pub use page::check;
pub(crate) use page::not_found_page;
pub(crate) use page::wrong_method_page;

/// The dashboard's `Content-Security-Policy`: nothing inline, nothing from
/// elsewhere, no frames, no `<base>`.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's state: its settings, sessions and sign-in throttle.
pub struct Dashboard {
    config: DashboardConfig,
    sessions: session::Sessions,
    throttle: login::Throttle,
    brand: page::Brand,
    /// The host names `Host` may carry (lower case, no port).
    hosts: Vec<String>,
    /// Skill uploads waiting for their confirmation.
    pending: install::PendingInstalls,
}

impl Dashboard {
    /// The dashboard of `config`, listening on `listen`.
    pub fn new(config: &DashboardConfig, listen: IpAddr) -> Self {
        let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        if !listen.is_unspecified() {
            hosts.push(match listen {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            });
        }
        if let Some((_, host)) = config.public_url.as_deref().and_then(public_host) {
            hosts.push(host);
        }
        hosts.extend(config.hosts.iter().map(|h| strip_port(h).to_ascii_lowercase()));
        Dashboard {
            sessions: session::Sessions::new(
                Duration::from_secs(config.session_idle_secs),
                Duration::from_secs(config.session_max_secs),
            ),
            throttle: login::Throttle::default(),
            brand: page::Brand::load(&config.brand),
            hosts,
            pending: Default::default(),
            config: config.clone(),
        }
    }

    /// Whether requests naming `host` (a `Host` value) are served: an
    /// allowed name, and nothing after it but an optional `:port` of digits.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        let port = &host[name.len()..];
        let port_ok =
            port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        port_ok && self.hosts.contains(&name.to_ascii_lowercase())
    }

    /// Whether `host` is a loopback name (where browsers keep a `Secure`
    /// cookie over plain HTTP).
    fn is_loopback(host: &str) -> bool {
        matches!(strip_port(host).to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }

    /// Whether a browser reaching the dashboard at `host` can keep its
    /// `Secure` cookie: on loopback, or at an `https` public URL.
    pub(crate) fn cookie_possible(&self, host: &str) -> bool {
        if Self::is_loopback(host) {
            return true;
        }
        matches!(self.config.public_url.as_deref().and_then(public_host),
            Some((true, h)) if h == strip_port(host).to_ascii_lowercase())
    }

    /// The origins a state-changing request may come from, as seen at `host`.
    pub(crate) fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let Some((https, origin_host)) = public_host(origin) else { return false };
        // An origin is scheme://host[:port] and nothing else.
        let authority = origin.split_once("://").map_or("", |(_, a)| a);
        if authority.contains('/') || !authority.eq_ignore_ascii_case(host) {
            return false;
        }
        (https || Self::is_loopback(host)) && self.hosts.contains(&origin_host)
    }
}

/// The dashboard's routes (every path under `/ui`); the caller adds them
/// to the API's router only when `[dashboard] enabled`.
pub(crate) fn router() -> Router<Gateway> {
    let mut router = Router::new();
    for list in lists::TENANT_LISTS {
        router = router.route(
            &format!("/ui/t/{{tenant}}/{}", list.path),
            get(move |State(gw): State<Gateway>, ui, params, axum::extract::RawQuery(query)| {
                lists::tenant_list(gw, ui, params, query, list)
            }),
        );
    }
    for list in lists::TENANT_LISTS.iter().filter(|l| l.remove.is_some()) {
        router = router.route(
            &format!("/ui/t/{{tenant}}/{}/{{key}}/remove", list.path),
            post(move |State(gw): State<Gateway>, params, posted| actions::remove(gw, params, posted, list)),
        );
    }
    for list in lists::OPERATOR_LISTS {
        router = router.route(
            &format!("/ui/{}", list.path),
            get(move |State(gw): State<Gateway>, ui, axum::extract::RawQuery(query)| {
                lists::operator_list(gw, ui, query, list)
            }),
        );
    }
    router
        .route("/ui", get(|| async { page::see_other("/ui/") }))
        .route("/ui/", get(operator::home))
        .route("/ui/login", get(login::form).post(login::submit))
        .route("/ui/logout", post(login::logout))
        .route(
            "/ui/assets/{name}",
            get(|axum::extract::Path(name): axum::extract::Path<String>| async move { assets::serve(&name) }),
        )
        .route("/ui/brand.css", get(page::brand_css))
        .route("/ui/logo", get(page::logo))
        .route("/ui/tenants", get(operator::tenants).post(operator::create_tenant))
        .route("/ui/settings", get(settings::settings))
        .route("/ui/usage", get(usage::operator_usage))
        .route("/ui/usage.csv", get(usage::operator_csv))
        .route("/ui/t/{tenant}/usage", get(usage::tenant_usage))
        .route("/ui/t/{tenant}/skills/{name}/detail", get(skill::detail))
        .route("/ui/t/{tenant}/agents/{name}/sessions", get(sessions::list))
        .route("/ui/t/{tenant}/agents/{name}/sessions/{peer}", get(sessions::transcript))
        .route("/ui/t/{tenant}/agents/{name}/sessions/{peer}/forget", post(sessions::forget))
        .route("/ui/t/{tenant}/usage.csv", get(usage::tenant_csv))
        .route("/ui/publishers", post(publishers::add))
        .route("/ui/publishers/{name}/remove", post(publishers::remove))
        .route("/ui/publishers/{name}/delete", post(publishers::delete))
        .route("/ui/tenants/{tenant}/suspend", post(operator::suspend))
        .route("/ui/tenants/{tenant}/resume", post(operator::resume))
        .route("/ui/tenants/{tenant}/delete", post(operator::delete))
        .route("/ui/t/{tenant}", get(tenant::to_overview))
        .route("/ui/t/{tenant}/", get(tenant::overview))
        .route("/ui/t/{tenant}/tokens", get(tenant::tokens).post(tenant::mint))
        .route("/ui/t/{tenant}/secrets", post(actions::set_secret))
        .route(
            "/ui/t/{tenant}/skills/install",
            post(install::upload).layer(axum::extract::DefaultBodyLimit::max(install::MAX_UPLOAD_BODY)),
        )
        .route("/ui/t/{tenant}/skills/confirm", post(install::confirm))
        .route("/ui/t/{tenant}/tokens/{id}/rotate", post(tenant::rotate))
        .route("/ui/t/{tenant}/tokens/{id}/revoke", post(tenant::revoke))
}

/// Whether `path` is the dashboard's.
pub(crate) fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// The middleware of `/ui`: refuses a `Host` outside the allowlist and
/// puts the browser headers on every answer.
pub(crate) async fn guard(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    if !is_ui(req.uri().path()) {
        return next.run(req).await;
    }
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut response = if gw.dashboard().config.enabled && gw.dashboard().host_allowed(host) {
        next.run(req).await
    } else if !gw.dashboard().config.enabled {
        page::not_found_page()
    } else {
        page::misdirected_page(host)
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(public_url: Option<&str>) -> Dashboard {
        let config = DashboardConfig {
            public_url: public_url.map(String::from),
            hosts: vec!["Admin.Internal:9000".into()],
            ..Default::default()
        };
        Dashboard::new(&config, "10.0.0.5".parse().unwrap())
    }

    #[test]
    fn only_allowlisted_hosts_are_served() {
        let d = dashboard(Some("https://dash.example.com"));
        for ok in
            ["localhost:8420", "127.0.0.1", "[::1]:1", "10.0.0.5:8420", "dash.example.com", "admin.internal"]
        {
            assert!(d.host_allowed(ok), "{ok}");
        }
        for bad in
            ["", "evil.example", "127.0.0.1.evil.example", "dash.example.com.evil", "[::2]", "10.0.0.6"]
        {
            assert!(!d.host_allowed(bad), "{bad}");
        }
        let wildcard = Dashboard::new(&DashboardConfig::default(), "0.0.0.0".parse().unwrap());
        assert!(!wildcard.host_allowed("0.0.0.0"));
    }

    #[test]
    fn the_cookie_needs_loopback_or_an_https_public_url() {
        let d = dashboard(Some("https://dash.example.com"));
        assert!(d.cookie_possible("127.0.0.1:8420"));
        assert!(d.cookie_possible("dash.example.com"));
        assert!(!d.cookie_possible("10.0.0.5:8420"));
        assert!(!dashboard(Some("http://dash.example.com")).cookie_possible("dash.example.com"));
    }

    #[test]
    fn an_origin_must_be_the_dashboards_own() {
        let d = dashboard(Some("https://dash.example.com"));
        assert!(d.origin_allowed("http://127.0.0.1:8420", "127.0.0.1:8420"));
        assert!(d.origin_allowed("https://dash.example.com", "dash.example.com"));
        assert!(!d.origin_allowed("http://dash.example.com", "dash.example.com"), "plain http off loopback");
        assert!(!d.origin_allowed("http://127.0.0.1:8421", "127.0.0.1:8420"), "another port");
        assert!(!d.origin_allowed("http://localhost:8420", "127.0.0.1:8420"), "another host");
        assert!(!d.origin_allowed("null", "127.0.0.1:8420"));
        assert!(!d.origin_allowed("http://evil.example", "evil.example"), "not allowlisted");
        assert!(!d.origin_allowed("http://127.0.0.1:8420/x", "127.0.0.1:8420"));
    }
}
