//! Attacks on the forwarding boundary (`forward.rs`): a request that
//! lands on a replica that does not own its tenant is sent once to the
//! owner. These tests try to make one request run twice, reach another
//! tenant, cause a second hop, tell whether a tenant exists, or pin the
//! owner's connections. The owner is either a real replica or a fake (a
//! node row and a lease written into the database, and a socket the test
//! controls). Each test asserts the secure behaviour: a hole shows as a
//! failure. Run from `gateway_pg` only.
//!
//! What got through when these were written (all fixed since): the relayed answer's framing
//! (chunked, no `content-length`) tells an existing tenant from a missing
//! one to anyone; a forged hop header does the same on the inbound route,
//! whose senders get 401 "missing credential" when the owner is down; the
//! owner's URL is rebuilt with dot segments resolved, so it runs another
//! path than the one routed; a request that reached a second owner is
//! reported as never sent; an unauthenticated request takes a free lease;
//! the forwarder's idle pool holds the owner's connection slots.

use crate::cluster_fakes::{
    Act, closed_port, fake, fake_owner, get_raw, read_request, replica, replica_with, send_raw, sql,
    tenant_with_token, two,
};
use crate::cluster_leases::CONFIG;
use crate::harness::{ADMIN_KEY, Body, client, install, token_ids};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// An unauthenticated caller at a replica that does not own a tenant asks
/// about it; the answer is the owner's 401, relayed — and about a tenant
/// that does not exist, the same 401 made here. Status and body agree,
/// but the relay drops the owner's `content-length` and streams its body,
/// so the relayed answer is chunked and the local one is not: anyone can
/// tell an existing tenant (owned by another replica) from a missing one
/// without a credential. Expected: both answers identical, framing and
/// headers included.
#[test]
fn an_unauthenticated_caller_cannot_tell_an_existing_tenant_by_the_framing_of_the_answer() {
    let (owner, other) = two();
    tenant_with_token(&owner, "framed");
    assert_eq!(crate::cluster_leases::owner(&owner, "framed").as_deref(), Some("r1"));
    let exists = get_raw(other.addr, "/v1/tenants/framed/skills", "").expect("an answer");
    let missing = get_raw(other.addr, "/v1/tenants/not-framed/skills", "").expect("an answer");
    eprintln!("existing: {exists:?}\nmissing: {missing:?}");
    assert_eq!(exists.status, 401, "{exists:?}");
    assert_eq!((exists.status, &exists.body), (missing.status, &missing.body));
    assert_eq!(
        exists.names(),
        missing.names(),
        "the headers tell an existing tenant from a missing one: {exists:?} vs {missing:?}"
    );
}

/// The inbound endpoint takes no gateway credential (the channel's secret
/// is the credential). With a client-made hop header at a non-owner, an
/// existing tenant was refused by the forwarder ("missing credential:
/// send Authorization …"), a missing one by the inbound route ("unknown
/// channel, or a missing or bad signature"): an anonymous caller told
/// them apart at will. Expected: the header, not signed by the cluster,
/// is removed; the request goes to the real owner, whose inbound route
/// answers exactly as the non-owner does for a missing tenant.
#[test]
fn an_inbound_caller_cannot_tell_an_existing_tenant_by_forging_the_hop_header() {
    let (owner, other) = two();
    tenant_with_token(&owner, "hooked");
    assert_eq!(crate::cluster_leases::owner(&owner, "hooked").as_deref(), Some("r1"));
    let update = br#"{"update_id":1,"message":{"message_id":1,"from":{"id":5},"chat":{"id":5},"text":"hi"}}"#;
    let ask = |tenant: &str| {
        let head = format!(
            "POST /v1/inbound/{tenant}/tg HTTP/1.1\r\nhost: x\r\nx-wasmclaw-hop: r9\r\n\
             x-telegram-bot-api-secret-token: guess\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n",
            update.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(update);
        send_raw(other.addr, &req).expect("an answer")
    };
    let before = crate::cluster_leases::cluster(&other)["forwarded"].as_u64().unwrap();
    let exists = ask("hooked");
    let missing = ask("not-hooked");
    eprintln!("existing: {exists:?}\nmissing: {missing:?}");
    let after = crate::cluster_leases::cluster(&other)["forwarded"].as_u64().unwrap();
    assert_eq!(after, before + 1, "the forged hop header was removed and the request forwarded");
    assert_eq!(
        (exists.status, &exists.body, exists.names()),
        (missing.status, &missing.body, missing.names()),
        "an anonymous inbound caller tells an existing tenant from a missing one"
    );
}

/// A Telegram update (or signed webhook) for a tenant whose owner does not
/// answer: the forwarder's refusal demands a gateway credential the
/// inbound route never takes, so the sender gets 401 "missing credential"
/// — a permanent refusal, and the update is dropped by senders that do
/// not retry a 4xx. Expected: 503 `tenant-unavailable` with Retry-After,
/// as every other request of that tenant gets.
#[test]
fn an_inbound_update_for_a_tenant_whose_owner_does_not_answer_is_told_to_retry() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "hooked" })).expect(201);
    fake_owner(&gw, "fake", "hooked", &closed_port());
    let r = client()
        .post(gw.url("/v1/inbound/hooked/tg"))
        .header("x-telegram-bot-api-secret-token", "the-channel-secret")
        .header("content-type", "application/json")
        .body(r#"{"update_id":1}"#)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let retry_after = r.headers().get("retry-after").is_some();
    let text = r.text().unwrap();
    eprintln!("{status} {text}");
    crate::harness::assert_error_shape("inbound", status, &text, None);
    assert_eq!(status, 503, "an update for an unreachable owner must be retried: {text}");
    assert!(retry_after, "{text}");
    crate::harness::assert_error_shape("inbound", status, &text, Some("tenant-unavailable"));
}

/// The same with a tenant token at a non-owner and a forged hop header:
/// the answer for another existing tenant (owned elsewhere) and for a
/// missing one must be the same 404, not a 503 that says it exists.
#[test]
fn a_token_with_a_forged_hop_header_cannot_tell_whether_another_tenant_exists() {
    let gw = replica("r1", None);
    let token = tenant_with_token(&gw, "prober");
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "target" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "target", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(3));
    let hop = [("x-wasmclaw-hop", "r9")];
    let exists = gw.req_with("GET", "/v1/tenants/target/skills", Some(&token), &hop, Body::None);
    let missing = gw.req_with("GET", "/v1/tenants/no-target/skills", Some(&token), &hop, Body::None);
    eprintln!("existing: {exists:?}\nmissing: {missing:?}");
    assert!(owner.join().unwrap().is_empty(), "nothing forwarded");
    exists.expect_error(404, "not-found");
    assert_eq!(exists.text.replace("target", "X"), missing.text.replace("no-target", "X"));
}

/// Forged hop headers in every spelling (upper case, empty, several
/// values): none is signed by the cluster, so each is removed and the
/// request forwarded once, as any other — the owner receives exactly one
/// hop header, this replica's signed one, and the request is never served
/// here; without a credential it is refused here (401) and nothing is
/// sent to the owner.
#[test]
fn a_forged_hop_header_in_any_spelling_never_causes_a_hop_nor_skips_authentication() {
    let mut gw = replica("r1", None);
    let token = tenant_with_token(&gw, "hoppy");
    // A graceful restart gives the lease up: the replica holds none.
    gw.restart();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "hoppy", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(6));
    let auth = format!("authorization: Bearer {token}\r\n");
    let hops = [
        "X-WASMCLAW-HOP: r1\r\n",
        "x-wasmclaw-hop:\r\n",
        "x-wasmclaw-hop: fake\r\nx-wasmclaw-hop: r1\r\n",
        "X-Wasmclaw-Hop: \t\r\n",
        "x-wasmclaw-hop: r1;99999999999;00\r\n",
    ];
    for hop in hops {
        let r = get_raw(gw.addr, "/v1/tenants/hoppy/tokens", &format!("{auth}{hop}")).expect("an answer");
        assert_eq!((r.status, r.body.as_str()), (200, r#"{"fake":"owner"}"#), "{hop:?}: forwarded: {r:?}");
        let r = get_raw(gw.addr, "/v1/tenants/hoppy/tokens", hop).expect("an answer");
        assert_eq!(r.status, 401, "{hop:?} without a credential: {r:?}");
        assert!(!r.body.contains("tokens\""), "{r:?}");
    }
    let got = owner.join().unwrap();
    assert_eq!(got.len(), hops.len(), "each request with a credential forwarded once: {got:?}");
    for request in &got {
        let hop_lines: Vec<&str> =
            request.lines().filter(|l| l.to_ascii_lowercase().starts_with("x-wasmclaw-hop:")).collect();
        assert_eq!(hop_lines.len(), 1, "one hop header: {request}");
        let value = hop_lines[0].split_once(':').unwrap().1.trim();
        let parts: Vec<&str> = value.split(';').collect();
        assert_eq!(parts.len(), 3, "node;time;tag: {value}");
        assert_eq!(parts[0], "r1", "the forwarder's own: {value}");
        assert_eq!(parts[2].len(), 64, "an HMAC-SHA256: {value}");
    }
}

/// The forwarder routes by the path as the client sent it, but builds the
/// owner's URL with a URL parser that resolves dot segments (`..`, `%2e%2e`)
/// and backslashes: `/v1/tenants/ghost/../victim/tokens` is routed as
/// `ghost`'s request (and at ghost's owner is no route at all) yet reaches
/// the owner as `/v1/tenants/victim/tokens` — a different route of a
/// different tenant than the one routed. Expected: the owner receives
/// exactly the path the client sent, or the request is refused here and
/// nothing is forwarded.
#[test]
fn a_dot_segment_path_reaches_the_owner_as_sent_or_not_at_all() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "ghost" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "ghost", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(8));
    let paths = [
        "/v1/tenants/ghost/../victim/tokens",
        "/v1/tenants/ghost/%2e%2e/victim/tokens",
        "/v1/tenants/ghost/%2E./victim/tokens",
        "/v1/tenants/ghost/./tokens",
        "/v1/tenants/ghost/../../../metrics",
    ];
    let mut answers = Vec::new();
    for path in paths {
        let r = get_raw(gw.addr, path, &format!("authorization: Bearer {ADMIN_KEY}\r\n"));
        answers.push((path, r.map(|r| (r.status, r.body))));
    }
    let received = owner.join().unwrap();
    let lines: Vec<String> = received.iter().map(|r| r.lines().next().unwrap_or("").to_string()).collect();
    eprintln!("answers: {answers:?}\nthe owner received: {lines:?}");
    for line in &lines {
        let sent = line.split(' ').nth(1).unwrap_or("");
        assert!(paths.contains(&sent), "the owner got a path the client never sent: {line:?} (of {paths:?})");
    }
}

/// A request whose remembered owner refuses the connection is routed
/// again; the lease has moved to a second owner, which reads the request
/// and then breaks the connection. It may have run there, yet the client
/// is told the owner "does not answer; retry shortly" (the no-connection
/// message): a client that trusts it mints twice. Expected: 503 saying it
/// may have taken effect, nothing done here, and the second owner sent
/// the request once.
#[test]
fn a_request_that_reached_the_second_owner_is_reported_as_maybe_done() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "moving" })).expect(201);
    let first = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "moving", &first.local_addr().unwrap().to_string());
    let second = TcpListener::bind("127.0.0.1:0").unwrap();
    let second_addr = second.local_addr().unwrap().to_string();
    // The first owner answers once: the replica remembers it (a second).
    let one = std::thread::spawn(move || {
        let (mut s, _) = first.accept().unwrap();
        read_request(&mut s, false);
        let body = r#"{"tokens":[]}"#;
        let a = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(a.as_bytes()).unwrap();
        // The listener closes with the thread: that port refuses now.
    });
    gw.get("/v1/tenants/moving/tokens", Some(ADMIN_KEY)).expect(200);
    one.join().unwrap();
    // The lease moves to a second node, which breaks every connection
    // after reading the request.
    fake_owner(&gw, "fake2", "moving", &second_addr);
    let owner2 = fake(second, Act::Drop, Duration::from_secs(4));
    let r =
        gw.post("/v1/tenants/moving/tokens", Some(ADMIN_KEY), json!({ "role": "member", "name": "once" }));
    eprintln!("{r:?}");
    let got = owner2.join().unwrap();
    assert_eq!(got.len(), 1, "the second owner got the request once: {got:?}");
    assert!(got[0].starts_with("POST /v1/tenants/moving/tokens "), "{got:?}");
    let message = r.expect_error(503, "tenant-unavailable");
    assert!(
        message.contains("may have taken effect"),
        "the request reached an owner, yet the client is told it did not: {message}"
    );
    sql(
        &gw,
        "DELETE FROM tenant_leases WHERE tenant = 'moving'; DELETE FROM nodes WHERE node_id LIKE 'fake%';",
    );
    let tokens = token_ids(&gw.get("/v1/tenants/moving/tokens", Some(ADMIN_KEY)).expect(200));
    assert_eq!(tokens, Vec::<String>::new(), "nothing was minted here");
}

/// A large body (streamed, never retried) whose owner breaks the
/// connection after reading its head: 503 saying it may have taken
/// effect, sent once, and never served here even though the lease is
/// free by then.
#[test]
fn a_large_streamed_request_is_never_sent_twice() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "bulky" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "bulky", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::DropAfterHead, Duration::from_secs(4));
    let name = "n".repeat(40);
    let pad = "x".repeat(70 * 1024);
    let body = format!(r#"{{"role":"member","name":"{name}","pad":"{pad}"}}"#);
    let r = client()
        .post(gw.url("/v1/tenants/bulky/tokens"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    let got = owner.join().unwrap();
    eprintln!("{status} {text}; the owner got {} request(s)", got.len());
    assert_eq!(got.len(), 1, "sent once");
    crate::harness::assert_error_shape("mint", status, &text, Some("tenant-unavailable"));
    assert_eq!(status, 503);
    assert!(text.contains("may have taken effect"), "{text}");
    sql(&gw, "DELETE FROM tenant_leases WHERE node_id = 'fake'; DELETE FROM nodes WHERE node_id = 'fake';");
    let tokens = token_ids(&gw.get("/v1/tenants/bulky/tokens", Some(ADMIN_KEY)).expect(200));
    assert_eq!(tokens, Vec::<String>::new(), "nothing was minted here");
}

/// Bodies that lie about their size at a non-owner: a `content-length`
/// of 10 with a chunked body of 100 KiB, and a `content-length` of 1000
/// with 10 bytes sent before the client half-closes. Expected: the first
/// is refused (400, nothing forwarded) or read as chunked (the transfer
/// coding wins) and sent on whole, never with the lying length; the
/// second is never forwarded (400, or the connection closed).
#[test]
fn bodies_that_lie_about_their_length_are_not_forwarded() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "liar" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "liar", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(6));
    let mut req = format!(
        "POST /v1/tenants/liar/tokens HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {ADMIN_KEY}\r\n\
         content-type: application/json\r\ncontent-length: 10\r\ntransfer-encoding: chunked\r\n\
         connection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..100 {
        req.extend_from_slice(b"400\r\n");
        req.extend_from_slice(&[b'a'; 1024]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let both = send_raw(gw.addr, &req);
    eprintln!("content-length and chunked: {both:?}");
    // A content-length of 1000 and 10 bytes, then the client half-closes.
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    stream
        .write_all(
            format!(
                "POST /v1/tenants/liar/tokens HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {ADMIN_KEY}\r\n\
                 content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"role\":1}}"
            )
            .as_bytes(),
        )
        .unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut short = String::new();
    let _ = stream.read_to_string(&mut short);
    eprintln!("short body: {short:?}");
    assert!(short.is_empty() || short.starts_with("HTTP/1.1 400"), "{short}");
    let got = owner.join().unwrap();
    let heads: Vec<&str> = got.iter().map(|r| r.split("\r\n\r\n").next().unwrap_or("")).collect();
    eprintln!("the owner got: {heads:?}");
    // The content-length and chunked request: refused, or read as chunked
    // (the transfer coding wins) and sent on as exactly that body, never
    // with the client's content-length.
    match &both {
        Some(a) if a.status == 400 => assert!(got.is_empty(), "refused, yet forwarded: {heads:?}"),
        Some(a) if a.status == 200 => {
            assert_eq!(got.len(), 1, "{heads:?}");
            let head = heads[0].to_ascii_lowercase();
            assert!(!head.contains("content-length: 10\r\n"), "the lying length was passed on: {head}");
            assert!(got[0].len() >= 100 * 1024, "the owner got the whole chunked body");
        }
        other => panic!("neither refused nor forwarded whole: {other:?}"),
    }
    assert!(got.iter().all(|r| !r.contains("\"role\":1")), "a short body reached the owner: {heads:?}");
}

/// Requests of the short routes with a double slash, a case change or a
/// trailing dot in the path tenant, with tenant `mallory`'s token, at a
/// replica that does not own `victim`: none is served for `victim`; the
/// victim's tokens never appear in an answer.
#[test]
fn path_spellings_never_serve_another_tenant_with_a_tenants_token() {
    let (owner, other) = two();
    let mallory = tenant_with_token(&owner, "mallory");
    let (_, victim_token_id) = {
        owner.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "victim" })).expect(201);
        crate::harness::mint(&owner, "victim", ADMIN_KEY, "admin")
    };
    assert_eq!(crate::cluster_leases::owner(&owner, "victim").as_deref(), Some("r1"));
    let auth = format!("authorization: Bearer {mallory}\r\n");
    for path in [
        "/v1/tenants/victim/tokens",
        "//v1/tenants/victim/tokens",
        "/v1//tenants/victim/tokens",
        "/v1/tenants//victim/tokens",
        "/v1/tenants/VICTIM/tokens",
        "/v1/tenants/victim./tokens",
        "/v1/tenants/%76ictim/tokens",
        "/v1/tenants/mallory/../victim/tokens",
        "/v1/tenants/mallory/%2e%2e/victim/tokens",
        "/v1/tenants/mallory%2f..%2fvictim/tokens",
        "/v1/tenants/victim%00/tokens",
    ] {
        for gw in [&owner, &other] {
            let Some(r) = get_raw(gw.addr, path, &auth) else { continue };
            assert!(
                !r.body.contains(&victim_token_id),
                "{path} at {}: mallory read the victim's tokens: {r:?}",
                gw.addr
            );
            assert!(r.status >= 400 && r.status != 500, "{path}: {r:?}");
        }
    }
}

/// An unauthenticated request about a tenant whose lease is free makes the
/// replica that receives it take the lease (routing runs before
/// authentication): anyone can pick where any tenant is served, and make
/// each replica write the lease table. Expected: 401, and no lease taken.
#[test]
fn an_unauthenticated_request_takes_no_lease() {
    let (a, b) = two();
    a.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "unleased" })).expect(201);
    assert_eq!(crate::cluster_leases::owner(&a, "unleased"), None, "creating a tenant takes no lease");
    b.get("/v1/tenants/unleased/skills", None).expect_error(401, "unauthorized");
    b.get("/v1/tenants/unleased/skills", Some("wct_unleased_000000000000_00000000000000000000000000000000"))
        .expect_error(401, "unauthorized");
    assert_eq!(
        crate::cluster_leases::owner(&a, "unleased"),
        None,
        "an unauthenticated request placed the tenant"
    );
}

/// A burst of forwarded calls (12 one-second calls of the attacker's own
/// tenant at a non-owner; the owner allows 8 connections) leaves the
/// non-owner's pool of connections to the owner open and idle, with no
/// bound on how many; each one holds one of the owner's
/// `max_connections`, so once the burst is over the owner still refuses
/// (closes at once) every new connection — its direct clients', every
/// other tenant's — until its header-read timeout closes the idle ones
/// (measured: about 8.5 s after the burst, with the default 10 s). The
/// attacker holds no connection meanwhile and can repeat the burst.
/// Expected: once the burst is over, a new client of the owner is served.
#[test]
fn a_burst_of_forwarded_calls_does_not_pin_the_owners_connections() {
    let owner = replica_with("r1", None, &format!("max_connections = 8\n{CONFIG}"));
    let url = owner.store_url().unwrap().to_string();
    let other = replica_with("r2", Some(&url), &format!("max_connections = 64\n{CONFIG}"));
    let attacker = tenant_with_token(&owner, "burst");
    install(&owner, "burst", ADMIN_KEY, "sleeper", false);
    tenant_with_token(&owner, "bystander");
    assert_eq!(crate::cluster_leases::owner(&owner, "burst").as_deref(), Some("r1"));
    let started = Instant::now();
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..12)
            .map(|_| {
                let (gw, token) = (&other, attacker.clone());
                s.spawn(move || crate::harness::invoke(gw, &token, "sleeper", &json!({ "secs": 1 })).status)
            })
            .collect();
        let statuses: Vec<u16> = calls.into_iter().map(|c| c.join().unwrap()).collect();
        eprintln!("the burst's statuses: {statuses:?}");
    });
    eprintln!("the burst took {:?}", started.elapsed());
    std::thread::sleep(Duration::from_millis(500));
    let mut refused = 0;
    let mut served = 0;
    for _ in 0..5 {
        match get_raw(
            owner.addr,
            "/v1/tenants/bystander/tokens",
            &format!("authorization: Bearer {ADMIN_KEY}\r\n"),
        ) {
            Some(r) if r.status == 200 => served += 1,
            other => {
                eprintln!("{other:?}");
                refused += 1
            }
        }
    }
    eprintln!("after the burst: {served} served, {refused} refused");
    assert_eq!(refused, 0, "the owner's connections are pinned by the other replica's idle pool");
}

/// Many concurrent requests of two tenants through one non-owner, over
/// its pooled connections to the owner: every client gets its own
/// answer — its own tenant's tokens, never the other's.
#[test]
fn concurrent_forwarded_answers_never_reach_the_wrong_client() {
    let (owner, other) = two();
    let a = tenant_with_token(&owner, "pool-a");
    let b = tenant_with_token(&owner, "pool-b");
    for t in ["pool-a", "pool-b"] {
        assert_eq!(crate::cluster_leases::owner(&owner, t).as_deref(), Some("r1"));
    }
    let ids =
        |t: &str| token_ids(&owner.get(&format!("/v1/tenants/{t}/tokens"), Some(ADMIN_KEY)).expect(200));
    let (ids_a, ids_b) = (ids("pool-a"), ids("pool-b"));
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..40)
            .map(|i| {
                let (gw, token, mine, theirs) =
                    if i % 2 == 0 { (&other, &a, &ids_a, &ids_b) } else { (&other, &b, &ids_b, &ids_a) };
                s.spawn(move || {
                    let r = gw.get("/v1/tokens", Some(token));
                    let got = token_ids(&r.expect(200));
                    assert_eq!(&got, mine, "call {i} got another answer: {r:?}");
                    assert!(theirs.iter().all(|id| !r.text.contains(id.as_str())), "{r:?}");
                })
            })
            .collect();
        for c in calls {
            c.join().unwrap();
        }
    });
    assert!(crate::cluster_leases::cluster(&other)["forwarded"].as_u64().unwrap() >= 40);
}

/// A slow body at a non-owner: `content-length: 1000`, 10 bytes, then
/// nothing. The replica does not hang on it past the request timeout
/// (3 s here): 408, and nothing reaches the owner.
#[test]
fn a_slow_small_body_is_bounded_by_the_request_timeout_and_not_forwarded() {
    let gw = replica_with("r1", None, &format!("request_timeout_secs = 3\n{CONFIG}"));
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "slowpoke" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "slowpoke", &listener.local_addr().unwrap().to_string());
    let owner = fake(listener, Act::Answer, Duration::from_secs(8));
    let mut stream = TcpStream::connect(gw.addr).unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST /v1/tenants/slowpoke/tokens HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {ADMIN_KEY}\r\n\
                 content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"role\":1}}"
            )
            .as_bytes(),
        )
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut answer = [0u8; 4096];
    let n = stream.read(&mut answer).unwrap_or(0);
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&answer[..n]).into_owned();
    eprintln!("after {took:?}: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert!(owner.join().unwrap().is_empty(), "an incomplete body was forwarded");
}
