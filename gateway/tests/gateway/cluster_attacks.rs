//! Attacks on the cluster's routing boundary (`forward.rs`): requests the
//! router and the route handlers read as being about different tenants (or
//! about a tenant vs about none), so they are served by a replica that does
//! not hold the tenant's lease. Each test asserts the secure behaviour and
//! fails where the boundary does not hold. Run from `gateway_pg` only.

use crate::cluster_leases::{cluster, index_of, owner, three};
use crate::harness::{ADMIN_KEY, Body, Gateway, install, tenant};
use serde_json::json;
use std::time::{Duration, Instant};

/// A sleeper call at once: the replica's index, the path, extra headers.
type Call = (usize, String, Vec<(String, String)>);

/// `/v1/tenants/<tenant with its first letter percent-encoded>` + rest.
fn encoded(tenant: &str, rest: &str) -> String {
    let first = tenant.as_bytes()[0];
    format!("/v1/tenants/%{first:02x}{}{rest}", &tenant[1..])
}

/// A tenant with a concurrency limit of 1 and the sleeper installed; the
/// replicas, the owner's index and the tenant.
fn one_at_a_time(id: &str) -> ([Gateway; 3], usize, crate::harness::Tenant) {
    let gws = three();
    let t = tenant(&gws[0], id);
    let r = gws[0].req(
        "PUT",
        &format!("/v1/tenants/{id}/policy"),
        Some(ADMIN_KEY),
        Body::Raw("application/toml", b"[limits]\nconcurrency = 1\n".to_vec()),
    );
    assert!(matches!(r.status, 200 | 204), "{r:?}");
    install(&gws[0], id, ADMIN_KEY, "sleeper", false);
    install(&gws[0], id, ADMIN_KEY, "echo", false);
    let o = index_of(&owner(&gws[0], id).expect("the setup took the lease"));
    (gws, o, t)
}

/// Runs `calls` (replica index, path, headers) of the one-second sleeper at
/// once; returns how long they took and their statuses.
fn at_once(gws: &[Gateway; 3], calls: &[Call]) -> (Duration, Vec<u16>) {
    let started = Instant::now();
    let statuses = std::thread::scope(|s| {
        let handles: Vec<_> = calls
            .iter()
            .map(|(i, path, headers)| {
                let gw = &gws[*i];
                s.spawn(move || {
                    let h: Vec<(&str, &str)> =
                        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    gw.req_with("POST", path, None, &h, Body::Json(json!({ "secs": 1 })))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    for r in &statuses {
        eprintln!("{} -> {} {}", r.what, r.status, r.text.chars().take(200).collect::<String>());
    }
    (started.elapsed(), statuses.iter().map(|r| r.status).collect())
}

/// `%70ct` is `pct` to the route handler (axum percent-decodes path
/// parameters) but no tenant to the router (`TenantId::parse("%70ct")`
/// fails, and a malformed path tenant does not fall back to the token):
/// the request is served at whatever replica received it, outside the
/// owner's concurrency slots.
#[test]
fn a_percent_encoded_path_tenant_does_not_escape_the_owners_concurrency_limit() {
    let (gws, o, t) = one_at_a_time("pct");
    let auth = vec![("authorization".to_string(), format!("Bearer {}", t.member))];
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let at = (o + i) % 3;
            let path = if i == 0 {
                "/v1/tenants/pct/skills/sleeper/invoke".to_string()
            } else {
                encoded("pct", "/skills/sleeper/invoke")
            };
            (at, path, auth.clone())
        })
        .collect();
    let (took, statuses) = at_once(&gws, &calls);
    eprintln!("three 1 s calls at concurrency 1, two through an encoded path at non-owners: {took:?}");
    if statuses.iter().all(|s| *s == 200) {
        assert!(took >= Duration::from_millis(2900), "more than one call ran at once: {took:?}");
    }
    for (s, (at, path, _)) in statuses.iter().zip(&calls) {
        assert!(*s == 200 || (400..500).contains(s), "{path} at replica {at}: {s}");
    }
}

/// `Bearer  wct_…` (two spaces): auth trims the credential, the router does
/// not (`strip_prefix("wct_")` fails), so the call is served where it lands.
#[test]
fn a_bearer_token_with_extra_whitespace_does_not_escape_the_owners_concurrency_limit() {
    let (gws, o, t) = one_at_a_time("spaces");
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let at = (o + i) % 3;
            let value = if i == 0 { format!("Bearer {}", t.member) } else { format!("Bearer  {}", t.member) };
            (at, "/v1/skills/sleeper/invoke".to_string(), vec![("authorization".to_string(), value)])
        })
        .collect();
    let (took, statuses) = at_once(&gws, &calls);
    eprintln!("three 1 s calls at concurrency 1, two with `Bearer  ` at non-owners: {took:?}");
    if statuses.iter().all(|s| *s == 200) {
        assert!(took >= Duration::from_millis(2900), "more than one call ran at once: {took:?}");
    }
    for (s, (at, _, h)) in statuses.iter().zip(&calls) {
        assert!(*s == 200 || (400..500).contains(s), "{:?} at replica {at}: {s}", h[0].1);
    }
}

/// Same with a tab after `Bearer `.
#[test]
fn a_bearer_token_after_a_tab_is_routed_to_the_owner() {
    let (gws, o, t) = one_at_a_time("tabs");
    let other = &gws[(o + 1) % 3];
    let before = cluster(other)["forwarded"].as_u64().unwrap();
    let value = format!("Bearer \t{}", t.member);
    let r = other.req_with(
        "POST",
        "/v1/skills/echo/invoke",
        None,
        &[("authorization", value.as_str())],
        Body::Json(json!({ "x": 1 })),
    );
    eprintln!("{r:?}");
    let after = cluster(other)["forwarded"].as_u64().unwrap();
    assert!(
        r.status != 200 || after > before,
        "a call with `Bearer \\t<token>` was served (200) at a non-owner without being forwarded"
    );
}

/// A write through the encoded path at a non-owner: the router serves it
/// here, the fence refuses it (no lease here) — a 503 "tenant moved …
/// retry" that no retry ever fixes. Expected: forwarded (201) or refused as
/// a bad request, never a retryable 503 nor a 500.
#[test]
fn a_write_through_a_percent_encoded_path_at_a_non_owner_is_forwarded_or_refused() {
    let gws = three();
    tenant(&gws[0], "pctw");
    let o = index_of(&owner(&gws[0], "pctw").expect("lease"));
    let other = &gws[(o + 1) % 3];
    for (method, rest, body) in [
        ("POST", "/tokens", Body::Json(json!({ "role": "member", "name": "x" }))),
        ("PUT", "/secrets/api", Body::Json(json!({ "value": "s3cret" }))),
        ("PUT", "/policy", Body::Raw("application/toml", b"[limits]\nconcurrency = 3\n".to_vec())),
    ] {
        let r = other.req(method, &encoded("pctw", rest), Some(ADMIN_KEY), body);
        eprintln!("{method} {rest}: {} {}", r.status, r.text);
        assert!(
            matches!(r.status, 200 | 201 | 204) || (400..500).contains(&r.status),
            "{method} {} at a non-owner: {} {}",
            encoded("pctw", rest),
            r.status,
            r.text
        );
    }
}

/// Reads through the encoded path at a non-owner come from that replica's
/// own caches, never told of the owner's changes (it holds no lease, so
/// nothing is forgotten there): a skill removed at the owner stays
/// invokable at the non-owner.
#[test]
fn a_skill_removed_at_the_owner_is_not_invokable_through_an_encoded_path_elsewhere() {
    let (gws, o, t) = one_at_a_time("stale");
    let other = &gws[(o + 1) % 3];
    let call = || {
        other.req(
            "POST",
            &encoded("stale", "/skills/echo/invoke"),
            Some(&t.member),
            Body::Json(json!({ "x": 1 })),
        )
    };
    let first = call();
    eprintln!("before removal: {} {}", first.status, first.text);
    let r = gws[o].delete("/v1/tenants/stale/skills/echo", Some(ADMIN_KEY));
    assert!(matches!(r.status, 200 | 204), "{r:?}");
    std::thread::sleep(Duration::from_millis(600));
    let listed = gws[o].get("/v1/tenants/stale/skills", Some(ADMIN_KEY)).expect(200);
    assert!(!crate::harness::skill_names(&listed).contains(&"echo".to_string()), "{listed}");
    // The plain path through the same non-owner is forwarded: 404.
    other
        .req("POST", "/v1/tenants/stale/skills/echo/invoke", Some(&t.member), Body::Json(json!({ "x": 1 })))
        .expect_error(404, "not-found");
    let after = call();
    eprintln!("after removal: {} {}", after.status, after.text);
    assert_ne!(after.status, 200, "a removed skill still ran at a non-owner: {}", after.text);
}

/// A suspension written at the owner: the non-owner's cache of the tenant
/// is never refreshed (it holds no lease).
#[test]
fn a_tenant_suspended_at_the_owner_is_not_served_through_an_encoded_path_elsewhere() {
    let (gws, o, t) = one_at_a_time("stale2");
    let other = &gws[(o + 1) % 3];
    let first = other.req(
        "POST",
        &encoded("stale2", "/skills/sleeper/invoke"),
        Some(&t.member),
        Body::Json(json!({ "secs": 0 })),
    );
    eprintln!("before suspension: {} {}", first.status, first.text);
    gws[o].post("/v1/tenants/stale2/suspend", Some(ADMIN_KEY), json!({})).expect(200);
    std::thread::sleep(Duration::from_millis(600));
    let suspended = other.req(
        "POST",
        &encoded("stale2", "/skills/sleeper/invoke"),
        Some(&t.member),
        Body::Json(json!({ "secs": 0 })),
    );
    eprintln!("after suspension: {} {}", suspended.status, suspended.text);
    assert_ne!(suspended.status, 200, "a suspended tenant's skill ran at a non-owner: {}", suspended.text);
}

/// Without any credential, the hop header turns a non-owner into an oracle:
/// an existing tenant answers 503 naming its owner's node id, a missing one
/// 401. Expected: the same answer for both (nothing before authentication),
/// and never an address.
#[test]
fn an_unauthenticated_caller_learns_nothing_of_placement() {
    let gws = three();
    tenant(&gws[0], "placed");
    let o = index_of(&owner(&gws[0], "placed").expect("lease"));
    let other = &gws[(o + 1) % 3];
    let hop = [("x-wasmclaw-hop", "r9")];
    let exists = other.req_with("GET", "/v1/tenants/placed/skills", None, &hop, Body::None);
    let missing = other.req_with("GET", "/v1/tenants/not-placed/skills", None, &hop, Body::None);
    eprintln!("existing: {} {}\nmissing: {} {}", exists.status, exists.text, missing.status, missing.text);
    for r in [&exists, &missing] {
        assert!(
            !r.text.contains("127.0.0.1") && !r.text.contains("http://"),
            "an address leaked: {}",
            r.text
        );
    }
    assert_eq!(
        exists.status, missing.status,
        "an unauthenticated caller tells an existing tenant (and its owner) from a missing one: {} vs {}",
        exists.text, missing.text
    );
}

/// Forwarding passes on what the client sent; the owner's answer must not
/// let a client smuggle a second request (a `transfer-encoding` / content
/// length conflict) nor see the internal address.
#[test]
fn forwarding_passes_no_smuggled_framing_and_no_address() {
    let gws = three();
    let t = tenant(&gws[0], "smuggle");
    install(&gws[0], "smuggle", ADMIN_KEY, "echo", false);
    let o = index_of(&owner(&gws[0], "smuggle").expect("lease"));
    let other = &gws[(o + 1) % 3];
    let auth = format!("Bearer {}", t.member);
    let body = br#"{"x":1}"#.to_vec();
    // Connection-nominated and hop-by-hop headers, duplicated Authorization.
    let r = crate::harness::raw(
        other.addr,
        "POST",
        "/v1/skills/echo/invoke",
        &[
            ("authorization", auth.as_bytes()),
            ("authorization", b"Bearer wct_other_000000000000_00000000000000000000000000000000"),
            ("content-type", b"application/json"),
            ("x-wasmclaw-hop-not", b"1"),
            ("te", b"trailers"),
            ("upgrade", b"h2c"),
        ],
        crate::harness::RawBody::Bytes(body),
    );
    eprintln!("{} {}", r.status, r.body);
    assert!(r.status != 500 && r.status != 502, "{} {}", r.status, r.body);
    assert!(!r.body.contains("127.0.0.1"), "{}", r.body);
    // A huge header forwarded: the owner refuses it or serves it, no 5xx.
    let big = "a".repeat(60 * 1024);
    let r = crate::harness::raw(
        other.addr,
        "POST",
        "/v1/skills/echo/invoke",
        &[
            ("authorization", auth.as_bytes()),
            ("content-type", b"application/json"),
            ("x-big", big.as_bytes()),
        ],
        crate::harness::RawBody::Bytes(br#"{"x":1}"#.to_vec()),
    );
    eprintln!("huge header: {} {}", r.status, r.body.chars().take(300).collect::<String>());
    assert!(!r.body.contains("127.0.0.1"), "{}", r.body);
    assert!(r.status < 500 || r.status == 503, "{} {}", r.status, r.body);
}
