//! Adversarial probes of the dashboard's boundary: what a hostile client
//! (no browser, any bytes) or a hostile tenant can send. Each test asserts
//! the secure behaviour; the ones that fail on the current code are holes.

use super::boundary::{client, form_secrets, get_with_cookie, login, origin, post_form};
use super::gateway_with_tenant;
use crate::harness::{ADMIN_KEY, Gateway, mint};
use reqwest::blocking::{Client, Response};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn host(gw: &Gateway) -> String {
    format!("127.0.0.1:{}", gw.addr.port())
}

/// Whether the session `cookie` is still signed in (`/ui/` is no redirect
/// to the sign-in page).
fn signed_in(gw: &Gateway, cookie: &str) -> bool {
    let r = get_with_cookie(gw, "/ui/", cookie);
    let to_login = r.headers().get("location").is_some_and(|l| l.to_str().unwrap().starts_with("/ui/login"));
    !to_login
}

/// A raw HTTP/1.1 answer: its status, its head (lower-cased) and its body.
struct Raw {
    status: u16,
    head: String,
    body: String,
}

impl Raw {
    fn header(&self, name: &str) -> Option<String> {
        self.head.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_string())
        })
    }
}

/// Sends `request` (the whole of it, as bytes) on a new connection and reads
/// the answer until the server closes or `wait` passes with nothing more.
fn raw_bytes(gw: &Gateway, request: &[u8], wait: Duration) -> Raw {
    let mut s = TcpStream::connect(gw.addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    // The server may refuse and close before it has read everything.
    let _ = s.write_all(request);
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match s.read(&mut tmp) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Raw { status, head: head.to_ascii_lowercase(), body: body.to_string() }
}

/// A raw request: `method path`, these header lines (any bytes), `body`.
fn raw(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Raw {
    let mut req = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == "POST" {
        req.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    req.extend_from_slice(b"connection: close\r\n\r\n");
    req.extend_from_slice(body);
    raw_bytes(gw, &req, Duration::from_secs(30))
}

/// A raw `GET path` with the gateway's own Host and the session cookie.
fn raw_get(gw: &Gateway, path: &str, cookie: &str) -> Raw {
    let h = host(gw);
    let c = format!("__Host-wasmclaw-session={cookie}");
    raw(gw, "GET", path, &[("host", h.as_bytes()), ("cookie", c.as_bytes())], b"")
}

/// A raw form `POST path` from the dashboard's own origin with the cookie.
fn raw_post(gw: &Gateway, path: &str, cookie: &str, body: &str) -> Raw {
    let (h, o) = (host(gw), origin(gw));
    let c = format!("__Host-wasmclaw-session={cookie}");
    raw(
        gw,
        "POST",
        path,
        &[
            ("host", h.as_bytes()),
            ("origin", o.as_bytes()),
            ("cookie", c.as_bytes()),
            ("content-type", b"application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
}

fn tenant_tokens(gw: &Gateway, tenant: &str) -> Vec<String> {
    let v = gw.get(&format!("/v1/tenants/{tenant}/tokens"), Some(ADMIN_KEY)).expect(200);
    crate::harness::token_ids(&v)
}

fn tenant_ids(gw: &Gateway) -> Vec<String> {
    let v = gw.get("/v1/tenants", Some(ADMIN_KEY)).expect(200);
    let mut ids: Vec<String> =
        v["tenants"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn suspended(gw: &Gateway, tenant: &str) -> bool {
    gw.get(&format!("/v1/tenants/{tenant}"), Some(ADMIN_KEY)).expect(200)["suspended"] == json!(true)
}

fn assert_browser_headers(what: &str, head: &dyn Fn(&str) -> Option<String>) {
    assert_eq!(
        head("content-security-policy").as_deref(),
        Some(wasmclaw_gateway::dashboard::CSP),
        "{what}: CSP"
    );
    assert_eq!(head("x-content-type-options").as_deref(), Some("nosniff"), "{what}: nosniff");
    assert_eq!(head("cache-control").as_deref(), Some("no-store"), "{what}: no-store");
    assert_eq!(head("referrer-policy").as_deref(), Some("same-origin"), "{what}: referrer-policy");
}

// ---------------------------------------------------------------- Host

#[test]
fn the_host_allowlist_refuses_every_other_spelling_of_loopback() {
    let gw = Gateway::start();
    let port = gw.addr.port();
    let refused: Vec<Vec<u8>> = vec![
        b"evil.example".to_vec(),
        format!("evil.example:{port}").into_bytes(),
        b"localhost.".to_vec(),
        format!("localhost.:{port}").into_bytes(),
        b"127.0.0.1.".to_vec(),
        b"127.1".to_vec(),
        b"2130706433".to_vec(),
        b"0x7f000001".to_vec(),
        b"[::ffff:127.0.0.1]".to_vec(),
        b"[0:0:0:0:0:0:0:1]".to_vec(),
        b"[::1".to_vec(),
        b"localhost@evil.example".to_vec(),
        b"evil.example@localhost".to_vec(),
        b"evil.example#127.0.0.1".to_vec(),
        b"127.0.0.1.nip.io".to_vec(),
        b"".to_vec(),
        b"l\xc3\xb6calhost".to_vec(),
        b"\xff\xfe".to_vec(),
    ];
    for h in &refused {
        let r = raw(&gw, "GET", "/ui/login", &[("host", h)], b"");
        assert!(r.status == 421 || r.status == 400, "Host {:?}: {}", String::from_utf8_lossy(h), r.status);
        assert!(
            !r.body.contains("name=\"credential\""),
            "Host {:?}: no sign-in form",
            String::from_utf8_lossy(h)
        );
    }
    // No Host at all (HTTP/1.0), and two of them.
    let r = raw_bytes(&gw, b"GET /ui/login HTTP/1.0\r\n\r\n", Duration::from_secs(10));
    assert!(r.status == 421 || r.status == 400, "no Host: {}", r.status);
    let r = raw(&gw, "GET", "/ui/login", &[("host", b"evil.example"), ("host", host(&gw).as_bytes())], b"");
    assert!(r.status == 421 || r.status == 400, "two Hosts, evil first: {}", r.status);
    // The allowed ones, in any case.
    for h in [format!("LOCALHOST:{port}"), format!("[::1]:{port}"), format!("127.0.0.1:{port}")] {
        let r = raw(&gw, "GET", "/ui/login", &[("host", h.as_bytes())], b"");
        assert_eq!(r.status, 200, "Host {h}");
    }
}

/// HOLE: the allowlist strips whatever follows the last `:` as if it were a
/// port, so a Host that is no host name at all is served.
#[test]
fn a_host_with_junk_where_the_port_goes_is_misdirected() {
    let gw = Gateway::start();
    for h in ["127.0.0.1:1@evil.example", "localhost:evil.example", "[::1]evil.example", "127.0.0.1:80:80"] {
        let r = raw(&gw, "GET", "/ui/login", &[("host", h.as_bytes())], b"");
        assert_eq!(r.status, 421, "Host {h}: {}", r.status);
    }
}

// ---------------------------------------------------------------- sign-in

fn sign_in_to(gw: &Gateway, credential: &str, next: &str) -> (u16, Option<String>) {
    let r = client()
        .post(gw.url("/ui/login"))
        .header("origin", origin(gw))
        .form(&[("credential", credential), ("next", next)])
        .send()
        .unwrap();
    (
        r.status().as_u16(),
        r.headers().get("location").map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned()),
    )
}

/// Where a browser at the sign-in page goes for `location`.
fn resolved(gw: &Gateway, location: &str) -> url::Url {
    url::Url::parse(&format!("{}/ui/login", origin(gw))).unwrap().join(location).unwrap()
}

#[test]
fn next_never_leaves_the_dashboards_origin() {
    let gw = Gateway::start();
    for next in [
        "%2F%2Fevil.example",
        "/%2F/evil.example",
        "/ui/%2F%2Fevil.example",
        "/ui/%5C%5Cevil.example",
        "/ui/\\evil.example",
        "/ui/\t/evil.example",
        "\t//evil.example",
        " /ui/",
        "/ui/\u{3000}//evil.example",
        "/ui/\u{202e}",
        "/ui/é",
        "//evil.example/ui/",
        "///evil.example/ui/",
        "/ui/@evil.example",
        "https:/ui/",
        "http:evil.example/ui/",
        "/UI/",
        "/ui/\r\nset-cookie: x=y",
        "javascript:alert(1)//ui/",
    ] {
        let (status, location) = sign_in_to(&gw, ADMIN_KEY, next);
        assert_eq!(status, 303, "{next:?}");
        let location = location.unwrap();
        let to = resolved(&gw, &location);
        assert_eq!(to.origin().ascii_serialization(), origin(&gw), "{next:?} -> {location}");
        assert!(to.path().starts_with("/ui/"), "{next:?} -> {location}");
    }
    // What the form carries back is escaped.
    let page =
        client().get(gw.url("/ui/login?next=/ui/%22%3E%3Cscript%3Ealert(1)%3C/script%3E")).send().unwrap();
    let text = page.text().unwrap();
    assert!(!text.contains("\"><script>"), "the next field is escaped");
}

/// HOLE: `next` may hold dot segments (`..`, or `%2e%2e`, which browsers
/// read as `..`), so the redirect after sign-in leaves `/ui/` (to `/v1/…`,
/// or to `//evil.example` as a path of the gateway).
#[test]
fn next_with_dot_segments_stays_under_ui() {
    let gw = Gateway::start();
    for next in ["/ui/../v1/tenants", "/ui/%2e%2e/v1/tenants", "/ui/.%2E/healthz", "/ui/..//evil.example"] {
        let (status, location) = sign_in_to(&gw, ADMIN_KEY, next);
        assert_eq!(status, 303, "{next:?}");
        let location = location.unwrap();
        let to = resolved(&gw, &location);
        assert!(to.path().starts_with("/ui/"), "{next:?} -> Location {location} -> {to}");
    }
}

/// HOLE: the throttle is checked before the credential and counted after
/// it, with an await between: a burst of concurrent wrong sign-ins all pass
/// the check, so far more than 10 a minute are tried.
#[test]
fn a_burst_of_concurrent_wrong_sign_ins_is_throttled_like_a_sequence() {
    let gw = Gateway::start();
    let n = 100;
    let body = "credential=wca_ffffffffffffffffffffffffffffffff";
    let request = format!(
        "POST /ui/login HTTP/1.1\r\nhost: {}\r\norigin: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        host(&gw),
        origin(&gw),
        body.len()
    );
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, request, addr) = (barrier.clone(), request.clone(), gw.addr);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                barrier.wait();
                s.write_all(request.as_bytes()).unwrap();
                read_answer(&mut s).status
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let tried = statuses.iter().filter(|&&s| s == 401).count();
    assert!(statuses.iter().all(|&s| s == 401 || s == 429), "{statuses:?}");
    assert!(tried <= 10, "{tried} of {n} concurrent wrong sign-ins were checked, not at most 10");
}

#[test]
fn forwarded_headers_do_not_reset_the_throttle() {
    let gw = Gateway::start();
    for i in 0..10 {
        let ip = format!("203.0.113.{i}");
        let r = client()
            .post(gw.url("/ui/login"))
            .header("origin", origin(&gw))
            .header("x-forwarded-for", &ip)
            .header("x-real-ip", &ip)
            .header("forwarded", format!("for={ip}"))
            .header("true-client-ip", &ip)
            .form(&[("credential", "wca_ffffffffffffffffffffffffffffffff")])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = client()
        .post(gw.url("/ui/login"))
        .header("origin", origin(&gw))
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[("credential", ADMIN_KEY)])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("set-cookie").is_none());
}

#[test]
fn only_the_exact_credential_of_an_admin_or_member_signs_in() {
    let (gw, admin, member) = gateway_with_tenant();
    let (guest, _) = mint(&gw, "acme", ADMIN_KEY, "guest");
    let bad = [
        format!("Bearer {ADMIN_KEY}"),
        format!("{ADMIN_KEY}\u{0}"),
        format!("{ADMIN_KEY}x"),
        ADMIN_KEY.to_uppercase(),
        ADMIN_KEY[..ADMIN_KEY.len() - 1].to_string(),
        format!("{admin}\u{200b}"),
        guest.clone(),
        "0".repeat(64),
        "a".repeat(257),
    ];
    for c in &bad {
        let r = client()
            .post(gw.url("/ui/login"))
            .header("origin", origin(&gw))
            .form(&[("credential", c.as_str())])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{c:?}");
        assert!(r.headers().get("set-cookie").is_none(), "{c:?}");
        // Not to trip the throttle.
        if c == &bad[7] {
            break;
        }
    }
    // Two credential fields: the first is the one checked.
    let gw2 = Gateway::start();
    let r = client()
        .post(gw2.url("/ui/login"))
        .header("origin", origin(&gw2))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("credential=wca_ffffffffffffffffffffffffffffffff&credential={ADMIN_KEY}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "the first credential field is the one checked");
    // A token of another gateway does not sign in; nor a suspended
    // tenant's token; a member does.
    let (status, _) = sign_in_to(&gw2, &admin, "/ui/");
    assert_eq!(status, 401, "a token of another gateway");
    assert_eq!(login(&gw, &member).len(), 64);
    assert_eq!(gw.post("/v1/tenants/acme/suspend", Some(ADMIN_KEY), json!({})).status, 200);
    let (status, _) = sign_in_to(&gw, &member, "/ui/");
    assert_eq!(status, 401, "a suspended tenant's member");
}

#[test]
fn revoking_suspending_or_rotating_the_credential_ends_its_sessions() {
    let (gw, admin, member) = gateway_with_tenant();
    let a = login(&gw, &admin);
    let m = login(&gw, &member);
    assert!(signed_in(&gw, &a) && signed_in(&gw, &m));
    // Suspended: both end, and neither comes back on resume.
    assert_eq!(gw.post("/v1/tenants/acme/suspend", Some(ADMIN_KEY), json!({})).status, 200);
    assert!(!signed_in(&gw, &a) && !signed_in(&gw, &m));
    let (status, location) = sign_in_to(&gw, &admin, "/ui/");
    assert_eq!(status, 401, "{location:?}");
    assert_eq!(gw.post("/v1/tenants/acme/resume", Some(ADMIN_KEY), json!({})).status, 200);
    assert!(!signed_in(&gw, &a), "a session ended stays ended");
    // Revoked.
    let m = login(&gw, &member);
    let member_id = member.split('_').nth(2).unwrap();
    assert_eq!(gw.delete(&format!("/v1/tenants/acme/tokens/{member_id}"), Some(ADMIN_KEY)).status, 200);
    assert!(!signed_in(&gw, &m));
    // Rotated with no grace.
    let a = login(&gw, &admin);
    let admin_id = admin.split('_').nth(2).unwrap();
    let r = gw.post(
        &format!("/v1/tenants/acme/tokens/{admin_id}/rotate"),
        Some(ADMIN_KEY),
        json!({ "grace_secs": 0 }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!signed_in(&gw, &a));
    // A restart ends the operator's.
    let mut gw = gw;
    let o = login(&gw, ADMIN_KEY);
    gw.restart();
    assert!(!signed_in(&gw, &o));
}

/// HOLE: the session table is shared by every tenant and bounded by
/// evicting the least recently used, and signing in is throttled only on
/// failure: one tenant's member signing in 10,000 times ends every other
/// tenant's sessions and the operator's.
#[test]
fn one_tenant_signing_in_over_and_over_cannot_end_other_tenants_sessions() {
    let (gw, _, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (beta_admin, _) = mint(&gw, "beta", ADMIN_KEY, "admin");
    let operator = login(&gw, ADMIN_KEY);
    let beta = login(&gw, &beta_admin);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (member, url, origin) = (member.clone(), gw.url("/ui/login"), origin(&gw));
            std::thread::spawn(move || {
                let c =
                    Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
                for _ in 0..(10_000 / 8 + 1) {
                    let r = c
                        .post(&url)
                        .header("origin", &origin)
                        .form(&[("credential", member.as_str())])
                        .send()
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 303);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(signed_in(&gw, &beta), "another tenant's admin was signed out by acme's member");
    assert!(signed_in(&gw, &operator), "the operator was signed out by acme's member");
}

#[test]
fn sessions_end_when_idle_and_at_their_lifetime() {
    let gw = Gateway::start_with_config("[dashboard]\nsession_idle_secs = 1\nsession_max_secs = 2\n");
    let c = login(&gw, ADMIN_KEY);
    assert!(signed_in(&gw, &c));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!signed_in(&gw, &c), "idle");
    let c = login(&gw, ADMIN_KEY);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(500));
        let _ = signed_in(&gw, &c);
    }
    assert!(!signed_in(&gw, &c), "past its absolute lifetime");
}

// ---------------------------------------------------------------- cookies

#[test]
fn the_api_never_takes_the_session_in_any_form() {
    let (gw, admin, _) = gateway_with_tenant();
    let operator = login(&gw, ADMIN_KEY);
    let a = login(&gw, &admin);
    for (cookie, path) in [(&operator, "/v1/tenants"), (&a, "/v1/skills"), (&a, "/v1/tenants/acme/tokens")] {
        let r = client()
            .get(gw.url(path))
            .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} with the cookie");
        let r = client().get(gw.url(path)).bearer_auth(cookie).send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path} with the session id as a bearer");
    }
}

#[test]
fn a_session_of_one_gateway_is_nothing_on_another() {
    let gw1 = Gateway::start();
    let gw2 = Gateway::start();
    let c = login(&gw1, ADMIN_KEY);
    assert!(signed_in(&gw1, &c));
    assert!(!signed_in(&gw2, &c));
}

#[test]
fn odd_and_duplicate_cookies_find_no_session_and_never_a_5xx() {
    let gw = Gateway::start();
    let good = login(&gw, ADMIN_KEY);
    let name = "__Host-wasmclaw-session";
    let odd: Vec<Vec<u8>> = vec![
        format!("{name}=").into_bytes(),
        format!("{name}={}", &good[..63]).into_bytes(),
        format!("{name}={good}0").into_bytes(),
        format!("{name}=\"{good}\"").into_bytes(),
        format!("{name}={}", good.to_uppercase()).into_bytes(),
        format!("{name}={}", "z".repeat(64)).into_bytes(),
        format!("__host-wasmclaw-session={good}").into_bytes(),
        format!("wasmclaw-session={good}").into_bytes(),
        format!("{name}-x={good}").into_bytes(),
        format!("x{name}={good}").into_bytes(),
        [format!("{name}=").as_bytes(), &[0xc3u8; 64][..]].concat(),
        [format!("{name}=").as_bytes(), &[0xffu8; 64][..]].concat(),
        format!("{name}={}", "é".repeat(32)).into_bytes(),
        format!("{name}={}", "a".repeat(60_000)).into_bytes(),
        format!("{name}=%{}", &good[1..]).into_bytes(),
        // The first of two is the one looked up.
        format!("{name}={}; {name}={good}", "0".repeat(64)).into_bytes(),
    ];
    let h = host(&gw);
    for c in &odd {
        let r = raw(&gw, "GET", "/ui/tenants", &[("host", h.as_bytes()), ("cookie", c)], b"");
        let shown = String::from_utf8_lossy(&c[..c.len().min(120)]).into_owned();
        assert_eq!(r.status, 303, "{shown}");
        assert!(r.header("location").unwrap().starts_with("/ui/login"), "{shown}");
    }
    // The good one still works, and two Cookie headers are read in order.
    let r = raw(
        &gw,
        "GET",
        "/ui/tenants",
        &[("host", h.as_bytes()), ("cookie", b"a=1"), ("cookie", format!("{name}={good}").as_bytes())],
        b"",
    );
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------- CSRF and Origin

#[test]
fn csrf_and_origin_tricks_change_nothing() {
    let gw = Gateway::start();
    let cookie = login(&gw, ADMIN_KEY);
    let (csrf, _) = form_secrets(&gw, "/ui/tenants", &cookie);
    let own = origin(&gw);
    let port = gw.addr.port();
    let bad_origins = [
        format!("{own}/"),
        format!("{own}/ui/"),
        format!("http://user@127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}@evil.example"),
        format!("HTTP://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{port}.evil.example"),
        format!("http://127.0.0.1:{port}#"),
        format!("http://127.0.0.1:{port}?"),
        format!("http://localhost:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://127.0.0.1:0{port}"),
        format!("{own}, http://evil.example"),
        "null".into(),
        "".into(),
        "http://evil.example".into(),
        format!("ws://127.0.0.1:{port}"),
        format!("file://127.0.0.1:{port}"),
    ];
    let mut n = 0;
    let mut id = || {
        n += 1;
        format!("t{n}")
    };
    for o in &bad_origins {
        let r = post_form(&gw, "/ui/tenants", &cookie, &format!("id={}&csrf={csrf}", id()), &[("origin", o)]);
        assert_eq!(r.status().as_u16(), 403, "Origin {o:?}");
    }
    for site in ["same-site", "cross-site", "none", "SAME-ORIGIN", "same-origin, cross-site"] {
        let r = post_form(
            &gw,
            "/ui/tenants",
            &cookie,
            &format!("id={}&csrf={csrf}", id()),
            &[("sec-fetch-site", site)],
        );
        assert_eq!(r.status().as_u16(), 403, "Sec-Fetch-Site {site:?}");
    }
    // Origin wins over Sec-Fetch-Site; the first Origin is the one read.
    let r = post_form(
        &gw,
        "/ui/tenants",
        &cookie,
        &format!("id={}&csrf={csrf}", id()),
        &[("origin", "http://evil.example"), ("sec-fetch-site", "same-origin")],
    );
    assert_eq!(r.status().as_u16(), 403);
    let h = host(&gw);
    let c = format!("__Host-wasmclaw-session={cookie}");
    let body = format!("id={}&csrf={csrf}", id());
    let r = raw(
        &gw,
        "POST",
        "/ui/tenants",
        &[
            ("host", h.as_bytes()),
            ("origin", b"http://evil.example"),
            ("origin", own.as_bytes()),
            ("cookie", c.as_bytes()),
            ("content-type", b"application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 403, "two Origins, evil first");
    // The token anywhere but the first `csrf` field of the body.
    let upper = csrf.to_uppercase();
    let bodies = [
        format!("id={}", id()),
        format!("id={}&csrf=00&csrf={csrf}", id()),
        format!("id={}&csrf={csrf}%20", id()),
        format!("id={}&csrf=+{csrf}", id()),
        format!("id={}&csrf={upper}", id()),
        format!("id={}&csrf%00={csrf}", id()),
        format!("id={}&CSRF={csrf}", id()),
        format!("id={}&csrf[]={csrf}", id()),
        format!("{{\"id\":\"{}\",\"csrf\":\"{csrf}\"}}", id()),
    ];
    for b in &bodies {
        let r = post_form(&gw, "/ui/tenants", &cookie, b, &[("origin", &own)]);
        assert_eq!(r.status().as_u16(), 403, "{b}");
    }
    let r = post_form(
        &gw,
        &format!("/ui/tenants?csrf={csrf}"),
        &cookie,
        &format!("id={}", id()),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 403, "csrf in the query string");
    let multipart = format!(
        "--XyZ\r\ncontent-disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --XyZ\r\ncontent-disposition: form-data; name=\"id\"\r\n\r\n{}\r\n--XyZ--\r\n",
        id()
    );
    let r = client()
        .post(gw.url("/ui/tenants"))
        .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
        .header("origin", &own)
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(multipart)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "a multipart form");
    // htmx headers do not soften anything.
    let r = post_form(
        &gw,
        "/ui/tenants",
        &cookie,
        &format!("id={}", id()),
        &[("origin", &own), ("hx-request", "true"), ("hx-boosted", "true")],
    );
    assert_eq!(r.status().as_u16(), 403, "htmx without the token");
    let r = client()
        .post(gw.url("/ui/tenants"))
        .header("origin", &own)
        .header("hx-request", "true")
        .form(&[("id", id()), ("csrf", csrf.clone())])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "htmx without a session");
    assert_eq!(tenant_ids(&gw), Vec::<String>::new(), "nothing was created");
    // The token of one session is no other's, even the same operator's.
    let other = login(&gw, ADMIN_KEY);
    let r = post_form(&gw, "/ui/tenants", &other, &format!("id={}&csrf={csrf}", id()), &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 403);
    // Signing out is a state change too.
    let r = post_form(&gw, "/ui/logout", &cookie, "", &[("origin", &own)]);
    assert_eq!(r.status().as_u16(), 403);
    let r =
        post_form(&gw, "/ui/logout", &cookie, &format!("csrf={csrf}"), &[("origin", "http://evil.example")]);
    assert_eq!(r.status().as_u16(), 403);
    assert!(signed_in(&gw, &cookie));
    assert_eq!(tenant_ids(&gw), Vec::<String>::new());
}

#[test]
fn wrong_methods_on_post_routes_change_nothing() {
    let (gw, admin, _) = gateway_with_tenant();
    let operator = login(&gw, ADMIN_KEY);
    let a = login(&gw, &admin);
    let (csrf, _) = form_secrets(&gw, "/ui/tenants", &operator);
    let id = &tenant_tokens(&gw, "acme")[0];
    let before = tenant_tokens(&gw, "acme");
    let h = host(&gw);
    for method in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE"] {
        for (path, cookie) in [
            ("/ui/tenants/acme/suspend".to_string(), &operator),
            ("/ui/tenants/acme/delete".to_string(), &operator),
            (format!("/ui/t/acme/tokens/{id}/revoke"), &a),
            (format!("/ui/t/acme/tokens/{id}/rotate"), &a),
            ("/ui/logout".to_string(), &operator),
        ] {
            let c = format!("__Host-wasmclaw-session={cookie}");
            let body = format!("csrf={csrf}&confirm=acme");
            let r = raw(
                &gw,
                method,
                &path,
                &[
                    ("host", h.as_bytes()),
                    ("origin", origin(&gw).as_bytes()),
                    ("cookie", c.as_bytes()),
                    ("content-type", b"application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
            );
            assert!(r.status == 405 || r.status == 400, "{method} {path}: {}", r.status);
        }
    }
    assert!(!suspended(&gw, "acme"));
    assert_eq!(tenant_tokens(&gw, "acme"), before);
    assert!(signed_in(&gw, &operator) && signed_in(&gw, &a));
}

// ---------------------------------------------------------------- tenants

#[test]
fn cross_tenant_posts_change_nothing() {
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (_, beta_id) = mint(&gw, "beta", ADMIN_KEY, "admin");
    let acme_id = tenant_tokens(&gw, "acme")[0].clone();
    let beta_before = tenant_tokens(&gw, "beta");
    let acme_before = tenant_tokens(&gw, "acme");
    for cred in [&admin, &member] {
        let cookie = login(&gw, cred);
        let (csrf, _) = form_secrets(&gw, "/ui/t/acme/", &cookie);
        let posts = [
            ("/ui/t/beta/tokens".to_string(), "role=admin&name=x".to_string()),
            ("/ui/t/%62eta/tokens".into(), "role=admin".into()),
            ("/ui/t/BETA/tokens".into(), "role=admin".into()),
            ("/ui/t/acme%2F..%2Fbeta/tokens".into(), "role=admin".into()),
            ("/ui/t/beta%00/tokens".into(), "role=admin".into()),
            (format!("/ui/t/beta/tokens/{beta_id}/rotate"), "grace_secs=0".into()),
            (format!("/ui/t/beta/tokens/{beta_id}/revoke"), String::new()),
            (format!("/ui/t/acme/tokens/{beta_id}/rotate"), "grace_secs=0".into()),
            (format!("/ui/t/acme/tokens/{beta_id}/revoke"), String::new()),
            (format!("/ui/t/acme/tokens/{beta_id}%2F..%2F{acme_id}/revoke"), String::new()),
            ("/ui/tenants/beta/suspend".into(), String::new()),
            ("/ui/tenants/beta/resume".into(), String::new()),
            ("/ui/tenants/beta/delete".into(), "confirm=beta".into()),
            ("/ui/tenants/acme/suspend".into(), String::new()),
            ("/ui/tenants/acme/delete".into(), "confirm=acme".into()),
            ("/ui/tenants".into(), "id=gamma".into()),
        ];
        for (path, form) in &posts {
            // Every route with this session's own token and a nonce of its own.
            let nonce = if cred == &admin {
                form_secrets(&gw, "/ui/t/acme/tokens", &cookie).1.unwrap()
            } else {
                String::new()
            };
            let body = format!("csrf={csrf}&nonce={nonce}&{form}");
            let r = raw_post(&gw, path, &cookie, &body);
            assert!(
                matches!(r.status, 400 | 403 | 404 | 409),
                "{} {path}: {} {}",
                if cred == &admin { "admin" } else { "member" },
                r.status,
                r.body
            );
            assert!(!r.body.contains("wct_"), "{path}: no token shown");
        }
        // A member changes nothing of its own tenant either.
        if cred == &member {
            for (path, form) in [
                ("/ui/t/acme/tokens".to_string(), "role=admin&name=m"),
                (format!("/ui/t/acme/tokens/{acme_id}/rotate"), "grace_secs=0"),
                (format!("/ui/t/acme/tokens/{acme_id}/revoke"), ""),
            ] {
                let r = raw_post(&gw, &path, &cookie, &format!("csrf={csrf}&{form}"));
                assert_eq!(r.status, 403, "member {path}: {}", r.status);
            }
        }
    }
    assert_eq!(tenant_tokens(&gw, "beta"), beta_before);
    assert_eq!(tenant_tokens(&gw, "acme"), acme_before);
    assert_eq!(tenant_ids(&gw), vec!["acme".to_string(), "beta".to_string()]);
    assert!(!suspended(&gw, "acme") && !suspended(&gw, "beta"));
}

#[test]
fn path_spellings_never_show_another_tenant() {
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (_, beta_id) = mint(&gw, "beta", ADMIN_KEY, "admin");
    for cred in [&admin, &member] {
        let cookie = login(&gw, cred);
        for path in [
            "/ui/t/beta/",
            "/ui/t/beta",
            "/ui/t/%62eta/",
            "/ui/t/%62%65%74%61/tokens",
            "/ui/t/BETA/",
            "/ui/t/beta%2F/",
            "/ui/t/acme%2F..%2Fbeta/",
            "/ui/t/acme/../beta/",
            "/ui/t/acme/%2e%2e/beta/",
            "/ui/t/./beta/",
            "/ui//t/beta/",
            "/ui/t//beta/",
            "/ui/t/beta/tokens/",
            "/ui/t/beta/tokens?tenant=acme",
            "/ui/t/beta/audit",
            "/ui/t/beta/memory",
            "/ui/t/beta/skills",
            "/ui/t/beta/secrets",
            "/ui/t/beta/channels",
            "/ui/t/beta/cron",
            "/ui/t/beta/agents",
            "/ui/t/beta%00/",
            "/ui/t/beta%20/",
            "/ui/t/%20beta/",
            "/ui/t/be%ffta/",
            "/ui/t/beta;acme/",
            "/ui/t/acme;/../beta/",
            "/UI/t/beta/",
            "/ui/T/beta/",
            "/ui/t/beta/#",
            "/ui/audit",
            "/ui/publishers",
            "/ui/tenants",
            "/ui/",
        ] {
            let r = raw_get(&gw, path, &cookie);
            assert!(r.status < 500, "{path}: {}", r.status);
            assert!(
                !r.body.contains("beta") || r.body.contains("no tenant") || r.status != 200,
                "{path}: {} shows beta: {}",
                r.status,
                r.body
            );
            assert!(!r.body.contains(&beta_id), "{path}: beta's token id");
            if path == "/ui/" {
                assert_eq!(r.status, 303, "a token's home is its tenant");
                assert_eq!(r.header("location").as_deref(), Some("/ui/t/acme/"));
            } else {
                assert!(r.status != 200, "{path}: {}", r.status);
            }
        }
    }
    // Own tenant spelled encoded is own tenant, nothing more.
    let cookie = login(&gw, &admin);
    let r = raw_get(&gw, "/ui/t/%61cme/", &cookie);
    assert!(r.status == 200 || r.status == 404, "{}", r.status);
    assert!(!r.body.contains("beta"));
}

#[test]
fn a_tenant_is_deleted_only_when_its_id_is_typed_exactly() {
    let gw = Gateway::start();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "acme" })).status, 201);
    let cookie = login(&gw, ADMIN_KEY);
    let (csrf, _) = form_secrets(&gw, "/ui/tenants", &cookie);
    for confirm in [
        "",
        "ACME",
        "Acme",
        "acm",
        "acmee",
        "acme%E2%80%8B", // zero-width space
        "%D0%B0cme",     // Cyrillic a
        "ac%C2%ADme",    // soft hyphen
        "acme%00",
        "acme+acme",
        "%EF%BD%81cme", // fullwidth a
        "a%CC%8Acme",
        "*",
        "acme&confirm=acme",
    ] {
        let r = raw_post(&gw, "/ui/tenants/acme/delete", &cookie, &format!("csrf={csrf}&confirm={confirm}"));
        assert!(r.status == 400, "confirm={confirm}: {}", r.status);
        assert_eq!(tenant_ids(&gw), vec!["acme".to_string()], "confirm={confirm}");
    }
    // Another tenant's id, or the id on another path.
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let r = raw_post(&gw, "/ui/tenants/acme/delete", &cookie, &format!("csrf={csrf}&confirm=beta"));
    assert_eq!(r.status, 400);
    let r = raw_post(&gw, "/ui/tenants/%61cme/delete", &cookie, &format!("csrf={csrf}&confirm=beta"));
    assert_eq!(r.status, 400);
    assert_eq!(tenant_ids(&gw), vec!["acme".to_string(), "beta".to_string()]);
}

// ---------------------------------------------------------------- nonces

#[test]
fn a_nonce_is_used_once_by_its_own_session_only() {
    let (gw, admin, _) = gateway_with_tenant();
    let a1 = login(&gw, &admin);
    let a2 = login(&gw, &admin);
    let count = || tenant_tokens(&gw, "acme").len();
    let before = count();
    let (csrf1, n1) = form_secrets(&gw, "/ui/t/acme/tokens", &a1);
    let (csrf2, _) = form_secrets(&gw, "/ui/t/acme/tokens", &a2);
    let n1 = n1.unwrap();
    // Session 2 with session 1's nonce.
    let r = raw_post(&gw, "/ui/t/acme/tokens", &a2, &format!("csrf={csrf2}&nonce={n1}&role=member"));
    assert_eq!(r.status, 409);
    // An empty, a changed, a duplicated nonce.
    for nonce in ["", "00", &n1.to_uppercase(), &format!("{n1}0")] {
        let r = raw_post(&gw, "/ui/t/acme/tokens", &a1, &format!("csrf={csrf1}&nonce={nonce}&role=member"));
        assert_eq!(r.status, 409, "nonce {nonce:?}");
    }
    let r =
        raw_post(&gw, "/ui/t/acme/tokens", &a1, &format!("csrf={csrf1}&nonce={n1}&nonce={n1}&role=member"));
    assert!(r.status == 400 || r.status == 409, "two nonce fields: {}", r.status);
    assert_eq!(count(), before);
    // Used by a rotate, it mints nothing after.
    let id = tenant_tokens(&gw, "acme").into_iter().next().unwrap();
    let r = raw_post(
        &gw,
        &format!("/ui/t/acme/tokens/{id}/rotate"),
        &a1,
        &format!("csrf={csrf1}&nonce={n1}&grace_secs=3600"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after_rotate = count();
    let r = raw_post(&gw, "/ui/t/acme/tokens", &a1, &format!("csrf={csrf1}&nonce={n1}&role=member"));
    assert_eq!(r.status, 409);
    assert_eq!(count(), after_rotate);
    // Past the 32 a session keeps, the oldest is gone.
    let (_, oldest) = form_secrets(&gw, "/ui/t/acme/tokens", &a1);
    for _ in 0..32 {
        form_secrets(&gw, "/ui/t/acme/tokens", &a1);
    }
    let r = raw_post(
        &gw,
        "/ui/t/acme/tokens",
        &a1,
        &format!("csrf={csrf1}&nonce={}&role=member", oldest.unwrap()),
    );
    assert_eq!(r.status, 409);
    assert_eq!(count(), after_rotate);
}

// ---------------------------------------------------------------- stored text

#[test]
fn hostile_stored_text_is_shown_escaped() {
    let (gw, admin, _) = gateway_with_tenant();
    let names = [
        "<script>alert(1)</script>",
        "</textarea><img src=x onerror=alert(1)>",
        "\"><svg onload=alert(1)>",
        "' onmouseover='alert(1)",
        "\u{202e}nimda\u{2066}",
        "{{ chrome.csrf }}",
        "&lt;b&gt;",
    ];
    for name in names {
        let r =
            gw.post("/v1/tenants/acme/tokens", Some(ADMIN_KEY), json!({ "role": "member", "name": name }));
        assert_eq!(r.status, 201, "{name}: {}", r.text);
    }
    let cookie = login(&gw, &admin);
    for path in ["/ui/t/acme/tokens", "/ui/t/acme/audit"] {
        let r = get_with_cookie(&gw, path, &cookie);
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let page = r.text().unwrap();
        for raw_text in
            ["<script>alert", "<img src=x", "<svg onload", "' onmouseover", "\u{202e}", "\u{2066}"]
        {
            assert!(!page.contains(raw_text), "{path}: {raw_text:?} unescaped");
        }
        if path.ends_with("tokens") {
            let esc = |t: &str| t.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;");
            assert!(page.contains(&esc("<script>alert(1)</script>")), "{path}: shown, escaped");
            assert!(page.contains("[U+202E]nimda[U+2066]"), "{path}: bidi controls shown as code points");
            assert!(page.contains(&esc("&lt;b&gt;")), "{path}: entities escaped again");
        }
    }
    // The same names through the dashboard's own mint form.
    for name in ["<script>x</script>", "\u{202e}x"] {
        let (csrf, nonce) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
        let body = format!(
            "csrf={csrf}&nonce={}&role=member&name={}",
            nonce.unwrap(),
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        );
        let r = raw_post(&gw, "/ui/t/acme/tokens", &cookie, &body);
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(!r.body.contains("<script>x") && !r.body.contains('\u{202e}'), "{name:?}");
    }
}

#[test]
fn hostile_paths_planted_in_the_audit_log_are_shown_escaped() {
    let gw = Gateway::start();
    let h = host(&gw);
    // Refused for their Origin: the path is the audit record's target.
    let mut planted = 0;
    for path in [
        "/ui/tenants/<script>alert(1)<%2Fscript>/suspend",
        "/ui/tenants/\"><img%20src=x%20onerror=alert(1)>/delete",
        "/ui/tenants/\u{202e}evil/resume",
    ] {
        let r =
            raw(&gw, "POST", path, &[("host", h.as_bytes()), ("origin", b"http://evil.example")], b"csrf=x");
        assert!(r.status == 403 || r.status == 400, "{path}: {}", r.status);
        planted += usize::from(r.status == 403);
    }
    let audit = gw.get("/v1/audit", Some(ADMIN_KEY)).text;
    // The server refuses `<` and `"` in a path; the raw bidi control gets through.
    assert!(planted >= 1 && audit.contains('\u{202e}'), "{audit}");
    let cookie = login(&gw, ADMIN_KEY);
    let r = get_with_cookie(&gw, "/ui/audit", &cookie);
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().unwrap();
    assert!(!page.contains("<script>alert") && !page.contains("<img"), "escaped");
    assert!(!page.contains('\u{202e}'), "no live bidi control");
    if audit.contains("<script>alert") {
        assert!(page.contains("&#60;script&#62;alert"), "the planted path is shown, escaped");
    }
}

// ---------------------------------------------------------------- bytes

#[test]
fn hostile_bytes_get_a_4xx_never_a_5xx() {
    let (gw, admin, _) = gateway_with_tenant();
    let cookie = login(&gw, &admin);
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/tokens", &cookie);
    let h = host(&gw);
    let o = origin(&gw);
    let c = format!("__Host-wasmclaw-session={cookie}");
    let long = "a".repeat(8000);
    type Case<'a> = (&'a str, String, Vec<(&'a str, Vec<u8>)>, Vec<u8>);
    let cases: Vec<Case> = vec![
        ("GET", "/ui/t/%ff/".into(), vec![], vec![]),
        ("GET", "/ui/t/%/".into(), vec![], vec![]),
        ("GET", format!("/ui/t/{long}/"), vec![], vec![]),
        ("GET", format!("/ui/t/acme/tokens/{long}/rotate"), vec![], vec![]),
        ("GET", "/ui/assets/..%2F..%2FCargo.toml".into(), vec![], vec![]),
        ("GET", "/ui/assets/%00".into(), vec![], vec![]),
        ("GET", "/ui/login?next=%ff%fe".into(), vec![], vec![]),
        ("GET", "/ui/login?next=a&next=b".into(), vec![], vec![]),
        ("GET", "/ui/login?next[]=x".into(), vec![], vec![]),
        ("GET", "/ui/login?%".into(), vec![], vec![]),
        ("POST", "/ui/t/acme/tokens/%ff/revoke".into(), vec![], format!("csrf={csrf}").into_bytes()),
        ("POST", format!("/ui/t/acme/tokens/{long}/revoke"), vec![], format!("csrf={csrf}").into_bytes()),
        ("POST", "/ui/t/acme/tokens".into(), vec![], [b"csrf=".as_slice(), &[0xff, 0xfe]].concat()),
        ("POST", "/ui/t/acme/tokens".into(), vec![], format!("csrf={csrf}&role=%").into_bytes()),
        ("POST", "/ui/t/acme/tokens".into(), vec![], format!("csrf={csrf}&role=a&role=b").into_bytes()),
        (
            "POST",
            "/ui/t/acme/tokens".into(),
            vec![],
            format!("csrf={csrf}&{}", "&".repeat(500_000)).into_bytes(),
        ),
        (
            "POST",
            "/ui/t/acme/tokens".into(),
            vec![],
            format!("csrf={csrf}&{}", "a=b&".repeat(200_000)).into_bytes(),
        ),
        (
            "POST",
            "/ui/t/acme/tokens".into(),
            vec![],
            format!("csrf={csrf}&name={}", "%e2%80%ae".repeat(70)).into_bytes(),
        ),
        (
            "POST",
            "/ui/t/acme/tokens".into(),
            vec![],
            format!("csrf={csrf}&name={}", "é".repeat(64)).into_bytes(),
        ),
        ("POST", "/ui/login".into(), vec![], b"credential=%ff".to_vec()),
        ("POST", "/ui/login".into(), vec![], vec![b'a'; 17 * 1024]),
        ("POST", "/ui/login".into(), vec![], b"credential=%00%00&next=%ff".to_vec()),
        ("POST", "/ui/tenants".into(), vec![], format!("csrf={csrf}&id={long}").into_bytes()),
        ("POST", "/ui/tenants".into(), vec![], format!("csrf={csrf}&id=%ff").into_bytes()),
        ("GET", "/ui/".into(), vec![("cookie", vec![b'x'; 60_000])], vec![]),
        ("GET", "/ui/".into(), vec![("origin", vec![0xff; 10]), ("hx-request", vec![0xff])], vec![]),
        ("POST", "/ui/logout".into(), vec![("origin", vec![0xff; 10])], vec![]),
        ("GET", "/ui/".into(), vec![("content-type", b"multipart/form-data; boundary=".to_vec())], vec![]),
    ];
    for (method, path, extra, body) in cases {
        let mut headers: Vec<(&str, Vec<u8>)> = vec![
            ("host", h.clone().into_bytes()),
            ("origin", o.clone().into_bytes()),
            ("cookie", c.clone().into_bytes()),
            ("content-type", b"application/x-www-form-urlencoded".to_vec()),
        ];
        for (k, v) in extra {
            headers.retain(|(hk, _)| *hk != k);
            headers.push((k, v));
        }
        let refs: Vec<(&str, &[u8])> = headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        let r = raw(&gw, method, &path, &refs, &body);
        let shown: String = path.chars().take(80).collect();
        assert!(
            (300..500).contains(&r.status) || r.status == 200 || r.status == 201,
            "{method} {shown}: {}",
            r.status
        );
        if r.status >= 400 && r.status != 431 {
            assert_browser_headers(&format!("{method} {shown}"), &|n| r.header(n));
        }
    }
    // A giant header is refused by the server, and the gateway still serves.
    let r = raw(&gw, "GET", "/ui/", &[("host", h.as_bytes()), ("x-big", &vec![b'x'; 2 * 1024 * 1024])], b"");
    assert!(r.status == 0 || (400..500).contains(&r.status), "{}", r.status);
    assert!(signed_in(&gw, &cookie));
}

#[test]
fn every_refusal_carries_the_browser_headers() {
    let (gw, _, member) = gateway_with_tenant();
    let m = login(&gw, &member);
    let own = origin(&gw);
    let checks: Vec<(&str, Response)> = vec![
        ("421", client().get(gw.url("/ui/")).header("host", "evil.example").send().unwrap()),
        ("405", client().put(gw.url("/ui/tenants")).send().unwrap()),
        ("404", client().get(gw.url("/ui/nosuch")).send().unwrap()),
        ("303", client().get(gw.url("/ui/tenants")).send().unwrap()),
        ("401 htmx", client().get(gw.url("/ui/tenants")).header("hx-request", "true").send().unwrap()),
        ("403 member", get_with_cookie(&gw, "/ui/t/acme/tokens", &m)),
        ("403 origin", post_form(&gw, "/ui/logout", &m, "", &[("origin", "http://evil.example")])),
        ("413", post_form(&gw, "/ui/logout", &m, &"a".repeat(1024 * 1024 + 1), &[("origin", &own)])),
        ("400 query", client().get(gw.url("/ui/login?next=a&next=b")).send().unwrap()),
        ("head", client().head(gw.url("/ui/login")).send().unwrap()),
        ("options", client().request(reqwest::Method::OPTIONS, gw.url("/ui/login")).send().unwrap()),
    ];
    for (what, r) in &checks {
        assert!(r.status().as_u16() < 500, "{what}: {}", r.status());
        assert_browser_headers(what, &|n| r.headers().get(n).map(|v| v.to_str().unwrap().to_string()));
    }
}

/// HOLE: the request timeout is answered outside the dashboard's layer, so
/// a `/ui` answer of 408 is the API's JSON without CSP, `nosniff` and
/// `no-store`.
#[test]
fn a_ui_request_that_times_out_still_gets_the_browser_headers() {
    let gw = Gateway::start_with_config("request_timeout_secs = 1\n");
    let head = format!(
        "POST /ui/login HTTP/1.1\r\nhost: {}\r\norigin: {}\r\ncontent-type: application/x-www-form-urlencoded\r\n\
         content-length: 100\r\n\r\ncredential=",
        host(&gw),
        origin(&gw)
    );
    let r = raw_bytes(&gw, head.as_bytes(), Duration::from_secs(5));
    assert_eq!(r.status, 408, "{}", r.head);
    assert_browser_headers("408 of /ui/login", &|n| r.header(n));
}

#[test]
fn a_disabled_dashboard_serves_nothing_and_signs_no_one_in() {
    let gw = Gateway::start_with_config("[dashboard]\nenabled = false\n");
    let r = client().get(gw.url("/ui/login")).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = client()
        .post(gw.url("/ui/login"))
        .header("origin", origin(&gw))
        .form(&[("credential", ADMIN_KEY)])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.headers().get("set-cookie").is_none());
}

#[test]
fn tokens_reach_no_operator_page() {
    let (gw, admin, member) = gateway_with_tenant();
    for cred in [&admin, &member] {
        let cookie = login(&gw, cred);
        for path in ["/ui/tenants", "/ui/audit", "/ui/publishers"] {
            let r = get_with_cookie(&gw, path, &cookie);
            assert_eq!(r.status().as_u16(), 403, "{path}");
        }
        let r = get_with_cookie(&gw, "/ui/", &cookie);
        assert_eq!(r.status().as_u16(), 303);
        assert_eq!(r.headers()["location"], "/ui/t/acme/");
    }
    // A member sees no manager's list.
    let m = login(&gw, &member);
    for path in ["/ui/t/acme/tokens", "/ui/t/acme/secrets", "/ui/t/acme/channels", "/ui/t/acme/audit"] {
        assert_eq!(get_with_cookie(&gw, path, &m).status().as_u16(), 403, "{path}");
    }
}
