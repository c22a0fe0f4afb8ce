//! What a person does in the dashboard, in the browser.

use super::webdriver::{Browser, DESKTOP, Opts, available};
use super::{failures, gateway_with_tenant, sign_in};
use crate::harness::{ADMIN_KEY, Gateway};
use serde_json::json;
use std::io::{Read, Write};

#[test]
fn a_wrong_credential_is_refused_and_the_right_one_lands_on_the_overview() {
    if !available() {
        return;
    }
    let gw = Gateway::start();
    let b = Browser::open(DESKTOP);
    b.goto(&gw.url("/ui/tenants"));
    assert!(b.url().contains("/ui/login?next=%2Fui%2Ftenants"), "{}", b.url());
    b.type_into(&b.el("#credential"), "wca_ffffffffffffffffffffffffffffffff");
    b.submit("form[action='/ui/login'] button");
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert_eq!(b.text("#credential-error"), "Unknown, revoked or malformed credential.");
    b.logs(); // the 401 of the refused sign-in
    let invalid =
        b.exec("return document.getElementById('credential').getAttribute('aria-invalid');", json!([]));
    assert_eq!(invalid, json!("true"));
    b.type_into(&b.el("#credential"), ADMIN_KEY);
    b.submit("form[action='/ui/login'] button");
    assert!(b.url().ends_with("/ui/tenants"), "back to where the user was going: {}", b.url());
    assert_eq!(b.text("h1"), "Tenants");
    // The credential is nowhere in the page, its URL or storage.
    let leaked = b.exec(
        "return [document.documentElement.outerHTML, location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join(' ');",
        json!([]),
    );
    assert!(!leaked.as_str().unwrap().contains(ADMIN_KEY));
    assert_eq!(failures(&b), Vec::<String>::new());
}

#[test]
fn the_session_cookie_is_httponly_secure_and_strict_and_invisible_to_scripts() {
    if !available() {
        return;
    }
    let gw = Gateway::start();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, ADMIN_KEY);
    assert_eq!(b.exec("return document.cookie;", json!([])), json!(""));
    let cookies = b.cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let c = &cookies[0];
    assert_eq!(c["name"], "__Host-wasmclaw-session");
    assert_eq!(c["httpOnly"], true);
    assert_eq!(c["secure"], true);
    assert_eq!(c["sameSite"], "Strict");
    assert_eq!(c["path"], "/");
    assert_eq!(c["value"].as_str().unwrap().len(), 64);
    // Signing out ends the session: the old cookie no longer opens a page.
    let old = c["value"].as_str().unwrap().to_string();
    b.submit("form[action='/ui/logout'] button");
    assert!(b.url().ends_with("/ui/login"), "{}", b.url());
    let r = super::boundary::get_with_cookie(&gw, "/ui/tenants", &old);
    assert_eq!(r.status().as_u16(), 303);
}

#[test]
fn a_minted_token_is_shown_once_and_works() {
    if !available() {
        return;
    }
    let (gw, admin, _) = gateway_with_tenant();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, &admin);
    b.goto(&gw.url("/ui/t/acme/tokens"));
    b.type_into(&b.el("#mint-name"), "ci bot");
    b.submit("form[action='/ui/t/acme/tokens'] button");
    let token = b.text("#minted-token");
    assert!(token.starts_with("wct_acme_"), "{token}");
    assert_eq!(gw.get("/v1/agents", Some(&token)).status, 200, "the minted member token works");
    b.goto(&gw.url("/ui/t/acme/tokens"));
    assert!(b.find("#minted-token").is_none(), "shown once");
    assert!(!b.exec("return document.body.innerText;", json!([])).as_str().unwrap().contains(&token));
}

fn rotate_first_other_token(b: &Browser, own_prefix: &str) -> String {
    let forms = b.exec(
        "return [...document.querySelectorAll('form[action$=\"/rotate\"]')].map(f => f.getAttribute('action'));",
        json!([]),
    );
    let action = forms
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .find(|a| !a.contains(own_prefix))
        .expect("a token other than the session's own");
    b.click(&b.el(&format!("form[action='{action}'] button")));
    action
}

#[test]
fn rotation_works_with_htmx_and_with_javascript_off() {
    if !available() {
        return;
    }
    let (gw, admin, member) = gateway_with_tenant();
    let own = admin.split('_').nth(2).unwrap().to_string();
    let member_id = member.split('_').nth(2).unwrap().to_string();
    for javascript in [true, false] {
        let b = Browser::open(Opts { javascript, ..DESKTOP });
        sign_in(&b, &gw, &admin);
        b.goto(&gw.url("/ui/t/acme/tokens"));
        if javascript {
            b.exec("window.__same_page = 1; return true;", json!([]));
        }
        rotate_first_other_token(&b, &own);
        // htmx swaps the page's content in place; without script, a page load.
        let mut token = String::new();
        for _ in 0..50 {
            if b.find("#minted-token").is_some() {
                token = b.text("#minted-token");
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(token.starts_with("wct_acme_"), "js {javascript}: {token:?}");
        let same_page = b.exec("return window.__same_page === 1;", json!([]));
        assert_eq!(same_page, json!(javascript), "htmx kept the page (js {javascript})");
        assert_eq!(gw.get("/v1/agents", Some(&token)).status, 200);
        assert_eq!(failures(&b), Vec::<String>::new(), "js {javascript}");
    }
    // The member token was rotated away (no grace), twice over.
    assert_eq!(gw.get("/v1/agents", Some(&member)).status, 401, "{member_id}");
}

#[test]
fn revoking_the_sessions_own_token_sends_the_next_click_to_sign_in() {
    if !available() {
        return;
    }
    let (gw, admin, _) = gateway_with_tenant();
    let own = admin.split('_').nth(2).unwrap().to_string();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, &admin);
    b.goto(&gw.url("/ui/t/acme/tokens"));
    b.submit(&format!("form[action='/ui/t/acme/tokens/{own}/revoke'] button"));
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    b.goto(&gw.url("/ui/t/acme/"));
    assert!(b.url().contains("/ui/login"), "the session ended with its token: {}", b.url());
}

#[test]
fn suspending_a_tenant_ends_its_sessions_and_resuming_does_not_revive_them() {
    if !available() {
        return;
    }
    let (gw, admin, _) = gateway_with_tenant();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, &admin);
    // (One browser holds one session of a site: the operator acts over the API.)
    assert_eq!(gw.post("/v1/tenants/acme/suspend", Some(ADMIN_KEY), json!({})).status, 200);
    b.goto(&gw.url("/ui/t/acme/"));
    assert!(b.url().contains("/ui/login"), "{}", b.url());
    assert_eq!(gw.post("/v1/tenants/acme/resume", Some(ADMIN_KEY), json!({})).status, 200);
    b.goto(&gw.url("/ui/t/acme/"));
    assert!(b.url().contains("/ui/login"), "the session is gone, not paused: {}", b.url());
}

#[test]
fn the_operator_suspends_resumes_creates_and_deletes_tenants_with_javascript_off() {
    if !available() {
        return;
    }
    let (gw, admin, _) = gateway_with_tenant();
    let b = Browser::open(Opts { javascript: false, ..DESKTOP });
    sign_in(&b, &gw, ADMIN_KEY);
    b.goto(&gw.url("/ui/tenants"));
    b.type_into(&b.el("#new-id"), "Bad Id!");
    b.submit("form[action='/ui/tenants'] button");
    assert!(b.find("#new-id-error").is_some(), "the bad id is marked");
    b.goto(&gw.url("/ui/tenants"));
    b.type_into(&b.el("#new-id"), "zeta");
    b.submit("form[action='/ui/tenants'] button");
    assert_eq!(gw.get("/v1/tenants/zeta", Some(ADMIN_KEY)).status, 200, "created");
    b.submit("form[action='/ui/tenants/acme/suspend'] button");
    assert_eq!(gw.get("/v1/agents", Some(&admin)).status, 403, "suspended");
    b.submit("form[action='/ui/tenants/acme/resume'] button");
    assert_eq!(gw.get("/v1/agents", Some(&admin)).status, 200, "resumed");
    // Delete needs the id typed.
    b.type_into(&b.el("#confirm-zeta"), "zet");
    b.submit("form[action='/ui/tenants/zeta/delete'] button");
    assert!(b.find("#confirm-zeta-error").is_some());
    assert_eq!(gw.get("/v1/tenants/zeta", Some(ADMIN_KEY)).status, 200, "not deleted");
    b.type_into(&b.el("#confirm-zeta"), "zeta");
    b.submit("form[action='/ui/tenants/zeta/delete'] button");
    assert_eq!(gw.get("/v1/tenants/zeta", Some(ADMIN_KEY)).status, 404, "deleted");
    // Every action is in the audit log as the API's would be.
    let audit = gw.get("/v1/audit?tenant=acme", Some(ADMIN_KEY));
    assert!(audit.text.contains("tenant.suspend"), "{}", audit.text);
}

/// Serves one page from another origin (`localhost`, a different site
/// from `127.0.0.1`) to every request, for `n` requests.
fn evil_site(html: String, n: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
    });
    port
}

#[test]
fn a_cross_site_auto_submitting_form_changes_nothing() {
    if !available() {
        return;
    }
    let (gw, _, _) = gateway_with_tenant();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, ADMIN_KEY);
    // The attacker knows the form's shape but not the CSRF token; SameSite
    // keeps the cookie home, and Origin is checked besides.
    for (action, fields) in [
        ("/ui/tenants", "<input name=id value=evil><input name=csrf value=guess>"),
        ("/ui/tenants/acme/suspend", "<input name=csrf value=guess>"),
        ("/ui/logout", ""),
    ] {
        let page = format!(
            "<!doctype html><form id=f method=post action='http://127.0.0.1:{}{action}'>{fields}</form>\
             <script>document.getElementById('f').submit()</script>",
            gw.addr.port()
        );
        let port = evil_site(page, 4);
        b.goto(&format!("http://localhost:{port}/"));
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(gw.get("/v1/tenants/evil", Some(ADMIN_KEY)).status, 404, "no tenant was created");
    assert!(gw.get("/v1/tenants/acme", Some(ADMIN_KEY)).text.contains("active"), "acme not suspended");
    b.goto(&gw.url("/ui/tenants"));
    assert_eq!(b.text("h1"), "Tenants", "still signed in: the logout was not forced either");
}

#[test]
fn hostile_stored_text_renders_as_text() {
    if !available() {
        return;
    }
    let (gw, admin, _) = gateway_with_tenant();
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\u{202e}evil";
    let hostile: String = hostile.chars().take(64).collect();
    let r = gw.post("/v1/tenants/acme/tokens", Some(ADMIN_KEY), json!({ "role": "member", "name": hostile }));
    assert_eq!(r.status, 201, "{}", r.text);
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, &admin);
    b.goto(&gw.url("/ui/t/acme/tokens"));
    assert!(!b.dialog_open(), "no script ran");
    let text = b.exec("return document.querySelector('tbody').innerText;", json!([]));
    assert!(text.as_str().unwrap().contains("<script>alert(1)</script>"), "{text}");
    assert_eq!(
        b.exec("return document.querySelectorAll('tbody img, tbody script').length;", json!([])),
        json!(0)
    );
    assert_eq!(failures(&b), Vec::<String>::new());
    assert!(!super::overflows(&b));
}

#[test]
fn a_skill_upgrade_shows_its_diff_and_is_confirmed() {
    if !available() {
        return;
    }
    let (gw, admin, _member) = gateway_with_tenant();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| {
        let path = dir.path().join(format!("{name}.wcpkg"));
        std::fs::write(&path, wasmclaw_tests::package(name)).unwrap();
        path.to_str().unwrap().to_string()
    };
    let version = || {
        let v = gw.get("/v1/tenants/acme/skills", Some(ADMIN_KEY)).expect(200);
        v["skills"].as_array().unwrap().first().map(|s| s["version"].as_str().unwrap().to_string())
    };
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, &admin);
    b.goto(&gw.url("/ui/t/acme/skills"));

    // A first install: checked, shown, nothing installed until confirmed.
    b.type_into(&b.el("#skill-package"), &file("greeter-v1"));
    b.submit("form[action$='/skills/install'] button");
    assert_eq!(b.text("h1"), "Install greeter 1.0.0?");
    assert!(b.find("#accept").is_none(), "nothing wider to accept");
    assert_eq!(version(), None, "not before the confirmation");
    assert_eq!(super::axe_violations(&b), Vec::<String>::new());
    b.submit("form[action$='/skills/confirm'] button");
    assert!(b.url().ends_with("/ui/t/acme/skills"), "{}", b.url());
    assert_eq!(version().as_deref(), Some("1.0.0"));

    // The upgrade: its two wider permissions, marked in words and colour.
    b.type_into(&b.el("#skill-package"), &file("greeter-v2"));
    b.submit("form[action$='/skills/install'] button");
    assert_eq!(b.text("h1"), "Upgrade greeter 1.0.0 to 2.0.0?");
    let wider = b.exec(
        "return [...document.querySelectorAll('tr.widens')].map(r => r.innerText.replace(/\\s+/g, ' ').trim());",
        json!([]),
    );
    let wider: Vec<&str> = wider.as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(wider.len(), 2, "{wider:?}");
    assert!(
        wider[0].contains("import")
            && wider[0].contains("wasmclaw:skill/http")
            && wider[0].ends_with("wider")
    );
    assert!(wider[1].contains("https://greetings.example:443"), "{wider:?}");
    assert_eq!(super::axe_violations(&b), Vec::<String>::new());

    // Confirmed without the box (the browser's `required` taken away): the
    // server refuses, shows it again, and nothing changes.
    b.exec("document.getElementById('accept').removeAttribute('required'); return true;", json!([]));
    b.submit("form[action$='/skills/confirm'] button");
    assert_eq!(b.text("h1"), "Upgrade greeter 1.0.0 to 2.0.0?");
    assert!(b.text("#accept-error").contains("tick the box"), "{}", b.text("main"));
    assert_eq!(version().as_deref(), Some("1.0.0"));
    b.logs(); // the 400 of the refused confirmation

    // Ticked and confirmed: upgraded, and it says so in the audit log.
    b.click(&b.el("#accept"));
    b.submit("form[action$='/skills/confirm'] button");
    assert!(b.url().ends_with("/ui/t/acme/skills"), "{}", b.url());
    assert_eq!(version().as_deref(), Some("2.0.0"));
    let events = crate::harness::audit_events(&gw, "acme");
    assert!(crate::harness::has_event(&events, "skill.upgrade", Some("ok (2 wider permissions accepted)")));
    assert_eq!(failures(&b), Vec::<String>::new());
}

#[test]
fn a_publisher_is_trusted_and_removed_only_after_the_skills_it_disables_are_listed() {
    if !available() {
        return;
    }
    let (gw, _admin, _member) = gateway_with_tenant();
    let key = wasmclaw::signing::PublisherKey::generate();
    let public = key.public().to_string();
    let b = Browser::open(DESKTOP);
    sign_in(&b, &gw, ADMIN_KEY);
    b.goto(&gw.url("/ui/publishers"));

    // A bad key: refused beside the form, what was typed kept.
    b.type_into(&b.el("#publisher-name"), "acme-labs");
    b.type_into(&b.el("#publisher-key"), "ed25519:not-a-key");
    b.submit("form[action='/ui/publishers'] button");
    assert!(!b.text("#publisher-error").is_empty(), "{}", b.text("main"));
    let typed = b.exec("return document.getElementById('publisher-name').value;", json!([]));
    assert_eq!(typed, json!("acme-labs"));
    b.logs(); // the 400
    // The right one: trusted.
    b.exec("document.getElementById('publisher-key').value = ''; return true;", json!([]));
    b.type_into(&b.el("#publisher-key"), &public);
    b.submit("form[action='/ui/publishers'] button");
    assert!(b.url().ends_with("/ui/publishers"), "{}", b.url());
    assert!(b.text("main").contains("acme-labs"), "{}", b.text("main"));

    // A skill it signed, installed by the tenant.
    let body = json!({ "package": base64::Engine::encode(&base64::engine::general_purpose::STANDARD,
        wasmclaw_tests::package_with("echo", &key)) });
    gw.post("/v1/tenants/acme/skills", Some(ADMIN_KEY), body).expect(201);

    // Remove: first the skills it disables, then the typed name.
    b.submit("form[action^='/ui/publishers/acme'][action$='/remove'] button");
    assert_eq!(b.text("h1"), "Stop trusting acme-labs?");
    assert!(b.text("main table").contains("acme") && b.text("main table").contains("echo"));
    assert_eq!(super::axe_violations(&b), Vec::<String>::new());
    b.type_into(&b.el("#confirm-name"), "acme-lab");
    b.submit("form[action='/ui/publishers/acme-labs/delete'] button");
    assert!(b.text("#confirm-error").contains("Type acme-labs"), "{}", b.text("main"));
    let trusted = || {
        let v = gw.get("/v1/trust", Some(ADMIN_KEY)).expect(200);
        v["keys"].as_array().unwrap().iter().any(|k| k["name"] == "acme-labs")
    };
    assert!(trusted(), "a wrong name removes nothing");
    b.logs(); // the 400
    b.type_into(&b.el("#confirm-name"), "acme-labs");
    b.submit("form[action='/ui/publishers/acme-labs/delete'] button");
    assert!(b.url().ends_with("/ui/publishers"), "{}", b.url());
    assert!(!trusted());
    let skills = gw.get("/v1/tenants/acme/skills", Some(ADMIN_KEY)).expect(200);
    assert_eq!(skills["skills"][0]["status"], "disabled", "{skills}");
    assert_eq!(failures(&b), Vec::<String>::new());
}
