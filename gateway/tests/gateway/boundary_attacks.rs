//! Adversarial probes of three API boundaries (the fourth, the dashboard's
//! Publishers forms, is `dashboard::publisher_attacks`):
//!
//! 1. `GET …/agents/{name}/sessions?after=&limit=`: another tenant's path
//!    (prefix ids `sa`/`sab`, case, `%2F`, `..`, a Cyrillic lookalike, NUL),
//!    agent names in those spellings and a sibling agent (`helper` and
//!    `helper-b`, whose redb keys share `sa\0helper`), cursors built to leave
//!    the `tenant \0 agent \0` key range (NUL, the other agent's and
//!    tenant's key text, U+10FFFF, 256/257 bytes), limits 0, -1, 101,
//!    `usize::MAX` and past it, non-numeric, duplicated; every role, a
//!    revoked token, a suspended tenant, a deleted and re-created tenant and
//!    agent, 300 requests in a row.
//! 2. `GET /v1/trust/{name}/skills`: every tenant role (on a known and an
//!    unknown name: no oracle), no credential, the dashboard's cookie; names
//!    in other case, with `%2F`, `..`, empty, 8,000 bytes, `%FF`; the exact
//!    answer across two tenants.
//! 3. The strict UTF-8 query check (`ApiQuery`): overlong (`%C0%AF`),
//!    surrogate (`%ED%A0%80`) and bare `%FF` in a key or a value, a raw
//!    non-ASCII byte, `+` against `%20`, duplicated keys.
//!
//! Got through when these were written, both fixed since (names start
//! with a letter or digit; every route maps a non-UTF-8 path to the error
//! shape, `routes::PathParams`):
//! - (low) `publisher_names_that_are_dot_segments_are_refused`: `.` and
//!   `..` are valid publisher names (`trust::valid_publisher_name` allows
//!   `.`), but a URL path segment `.`/`..` (or `%2E`/`%2E%2E`) is resolved
//!   away by every WHATWG client: the CLI (`url`'s `path_segments_mut`
//!   drops them) and the browser (the dashboard's remove form) then ask for
//!   another route, so that key cannot be untrusted nor its skills listed
//!   with the operator's own tools.
//! - (minor) `a_trust_name_that_is_not_utf8_gets_the_error_shape`:
//!   `/v1/trust/%FF/skills` (and `DELETE /v1/trust/%FF`) answer axum's
//!   plain-text 400, not `{"error":{…}}` (`routes::trust` takes
//!   `RawPathParams` bare, not through `Scoped`'s mapping).
//!
//! Held: everything else here (each test says what it asserts).
//! Read, not run: `TrustService::signed_by` walks every skill of every
//! tenant per call (as do trust add and remove), unbounded but
//! operator-only; a sessions page decodes up to 100 whole sessions (each
//! bounded by the agent's `history_tokens`) to count their turns.

use crate::harness::{ADMIN_KEY, Body, Gateway, RawResp, Tenant, fake_llm, raw, tenant};
use serde_json::{Value, json};
use wasmclaw::signing::PublisherKey;
use wasmclaw_tests::fake_llm::FAKE_KEY;

fn agent_gateway() -> Gateway {
    let config = format!(
        "[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\nmax_retries = 0\n",
        fake_llm().base("openai")
    );
    Gateway::start_with_config(&config)
}

/// Tenant `id` with agents `names` and, for each `(agent, peer)`, a session.
fn with_sessions(gw: &Gateway, id: &str, names: &[&str], sessions: &[(&str, &str)]) -> Tenant {
    let t = tenant(gw, id);
    let key = Body::Raw("application/octet-stream", FAKE_KEY.as_bytes().to_vec());
    assert_eq!(gw.req("PUT", &t.path("/secrets/LLM_KEY"), Some(&t.admin), key).status, 204);
    for name in names {
        let spec = json!({"name": name, "provider": "openai", "model": "gpt-test", "skills": [],
                          "api_key_secret": "LLM_KEY"});
        gw.post(&t.path("/agents"), Some(&t.admin), spec).expect(201);
    }
    for (name, peer) in sessions {
        let body = json!({"peer": peer, "text": format!("{id}-secret-of-{peer}")});
        gw.post(&t.path(&format!("/agents/{name}/messages")), Some(&t.member), body).expect(200);
    }
    t
}

fn peers(v: &Value) -> Vec<String> {
    let list = v["sessions"].as_array().unwrap_or_else(|| panic!("sessions: {v}"));
    list.iter().map(|s| s["peer"].as_str().unwrap().to_string()).collect()
}

/// The status of `GET /v1/agents/helper/sessions?<query>` sent byte for byte.
fn raw_status(gw: &Gateway, query: &[u8], cred: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(gw.addr).unwrap();
    let mut head = b"GET /v1/agents/helper/sessions?".to_vec();
    head.extend_from_slice(query);
    head.extend_from_slice(
        format!(" HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {cred}\r\n\r\n")
            .as_bytes(),
    );
    stream.write_all(&head).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let line = String::from_utf8_lossy(&answer[..answer.len().min(12)]).to_string();
    line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {line:?}"))
}

fn raw_get(gw: &Gateway, path: &str, cred: &str) -> RawResp {
    let auth = format!("Bearer {cred}");
    raw(gw.addr, "GET", path, &[("authorization", auth.as_bytes())], crate::harness::RawBody::Empty)
}

#[test]
fn sessions_of_another_tenant_or_agent_are_never_listed() {
    let gw = agent_gateway();
    // `sa\0` is a prefix of no `sab\0…` key; `sa\0helper` is a prefix of
    // `sa\0helper-b\0…`.
    let a = with_sessions(&gw, "sa", &["helper", "helper-b"], &[("helper", "alice"), ("helper", "bob")]);
    let body = json!({"peer": "carol", "text": "sa-secret-of-carol"});
    gw.post("/v1/agents/helper-b/messages", Some(&a.member), body).expect(200);
    let b = with_sessions(&gw, "sab", &["helper"], &[("helper", "mallory")]);
    let page = gw.get("/v1/agents/helper/sessions", Some(&a.member)).expect(200);
    assert_eq!(peers(&page), ["alice", "bob"], "{page}");
    assert_eq!(page["next"], Value::Null, "{page}");
    assert_eq!(page["sessions"][0].as_object().unwrap().len(), 3, "peer, turns, updated only: {page}");
    assert!(!page.to_string().contains("secret-of"), "no turn's text: {page}");

    // Another tenant's path, in every spelling: 404 as for no tenant at all.
    for t in ["sab", "SAB", "sab%2F", "sa%2F..%2Fsab", "%D1%95ab", "sab%00", "zz", "sa%00"] {
        for cred in [&a.admin, &a.member, &a.guest] {
            let r = gw.get(&format!("/v1/tenants/{t}/agents/helper/sessions"), Some(cred));
            let message = r.expect_error(404, "not-found");
            assert!(message.starts_with("no tenant "), "{t}: {message}");
            assert!(!r.text.contains("mallory"), "{t}: {}", r.text);
        }
    }
    for path in
        ["/v1/tenants/sa/../sab/agents/helper/sessions", "/v1/tenants/sa/%2E%2E/sab/agents/helper/sessions"]
    {
        let r = raw_get(&gw, path, &a.admin);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("mallory"), "{path}: {}", r.body);
    }
    // Agent names that are not `helper`: none is another agent's sessions.
    for name in ["HELPER", "helper%00", "helper%2F..%2Fhelper-b", "helper-", "h%D0%B5lper", "helper%00b"] {
        let r = gw.get(&format!("/v1/agents/{name}/sessions"), Some(&a.member));
        r.expect_error(404, "not-found");
    }
    for path in
        ["/v1/agents/../agents/helper-b/sessions", "/v1/agents/%2E%2E/sessions", "/v1/agents/./sessions"]
    {
        let r = raw_get(&gw, path, &a.member);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("carol"), "{path}: {}", r.body);
    }
    // The sibling agent's sessions are its own.
    let sibling = gw.get("/v1/agents/helper-b/sessions", Some(&a.member)).expect(200);
    assert_eq!(peers(&sibling), ["carol"], "{sibling}");

    // Cursors: whatever `after` is, the page is a suffix of A/helper's peers.
    let cursors: &[(&str, &[&str])] = &[
        ("", &["alice", "bob"]),
        ("%00", &["alice", "bob"]),
        ("%00%00%00", &["alice", "bob"]),
        ("a", &["alice", "bob"]),
        ("alice", &["bob"]),
        ("alice%00", &["bob"]),
        ("%00helper-b%00carol", &["alice", "bob"]),
        ("-b%00carol", &["alice", "bob"]),
        ("..%2F..%2Fsab%00helper%00", &["alice", "bob"]),
        ("bob", &[]),
        ("~", &[]),
        ("%7F", &[]),
        ("%F4%8F%BF%BF", &[]),
        ("%EF%BF%BF%EF%BF%BF", &[]),
    ];
    for (after, expected) in cursors {
        for path in ["/v1/agents/helper/sessions".to_string(), a.path("/agents/helper/sessions")] {
            let v = gw.get(&format!("{path}?after={after}"), Some(&a.member)).expect(200);
            assert_eq!(peers(&v), *expected, "after={after}: {v}");
            assert_eq!(v["next"], Value::Null, "after={after}: {v}");
        }
    }
    let long = "z".repeat(256);
    assert_eq!(
        peers(&gw.get(&format!("/v1/agents/helper/sessions?after={long}"), Some(&a.member)).expect(200)),
        Vec::<String>::new()
    );
    let e = gw
        .get(&format!("/v1/agents/helper/sessions?after={long}z"), Some(&a.member))
        .expect_error(400, "invalid-input");
    assert_eq!(e, "invalid input: after: not a peer");
    // Paging by `next` stays in A/helper and ends.
    let p1 = gw.get("/v1/agents/helper/sessions?limit=1", Some(&a.member)).expect(200);
    assert_eq!((peers(&p1), p1["next"].clone()), (vec!["alice".to_string()], json!("alice")));
    let p2 = gw.get("/v1/agents/helper/sessions?limit=1&after=alice", Some(&a.member)).expect(200);
    assert_eq!((peers(&p2), p2["next"].clone()), (vec!["bob".to_string()], json!("bob")));
    let p3 = gw.get("/v1/agents/helper/sessions?limit=1&after=bob", Some(&a.member)).expect(200);
    assert_eq!((peers(&p3), p3["next"].clone()), (Vec::<String>::new(), Value::Null));
    // `%2B1` is `+1`, which Rust reads as 1.
    assert_eq!(
        peers(&gw.get("/v1/agents/helper/sessions?limit=%2B1", Some(&a.member)).expect(200)),
        ["alice"]
    );
    // Limits out of 1..=100, not numbers, or twice.
    for limit in [
        "0",
        "-1",
        "101",
        "18446744073709551615",
        "18446744073709551616",
        "abc",
        "",
        "1e1",
        "0x10",
        "1.0",
        "+1",
        "1&limit=2",
    ] {
        let r = gw.get(&format!("/v1/agents/helper/sessions?limit={limit}"), Some(&a.member));
        r.expect_error(400, "invalid-input");
    }
    for q in ["after=a&after=b", "peer=alice", "tenant=sab", "agent=helper-b"] {
        gw.get(&format!("/v1/agents/helper/sessions?{q}"), Some(&a.member))
            .expect_error(400, "invalid-input");
    }

    // Roles: the operator by path (not on the short route), admin, member;
    // never a guest.
    let op = gw.get(&b.path("/agents/helper/sessions"), Some(ADMIN_KEY)).expect(200);
    assert_eq!(peers(&op), ["mallory"]);
    let e = gw.get("/v1/agents/helper/sessions", Some(ADMIN_KEY)).expect_error(400, "invalid-input");
    assert!(e.contains("the operator names the tenant"), "{e}");
    assert_eq!(peers(&gw.get("/v1/agents/helper/sessions", Some(&a.admin)).expect(200)), ["alice", "bob"]);
    for path in ["/v1/agents/helper/sessions".to_string(), a.path("/agents/helper/sessions")] {
        let e = gw.get(&path, Some(&a.guest)).expect_error(403, "forbidden");
        assert_eq!(e, "a guest token may not read sessions");
    }
    // 300 in a row: the same page each time.
    for _ in 0..300 {
        assert_eq!(gw.get("/v1/agents/helper/sessions", Some(&a.member)).expect(200), page);
    }
    // A revoked token; a suspended tenant (its neighbour unaffected).
    let (spare, id) = crate::harness::mint(&gw, "sa", ADMIN_KEY, "member");
    gw.delete(&a.path(&format!("/tokens/{id}")), Some(&a.admin)).expect(200);
    gw.get("/v1/agents/helper/sessions", Some(&spare)).expect_error(401, "unauthorized");
    gw.post(&b.path("/suspend"), Some(ADMIN_KEY), json!({})).expect(200);
    gw.get("/v1/agents/helper/sessions", Some(&b.member)).expect_error(403, "suspended");
    assert_eq!(gw.get("/v1/agents/helper/sessions", Some(&a.member)).expect(200), page);
    // Deleted and created again: none of its predecessor's sessions; an
    // agent removed and created again: none of its own.
    gw.delete(&b.path(""), Some(ADMIN_KEY)).expect(200);
    let b2 = with_sessions(&gw, "sab", &["helper"], &[]);
    let v = gw.get("/v1/agents/helper/sessions", Some(&b2.member)).expect(200);
    assert_eq!((peers(&v), v["next"].clone()), (Vec::<String>::new(), Value::Null));
    gw.get("/v1/agents/helper/sessions", Some(&b.member)).expect_error(401, "unauthorized");
    gw.delete("/v1/agents/helper-b", Some(&a.admin)).expect(200);
    let spec =
        json!({"name": "helper-b", "provider": "openai", "model": "gpt-test", "api_key_secret": "LLM_KEY"});
    gw.post("/v1/agents", Some(&a.admin), spec).expect(201);
    assert_eq!(
        peers(&gw.get("/v1/agents/helper-b/sessions", Some(&a.member)).expect(200)),
        Vec::<String>::new()
    );
}

#[test]
fn the_query_of_a_sessions_page_is_strict_utf8() {
    let gw = agent_gateway();
    let a = with_sessions(&gw, "qa", &["helper"], &[("helper", "alice"), ("helper", "bob")]);
    for q in [
        "after=%C0%AF",
        "after=%C0%80",
        "after=%ED%A0%80",
        "after=%FF",
        "after=alice%FF",
        "after=%F4%90%80%80",
        "after=%E2%82",
        "limit=%FF",
        "%FF=1",
        "after%FF=alice",
        "%C0%AF=1&after=alice",
    ] {
        let r = gw.get(&format!("/v1/agents/helper/sessions?{q}"), Some(&a.member));
        let e = r.expect_error(400, "invalid-input");
        assert_eq!(e, "the query string is not UTF-8 once percent-decoded", "{q}");
    }
    // `+` and `%20` are the same space; a raw space or byte is refused by
    // the HTTP parser before any route.
    let plus = gw.get("/v1/agents/helper/sessions?after=alice+", Some(&a.member)).expect(200);
    let pct = gw.get("/v1/agents/helper/sessions?after=alice%20", Some(&a.member)).expect(200);
    assert_eq!((peers(&plus), peers(&pct)), (vec!["bob".to_string()], vec!["bob".to_string()]));
    // Raw bytes in the query: UTF-8 is as its percent-encoding; a byte that
    // is not UTF-8 never reaches a page.
    let r = raw_get(&gw, "/v1/agents/helper/sessions?after=alic\u{e9}", &a.member);
    assert_eq!((r.status, r.body.contains("\"bob\"")), (200, true), "{}", r.body);
    for bad in [&b"after=\xff"[..], b"after=\xc0\xaf", b"after=\xed\xa0\x80", b"\xff=1"] {
        let status = raw_status(&gw, bad, &a.member);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(bad));
    }
    // Percent-encoded separators stay inside the value.
    let v = gw.get("/v1/agents/helper/sessions?after=alice%26limit%3D0", Some(&a.member)).expect(200);
    assert_eq!(peers(&v), ["bob"]);
    // A bad query from a guest is still not a page for it.
    let r = gw.get("/v1/agents/helper/sessions?after=alice", Some(&a.guest));
    r.expect_error(403, "forbidden");
}

fn package_b64(skill: &str, key: &PublisherKey) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(wasmclaw_tests::package_with(skill, key))
}

#[test]
fn the_skills_a_key_signed_are_the_operators_alone_and_exactly_what_the_docs_say() {
    let gw = Gateway::start();
    let other = PublisherKey::generate();
    let key = other.public().to_string();
    gw.post("/v1/trust", Some(ADMIN_KEY), json!({"name": "other", "key": key})).expect(201);
    let a = tenant(&gw, "ta");
    let b = tenant(&gw, "tb");
    for t in [&a, &b] {
        gw.post(&t.path("/skills"), Some(&t.admin), json!({"package": package_b64("echo", &other)}))
            .expect(201);
    }
    gw.post(&a.path("/skills"), Some(&a.admin), crate::harness::install_body("greeter-v1", false))
        .expect(201);
    let v = gw.get("/v1/trust/other/skills", Some(ADMIN_KEY)).expect(200);
    let expected = json!({"name": "other", "key": key,
                          "skills": [{"tenant": "ta", "skill": "echo"}, {"tenant": "tb", "skill": "echo"}]});
    assert_eq!(v, expected);

    // No tenant role, on a name that is trusted or not (no oracle).
    for cred in [&a.admin, &a.member, &a.guest, &b.admin] {
        for name in ["other", "tests", "nobody"] {
            let e = gw.get(&format!("/v1/trust/{name}/skills"), Some(cred)).expect_error(403, "forbidden");
            assert!(e.ends_with("may not list the skills a key signed"), "{e}");
        }
        gw.get(&a.path("/trust/other/skills"), Some(cred)).expect_error(404, "not-found");
    }
    gw.get("/v1/trust/other/skills", None).expect_error(401, "unauthorized");
    let r = gw.req_with(
        "GET",
        "/v1/trust/other/skills",
        None,
        &[("cookie", "__Host-wasmclaw-session=x")],
        Body::None,
    );
    r.expect_error(401, "unauthorized");
    let events = crate::harness::audit_events(&gw, "ta");
    assert!(
        crate::harness::has_event(&events, "list the skills a key signed", Some("role-denied")),
        "{events:?}"
    );

    // Names that are not `other`.
    for name in ["OTHER", "other%2F", "other%2Fskills", "other%00", "oth%D0%B5r", "..%2Fother"] {
        let e = gw.get(&format!("/v1/trust/{name}/skills"), Some(ADMIN_KEY)).expect_error(404, "not-found");
        assert!(e.starts_with("not found: no trusted publisher named "), "{name}: {e}");
    }
    let long = "o".repeat(8000);
    gw.get(&format!("/v1/trust/{long}/skills"), Some(ADMIN_KEY)).expect_error(404, "not-found");
    gw.get("/v1/trust//skills", Some(ADMIN_KEY)).expect_error(404, "not-found");
    // Sent as written (a WHATWG client would resolve the dots away).
    for path in ["/v1/trust/../trust/other/skills", "/v1/trust/%2E%2E/skills", "/v1/trust/./skills"] {
        let r = raw_get(&gw, path, ADMIN_KEY);
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(!r.body.contains("\"ta\""), "{path}: {}", r.body);
    }
    // Untrusted, the key has no name: 404; trusted again, the same answer.
    gw.delete("/v1/trust/other", Some(ADMIN_KEY)).expect(200);
    gw.get("/v1/trust/other/skills", Some(ADMIN_KEY)).expect_error(404, "not-found");
    gw.post("/v1/trust", Some(ADMIN_KEY), json!({"name": "other", "key": key})).expect(201);
    assert_eq!(gw.get("/v1/trust/other/skills", Some(ADMIN_KEY)).expect(200), expected);
}

#[test]
fn a_trust_name_that_is_not_utf8_gets_the_error_shape() {
    let gw = Gateway::start();
    for name in ["%FF", "%C0%AF", "%ED%A0%80"] {
        gw.get(&format!("/v1/trust/{name}/skills"), Some(ADMIN_KEY)).expect_error(400, "invalid-input");
        gw.delete(&format!("/v1/trust/{name}"), Some(ADMIN_KEY)).expect_error(400, "invalid-input");
    }
}

#[test]
fn publisher_names_that_are_dot_segments_are_refused() {
    let gw = Gateway::start();
    for (name, encoded) in [(".", "%2E"), ("..", "%2E%2E")] {
        let key = PublisherKey::generate().public().to_string();
        let r = gw.post("/v1/trust", Some(ADMIN_KEY), json!({"name": name, "key": key}));
        if r.status == 201 {
            // What the operator's CLI sends for `trust remove ..`: `url`
            // drops the segment (DELETE /v1/trust, 405).
            let cli = gw.cli(&["trust", "remove", name], &[("WASMCLAW_ADMIN_KEY", ADMIN_KEY)], None);
            let auth = format!("Bearer {ADMIN_KEY}");
            let path = format!("/v1/trust/{encoded}");
            let rm = raw(
                gw.addr,
                "DELETE",
                &path,
                &[("authorization", auth.as_bytes())],
                crate::harness::RawBody::Empty,
            );
            panic!(
                "publisher {name:?} was trusted (201); `wasmclaw trust remove {name}` exited {:?}: {}; \
                 only a raw DELETE {path} removes it: {}",
                cli.code,
                cli.stderr.trim(),
                rm.status
            );
        }
        let e = r.expect_error(400, "invalid-input");
        assert!(e.contains("publisher name"), "{e}");
    }
}
