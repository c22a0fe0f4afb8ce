//! The skill upload of the Skills page over plain HTTP: what a hostile
//! client can send that the page would not.

use super::boundary::{client, form_secrets, login, origin, post_form};
use super::gateway_with_tenant;
use crate::harness::{ADMIN_KEY, Gateway};
use reqwest::blocking::Response;

const BOUNDARY: &str = "x-wasmclaw-test-boundary";

/// A multipart body of `(name, value)` text fields and an optional package.
fn multipart(fields: &[(&str, &str)], package: Option<&[u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!("--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .bytes(),
        );
    }
    if let Some(bytes) = package {
        body.extend(
            format!(
                "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"package\"; filename=\"p.wcpkg\"\r\n\
                 content-type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

fn upload(gw: &Gateway, cookie: &str, body: Vec<u8>, with_origin: bool) -> Response {
    let mut rb = client()
        .post(gw.url("/ui/t/acme/skills/install"))
        .header("cookie", format!("__Host-wasmclaw-session={cookie}"))
        .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body);
    if with_origin {
        rb = rb.header("origin", origin(gw));
    }
    rb.send().unwrap()
}

fn installed(gw: &Gateway) -> usize {
    gw.get("/v1/tenants/acme/skills", Some(ADMIN_KEY)).expect(200)["skills"].as_array().unwrap().len()
}

/// The `pending` field of a confirm page.
fn pending_of(html: &str) -> String {
    html.split("name=\"pending\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string()
}

#[test]
fn an_upload_needs_its_sessions_token_and_origin_and_is_confirmed_by_its_session_only() {
    let (gw, admin, member) = gateway_with_tenant();
    let cookie = login(&gw, &admin);
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/skills", &cookie);
    let package = wasmclaw_tests::package("greeter-v1");

    // Denied: a wrong token, no Origin, a member, a form that is not an
    // upload, a field the form has not, an empty package.
    let status = |r: Response| r.status().as_u16();
    assert_eq!(status(upload(&gw, &cookie, multipart(&[("csrf", "0")], Some(&package)), true)), 403);
    assert_eq!(status(upload(&gw, &cookie, multipart(&[("csrf", &csrf)], Some(&package)), false)), 403);
    let member_cookie = login(&gw, &member);
    let (member_csrf, _) = form_secrets(&gw, "/ui/t/acme/skills", &member_cookie);
    let r = upload(&gw, &member_cookie, multipart(&[("csrf", &member_csrf)], Some(&package)), true);
    assert_eq!(status(r), 403);
    let r = post_form(
        &gw,
        "/ui/t/acme/skills/install",
        &cookie,
        &format!("csrf={csrf}"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(status(r), 400);
    let r = upload(&gw, &cookie, multipart(&[("csrf", &csrf), ("colour", "red")], Some(&package)), true);
    assert_eq!(status(r), 400);
    assert_eq!(status(upload(&gw, &cookie, multipart(&[("csrf", &csrf)], None), true)), 400);
    assert_eq!(installed(&gw), 0);

    // Too large: 413 naming the limit, whatever the token.
    let huge = vec![0u8; 33 * 1024 * 1024];
    let r = upload(&gw, &cookie, multipart(&[("csrf", &csrf)], Some(&huge)), true);
    assert_eq!(r.status().as_u16(), 413);

    // Allowed: the decision page, holding the upload for this session.
    let r = upload(&gw, &cookie, multipart(&[("csrf", &csrf)], Some(&package)), true);
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("Install greeter 1.0.0?"), "{page}");
    let pending = pending_of(&page);
    assert_eq!(installed(&gw), 0, "nothing before the confirmation");

    // Another session (the same admin, signed in again) cannot confirm it.
    let other = login(&gw, &admin);
    let (other_csrf, _) = form_secrets(&gw, "/ui/t/acme/skills", &other);
    let body = format!("csrf={other_csrf}&pending={pending}");
    let r = post_form(&gw, "/ui/t/acme/skills/confirm", &other, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(installed(&gw), 0);
    // Its own session does, once.
    let body = format!("csrf={csrf}&pending={pending}");
    let r = post_form(&gw, "/ui/t/acme/skills/confirm", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(installed(&gw), 1);
    let r = post_form(&gw, "/ui/t/acme/skills/confirm", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 400, "a confirmation is used once");
}

#[test]
fn a_confirmation_after_the_installed_skill_changed_shows_the_new_decision_and_installs_nothing() {
    let (gw, admin, _) = gateway_with_tenant();
    let cookie = login(&gw, &admin);
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/skills", &cookie);
    let install = |name: &str| {
        let package =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, wasmclaw_tests::package(name));
        gw.post("/v1/tenants/acme/skills", Some(ADMIN_KEY), serde_json::json!({ "package": package }))
    };
    install("greeter-v1").expect(201);
    let r = upload(
        &gw,
        &cookie,
        multipart(&[("csrf", &csrf)], Some(&wasmclaw_tests::package("greeter-v2"))),
        true,
    );
    assert_eq!(r.status().as_u16(), 200);
    let page = r.text().unwrap();
    assert!(page.contains("Upgrade greeter 1.0.0 to 2.0.0?"), "{page}");
    assert_eq!(page.matches("class=\"widens\"").count(), 2, "{page}");

    // Removed behind the page's back: the upgrade shown is now a first
    // install with no changes, which the confirmation must not perform.
    gw.delete("/v1/tenants/acme/skills/greeter", Some(ADMIN_KEY)).expect(200);
    let body = format!("csrf={csrf}&pending={}&accept=on", pending_of(&page));
    let r = post_form(&gw, "/ui/t/acme/skills/confirm", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 400);
    let again = r.text().unwrap();
    assert!(again.contains("the installed skill changed since the upload"), "{again}");
    assert!(again.contains("Install greeter 2.0.0?"), "the new decision: {again}");
    assert_eq!(again.matches("class=\"widens\"").count(), 0, "{again}");
    assert_eq!(installed(&gw), 0, "nothing installed on a refused confirmation");

    // The page shown again is waiting: confirming it installs what it shows.
    let body = format!("csrf={csrf}&pending={}", pending_of(&again));
    let r = post_form(&gw, "/ui/t/acme/skills/confirm", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 303);
    let skills = gw.get("/v1/tenants/acme/skills", Some(ADMIN_KEY)).expect(200);
    assert_eq!(skills["skills"][0]["version"], "2.0.0");
}

#[test]
fn only_the_operator_trusts_or_untrusts_a_publisher_from_the_page() {
    let (gw, admin, _member) = gateway_with_tenant();
    let key = wasmclaw::signing::PublisherKey::generate().public().to_string();
    let count = || gw.get("/v1/trust", Some(ADMIN_KEY)).expect(200)["keys"].as_array().unwrap().len();
    let before = count();
    // Denied: a tenant's admin (its session has no Publishers page).
    let cookie = login(&gw, &admin);
    let (csrf, _) = form_secrets(&gw, "/ui/t/acme/skills", &cookie);
    // Encoded whole: a base64 key's `+` would read as a space.
    let encoded = percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC);
    let body = format!("csrf={csrf}&name=planted&key={encoded}");
    let r = post_form(&gw, "/ui/publishers", &cookie, &body, &[("origin", &origin(&gw))]);
    assert_eq!(r.status().as_u16(), 403);
    let r = post_form(
        &gw,
        "/ui/publishers/tests/delete",
        &cookie,
        &format!("csrf={csrf}&confirm=tests"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(count(), before);
    // Allowed: the operator, with the name typed.
    let op = login(&gw, ADMIN_KEY);
    let (csrf, _) = form_secrets(&gw, "/ui/publishers", &op);
    let r = post_form(
        &gw,
        "/ui/publishers",
        &op,
        &body.replace(&csrf_of(&body), &csrf),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(count(), before + 1);
    let r = post_form(
        &gw,
        "/ui/publishers/planted/delete",
        &op,
        &format!("csrf={csrf}&confirm=plante"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 400, "the name must be typed");
    let r = post_form(
        &gw,
        "/ui/publishers/planted/delete",
        &op,
        &format!("csrf={csrf}&confirm=planted"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(count(), before);
    let r = post_form(
        &gw,
        "/ui/publishers/nobody/remove",
        &op,
        &format!("csrf={csrf}"),
        &[("origin", &origin(&gw))],
    );
    assert_eq!(r.status().as_u16(), 404);
}

/// The `csrf` value of a form body.
fn csrf_of(body: &str) -> String {
    body.split('&').find_map(|p| p.strip_prefix("csrf=")).unwrap_or("").to_string()
}
