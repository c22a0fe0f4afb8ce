//! Every page, for each role that may see it, at both viewports.

use super::webdriver::{Browser, DESKTOP, Opts, PHONE, available};
use super::{axe_violations, failures, overflows, screens, sign_in};
use crate::harness::ADMIN_KEY;

/// Loads `path` and checks it: not an error page, no console failure, no
/// axe violation, no overflow, the screenshot as its reference.
fn check_page(b: &Browser, gw: &crate::harness::Gateway, path: &str, name: &str) {
    b.goto(&gw.url(path));
    assert!(b.url().ends_with(path), "{name}: {path} went to {}", b.url());
    let h1 = b.text("h1");
    for bad in ["Not found", "Refused", "Forbidden", "Sign in"] {
        assert!(!h1.starts_with(bad), "{name}: {path} shows {h1:?}");
    }
    assert_eq!(failures(b), Vec::<String>::new(), "{name}: console failures on {path}");
    assert_eq!(axe_violations(b), Vec::<String>::new(), "{name}: axe on {path}");
    assert!(!overflows(b), "{name}: {path} is wider than the viewport");
    assert!(!b.dialog_open(), "{name}: a dialog opened on {path}");
    let injected = b.exec(
        "return document.querySelectorAll('main script, main img[src=x], main a[href^=javascript]').length;",
        serde_json::json!([]),
    );
    assert_eq!(injected, serde_json::json!(0), "{name}: stored text became markup on {path}");
    screens::check(b, name);
}

fn size(o: Opts) -> &'static str {
    if o.width > 1000 { "desktop" } else { "phone" }
}

/// Hostile text where people put text: a system prompt, a token's name.
pub const HOSTILE: &str = "<script>alert(1)</script></textarea><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a> \u{202e}desrever";

/// A gateway whose tenant `acme` has a skill, a secret, an agent with a
/// hostile system prompt and a token with a hostile name; and a tenant `beta`.
fn seeded() -> (crate::harness::Gateway, String, String) {
    let config =
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\nmax_retries = 0\n";
    let gw = crate::harness::Gateway::start_with_config(config);
    let post = |path: &str, body: serde_json::Value| {
        let r = gw.post(path, Some(ADMIN_KEY), body);
        assert!(r.status == 201 || r.status == 200, "{path}: {} {}", r.status, r.text);
    };
    post("/v1/tenants", serde_json::json!({ "id": "acme" }));
    post("/v1/tenants", serde_json::json!({ "id": "beta" }));
    let (admin, _) = crate::harness::mint(&gw, "acme", ADMIN_KEY, "admin");
    let (member, _) = crate::harness::mint(&gw, "acme", ADMIN_KEY, "member");
    crate::harness::install(&gw, "acme", ADMIN_KEY, "notes", false);
    let secret = crate::harness::Body::Raw("application/octet-stream", b"sk-not-shown".to_vec());
    assert_eq!(gw.req("PUT", "/v1/tenants/acme/secrets/LLM_KEY", Some(ADMIN_KEY), secret).status, 204);
    let prompt = format!("{HOSTILE} {}", "long ".repeat(2000));
    post(
        "/v1/tenants/acme/agents",
        serde_json::json!({ "name": "helper", "provider": "openai", "model": "gpt-test", "skills": ["notes"],
                            "api_key_secret": "LLM_KEY", "system_prompt": prompt }),
    );
    post(
        "/v1/tenants/acme/tokens",
        serde_json::json!({ "role": "guest", "name": HOSTILE.chars().take(64).collect::<String>() }),
    );
    post(
        "/v1/tenants/acme/channels",
        serde_json::json!({ "name": "hook", "kind": "webhook", "agent": "helper", "secret": "LLM_KEY" }),
    );
    // A grant over plain HTTP: a finding about acme on the Security page.
    // A contact where nothing listens: a hostile message stays pending.
    let policy = "[[http]]\norigin = \"http://plain.example.com\"\n\n[[contacts]]\nname = \"ops\"\n\
                  channel = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n";
    let r = gw.req(
        "PUT",
        "/v1/tenants/acme/policy",
        Some(ADMIN_KEY),
        crate::harness::Body::Raw("application/toml", policy.into()),
    );
    assert!(matches!(r.status, 200 | 204), "{}", r.text);
    // A note whose text is hostile (the memory page shows it, with its
    // remove form).
    crate::harness::output(&gw, &member, "notes", &serde_json::json!({ "op": "add", "text": HOSTILE }));
    crate::harness::install(&gw, "acme", ADMIN_KEY, "notify", false);
    let sent = crate::harness::output(
        &gw,
        &member,
        "notify",
        &serde_json::json!({ "contact": "ops", "text": HOSTILE }),
    );
    assert!(sent["message_id"].is_string(), "{sent}");
    (gw, admin, member)
}

#[test]
fn every_page_passes_for_every_role_at_both_viewports() {
    if !available() {
        return;
    }
    let (gw, admin, member) = seeded();
    let operator_pages: &[(&str, &str)] = &[
        ("/ui/", "overview"),
        ("/ui/tenants", "tenants"),
        ("/ui/usage", "usage-all"),
        ("/ui/audit", "audit"),
        ("/ui/publishers", "publishers"),
        ("/ui/security", "security"),
        ("/ui/settings", "settings"),
        ("/ui/t/acme/", "tenant"),
        ("/ui/t/acme/tokens", "tokens"),
    ];
    let admin_pages: &[(&str, &str)] = &[
        ("/ui/t/acme/", "tenant"),
        ("/ui/t/acme/skills", "skills"),
        ("/ui/t/acme/skills/notes/detail", "skill"),
        ("/ui/t/acme/agents", "agents"),
        ("/ui/t/acme/agents/helper/sessions", "sessions"),
        ("/ui/t/acme/agents/helper/sessions/alice", "transcript"),
        ("/ui/t/acme/memory", "memory"),
        ("/ui/t/acme/cron", "cron"),
        ("/ui/t/acme/messages", "messages"),
        ("/ui/t/acme/channels", "channels"),
        ("/ui/t/acme/secrets", "secrets"),
        ("/ui/t/acme/audit", "tenant-audit"),
        ("/ui/t/acme/usage", "usage"),
        ("/ui/t/acme/usage?step=hour", "usage-hourly"),
        ("/ui/t/acme/tokens", "tokens"),
    ];
    let member_pages: &[(&str, &str)] = &[
        ("/ui/t/acme/", "tenant"),
        ("/ui/t/acme/skills", "skills"),
        ("/ui/t/acme/agents", "agents"),
        ("/ui/t/acme/memory", "memory"),
        ("/ui/t/acme/cron", "cron"),
        ("/ui/t/acme/messages", "messages"),
        ("/ui/t/acme/usage", "usage"),
    ];
    for opts in [DESKTOP, PHONE] {
        {
            let b = Browser::open(opts);
            b.goto(&gw.url("/ui/login"));
            assert_eq!(failures(&b), Vec::<String>::new(), "console failures on the sign-in page");
            assert_eq!(axe_violations(&b), Vec::<String>::new(), "axe on the sign-in page");
            assert!(!overflows(&b));
            screens::check(&b, &format!("login-{}", size(opts)));
        }
        for (role, credential, pages) in [
            ("operator", ADMIN_KEY, operator_pages),
            ("admin", admin.as_str(), admin_pages),
            ("member", member.as_str(), member_pages),
        ] {
            let b = Browser::open(opts);
            sign_in(&b, &gw, credential);
            for (path, page) in pages {
                check_page(&b, &gw, path, &format!("{role}-{page}-{}", size(opts)));
            }
        }
    }
}

#[test]
fn the_page_checks_see_what_they_look_for() {
    if !available() {
        return;
    }
    let gw = crate::harness::Gateway::start();
    let b = Browser::open(PHONE);
    b.goto(&gw.url("/ui/login"));
    assert_eq!(failures(&b), Vec::<String>::new());
    // An image without text, an inline script (refused by the CSP), a
    // table wider than the phone: each check notices its own.
    b.exec(
        "const i = document.createElement('img'); i.src = '/ui/logo'; document.querySelector('main').append(i);
         const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.body.append(s);
         const w = document.createElement('div'); w.className = 'x'; w.textContent = 'x'.repeat(400);
         w.setAttribute('aria-hidden', 'true'); document.body.append(w);
         return true;",
        serde_json::json!([]),
    );
    let axe = axe_violations(&b);
    assert!(axe.iter().any(|v| v.starts_with("image-alt")), "{axe:?}");
    let logged = failures(&b);
    assert!(logged.iter().any(|m| m.contains("Content Security Policy")), "{logged:?}");
    assert_eq!(b.exec("return window.__ran === undefined;", serde_json::json!([])), serde_json::json!(true));
    assert!(overflows(&b));
}
