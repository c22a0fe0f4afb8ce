//! `GET …/outbox`: a page of a tenant's outbox by state, for its members
//! (the route of the dashboard's Messages page), and `wasmclaw outbox`.

use crate::harness::{ADMIN_KEY, Body, Gateway, Tenant, install, output, poll, shared, tenant};
use crate::webhook::{ACCEPT, receiver};
use serde_json::{Value, json};
use std::time::Duration;

/// Tenant `id` with `notify` installed and two contacts: `ok`, which
/// accepts every message, and `down`, where nothing listens.
fn messaging_tenant(gw: &Gateway, id: &str) -> Tenant {
    let t = tenant(gw, id);
    let policy = format!(
        "[[contacts]]\nname = \"ok\"\nchannel = \"webhook\"\nurl = \"{}\"\n\n\
         [[contacts]]\nname = \"down\"\nchannel = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
         [messaging]\nsigning_secret = \"HOOK_KEY\"\nper_minute = 1000\n",
        receiver(ACCEPT).0
    );
    gw.req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.into_bytes()))
        .expect(200);
    let key = Body::Raw("application/octet-stream", b"hook-signing-key".to_vec());
    assert_eq!(gw.req("PUT", &t.path("/secrets/HOOK_KEY"), Some(&t.admin), key).status, 204);
    install(gw, id, ADMIN_KEY, "notify", false);
    t
}

fn send(gw: &Gateway, t: &Tenant, contact: &str, text: &str) -> String {
    let v = output(gw, &t.member, "notify", &json!({"contact": contact, "text": text}));
    v["message_id"].as_str().unwrap_or_else(|| panic!("no message id: {v}")).to_string()
}

fn ids(v: &Value) -> Vec<String> {
    v["messages"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn members_page_the_outbox_by_state_without_the_contacts_urls() {
    let gw = shared();
    let t = messaging_tenant(gw, "outbox-pages");
    let delivered = send(gw, &t, "ok", "to a listener");
    let pending: Vec<String> = (0..3).map(|i| send(gw, &t, "down", &format!("nobody hears {i}"))).collect();
    let done = poll(Duration::from_secs(20), || {
        let v = gw.get("/v1/outbox?state=delivered", Some(&t.member)).expect(200);
        (ids(&v) == [delivered.clone()]).then_some(v)
    });
    let v = done.expect("the message to the listener is delivered");
    let m = &v["messages"][0];
    assert_eq!((m["state"].as_str(), m["contact"].as_str()), (Some("delivered"), Some("ok")), "{v}");
    assert_eq!(m["body"], "to a listener");
    assert_eq!(m["next_attempt"], Value::Null, "only a pending message has one: {v}");

    // Every state, in id order; the contact's URL never shows.
    let all = gw.get(&t.path("/outbox"), Some(&t.member)).expect(200);
    let mut want: Vec<String> = pending.iter().cloned().chain([delivered.clone()]).collect();
    want.sort();
    assert_eq!(ids(&all), want);
    assert_eq!(all["next"], Value::Null);
    assert!(!all.to_string().contains("127.0.0.1"), "no contact URL: {all}");

    // Pending messages in pages of two, following `next`.
    let first = gw.get("/v1/outbox?state=pending&limit=2", Some(&t.member)).expect(200);
    let mut pending_sorted = pending.clone();
    pending_sorted.sort();
    assert_eq!(ids(&first), pending_sorted[..2]);
    let next = first["next"].as_str().expect("a next page").to_string();
    let second =
        gw.get(&format!("/v1/outbox?state=pending&limit=2&after={next}"), Some(&t.member)).expect(200);
    assert_eq!(ids(&second), pending_sorted[2..]);
    assert_eq!(second["next"], Value::Null);
    for m in second["messages"].as_array().unwrap() {
        assert_eq!(m["state"], "pending");
        assert!(m["next_attempt"].as_u64().is_some(), "{m}");
    }
    assert!(ids(&gw.get("/v1/outbox?state=dead", Some(&t.member)).expect(200)).is_empty());

    // Denied: a guest reads no outbox.
    gw.get("/v1/outbox", Some(&t.guest)).expect_error(403, "forbidden");
    gw.get(&t.path("/outbox"), Some(&t.guest)).expect_error(403, "forbidden");
}

#[test]
fn a_tenant_never_reads_another_tenants_outbox() {
    let gw = shared();
    let a = messaging_tenant(gw, "outbox-a");
    let b = messaging_tenant(gw, "outbox-b");
    send(gw, &b, "down", "b-private-message");
    send(gw, &a, "down", "a's own");
    for cred in [&a.admin, &a.member, &a.guest] {
        // As for a tenant that does not exist.
        gw.get(&b.path("/outbox"), Some(cred)).expect_error(404, "not-found");
    }
    let own = gw.get("/v1/outbox", Some(&a.member)).expect(200);
    assert_eq!(own["messages"].as_array().unwrap().len(), 1, "{own}");
    assert!(!own.to_string().contains("b-private"), "{own}");
    // Paging from B's message id finds only A's own messages.
    let b_ids = ids(&gw.get("/v1/outbox", Some(&b.member)).expect(200));
    let after = gw.get(&format!("/v1/outbox?after={}", b_ids[0]), Some(&a.member)).expect(200);
    assert!(!after.to_string().contains("b-private"), "{after}");
}

#[test]
fn a_message_body_is_scrubbed_of_a_secret_set_after_it_was_sent() {
    let gw = shared();
    let t = messaging_tenant(gw, "outbox-scrub");
    send(gw, &t, "down", "the key is sk-outbox-0123456789abcdef");
    let secret = Body::Raw("application/octet-stream", b"sk-outbox-0123456789abcdef".to_vec());
    assert_eq!(gw.req("PUT", &t.path("/secrets/LATER"), Some(&t.admin), secret).status, 204);
    for cred in [ADMIN_KEY, t.admin.as_str(), t.member.as_str()] {
        let r = gw.get(&t.path("/outbox"), Some(cred));
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains("sk-outbox"), "{}", r.text);
        assert!(r.text.contains("the key is"), "{}", r.text);
    }
}

#[test]
fn bad_outbox_queries_are_refused_naming_the_field() {
    let gw = shared();
    let t = tenant(gw, "outbox-bad");
    let long_after = format!("after={}", "x".repeat(129));
    for (query, word) in [
        ("state=lost", "state"),
        ("state=", "state"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        (long_after.as_str(), "after"),
        ("colour=red", "colour"),
    ] {
        let r = gw.get(&format!("/v1/outbox?{query}"), Some(&t.member));
        let message = r.expect_error(400, "invalid-input");
        assert!(message.contains(word), "{query}: {message}");
    }
    gw.get("/v1/tenants/no-such/outbox", Some(ADMIN_KEY)).expect_error(404, "not-found");
}

#[test]
fn the_cli_prints_a_page_and_where_the_next_one_starts() {
    let gw = shared();
    let t = messaging_tenant(gw, "outbox-cli");
    for i in 0..3 {
        send(gw, &t, "down", &format!("cli message {i}"));
    }
    let out =
        gw.cli(&["outbox", "--state", "pending", "--limit", "2"], &[("WASMCLAW_TOKEN", &t.member)], None);
    let text = out.ok().to_string();
    assert_eq!(text.lines().count(), 3, "a header and two rows: {text}");
    assert!(text.starts_with("ID"), "{text}");
    assert!(out.stderr.contains("more: --after "), "{}", out.stderr);
    let as_operator =
        gw.cli(&["outbox", "--tenant", &t.id, "--json"], &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)], None);
    assert_eq!(as_operator.json()["messages"].as_array().unwrap().len(), 3);
    let bad = gw.cli(&["outbox", "--state", "lost"], &[("WASMCLAW_TOKEN", &t.member)], None);
    assert_eq!(bad.code, Some(2), "a state clap refuses: {}", bad.stderr);
}
