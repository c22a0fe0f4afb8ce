//! What a replica does when the owner it forwards to fails (issue 18): a
//! request that never reached the owner (no connection) is routed once
//! more and may be served here; a request that did reach it (the
//! connection broke after it was sent) is never sent again, since it may
//! have run there. The owner is a fake: a node row and a lease written
//! into the database, and a socket the test controls. Run from
//! `gateway_pg` only.

use crate::cluster_fakes::{fake_gone, fake_owner, read_request, replica};
use crate::harness::{ADMIN_KEY, Gateway, client, token_ids};
use serde_json::json;
use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

fn mint_through(gw: &Gateway, tenant: &str) -> crate::harness::Resp {
    gw.post(
        &format!("/v1/tenants/{tenant}/tokens"),
        Some(ADMIN_KEY),
        json!({ "role": "member", "name": "once" }),
    )
}

fn tokens(gw: &Gateway, tenant: &str) -> Vec<String> {
    token_ids(&gw.get(&format!("/v1/tenants/{tenant}/tokens"), Some(ADMIN_KEY)).expect(200))
}

/// The owner read the whole request, then its connection broke, and its
/// lease came free meanwhile (it stopped). Routed again, the request would
/// have been served here too — a token minted twice, a write run twice —
/// so it is not: 503 saying it may have taken effect, and nothing done
/// here.
#[test]
fn a_request_that_reached_its_owner_is_not_run_again_when_the_connection_breaks() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "ghost" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "fake", "ghost", &listener.local_addr().unwrap().to_string());
    let (got, received) = mpsc::channel();
    let (go, close) = mpsc::channel::<()>();
    let owner = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        got.send(read_request(&mut stream, false)).unwrap();
        close.recv().unwrap();
        drop(stream); // no answer
        // Nothing is sent here a second time.
        listener.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        listener.accept().is_ok()
    });
    let url = gw.url("/v1/tenants/ghost/tokens");
    let asker = std::thread::spawn(move || {
        let r = client()
            .post(url)
            .bearer_auth(ADMIN_KEY)
            .json(&json!({ "role": "member", "name": "once" }))
            .send()
            .unwrap();
        (r.status().as_u16(), r.headers().get("retry-after").is_some(), r.text().unwrap())
    });
    let request = received.recv_timeout(Duration::from_secs(10)).expect("the request reached the owner");
    assert!(request.starts_with("POST /v1/tenants/ghost/tokens "), "{request}");
    assert!(request.to_ascii_lowercase().contains("x-wasmclaw-hop: r1"), "{request}");
    fake_gone(&gw, "fake");
    go.send(()).unwrap();
    let (status, retry_after, text) = asker.join().unwrap();
    assert_eq!(status, 503, "{text}");
    assert!(retry_after, "503 with Retry-After: {text}");
    let message = crate::harness::assert_error_shape("mint", status, &text, Some("tenant-unavailable"));
    assert!(message.contains("may have taken effect"), "{message}");
    assert!(!owner.join().unwrap(), "the request was not sent to the owner again");
    assert_eq!(tokens(&gw, "ghost"), Vec::<String>::new(), "nothing was minted here");
}

/// A placement remembered for a moment is stale: the owner stopped and
/// its lease is free. The forward cannot connect, so the owner never saw
/// the request: it is routed again, served here, and run once.
#[test]
fn a_request_that_could_not_connect_to_a_stale_owner_is_served_here_once() {
    let gw = replica("r1", None);
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "stale" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    fake_owner(&gw, "fake", "stale", &addr);
    // The fake owner answers one request: the replica remembers it.
    let owner = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream, false);
        let body = r#"{"tokens":[]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(answer.as_bytes()).unwrap();
        // The listener closes with the thread: that port refuses now.
    });
    let r = gw.get("/v1/tenants/stale/tokens", Some(ADMIN_KEY));
    assert_eq!(r.expect(200)["tokens"], json!([]), "the fake owner answered");
    owner.join().unwrap();
    fake_gone(&gw, "fake");
    // Within the placement's second: sent to the remembered address first.
    let minted = mint_through(&gw, "stale").expect(201);
    let id = minted["id"].as_str().unwrap().to_string();
    assert_eq!(tokens(&gw, "stale"), vec![id], "served here, once");
    let log = gw.log_since_start();
    assert!(log.contains("did not answer a forwarded request"), "the stale placement was tried first: {log}");
}
