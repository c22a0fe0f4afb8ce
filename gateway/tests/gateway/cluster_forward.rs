//! What a replica does when the owner it forwards to fails (issue 18): a
//! request that never reached the owner (no connection) is routed once
//! more and may be served here; a request that did reach it (the
//! connection broke after it was sent) is never sent again, since it may
//! have run there. The owner is a fake: a node row and a lease written
//! into the database, and a socket the test controls. Run from
//! `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY};
use crate::harness::{ADMIN_KEY, Gateway, client, token_ids};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

fn replica() -> Gateway {
    Gateway::start_with_env(Some(CONFIG), &["--node-id", "r1"], &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

/// Runs SQL on the gateway's database.
fn sql(gw: &Gateway, statements: &str) {
    let url = gw.store_url().expect("a PostgreSQL store").to_string();
    let statements = statements.to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&statements).await.unwrap();
    });
}

/// Makes node `fake` (live for an hour, at `addr`) the owner of `tenant`.
fn fake_owner(gw: &Gateway, tenant: &str, addr: &str) {
    sql(
        gw,
        &format!(
            "INSERT INTO nodes (node_id, instance, addr, version, config_digest, expires_at) \
             VALUES ('fake', 'fake-1', 'http://{addr}', 'x', 'x', now() + interval '1 hour');
             INSERT INTO tenant_leases (tenant, node_id, instance, epoch) VALUES ('{tenant}', 'fake', 'fake-1', 7) \
             ON CONFLICT (tenant) DO UPDATE SET node_id = 'fake', instance = 'fake-1', epoch = 7;"
        ),
    );
}

/// The fake owner is gone and its lease free, as after a graceful stop.
fn fake_gone(gw: &Gateway) {
    sql(gw, "DELETE FROM tenant_leases WHERE node_id = 'fake'; DELETE FROM nodes WHERE node_id = 'fake';");
}

/// Reads one HTTP request (headers and a `content-length` body).
fn read_request(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the request ended early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                })
                .map_or(0, |v| v.parse::<usize>().unwrap());
            if buf.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

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
    let gw = replica();
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "ghost" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    fake_owner(&gw, "ghost", &listener.local_addr().unwrap().to_string());
    let (got, received) = mpsc::channel();
    let (go, close) = mpsc::channel::<()>();
    let owner = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        got.send(read_request(&mut stream)).unwrap();
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
    fake_gone(&gw);
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
    let gw = replica();
    gw.post("/v1/tenants", Some(ADMIN_KEY), json!({ "id": "stale" })).expect(201);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    fake_owner(&gw, "stale", &addr);
    // The fake owner answers one request: the replica remembers it.
    let owner = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_request(&mut stream);
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
    fake_gone(&gw);
    // Within the placement's second: sent to the remembered address first.
    let minted = mint_through(&gw, "stale").expect(201);
    let id = minted["id"].as_str().unwrap().to_string();
    assert_eq!(tokens(&gw, "stale"), vec![id], "served here, once");
    let log = gw.log_since_start();
    assert!(log.contains("did not answer a forwarded request"), "the stale placement was tried first: {log}");
}
