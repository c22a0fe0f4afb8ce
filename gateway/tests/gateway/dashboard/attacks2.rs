//! Attacks on the audit log's filters, the dashboard's row actions and
//! secret form, and the security findings' tenant (over plain HTTP).

use super::boundary::{get_with_cookie, login};
use super::gateway_with_tenant;
use crate::harness::{ADMIN_KEY, Body, Gateway, install, mint, output};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::OnceLock;

/// A client that follows no redirect and keeps no cookie.
fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
    })
}

fn origin(gw: &Gateway) -> String {
    format!("http://127.0.0.1:{}", gw.addr.port())
}

/// `POST path` with a form, the cookie and these headers.
fn post_form(gw: &Gateway, path: &str, cookie: &str, body: &str, headers: &[(&str, &str)]) -> Response {
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

/// The CSRF token of the page at `path`.
fn csrf_of(gw: &Gateway, path: &str, cookie: &str) -> String {
    let r = get_with_cookie(gw, path, cookie);
    assert_eq!(r.status().as_u16(), 200, "{path}");
    let html = r.text().unwrap();
    let marker = "name=\"csrf\" value=\"";
    html.split(marker).nth(1).expect("a csrf field").split('"').next().unwrap().to_string()
}

fn events(gw: &Gateway, path: &str, cred: &str) -> Vec<Value> {
    let r = gw.get(path, Some(cred));
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    r.json()["events"].as_array().unwrap().clone()
}

/// Memory entries of tenant `t` (of `user`, if any) as the operator sees them.
fn memory(gw: &Gateway, t: &str, user: Option<&str>) -> String {
    let q = user.map(|u| format!("?user={u}")).unwrap_or_default();
    let r = gw.get(&format!("/v1/tenants/{t}/memory{q}"), Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

#[test]
fn bad_audit_filters_are_invalid_input_and_never_a_server_error() {
    let (gw, admin, _member) = gateway_with_tenant();
    let bad = [
        "action=",
        "action=**",
        "action=TOKEN.MINT",
        "action=token.mint%00",
        "action=token%2Fmint",
        "action=%FF",
        "action=token.*.x*",
        "action=*token",
        &format!("action={}", "a".repeat(65)),
        "outcome=",
        "outcome=ok*",
        "outcome=Denied",
        "outcome=ok%20",
        "outcome=%E2%80%A6",
        &format!("outcome={}", "o".repeat(33)),
        "skip=10000001",
        "skip=-1",
        "skip=1e3",
        "skip=99999999999999999999999",
        "limit=-1",
        "limit=99999999999999999999999",
        "since=-5",
        "action=ok&action=token.mint",
        "tenant=..%2Facme",
        "nope=1",
    ];
    for q in bad {
        for (path, cred) in [
            (format!("/v1/audit?{q}"), ADMIN_KEY),
            (format!("/v1/audit?{q}"), admin.as_str()),
            (format!("/v1/tenants/acme/audit?{q}"), admin.as_str()),
        ] {
            let r = gw.get(&path, Some(cred));
            assert!(r.status < 500, "{path}: {} {}", r.status, r.text);
            assert_eq!(r.status, 400, "{path}: {}", r.text);
            assert!(r.text.contains("invalid-input"), "{path}: {}", r.text);
        }
    }
    // Extremes that are allowed are answered, not failed.
    for q in ["skip=10000000", "limit=18446744073709551615&skip=10000000", "action=*", "limit=0&skip=5"] {
        let r = gw.get(&format!("/v1/audit?{q}"), Some(&admin));
        assert_eq!(r.status, 200, "{q}: {}", r.text);
    }
}

#[test]
fn a_tenant_admin_sees_only_its_tenants_events_whatever_the_filters() {
    let (gw, admin, _member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    mint(&gw, "beta", ADMIN_KEY, "admin");
    mint(&gw, "beta", ADMIN_KEY, "member");
    let queries = [
        "",
        "action=*",
        "action=tenant.*",
        "action=token.*&outcome=ok",
        "outcome=ok&skip=0&limit=10000",
        "since=0&limit=10000&skip=1",
        "tenant=acme&action=*",
    ];
    for q in queries {
        for path in [format!("/v1/audit?{q}"), format!("/v1/tenants/acme/audit?{q}")] {
            let got = events(&gw, &path, &admin);
            assert!(got.iter().all(|e| e["tenant"] == "acme"), "{path}: {got:?}");
        }
    }
    // Another tenant by any spelling: refused, never its events.
    for path in [
        "/v1/audit?tenant=beta",
        "/v1/audit?tenant=BETA",
        "/v1/audit?tenant=beta&action=*",
        "/v1/tenants/beta/audit?action=*",
        "/v1/tenants/acme/audit?tenant=beta",
        "/v1/tenants/%62eta/audit",
    ] {
        let r = gw.get(path, Some(&admin));
        assert!(matches!(r.status, 400 | 403 | 404), "{path}: {} {}", r.status, r.text);
        assert!(!r.text.contains("\"beta\""), "{path}: {}", r.text);
    }
    // The CLI passes the filters and stays in the token's tenant.
    let out = gw.cli(
        &["audit", "--action", "token.*", "--outcome", "ok", "--skip", "0", "--json"],
        &[("WASMCLAW_TOKEN", admin.as_str())],
        None,
    );
    let v = out.json();
    let got = v["events"].as_array().unwrap();
    assert!(!got.is_empty() && got.iter().all(|e| e["tenant"] == "acme"), "{v}");
    let out = gw.cli(&["audit", "--action", "BAD"], &[("WASMCLAW_TOKEN", admin.as_str())], None);
    assert_ne!(out.code, Some(0), "{}", out.stdout);
    assert!(!out.stderr.contains("500") && !out.stderr.to_lowercase().contains("internal"), "{}", out.stderr);
}

/// The `serve` process of `gw` (its pid), found by its data directory.
fn gateway_pid(gw: &Gateway) -> Option<u32> {
    let dir = gw.data_dir().to_string_lossy().to_string();
    for entry in std::fs::read_dir("/proc").ok()? {
        let entry = entry.ok()?;
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> =
            cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "serve") && args.iter().any(|a| a == &dir) {
            return Some(pid);
        }
    }
    None
}

/// The peak resident memory of `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_large_skip_does_not_hold_the_whole_log_in_memory() {
    let (gw, admin, _member) = gateway_with_tenant();
    let Some(pid) = gateway_pid(&gw) else {
        eprintln!("no /proc: skipped");
        return;
    };
    // 400,000 of the tenant's own events (what a busy tenant makes in
    // time), appended to the log as the gateway writes them.
    let n = 400_000;
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(gw.data_dir().join("audit.log")).unwrap();
        let mut buf = Vec::with_capacity(64 * 1024 * 1024);
        for i in 0..n {
            writeln!(
                buf,
                "{{\"time\":{},\"actor\":\"tok_0123456789abcdef\",\"tenant\":\"acme\",\"action\":\"memory.delete\",\"target\":\"note:{i:08}\",\"outcome\":\"ok\"}}",
                1_700_000_000 + i
            )
            .unwrap();
        }
        f.write_all(&buf).unwrap();
    }
    // A page at the start: bounded by the limit.
    let got = events(&gw, "/v1/audit?action=memory.delete&limit=1", &admin);
    assert_eq!(got.len(), 1);
    let before = peak_kib(pid);
    // The last page of a listing: the gateway may hold at most a page.
    let started = std::time::Instant::now();
    let got = events(&gw, "/v1/audit?action=memory.delete&limit=1&skip=10000000", &admin);
    let took = started.elapsed();
    assert!(got.is_empty());
    let after = peak_kib(pid);
    let grew_mib = after.saturating_sub(before) / 1024;
    eprintln!(
        "skip=10000000 over {n} events: peak RSS {before} KiB -> {after} KiB (+{grew_mib} MiB) in {took:?}"
    );
    assert!(
        grew_mib < 32,
        "a query for one event (skip=10000000) over {n} events grew the gateway's peak memory by {grew_mib} MiB: \
         the skipped events are all held at once (a VecDeque of limit + skip events)"
    );
}

#[test]
fn a_recreated_tenant_does_not_read_its_predecessors_audit_events() {
    let gw = Gateway::start();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "reuse" })).status, 201);
    let (_old_admin, old_id) = mint(&gw, "reuse", ADMIN_KEY, "admin");
    let r = gw.delete("/v1/tenants/reuse", Some(ADMIN_KEY));
    assert!(matches!(r.status, 200 | 204), "{}", r.text);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "reuse" }));
    assert_eq!(r.status, 201, "{}", r.text);
    let (new_admin, _) = mint(&gw, "reuse", ADMIN_KEY, "admin");
    let got = events(&gw, "/v1/audit?action=*&limit=10000", &new_admin);
    assert!(
        !got.iter()
            .any(|e| e["target"].as_str().is_some_and(|t| t.contains(&old_id))
                || e["action"] == "tenant.delete"),
        "the new tenant `reuse` reads the deleted tenant's events (its token ids, its deletion): {got:#?}"
    );
}

/// acme with memory entries (one tenant-wide, one of user alice) and a cron
/// job, and beta with the same; the tokens.
struct Rows {
    gw: Gateway,
    admin: String,
    member: String,
    beta_admin: String,
    beta_job: String,
}

fn rows() -> Rows {
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (beta_admin, _) = mint(&gw, "beta", ADMIN_KEY, "admin");
    let (beta_member, _) = mint(&gw, "beta", ADMIN_KEY, "member");
    let policy = "[cron]\nmax_jobs = 10\nmin_interval_secs = 60\n";
    for t in ["acme", "beta"] {
        install(&gw, t, ADMIN_KEY, "notes", false);
        install(&gw, t, ADMIN_KEY, "reminder", false);
        let r = gw.req(
            "PUT",
            &format!("/v1/tenants/{t}/policy"),
            Some(ADMIN_KEY),
            Body::Raw("application/toml", policy.into()),
        );
        assert!(matches!(r.status, 200 | 204), "{}", r.text);
    }
    output(&gw, &member, "notes", &json!({ "op": "add", "text": "acme note" }));
    output(&gw, &beta_member, "notes", &json!({ "op": "add", "text": "beta note" }));
    output(&gw, &beta_member, "reminder", &json!({ "op": "add", "text": "beta job", "every_seconds": 3600 }));
    // alice's own note, in her scope of acme.
    let r = gw.req_with(
        "POST",
        "/v1/skills/notes/invoke",
        Some(&member),
        &[("x-wasmclaw-user", "alice")],
        Body::Json(json!({ "op": "add", "text": "alice note" })),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        memory(&gw, "acme", Some("alice")).contains("note:00000001"),
        "{}",
        memory(&gw, "acme", Some("alice"))
    );
    let jobs = gw.get("/v1/tenants/beta/cron", Some(ADMIN_KEY)).json();
    let beta_job = jobs["jobs"][0]["id"].as_str().unwrap().to_string();
    Rows { gw, admin, member, beta_admin, beta_job }
}

#[test]
fn no_spelling_of_a_row_key_reaches_another_tenant_or_a_users_scope() {
    let Rows { gw, admin, member, beta_admin, beta_job } = rows();
    let own = origin(&gw);
    let long = "k".repeat(12_000);
    let keys = [
        "..%2Fbeta%2Fnote%3A00000001".to_string(),
        "..%2F..%2Fbeta%2Fmemory%2Fnote%3A00000001".to_string(),
        "beta%00%00note%3A00000001".to_string(),
        "%00beta%00note%3A00000001".to_string(),
        "%00alice%00note%3A00000001".to_string(),
        "alice%00note%3A00000001".to_string(),
        "alice%2Fnote%3A00000001".to_string(),
        "note%3A00000001%00".to_string(),
        "%FF%FE".to_string(),
        "%C0%AE%C0%AE".to_string(),
        beta_job.clone(),
        format!("{beta_job}%00"),
        format!("..%2Fbeta%2F{beta_job}"),
        long,
    ];
    for cookie_of in [&admin, &member] {
        let c = login(&gw, cookie_of);
        let csrf = csrf_of(&gw, "/ui/t/acme/memory", &c);
        for list in ["memory", "cron", "channels"] {
            for key in &keys {
                let path = format!("/ui/t/acme/{list}/{key}/remove");
                let r = post_form(&gw, &path, &c, &format!("csrf={csrf}"), &[("origin", &own)]);
                let status = r.status().as_u16();
                assert!(status < 500, "{path:.120}: {status} {}", r.text().unwrap_or_default());
                assert_ne!(status, 303, "{path:.120}: nothing of acme's tenant scope has that key");
                let body = r.text().unwrap_or_default();
                assert!(!body.contains(&"k".repeat(1000)), "the long key is not echoed in full");
            }
            // beta's rows through beta's path, by acme's users: not found.
            for key in ["note%3A00000001", &beta_job] {
                let path = format!("/ui/t/beta/{list}/{key}/remove");
                let r = post_form(&gw, &path, &c, &format!("csrf={csrf}"), &[("origin", &own)]);
                assert_eq!(r.status().as_u16(), 404, "{path}");
            }
        }
    }
    assert!(memory(&gw, "beta", None).contains("note:00000001"), "beta's note is left");
    assert!(gw.get("/v1/tenants/beta/cron", Some(ADMIN_KEY)).text.contains(&beta_job), "beta's job is left");
    assert!(memory(&gw, "acme", Some("alice")).contains("note:00000001"), "alice's note is left");
    // The tenant-wide page neither shows alice's note nor removes it when
    // acme's tenant-wide note of the same key goes.
    let c = login(&gw, &member);
    let page = get_with_cookie(&gw, "/ui/t/acme/memory", &c).text().unwrap();
    assert!(!page.contains("alice note") && page.contains("acme note"), "{page}");
    let csrf = csrf_of(&gw, "/ui/t/acme/memory", &c);
    let r = post_form(
        &gw,
        "/ui/t/acme/memory/note%3A00000001/remove",
        &c,
        &format!("csrf={csrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert!(!memory(&gw, "acme", None).contains("acme note"));
    assert!(memory(&gw, "acme", Some("alice")).contains("alice note"), "alice's note is hers");
    // beta's admin by its own session cannot either.
    let b = login(&gw, &beta_admin);
    let bcsrf = csrf_of(&gw, "/ui/t/beta/memory", &b);
    let r = post_form(
        &gw,
        "/ui/t/beta/memory/..%2F..%2Facme%2Fmemory%2Fmeta%3Anext-id/remove",
        &b,
        &format!("csrf={bcsrf}"),
        &[("origin", &own)],
    );
    assert_eq!(r.status().as_u16(), 404);
    assert!(memory(&gw, "acme", None).contains("meta:next-id"));
}

#[test]
fn row_removal_and_secrets_need_the_csrf_token_and_the_origin() {
    let Rows { gw, admin, .. } = rows();
    let own = origin(&gw);
    let a = login(&gw, &admin);
    let csrf = csrf_of(&gw, "/ui/t/acme/memory", &a);
    let other = login(&gw, &admin);
    let other_csrf = csrf_of(&gw, "/ui/t/acme/memory", &other);
    let tries: Vec<(String, Vec<(&str, &str)>)> = vec![
        (String::new(), vec![("origin", own.as_str())]),
        ("csrf=".into(), vec![("origin", own.as_str())]),
        ("csrf=x".into(), vec![("origin", own.as_str())]),
        (format!("csrf={other_csrf}"), vec![("origin", own.as_str())]),
        (format!("csrf={csrf}"), vec![]),
        (format!("csrf={csrf}"), vec![("origin", "null")]),
        (format!("csrf={csrf}"), vec![("origin", "http://evil.example")]),
        (format!("csrf={csrf}"), vec![("origin", "http://localhost:1")]),
    ];
    for (body, headers) in &tries {
        let r = post_form(&gw, "/ui/t/acme/memory/note%3A00000001/remove", &a, body, headers);
        assert_eq!(r.status().as_u16(), 403, "remove with {body:?} {headers:?}");
        let r = post_form(
            &gw,
            "/ui/t/acme/secrets",
            &a,
            &format!("{body}&name=CSRF_X&value=csrf-value-x"),
            headers,
        );
        assert_eq!(r.status().as_u16(), 403, "secret with {body:?} {headers:?}");
    }
    assert!(memory(&gw, "acme", None).contains("acme note"), "nothing was removed");
    assert!(!gw.get("/v1/tenants/acme/secrets", Some(ADMIN_KEY)).text.contains("CSRF_X"), "nothing was set");
}

#[test]
fn a_refused_secret_shows_the_form_again_and_its_value_never_comes_back() {
    let gw = Gateway::start_with_config(
        "[secret_limits]\nmax_count = 2\nmax_value_bytes = 32\nmax_total_bytes = 40\n",
    );
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "acme" })).status, 201);
    let (admin, _) = mint(&gw, "acme", ADMIN_KEY, "admin");
    let own = origin(&gw);
    let a = login(&gw, &admin);
    let csrf = csrf_of(&gw, "/ui/t/acme/secrets", &a);
    let set = |name: &str, value: &str| {
        let body = format!("csrf={csrf}&name={name}&value={value}");
        let r = post_form(&gw, "/ui/t/acme/secrets", &a, &body, &[("origin", own.as_str())]);
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    };
    let mut values = Vec::new();
    let cases: Vec<(String, String, &[u16])> = vec![
        ("bad%20name".into(), "vAlUe-bad-name-1".into(), &[400]),
        ("".into(), "vAlUe-empty-name-2".into(), &[400]),
        ("..%2FX".into(), "vAlUe-dotdot-3".into(), &[400]),
        ("N".repeat(300), "vAlUe-long-name-4".into(), &[400]),
        ("%FF".into(), "vAlUe-non-utf8-5".into(), &[400]),
        ("BIG".into(), format!("vAlUe-too-large-6{}", "z".repeat(40)), &[400, 413]),
        ("ONE".into(), "vAlUe-one-ok-7".into(), &[303]),
        ("TWO".into(), "vAlUe-two-ok-8".into(), &[303]),
        ("THREE".into(), "vAlUe-three-9".into(), &[400, 429]),
        ("ONE".into(), format!("vAlUe-total-10{}", "t".repeat(16)), &[400, 429]),
        ("ONE".into(), "%FF%FEvAlUe-binary-11".into(), &[400]),
    ];
    for (name, value, want) in &cases {
        let (status, page) = set(name, value);
        assert!(
            want.contains(&status),
            "{name:.40}: {status}, wanted {want:?}: {}",
            page.split("<main").nth(1).unwrap_or(&page)
        );
        let shown = value.trim_start_matches("%FF%FE");
        values.push(shown.to_string());
        assert!(!page.contains(shown), "the page shows the value {shown}: {page}");
        // A body that is not UTF-8 is a bad form (400), not a bad secret.
        if status != 303 && !name.contains("%FF") && !value.contains("%FF") {
            assert!(page.contains("name=\"value\""), "{name:.40}: the form is shown again: {page:.400}");
        }
    }
    let mut seen = String::new();
    seen.push_str(&get_with_cookie(&gw, "/ui/t/acme/secrets", &a).text().unwrap());
    seen.push_str(&get_with_cookie(&gw, "/ui/t/acme/audit", &a).text().unwrap());
    seen.push_str(&gw.get("/v1/audit?action=*&limit=10000", Some(ADMIN_KEY)).text);
    seen.push_str(&std::fs::read_to_string(gw.data_dir().join("audit.log")).unwrap());
    seen.push_str(&gw.log_text());
    for v in &values {
        assert!(!seen.contains(v.as_str()), "the value {v} shows up in a page, the audit log or the log");
    }
}

#[test]
fn security_findings_are_the_operators_and_name_their_tenant_only() {
    let (gw, admin, member) = gateway_with_tenant();
    assert_eq!(gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "beta" })).status, 201);
    let (beta_admin, _) = mint(&gw, "beta", ADMIN_KEY, "admin");
    install(&gw, "acme", ADMIN_KEY, "notes", false);
    install(&gw, "beta", ADMIN_KEY, "notes", false);
    for (t, o) in [("acme", "http://10.1.2.3"), ("beta", "http://10.4.5.6")] {
        let policy = format!("[[http]]\norigin = \"{o}\"\n");
        let r = gw.req(
            "PUT",
            &format!("/v1/tenants/{t}/policy"),
            Some(ADMIN_KEY),
            Body::Raw("application/toml", policy.into_bytes()),
        );
        assert!(matches!(r.status, 200 | 204), "{}", r.text);
    }
    let secret = "sEcReT-finding-value-123";
    let r = gw.req(
        "PUT",
        "/v1/tenants/acme/secrets/HOOK",
        Some(ADMIN_KEY),
        Body::Raw("text/plain", secret.into()),
    );
    assert!(matches!(r.status, 200 | 204), "{}", r.text);
    for cred in [&admin, &member, &beta_admin] {
        let r = gw.get("/v1/security/audit", Some(cred));
        assert_eq!(r.status, 403, "{}", r.text);
        let c = login(&gw, cred);
        let r = get_with_cookie(&gw, "/ui/security", &c);
        let status = r.status().as_u16();
        let body = r.text().unwrap_or_default();
        assert!(matches!(status, 403 | 404), "/ui/security for a token: {status}");
        assert!(!body.contains("unsigned-skill"), "{body}");
    }
    let r = gw.get("/v1/security/audit", Some(ADMIN_KEY));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains(secret));
    let findings = r.json()["findings"].as_array().cloned().unwrap_or_default();
    let of = |t: &str| findings.iter().filter(|f| f["tenant"] == t).collect::<Vec<_>>();
    assert!(!of("acme").is_empty() && !of("beta").is_empty(), "{findings:?}");
    for f in &findings {
        let msg = f["message"].as_str().unwrap();
        match f["tenant"].as_str() {
            Some(t) => {
                assert!(msg.contains(&format!("tenant {t}")), "{f}");
                for other in ["acme", "beta"].iter().filter(|o| **o != t) {
                    assert!(!msg.contains(&format!("tenant {other}")), "{f}");
                }
            }
            None => assert!(!msg.contains("tenant acme") && !msg.contains("tenant beta"), "{f}"),
        }
    }
    let c = login(&gw, ADMIN_KEY);
    let page = get_with_cookie(&gw, "/ui/security", &c).text().unwrap();
    assert!(!page.contains(secret) && !page.contains(&admin) && !page.contains(&member));
}
