//! What every page shares: the brand, the chrome around a page (header,
//! navigation, footer), the error pages and how refusals become pages.

use super::assets;
use crate::error::ApiError;
use crate::state::Gateway;
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};
use wasmclaw::auth::Principal;
use wasmclaw::config::BrandConfig;
use wasmclaw::records::Role;

/// The brand as pages show it.
pub(crate) struct Brand {
    pub name: String,
    pub support_url: Option<String>,
    pub powered_by: bool,
    /// `/ui/brand.css`: the colours as custom properties.
    css: String,
    css_version: String,
    /// The logo's type and bytes (checked at the start).
    logo: Option<(&'static str, Vec<u8>)>,
}

impl Brand {
    /// The brand of `config` (validated at the start: [`check`]).
    pub(crate) fn load(config: &BrandConfig) -> Brand {
        let css = format!(
            ":root {{ --brand-primary: {}; --brand-text: {}; --brand-accent: {}; }}\n",
            config.primary, config.text, config.accent
        );
        let logo = match config.logo.as_deref().map(read_logo) {
            Some(Ok(logo)) => Some(logo),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the dashboard's logo is not shown");
                None
            }
            None => None,
        };
        Brand {
            name: config.name.clone(),
            support_url: config.support_url.clone(),
            powered_by: config.powered_by,
            css_version: hex::encode(&Sha256::digest(css.as_bytes())[..6]),
            css,
            logo,
        }
    }
}

/// A logo file: its type by its bytes, at most [`assets::MAX_LOGO`].
fn read_logo(path: &std::path::Path) -> Result<(&'static str, Vec<u8>), String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("dashboard.brand.logo: cannot read {shown}: {e}"))?;
    if meta.len() > assets::MAX_LOGO as u64 {
        return Err(format!("dashboard.brand.logo: {shown} is over {} KiB", assets::MAX_LOGO / 1024));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("dashboard.brand.logo: cannot read {shown}: {e}"))?;
    if bytes.len() > assets::MAX_LOGO {
        return Err(format!("dashboard.brand.logo: {shown} is over {} KiB", assets::MAX_LOGO / 1024));
    }
    let kind = assets::image_type(&bytes)
        .ok_or_else(|| format!("dashboard.brand.logo: {shown} is not a PNG, WebP or JPEG image"))?;
    Ok((kind, bytes))
}

/// Checks the `[dashboard]` settings at the start, naming the key: the
/// colours' contrast, the links, the logo's size and type.
pub fn check(config: &wasmclaw::config::DashboardConfig) -> Result<(), String> {
    config.validate()?;
    if let Some(path) = &config.brand.logo {
        read_logo(path)?;
    }
    Ok(())
}

/// `GET /ui/brand.css`.
pub(crate) async fn brand_css(State(gw): State<Gateway>) -> Response {
    let css = gw.dashboard().brand.css.clone();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"))], css).into_response()
}

/// `GET /ui/logo`.
pub(crate) async fn logo(State(gw): State<Gateway>) -> Response {
    match &gw.dashboard().brand.logo {
        Some((kind, bytes)) => {
            ([(header::CONTENT_TYPE, HeaderValue::from_static(kind))], bytes.clone()).into_response()
        }
        None => not_found_page(),
    }
}

/// One navigation link.
pub(crate) struct Nav {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The frame of every page.
pub(crate) struct Chrome {
    pub title: String,
    pub brand: String,
    pub logo: bool,
    pub stylesheet: String,
    pub favicon: String,
    pub brand_css: String,
    pub htmx: String,
    pub support_url: Option<String>,
    pub powered_by: bool,
    /// Who is signed in, in words (none on the sign-in and error pages).
    pub who: Option<String>,
    pub csrf: String,
    pub nav: Vec<Nav>,
}

impl Chrome {
    /// The path of the current page's nav link (empty if none).
    pub(crate) fn nav_current(&self) -> &str {
        self.nav.iter().find(|n| n.current).map_or("", |n| n.href.as_str())
    }

    /// The chrome of a page titled `title` (nobody signed in).
    pub(crate) fn anonymous(gw: &Gateway, title: &str) -> Chrome {
        Chrome::of(&gw.dashboard().brand, title)
    }

    /// The chrome of a page of `brand` titled `title` (nobody signed in).
    fn of(brand: &Brand, title: &str) -> Chrome {
        Chrome {
            title: title.to_string(),
            brand: brand.name.clone(),
            logo: brand.logo.is_some(),
            stylesheet: assets::path("dashboard", "css"),
            favicon: assets::path("favicon", "png"),
            brand_css: format!("/ui/brand.css?v={}", brand.css_version),
            htmx: assets::path("htmx", "js"),
            support_url: brand.support_url.clone(),
            powered_by: brand.powered_by,
            who: None,
            csrf: String::new(),
            nav: Vec::new(),
        }
    }

    /// The chrome of a signed-in page; `current` is the nav link's path.
    pub(crate) fn signed_in(
        gw: &Gateway,
        ui: &super::extract::Ui,
        title: &str,
        tenant: Option<&wasmclaw::TenantId>,
        current: &str,
    ) -> Chrome {
        let mut c = Chrome::anonymous(gw, title);
        c.csrf = ui.csrf.clone();
        let mut nav = Vec::new();
        let mut link = |href: String, label| {
            let current = href == current;
            nav.push(Nav { href, label, current });
        };
        match &ui.principal {
            Principal::Operator => {
                c.who = Some("operator".into());
                link("/ui/".into(), "Overview");
                link("/ui/tenants".into(), "Tenants");
                link("/ui/usage".into(), "Usage & cost");
                for l in super::lists::OPERATOR_LISTS {
                    link(format!("/ui/{}", l.path), l.title);
                }
                link("/ui/settings".into(), "Settings");
            }
            Principal::Token(t) => {
                let role = match t.role {
                    Role::Admin => "admin",
                    Role::Member => "member",
                    Role::Guest => "guest",
                };
                c.who = Some(format!("{role} of {}", t.tenant));
            }
        }
        if let Some(t) = tenant {
            link(format!("/ui/t/{t}/"), "Tenant overview");
            let manager = is_manager(&ui.principal);
            for l in super::lists::TENANT_LISTS.iter().filter(|l| manager || !l.managers) {
                link(format!("/ui/t/{t}/{}", l.path), l.title);
            }
            link(format!("/ui/t/{t}/usage"), "Usage");
            if manager {
                link(format!("/ui/t/{t}/tokens"), "Tokens");
            }
        }
        c.nav = nav;
        c
    }
}

/// Stored text as pages show it: bidirectional controls (which would
/// reorder what follows them on screen, to spoof a name or a command) and
/// other invisible format characters are shown as their code points.
pub(crate) fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let hidden = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
            || (c.is_control() && c != '\n' && c != '\t');
        if hidden {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether the principal may change a tenant (the operator, an admin).
pub(crate) fn is_manager(p: &Principal) -> bool {
    match p {
        Principal::Operator => true,
        Principal::Token(t) => t.role == Role::Admin,
    }
}

/// A rendered page with its status.
pub(crate) fn html(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>internal error</p>"),
            )
                .into_response()
        }
    }
}

/// A redirect after a POST (or to a canonical path).
pub(crate) fn see_other(to: &str) -> Response {
    let location = HeaderValue::from_str(to).unwrap_or_else(|_| HeaderValue::from_static("/ui/"));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    chrome: Chrome,
    status: u16,
    heading: String,
    message: String,
}

fn error_page(gw: Option<&Gateway>, status: StatusCode, heading: &str, message: &str) -> Response {
    // Without the gateway (an extractor's refusal, the fallbacks): the
    // default brand; `/ui/brand.css` still brings the configured colours.
    static DEFAULT: std::sync::LazyLock<Brand> =
        std::sync::LazyLock::new(|| Brand::load(&BrandConfig::default()));
    let chrome = match gw {
        Some(gw) => Chrome::anonymous(gw, heading),
        None => Chrome::of(&DEFAULT, heading),
    };
    let page =
        ErrorPage { chrome, status: status.as_u16(), heading: heading.into(), message: message.into() };
    html(status, &page)
}

/// The 404 page (an unknown path, another tenant's, a disabled dashboard).
pub(crate) fn not_found_page() -> Response {
    error_page(None, StatusCode::NOT_FOUND, "Not found", "There is no such page.")
}

/// The 405 page.
pub(crate) fn wrong_method_page() -> Response {
    error_page(
        None,
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "This page does not take that method.",
    )
}

/// The page of a `Host` outside the allowlist (DNS rebinding).
pub(crate) fn misdirected_page(host: &str) -> Response {
    let shown: String = host.chars().take(64).filter(|c| !c.is_control()).collect();
    error_page(
        None,
        StatusCode::MISDIRECTED_REQUEST,
        "Unknown host",
        &format!("The dashboard does not answer to the host {shown:?}: add it to [dashboard] hosts."),
    )
}

/// Why a page is not shown.
pub(crate) enum Reject {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn { next: String, htmx: bool },
    /// A cross-site or stale form: 403.
    Forbidden(String),
    /// A form body over the limit: 413.
    TooLarge(String),
    /// A form that cannot be read: 400.
    BadForm(String),
    /// What the API would have answered.
    Api(ApiError),
}

impl From<ApiError> for Reject {
    fn from(e: ApiError) -> Self {
        Reject::Api(e)
    }
}

impl From<wasmclaw::Error> for Reject {
    fn from(e: wasmclaw::Error) -> Self {
        Reject::Api(ApiError::from(e))
    }
}

/// Where the sign-in page sends the user back: a dashboard path only. It
/// is judged as the browser will read it (percent-decoded): no `.` or `..`
/// segment, no empty one, no backslash, nothing a browser would take for
/// another path.
pub(crate) fn safe_next(next: &str) -> &str {
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    let path = decoded.split(['?', '#']).next().unwrap_or("");
    let segments_ok = |rest: &str| {
        let segments: Vec<&str> = rest.split('/').collect();
        let last = segments.len() - 1;
        // Only the last may be empty (a trailing slash); none is `.` or `..`.
        segments
            .iter()
            .enumerate()
            .all(|(i, seg)| (!seg.is_empty() || i == last) && *seg != "." && *seg != "..")
    };
    let ok = next.starts_with("/ui/")
        && next.len() <= 1024
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && !decoded.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        && path.strip_prefix("/ui/").is_some_and(segments_ok);
    if ok { next } else { "/ui/" }
}

/// A refusal as a page (branded when the gateway is at hand).
pub(crate) fn reject(gw: Option<&Gateway>, r: Reject) -> Response {
    match r {
        Reject::SignIn { next, htmx } => {
            let next = safe_next(&next);
            let to = format!(
                "/ui/login?next={}",
                percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
            );
            if htmx {
                let mut r = StatusCode::UNAUTHORIZED.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert("hx-redirect", v);
                }
                r
            } else {
                see_other(&to)
            }
        }
        Reject::Forbidden(m) => error_page(gw, StatusCode::FORBIDDEN, "Refused", &m),
        Reject::TooLarge(m) => error_page(gw, StatusCode::PAYLOAD_TOO_LARGE, "Too large", &m),
        Reject::BadForm(m) => error_page(gw, StatusCode::BAD_REQUEST, "Bad form", &m),
        Reject::Api(e) if e.status() == StatusCode::NOT_FOUND => not_found_page(),
        Reject::Api(e) => {
            let heading = e.status().canonical_reason().unwrap_or("Error");
            let message =
                if e.status().is_server_error() { "The gateway could not do this now." } else { e.message() };
            error_page(gw, e.status(), heading, message)
        }
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        reject(None, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_are_shown_not_obeyed() {
        assert_eq!(visible("a\u{202e}b\u{2066}c"), "a[U+202E]b[U+2066]c");
        assert_eq!(visible("line\nnext\u{7}"), "line\nnext[U+0007]");
        assert_eq!(visible("<script>"), "<script>");
    }

    #[test]
    fn next_is_a_dashboard_path_or_home() {
        for ok in ["/ui/", "/ui/t/acme/tokens", "/ui/tenants?x=1", "/ui/t/acme/", "/ui/audit?action=token.*"]
        {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil.example",
            "/ui//evil.example",
            "https://evil.example/ui/",
            "/v1/tenants",
            "/ui/\\evil",
            "/ui/\n",
            "/uix",
            "",
        ] {
            assert_eq!(safe_next(bad), "/ui/", "{bad:?}");
        }
    }
}
