//! Attacks on the new forwarding rules (`forward.rs`): the signed hop
//! header (`<node>;<secs>;<HMAC>` over node, time, method, path+query),
//! `may_know` before routing, the `forwardable` refusal of paths a URL
//! parser would rewrite, and the relay of small answers whole. Fake owners
//! are a node row and a lease written with SQL and a socket the test
//! controls (which, unlike a client, sees the signed hop); real replicas
//! come from `two()`. Each test asserts the secure behaviour: a failure
//! shows a hole. Run from `gateway_pg` only.

use crate::cluster_fakes::{Act, fake, fake_owner, raw, replica, send_raw_with, sql, tenant_with_token, two};
use crate::harness::{ADMIN_KEY, audit_events, client, has_event, poll};
use serde_json::json;
use std::net::TcpListener;
use std::time::Duration;

/// An answer's status, headers and body.
type Shape = (u16, Vec<(String, String)>, String);

/// A credential's header lines for a tenant.
type Cred = Box<dyn Fn(&str) -> String>;

/// The `x-wasmclaw-hop` value of a request as the owner received it.
fn hop_of(request: &str) -> Option<String> {
    request
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-wasmclaw-hop")))
        .map(|(_, v)| v.trim().to_string())
}

const UPDATE: &str =
    r#"{"update_id":1,"message":{"message_id":1,"from":{"id":5},"chat":{"id":5},"text":"hi"}}"#;
const TG: &str = "x-telegram-bot-api-secret-token: guess\r\ncontent-type: application/json\r\n";

/// Whether `text` holds something shaped like a signed hop value: `;`,
/// then 64 hex digits.
fn holds_a_hop_tag(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len())
        .any(|i| b[i] == b';' && b.len() >= i + 65 && b[i + 1..i + 65].iter().all(u8::is_ascii_hexdigit))
}

/// A signed hop captured on the wire (the fake owner sees it) is replayed
/// within its 30 s at the replica that signed it, on requests other than
/// the one it was signed for: another method, another query, another
/// percent-encoding of the same path, a trailing slash, an empty
/// segment, another route. Expected: none checks — each is forwarded once
/// with a fresh hop of this replica, never refused as "already hopped".
/// Only the exact request it was signed for (same method, path, query)
/// is taken as hopped: 503 `tenant-unavailable`, nothing forwarded, as
/// the one-hop rule says.
#[test]
fn a_captured_hop_checks_for_its_exact_request_only() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "capt" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "capt", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(2));
    let auth = format!("authorization: Bearer {ADMIN_KEY}\r\n");
    let first = raw(gw.addr, "GET", "/v1/tenants/capt/tokens", &auth, "").expect("an answer");
    assert_eq!((first.status, first.body.as_str()), (200, r#"{"fake":"owner"}"#), "{first:?}");
    let got = owner.join().unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let hop = hop_of(&got[0]).expect("a signed hop");
    let variants: [(&str, &str, &str); 7] = [
        ("POST", "/v1/tenants/capt/tokens", r#"{"role":"admin"}"#),
        ("DELETE", "/v1/tenants/capt/tokens", ""),
        ("GET", "/v1/tenants/capt/tokens?x=1", ""),
        ("GET", "/v1/tenants/capt/tokens?", ""),
        ("GET", "/v1/tenants/%63apt/tokens", ""),
        ("GET", "/v1/tenants/capt/tokens/", ""),
        ("GET", "/v1/tenants/capt/skills", ""),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "capt", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(8));
    let with_hop = format!("{auth}x-wasmclaw-hop: {hop}\r\n");
    let mut answers = Vec::new();
    for (method, path, body) in variants {
        let headers = if body.is_empty() {
            with_hop.clone()
        } else {
            format!("{with_hop}content-type: application/json\r\n")
        };
        let r = raw(gw.addr, method, path, &headers, body).expect("an answer");
        answers.push((method, path, r.status, r.body));
    }
    let replayed = raw(gw.addr, "GET", "/v1/tenants/capt/tokens", &with_hop, "").expect("an answer");
    let got = owner.join().unwrap();
    eprintln!("replays: {answers:?}\nexact replay: {replayed:?}");
    for (method, path, status, body) in &answers {
        assert_eq!(
            (*status, body.as_str()),
            (200, r#"{"fake":"owner"}"#),
            "{method} {path}: the hop signed for GET /v1/tenants/capt/tokens was taken for it"
        );
    }
    assert_eq!(got.len(), answers.len(), "each variant forwarded once, the exact replay not at all: {got:?}");
    for request in &got {
        let fresh = hop_of(request).expect("a hop");
        assert_ne!(fresh, hop, "the replayed hop was passed on: {request}");
        assert!(fresh.starts_with("r1;"), "{fresh}");
    }
    assert_eq!(replayed.status, 503, "{replayed:?}");
    crate::harness::assert_error_shape("replay", replayed.status, &replayed.body, Some("tenant-unavailable"));
}

/// A tenant looks for the hop value anywhere it can read: the relayed
/// answers' headers and bodies (a success, a route error, a missing
/// route), and its audit records at the owner after forwarded calls.
/// Expected: no `x-wasmclaw-hop` header and nothing shaped like a signed
/// hop (`;` and 64 hex digits) ever reaches it.
#[test]
fn no_answer_or_audit_record_shows_a_hop_to_a_tenant() {
    let (owner, other) = two();
    let token = tenant_with_token(&owner, "peeker");
    assert_eq!(crate::cluster_leases::owner(&owner, "peeker").as_deref(), Some("r1"));
    let auth = format!("authorization: Bearer {token}\r\n");
    let mut seen = Vec::new();
    for (method, path, body) in [
        ("GET", "/v1/tokens", ""),
        ("GET", "/v1/tenants/peeker/tokens", ""),
        ("POST", "/v1/skills/none/invoke", r#"{"input":{}}"#),
        ("GET", "/v1/tenants/peeker/nothing-here", ""),
        ("POST", "/v1/tenants/peeker/tokens", r#"{"role":"nope"}"#),
        ("GET", "/v1/tenants/peeker/audit", ""),
    ] {
        let headers = format!("{auth}content-type: application/json\r\n");
        seen.push((path, raw(other.addr, method, path, &headers, body).expect("an answer")));
    }
    let before = crate::cluster_leases::cluster(&other)["forwarded"].as_u64().unwrap();
    assert!(before >= 6, "the calls were forwarded: {before}");
    for (path, a) in &seen {
        assert!(a.head.iter().all(|(k, _)| k != "x-wasmclaw-hop"), "{path}: {a:?}");
        assert!(!a.head.iter().any(|(_, v)| holds_a_hop_tag(v)), "{path}: {a:?}");
        assert!(!holds_a_hop_tag(&a.body), "{path}: {a:?}");
    }
    let events = audit_events(&owner, "peeker");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("x-wasmclaw-hop") && !holds_a_hop_tag(&text), "{text}");
}

/// An anonymous caller at a replica that does not own a tenant sends an
/// inbound request (no bearer credential, so no `may_know`) whose path a
/// URL parser would rewrite: a `'` in the query, `%2e%2e`, a trailing
/// `..`. For an existing tenant owned by the other replica, the request
/// is routed as a forward and refused by `forwardable` (400 "cannot be
/// forwarded"); for a missing tenant it is served here by the inbound
/// route (401 "unknown channel…") or the fallback (404). Expected: the
/// same answer for both, so that anyone on the internet cannot tell which
/// tenants exist.
#[test]
fn an_anonymous_inbound_caller_cannot_tell_an_existing_tenant_by_an_unforwardable_path() {
    let (owner, other) = two();
    tenant_with_token(&owner, "hooked");
    assert_eq!(crate::cluster_leases::owner(&owner, "hooked").as_deref(), Some("r1"));
    let mut differ = Vec::new();
    for shape in [
        "/v1/inbound/{t}/tg?a'b",
        "/v1/inbound/{t}/%2e%2e",
        "/v1/inbound/{t}/tg/..",
        "/v1/inbound/{t}/t%2E%2E",
    ] {
        let ask = |t: &str| raw(other.addr, "POST", &shape.replace("{t}", t), TG, UPDATE).expect("an answer");
        let (exists, missing) = (ask("hooked"), ask("not-hooked"));
        eprintln!("{shape}\n  existing: {exists:?}\n  missing:  {missing:?}");
        if exists.seen("hooked") != missing.seen("not-hooked") {
            differ.push((shape, exists.status, exists.body, missing.status, missing.body));
        }
    }
    assert!(
        differ.is_empty(),
        "an anonymous caller tells an existing tenant from a missing one: {differ:#?}"
    );
}

/// The same oracle with `HEAD` on the inbound route: the owner's 405 is
/// relayed as an answer of a known length whose body `reqwest` reports as
/// 0 bytes (a HEAD answer has none), so the relayed answer says
/// `content-length: 0` where the local one for a missing tenant gives the
/// length of its 405 body. Expected: every header the same.
#[test]
fn an_anonymous_inbound_caller_cannot_tell_an_existing_tenant_by_a_head_request() {
    let (owner, other) = two();
    tenant_with_token(&owner, "headed");
    assert_eq!(crate::cluster_leases::owner(&owner, "headed").as_deref(), Some("r1"));
    let ask = |t: &str| raw(other.addr, "HEAD", &format!("/v1/inbound/{t}/tg"), "", "").expect("an answer");
    let (exists, missing) = (ask("headed"), ask("not-headed"));
    eprintln!("existing: {exists:?}\nmissing:  {missing:?}");
    assert_eq!(exists.status, 405, "{exists:?}");
    assert_eq!(exists.seen("headed"), missing.seen("not-headed"), "HEAD tells an existing tenant");
}

/// The same oracle with a body shorter than its `content-length` (the
/// client half-closes): for an existing tenant owned elsewhere the
/// forwarder's own refusal ("does not match its content-length"), for a
/// missing one the inbound route's body extractor. Expected: the same
/// answer (or no answer) for both.
#[test]
fn an_anonymous_inbound_caller_cannot_tell_an_existing_tenant_by_a_short_body() {
    let (owner, other) = two();
    tenant_with_token(&owner, "shorted");
    assert_eq!(crate::cluster_leases::owner(&owner, "shorted").as_deref(), Some("r1"));
    let ask = |t: &str| {
        let req = format!(
            "POST /v1/inbound/{t}/tg HTTP/1.1\r\nhost: x\r\n{TG}content-length: 1000\r\n\r\n{{\"update_id\":1}}"
        );
        send_raw_with(other.addr, req.as_bytes(), true)
    };
    let (exists, missing) = (ask("shorted"), ask("not-shorted"));
    eprintln!("existing: {exists:?}\nmissing:  {missing:?}");
    assert_eq!(
        exists.as_ref().map(|a| a.seen("shorted")),
        missing.as_ref().map(|a| a.seen("not-shorted")),
        "a short body tells an existing tenant"
    );
}

/// `may_know` before routing: the same probes about a tenant owned by
/// another replica (a fake owner), one owned here, one no replica owns,
/// one deleted, and one that never existed, each with no credential, a
/// malformed one, a forged token naming the tenant, a deleted tenant's
/// token, and another tenant's valid token. Expected: for each credential
/// one answer (status, headers, body with the tenant's name masked)
/// whatever the tenant; nothing reaches the fake owner; the unowned
/// tenant stays unowned.
#[test]
fn may_know_gives_one_answer_wherever_and_whether_the_tenant_is() {
    let gw = replica("r1", None);
    let prober = tenant_with_token(&gw, "prober");
    tenant_with_token(&gw, "ownedhere");
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "unowned-1" })).expect(201);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "elsewhere" })).expect(201);
    let dead = tenant_with_token(&gw, "deleted-1");
    gw.delete("/v1/tenants/deleted-1", Some(ADMIN_KEY)).expect(200);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "elsewhere", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(6));
    // Names of one length: the answers' lengths are compared too.
    let tenants = ["elsewhere", "ownedhere", "unowned-1", "deleted-1", "never-was"];
    let creds: Vec<(&str, Cred)> = vec![
        ("none", Box::new(|_| String::new())),
        ("malformed", Box::new(|_| "authorization: Bearer wct_x\r\n".into())),
        (
            "forged",
            Box::new(|t| {
                format!("authorization: Bearer wct_{t}_000000000000_00000000000000000000000000000000\r\n")
            }),
        ),
        ("deleted's", Box::new(move |_| format!("authorization: Bearer {dead}\r\n"))),
        ("another's", Box::new(move |_| format!("authorization: Bearer {prober}\r\n"))),
    ];
    let mut differ = Vec::new();
    for (name, cred) in &creds {
        for (method, shape, body) in
            [("GET", "/v1/tenants/{t}/skills", ""), ("POST", "/v1/tenants/{t}/tokens", r#"{"role":"admin"}"#)]
        {
            let mut first: Option<Shape> = None;
            for t in tenants {
                let headers = format!("{}content-type: application/json\r\n", cred(t));
                let a = raw(gw.addr, method, &shape.replace("{t}", t), &headers, body).expect("an answer");
                let seen = a.seen(t);
                assert!(a.status == 401 || a.status == 404, "{name} {method} {shape} {t}: {a:?}");
                match &first {
                    None => first = Some(seen),
                    Some(f) if *f != seen => {
                        differ.push(format!("{name} {method} {shape} {t}: {seen:?} vs {f:?}"))
                    }
                    Some(_) => {}
                }
            }
        }
    }
    // The forged token on a short route, about each tenant.
    for t in tenants {
        let r = gw.get("/v1/skills", Some(&format!("wct_{t}_000000000000_00000000000000000000000000000000")));
        r.expect_error(401, "unauthorized");
    }
    let got = owner.join().unwrap();
    assert!(got.is_empty(), "a caller who may not know reached the owner: {got:?}");
    assert_eq!(crate::cluster_leases::owner(&gw, "unowned-1"), None, "a refused probe placed the tenant");
    assert!(differ.is_empty(), "answers tell the tenants apart: {differ:#?}");
}

/// A token of tenant `mallory` used on tenant `victim`'s path in a
/// cluster: `may_know` answers 404 before the route runs. On a single
/// gateway the route's own check answers 404 *and* audits the
/// cross-tenant attempt; in a cluster nothing is recorded, so the
/// operator loses the trail of every cross-tenant probe. Expected: the
/// 404, and a `cross-tenant` `denied` record for mallory, as a probe that
/// reaches the route gets (checked first, with a path tenant spelled so
/// that routing skips it).
#[test]
fn a_cross_tenant_probe_refused_before_routing_is_audited() {
    let gw = replica("r1", None);
    let control = tenant_with_token(&gw, "control");
    let mallory = tenant_with_token(&gw, "mallory");
    tenant_with_token(&gw, "victim");
    // Routing does not read `victim%2F` as a tenant: the route refuses it,
    // and audits.
    gw.get("/v1/tenants/victim%2F/skills", Some(&control)).expect_error(404, "not-found");
    let recorded = |t: &str| {
        poll(Duration::from_secs(3), || {
            has_event(&audit_events(&gw, t), "cross-tenant", Some("denied")).then_some(())
        })
        .is_some()
    };
    assert!(recorded("control"), "the route audits a cross-tenant probe: {:?}", audit_events(&gw, "control"));
    gw.get("/v1/tenants/victim/skills", Some(&mallory)).expect_error(404, "not-found");
    assert!(
        recorded("mallory"),
        "the probe refused by may_know left no audit record: {:?}",
        audit_events(&gw, "mallory")
    );
}

/// A member token of a tenant is used at a non-owner (which caches it as
/// valid while checking `may_know`), then revoked at the owner; at once
/// the lease is freed so that the non-owner serves the tenant itself
/// with its own cache. Expected: the revoked token is refused there
/// (401), and nothing of the tenant is served to it.
#[test]
fn a_revoked_token_warm_in_a_non_owners_cache_is_refused() {
    let (owner, other) = two();
    tenant_with_token(&owner, "warm");
    let (member, id) = crate::harness::mint(&owner, "warm", ADMIN_KEY, "member");
    assert_eq!(crate::cluster_leases::owner(&owner, "warm").as_deref(), Some("r1"));
    other.get("/v1/skills", Some(&member)).expect(200);
    owner.delete(&format!("/v1/tenants/warm/tokens/{id}"), Some(ADMIN_KEY)).expect(200);
    sql(&owner, "DELETE FROM tenant_leases WHERE tenant = 'warm';");
    let r = other.get("/v1/skills", Some(&member));
    eprintln!("{r:?}; owner now {:?}", crate::cluster_leases::owner(&owner, "warm"));
    r.expect_error(401, "unauthorized");
    let r = client().get(other.url("/v1/skills")).bearer_auth(&member).send().unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
