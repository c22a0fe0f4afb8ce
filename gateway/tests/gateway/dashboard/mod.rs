//! The web dashboard (`/ui`), in a real browser and over plain HTTP.
//!
//! - `webdriver`: the W3C WebDriver client (Debian's chromedriver and
//!   headless Chromium).
//! - `pages`: every page, for the operator, a tenant admin and a member, at
//!   1280×900 and 390×844: no CSP violation or script error, no axe-core
//!   WCAG 2.1 A/AA violation, no horizontal overflow, and a screenshot
//!   compared with its committed reference.
//! - `flows`: signing in and out, the cookie, tokens shown once, rotation
//!   with and without JavaScript, a session ended by its credential, a
//!   cross-site form.
//! - `boundary`: the same boundary without a browser: CSRF, Origin, Host,
//!   the open redirect, the cookie on `/v1`, wrong methods and bad forms.

mod attacks;
mod attacks2;
mod boundary;
mod flows;
mod install_attacks;
mod install_boundary;
mod pages;
mod publisher_attacks;
mod screens;
mod sessions_pages;
mod usage_pages;
pub mod webdriver;

use crate::harness::{ADMIN_KEY, Gateway};
use serde_json::json;
use webdriver::Browser;

/// axe-core, injected into each page through WebDriver (not in the binary).
const AXE: &str = include_str!("vendor/axe-core/axe.min.js");

/// Signs `b` in with `credential` through the sign-in form.
pub fn sign_in(b: &Browser, gw: &Gateway, credential: &str) {
    b.goto(&gw.url("/ui/login"));
    let field = b.el("#credential");
    b.type_into(&field, credential);
    b.submit("form[action='/ui/login'] button[type=submit]");
    let landed = b.wait_for(|b| !b.url().contains("/ui/login"));
    assert!(landed, "signed in with {credential:.8}…: still at {}: {}", b.url(), b.text("main"));
}

/// A gateway with tenant `acme` and its admin and member tokens.
pub fn gateway_with_tenant() -> (Gateway, String, String) {
    let gw = Gateway::start();
    let r = gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "acme" }));
    assert_eq!(r.status, 201, "{}", r.text);
    let (admin, _) = crate::harness::mint(&gw, "acme", ADMIN_KEY, "admin");
    let (member, _) = crate::harness::mint(&gw, "acme", ADMIN_KEY, "member");
    (gw, admin, member)
}

/// The browser's console entries that are failures: a CSP violation, a
/// script error, a failed load.
pub fn failures(b: &Browser) -> Vec<String> {
    b.logs()
        .into_iter()
        .filter(|e| {
            e["level"] == "SEVERE" || e["message"].as_str().unwrap_or("").contains("Content Security Policy")
        })
        .map(|e| e["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// axe-core's WCAG 2.1 A and AA violations on the current page.
pub fn axe_violations(b: &Browser) -> Vec<String> {
    b.exec(&format!("{AXE}\n;return true;"), json!([]));
    let v = b.exec_async(
        "const done = arguments[arguments.length - 1];
         axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
            .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' ' +
                JSON.stringify(v.nodes.slice(0, 3).map(n => n.target)))))
            .catch(e => done(['axe failed: ' + e]));",
        json!([]),
    );
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap_or("").to_string()).collect()
}

/// Whether the page is wider than the viewport.
pub fn overflows(b: &Browser) -> bool {
    b.exec("return document.documentElement.scrollWidth > window.innerWidth + 1;", json!([])) == json!(true)
}
