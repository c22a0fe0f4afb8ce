//! The dashboard's boundary over plain HTTP (no browser): what a hostile
//! client can send that a browser would not.

use super::gateway_with_tenant;
use crate::harness::{ADMIN_KEY, Gateway};
use reqwest::blocking::{Client, Response};
use serde_json::json;
use std::sync::OnceLock;

/// A client that follows no redirect and keeps no cookie.
pub fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    })
}

/// The dashboard's own origin.
pub fn origin(gw: &Gateway) -> String {
    format!("http://127.0.0.1:{}", gw.addr.port())
}

/// `GET path` with the session cookie.
pub fn get_with_cookie(gw: &Gateway, path: &str, cookie: &str) -> Response {
    client().get(gw.url(path)).header("cookie", format!("__Host-wasmclaw-session={cookie}")).send().unwrap()
}

/// `POST path` with a form, the cookie and these headers.
pub fn post_form(gw: &Gateway, path: &str, cookie: &str, body: &str, headers: &[(&str, &str)]) -> Response {
    let mut rb = client()
        .post(gw.url(path))
        .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().unwrap()
}

/// Signs in over HTTP; returns the session cookie's value.
pub fn login(gw: &Gateway, credential: &str) -> String {
    let r = client()
        .post(gw.url("/ui/login"))
        .header("origin", origin(gw))
        .form(&[("credential", credential), ("next", "/ui/")])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().unwrap_or_default());
    let set = r.headers().get("set-cookie").expect("a cookie").to_str().unwrap().to_string();
    for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(set.split("; ").any(|a| a == attribute), "{attribute} in {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    set.split(';').next().unwrap().split_once('=').unwrap().1.to_string()
}

/// The CSRF token (and nonce, if any) of the page at `path`.
pub fn form_secrets(gw: &Gateway, path: &str, cookie: &str) -> (String, Option<String>) {
    let r = get_with_cookie(gw, path, cookie);
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().unwrap();
    let value_of = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        html.split(&marker).nth(1).map(|rest| rest.split('"').next().unwrap().to_string())
    };
    (value_of("csrf").expect("a csrf field"), value_of("nonce"))
}

#[test]
fn the_api_never_takes_the_session_cookie() {
    let gw = Gateway::start();
    let cookie = login(&gw, ADMIN_KEY);
    let r = client()
        .get(gw.url("/v1/tenants"))
        .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = client()
        .post(gw.url("/v1/tenants"))
        .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
        .header("content-type", "application/json")
        .body(json!({ "id": "viacookie" }).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(gw.get("/v1/tenants/viacookie", Some(ADMIN_KEY)).status, 404);
}

#[test]
fn a_state_change_needs_the_csrf_token_and_the_dashboards_origin() {
    let gw = Gateway::start();
    let cookie = login(&gw, ADMIN_KEY);
    let (csrf, _) = form_secrets(&gw, "/ui/tenants", &cookie);
    let own = origin(&gw);
    type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);
    let cases: &[Case] = &[
        ("no csrf", "id=t1".into(), vec![("origin", own.as_str())]),
        ("wrong csrf", "id=t2&csrf=00".into(), vec![("origin", own.as_str())]),
        ("csrf of another length", format!("id=t3&csrf={csrf}0"), vec![("origin", own.as_str())]),
        ("another origin", format!("id=t4&csrf={csrf}"), vec![("origin", "http://evil.example")]),
        ("origin null", format!("id=t5&csrf={csrf}"), vec![("origin", "null")]),
        ("another port", format!("id=t6&csrf={csrf}"), vec![("origin", "http://127.0.0.1:1")]),
        ("no origin, cross-site", format!("id=t7&csrf={csrf}"), vec![("sec-fetch-site", "cross-site")]),
        ("no origin, no fetch metadata", format!("id=t8&csrf={csrf}"), vec![]),
    ];
    for (what, body, headers) in cases {
        let r = post_form(&gw, "/ui/tenants", &cookie, body, headers);
        assert_eq!(r.status().as_u16(), 403, "{what}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{what}: a page");
    }
    let tenants = gw.get("/v1/tenants", Some(ADMIN_KEY)).text;
    assert_eq!(tenants, r#"{"tenants":[]}"#, "nothing was created");
    let audit = gw.get("/v1/audit", Some(ADMIN_KEY)).text;
    assert!(audit.contains("ui.csrf") && audit.contains("ui.origin"), "the refusals are audited: {audit}");
    // The right token from the right origin (or same-origin fetch metadata).
    let r = post_form(&gw, "/ui/tenants", &cookie, &format!("id=ok1&csrf={csrf}"), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 303);
    let r = post_form(
        &gw,
        "/ui/tenants",
        &cookie,
        &format!("id=ok2&csrf={csrf}"),
        &[("sec-fetch-site", "same-origin")],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(gw.get("/v1/tenants/ok2", Some(ADMIN_KEY)).status, 200);
    // A session's token is no other session's.
    let other = login(&gw, ADMIN_KEY);
    let r = post_form(&gw, "/ui/tenants", &other, &format!("id=t9&csrf={csrf}"), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 403);
}

#[test]
fn the_sign_in_form_refuses_a_foreign_origin_and_a_guest_and_throttles_failures() {
    let gw = Gateway::start();
    let r = gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "acme" }));
    assert_eq!(r.status, 201);
    let (guest, _) = crate::harness::mint(&gw, "acme", ADMIN_KEY, "guest");
    let form = |credential: &str, origin: &str| {
        client()
            .post(gw.url("/ui/login"))
            .header("origin", origin)
            .form(&[("credential", credential)])
            .send()
            .unwrap()
    };
    let r = form(ADMIN_KEY, "http://evil.example");
    assert_eq!(r.status().as_u16(), 403, "login CSRF");
    assert!(r.headers().get("set-cookie").is_none());
    let r = form(&guest, &origin(&gw));
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    assert!(r.text().unwrap().contains("Guest tokens cannot sign in"));
    for _ in 0..9 {
        assert_eq!(form("wca_ffffffffffffffffffffffffffffffff", &origin(&gw)).status().as_u16(), 401);
    }
    let r = form(ADMIN_KEY, &origin(&gw));
    assert_eq!(r.status().as_u16(), 429, "the eleventh try in a minute is refused, even a right one");
    assert!(r.headers().get("set-cookie").is_none());
}

#[test]
fn a_stranger_is_sent_to_sign_in_and_next_stays_in_the_dashboard() {
    let gw = Gateway::start();
    let r = client().get(gw.url("/ui/tenants?x=1")).send().unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/ui/login?next=%2Fui%2Ftenants%3Fx%3D1");
    let r = client().get(gw.url("/ui/tenants")).header("hx-request", "true").send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers()["hx-redirect"].to_str().unwrap().starts_with("/ui/login?next="));
    let r = get_with_cookie(&gw, "/ui/", &"0".repeat(64));
    assert_eq!(r.status().as_u16(), 303, "an unknown session");
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/ui//evil.example",
        "/\\evil.example",
        "/v1/tenants",
        "/ui/\r\nx: y",
    ] {
        let r = client()
            .post(gw.url("/ui/login"))
            .header("origin", origin(&gw))
            .form(&[("credential", ADMIN_KEY), ("next", next)])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{next:?}");
        assert_eq!(r.headers()["location"], "/ui/", "{next:?}");
    }
    let page = client().get(gw.url("/ui/login?next=//evil.example")).send().unwrap().text().unwrap();
    assert!(page.contains("name=\"next\" value=\"/ui/\""), "the form carries only a safe next");
}

#[test]
fn another_tenants_pages_are_not_found_and_the_probe_is_audited() {
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let cookie = login(&gw, &admin);
    for path in ["/ui/t/beta/", "/ui/t/beta/tokens", "/ui/t/nosuch/", "/ui/tenants", "/ui/nosuch"] {
        let r = get_with_cookie(&gw, path, &cookie);
        let status = r.status().as_u16();
        assert!(status == 404 || (path == "/ui/tenants" && status == 403), "{path}: {status}");
        assert!(r.text().unwrap().contains("<h1>"), "{path}: a page");
    }
    let (csrf, nonce) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
    let body = format!("role=admin&csrf={csrf}&nonce={}", nonce.unwrap());
    let r = post_form(&gw, "/ui/t/beta/tokens", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        gw.get("/v1/tenants/beta/tokens", Some(ADMIN_KEY)).text.matches("\"id\"").count(),
        0,
        "no token minted in beta"
    );
    let audit = gw.get("/v1/audit?tenant=acme", Some(ADMIN_KEY)).text;
    assert!(audit.contains("cross-tenant"), "{audit}");
    // A member sees the overview, not the tokens, and cannot mint.
    let m = login(&gw, &member);
    assert_eq!(get_with_cookie(&gw, "/ui/t/acme/", &m).status().as_u16(), 200);
    assert_eq!(get_with_cookie(&gw, "/ui/t/acme/tokens", &m).status().as_u16(), 403);
    let (mcsrf, _) = form_secrets(&gw, "/ui/t/acme/", &m);
    let r = post_form(
        &gw,
        "/ui/t/acme/tokens",
        &m,
        &format!("role=admin&csrf={mcsrf}"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 403);
}

#[test]
fn a_mint_form_posted_twice_mints_once() {
    let (gw, admin, _) = gateway_with_tenant();
    let cookie = login(&gw, &admin);
    let before = gw.get("/v1/tenants/acme/tokens", Some(ADMIN_KEY)).text.matches("\"role\"").count();
    let (csrf, nonce) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
    let body = format!("role=member&name=once&csrf={csrf}&nonce={}", nonce.unwrap());
    let first = post_form(&gw, "/ui/t/acme/tokens", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(first.status().as_u16(), 201);
    assert!(first.text().unwrap().contains("wct_acme_"));
    let again = post_form(&gw, "/ui/t/acme/tokens", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(again.status().as_u16(), 409);
    assert!(!again.text().unwrap().contains("wct_acme_"));
    let after = gw.get("/v1/tenants/acme/tokens", Some(ADMIN_KEY)).text.matches("\"role\"").count();
    assert_eq!(after, before + 1);
}

#[test]
fn bad_methods_paths_hosts_and_forms_get_pages_never_a_5xx() {
    let (gw, admin, _) = gateway_with_tenant();
    let cookie = login(&gw, &admin);
    let (csrf, nonce) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
    let own = origin(&gw);
    let html = |r: &Response| {
        r.headers().get("content-type").map(|v| v.to_str().unwrap().starts_with("text/html")).unwrap_or(false)
    };
    let r = client().put(gw.url("/ui/tenants")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert!(html(&r));
    let r = client().delete(gw.url("/ui/login")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = client().get(gw.url("/ui/no/such/page")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(html(&r));
    let r = client().get(gw.url("/ui/")).header("host", "evil.example").send().unwrap();
    assert_eq!(r.status().as_u16(), 421, "DNS rebinding");
    let r = client().get(gw.url("/ui/login")).header("host", "127.0.0.1.evil.example:80").send().unwrap();
    assert_eq!(r.status().as_u16(), 421);
    // A form over 1 MiB, one that is not UTF-8, an overlong name, a bad role.
    let big = format!("csrf={csrf}&name={}", "a".repeat(1024 * 1024 + 1));
    let r = post_form(&gw, "/ui/t/acme/tokens", &cookie, &big, &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 413);
    assert!(r.text().unwrap().contains("1024 KiB"));
    let r = post_form(
        &gw,
        "/ui/t/acme/tokens",
        &cookie,
        &format!("csrf={csrf}&name=%ff%fe"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 400);
    let nonce = nonce.unwrap();
    let r = post_form(
        &gw,
        "/ui/t/acme/tokens",
        &cookie,
        &format!("csrf={csrf}&nonce={nonce}&role=member&name={}", "n".repeat(65)),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("id=\"mint-name-error\"") && text.contains("aria-invalid=\"true\""),
        "the field is marked"
    );
    // Each with a fresh page's tokens (a refused form may use up its nonce).
    for (path, fields, what) in [
        ("/ui/t/acme/tokens", "role=root", "a bad role"),
        ("/ui/t/acme/tokens/000000000000/rotate", "grace_secs=x", "a bad duration"),
        ("/ui/t/acme/tokens/000000000000/rotate", "grace_secs=99999999999", "a grace over 30 days"),
    ] {
        let (csrf, nonce) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
        let body = format!("csrf={csrf}&nonce={}&{fields}", nonce.unwrap());
        let r = post_form(&gw, path, &cookie, &body, &[("origin", &own)]);
        assert_eq!(r.status().as_u16(), 400, "{what}");
        assert!(r.text().unwrap().contains("class=\"notice error\""), "{what}: said on the page");
    }
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
    let r =
        post_form(&gw, "/ui/t/acme/tokens/%ff/revoke", &cookie, &format!("csrf={csrf}"), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 404, "a path that is not UTF-8 names nothing");
}

#[test]
fn every_ui_answer_carries_the_browser_headers() {
    let gw = Gateway::start();
    let cookie = login(&gw, ADMIN_KEY);
    let page = get_with_cookie(&gw, "/ui/", &cookie).text().unwrap();
    let htmx = page.split("<script src=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert!(htmx.starts_with("/ui/assets/htmx-") && htmx.ends_with(".js"), "{htmx}");
    assert!(
        !page.contains("<style") && !page.contains(" style=") && !page.contains("<script>"),
        "nothing inline"
    );
    for (path, c) in [
        ("/ui/", Some(&cookie)),
        ("/ui/login", None),
        ("/ui/nosuch", None),
        ("/ui/tenants", None),
        (htmx.as_str(), None),
        ("/ui/brand.css", None),
        ("/ui", None),
    ] {
        let r = match c {
            Some(c) => get_with_cookie(&gw, path, c),
            None => client().get(gw.url(path)).send().unwrap(),
        };
        let h = r.headers();
        assert_eq!(h["content-security-policy"], wasmclaw_gateway::dashboard::CSP, "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["cache-control"], "no-store", "{path}");
    }
}

#[test]
fn off_loopback_over_plain_http_the_sign_in_page_says_to_use_https() {
    let gw = Gateway::start_with_config("[dashboard]\nhosts = [\"dash.internal\"]\n");
    let page = client().get(gw.url("/ui/login")).header("host", "dash.internal").send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("Use https"));
    let r = client()
        .post(gw.url("/ui/login"))
        .header("host", "dash.internal")
        .header("origin", "http://dash.internal")
        .form(&[("credential", ADMIN_KEY)])
        .send()
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none(), "no cookie the browser would drop");
    assert_ne!(r.status().as_u16(), 303);
}

#[test]
fn a_brand_whose_text_is_unreadable_on_its_colour_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("wasmclaw.toml");
    std::fs::write(&config, "[dashboard.brand]\nprimary = \"#777777\"\ntext = \"#888888\"\n").unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dashboard.brand.text"), "{err}");
    let svg = dir.path().join("logo.svg");
    std::fs::write(&svg, "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>").unwrap();
    std::fs::write(&config, format!("[dashboard.brand]\nlogo = {:?}\n", svg.display().to_string())).unwrap();
    let out = std::process::Command::new(crate::harness::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a PNG, WebP or JPEG"));
}

#[test]
fn the_audit_pages_filter_through_the_route_and_mark_a_refused_filter() {
    let (gw, admin, _) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    crate::harness::mint(&gw, "beta", ADMIN_KEY, "member");
    let op = login(&gw, ADMIN_KEY);
    let page = |cookie: &str, path: &str| {
        let r = get_with_cookie(&gw, path, cookie);
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, mints) = page(&op, "/ui/audit?action=token.mint");
    assert_eq!(status, 200);
    assert!(mints.contains("token.mint") && !mints.contains("tenant.create"), "{mints}");
    let (_, beta) = page(&op, "/ui/audit?action=token.*&tenant=beta");
    assert!(
        beta.contains("<td data-label=\"Tenant\">beta</td>")
            && !beta.contains("<td data-label=\"Tenant\">acme</td>")
    );
    let (status, bad) = page(&op, "/ui/audit?action=Bad+x");
    assert_eq!(status, 400);
    assert!(
        bad.contains("id=\"f-action\"") && bad.contains("aria-invalid=\"true\" aria-describedby=\"f-error\""),
        "{bad}"
    );
    assert!(bad.contains("value=\"Bad x\""), "the text is kept");
    let (status, _) = page(&op, "/ui/audit?outcome=%ff");
    assert_eq!(status, 400, "a query that is not UTF-8");
    let (status, _) = page(&op, "/ui/audit?skip=x");
    assert_eq!(status, 400);
    // An admin reads its own tenant's log, filtered, and not the operator's.
    let a = login(&gw, &admin);
    let (status, own) = page(&a, "/ui/t/acme/audit?action=token.*");
    assert_eq!(status, 200);
    assert!(own.contains("token.mint") && !own.contains(">beta<"), "{own}");
    assert_eq!(page(&a, "/ui/audit").0, 403);
    assert_eq!(page(&a, "/ui/t/beta/audit?action=token.*").0, 404);
}

#[test]
fn rows_are_removed_and_secrets_set_through_their_routes_and_roles() {
    use crate::harness::{Body, install, output};
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (beta_admin, _) = crate::harness::mint(&gw, "beta", ADMIN_KEY, "admin");
    install(&gw, "acme", ADMIN_KEY, "notes", false);
    install(&gw, "acme", ADMIN_KEY, "reminder", false);
    let policy = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n";
    let r = gw.req(
        "PUT",
        "/v1/tenants/acme/policy",
        Some(ADMIN_KEY),
        Body::Raw("application/toml", policy.into()),
    );
    assert!(matches!(r.status, 200 | 204), "{}", r.text);
    output(&gw, &member, "notes", &json!({ "op": "add", "text": "remember the milk" }));
    output(&gw, &member, "reminder", &json!({ "op": "add", "text": "stand up", "every_seconds": 3600 }));
    let own = origin(&gw);
    let m = login(&gw, &member);
    // A member removes a memory entry and a cron job (the routes' MEMBERS).
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/memory", &m);
    let page = get_with_cookie(&gw, "/ui/t/acme/memory", &m).text().unwrap();
    assert!(page.contains("/ui/t/acme/memory/note%3A00000001/remove"), "{page}");
    let r = post_form(
        &gw,
        "/ui/t/acme/memory/note%3A00000001/remove",
        &m,
        &format!("csrf={csrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 303);
    let memory = gw.get("/v1/tenants/acme/memory", Some(ADMIN_KEY)).text;
    assert!(!memory.contains("note:00000001") && memory.contains("meta:next-id"), "{memory}");
    let jobs = gw.get("/v1/tenants/acme/cron", Some(ADMIN_KEY));
    let id = serde_json::from_str::<serde_json::Value>(&jobs.text).unwrap()["jobs"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another tenant's admin cannot, and nothing changes.
    let b = login(&gw, &beta_admin);
    let (bcsrf, _) = form_secrets(&gw, "/ui/t/beta/cron", &b);
    let r = post_form(
        &gw,
        &format!("/ui/t/acme/cron/{id}/remove"),
        &b,
        &format!("csrf={bcsrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 404);
    let r = post_form(
        &gw,
        &format!("/ui/t/beta/cron/{id}/remove"),
        &b,
        &format!("csrf={bcsrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 404, "acme's job is not beta's");
    assert!(gw.get("/v1/tenants/acme/cron", Some(ADMIN_KEY)).text.contains(&id));
    let r = post_form(
        &gw,
        &format!("/ui/t/acme/cron/{id}/remove"),
        &m,
        &format!("csrf={csrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert!(!gw.get("/v1/tenants/acme/cron", Some(ADMIN_KEY)).text.contains(&id), "removed");
    // Channels and secrets are the managers': a member gets 403.
    let r =
        post_form(&gw, "/ui/t/acme/channels/hook/remove", &m, &format!("csrf={csrf}"), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 403);
    let r =
        post_form(&gw, "/ui/t/acme/secrets", &m, &format!("csrf={csrf}&name=X&value=v"), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(get_with_cookie(&gw, "/ui/t/acme/secrets", &m).status().as_u16(), 403);
    // An admin sets a secret: the value never comes back; a bad name is
    // shown again beside its field.
    let a = login(&gw, &admin);
    let (acsrf, _) = form_secrets(&gw, "/ui/t/acme/secrets", &a);
    let r = post_form(
        &gw,
        "/ui/t/acme/secrets",
        &a,
        &format!("csrf={acsrf}&name=HOOK&value=s3cr3t-v4lue"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert!(gw.get("/v1/tenants/acme/secrets", Some(ADMIN_KEY)).text.contains("HOOK"));
    let page = get_with_cookie(&gw, "/ui/t/acme/secrets", &a).text().unwrap();
    assert!(page.contains(">HOOK<") && !page.contains("s3cr3t-v4lue"), "{page}");
    let r = post_form(
        &gw,
        "/ui/t/acme/secrets",
        &a,
        &format!("csrf={acsrf}&name=bad+name%21&value=v"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("value=\"bad name!\"") && text.contains("aria-describedby=\"secret-error\""),
        "{text}"
    );
    assert!(!gw.get("/v1/tenants/acme/secrets", Some(ADMIN_KEY)).text.contains("bad name"));
}
