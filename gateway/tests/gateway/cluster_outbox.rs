//! The outbox across replicas (issue 18): messages sent through three
//! replicas are delivered by whichever replica's worker leases them, to a
//! receiver in this test that answers slowly, so that deliveries are in
//! flight when a replica is SIGKILLed. Every acknowledged message arrives
//! at least once; a message arrives twice only if its first attempt was
//! in flight at the kill (its lease then ends and another worker sends it
//! again, with the same `x-wasmclaw-message-id`). Real processes on one
//! PostgreSQL database. Run from `gateway_pg` only.

use crate::cluster_leases::three;
use crate::harness::{ADMIN_KEY, Body, install, output, tenant};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MESSAGES: usize = 40;

/// What the receiver saw: message id → the times it arrived.
type Seen = Arc<Mutex<BTreeMap<String, Vec<Instant>>>>;

/// A webhook receiver on 127.0.0.1 that records each request's message id
/// on arrival and answers 200 after `delay`; its URL.
fn receiver(delay: Duration) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let out = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let (mut id, mut length) = (None, 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "x-wasmclaw-message-id" => id = Some(value.trim().to_string()),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                if let Some(id) = id {
                    seen.lock().unwrap().entry(id).or_default().push(Instant::now());
                }
                std::thread::sleep(delay);
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            });
        }
    });
    (url, out)
}

#[test]
fn messages_sent_through_three_replicas_arrive_at_least_once_across_a_kill() {
    let mut gws = three();
    let (url, seen) = receiver(Duration::from_secs(3));
    let t = tenant(&gws[0], "outbox");
    let policy = format!(
        "[[contacts]]\nname = \"ops\"\nchannel = \"webhook\"\nurl = \"{url}\"\n\
         [messaging]\nsigning_secret = \"HOOK_KEY\"\nper_minute = 1000\n"
    );
    gws[0]
        .req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy.into_bytes()))
        .expect(200);
    let secret = Body::Raw("application/octet-stream", b"hook-signing-key".to_vec());
    assert_eq!(gws[1].req("PUT", &t.path("/secrets/HOOK_KEY"), Some(&t.admin), secret).status, 204);
    install(&gws[2], "outbox", ADMIN_KEY, "notify", false);
    // Acknowledged: each send answered with its message id.
    let mut sent = Vec::new();
    for i in 0..MESSAGES {
        let input = json!({"contact": "ops", "text": format!("message {i}")});
        let v = output(&gws[i % 3], &t.member, "notify", &input);
        sent.push(v["message_id"].as_str().expect("a message id").to_string());
    }
    // Kill a replica while deliveries are in flight (each takes 3 s at
    // the receiver), then bring it back.
    let started = Instant::now();
    while seen.lock().unwrap().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "no delivery started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    gws[1].kill();
    let killed = Instant::now();
    gws[1].restart_stopped();
    // Every message ends delivered, whoever asks: what the killed worker
    // held is sent again once its lease ends (60 s, `messaging::LEASE_SECS`).
    for (i, id) in sent.iter().enumerate() {
        loop {
            let state = output(&gws[i % 3], &t.member, "notify", &json!({"status": id}));
            if state["state"] == "delivered" {
                break;
            }
            assert_eq!(state["state"], "pending", "{id}");
            assert!(started.elapsed() < Duration::from_secs(150), "{id} still pending after 150 s");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    // Another second for a late duplicate to show.
    std::thread::sleep(Duration::from_secs(1));
    let all = seen.lock().unwrap().clone();
    assert!(sent.iter().all(|id| all.contains_key(id)), "every message arrived");
    let mut twice = Vec::new();
    for (id, times) in &all {
        assert!(sent.contains(id), "a message nobody sent: {id}");
        if times.len() > 1 {
            // Its first attempt was in flight when the replica died.
            assert!(times[0] <= killed, "{id} arrived twice, first after the kill: {times:?}");
            twice.push(id.clone());
        }
    }
    eprintln!(
        "{MESSAGES} messages, all arrived; {} twice (in flight at the kill), {:?} after the kill",
        twice.len(),
        killed.elapsed()
    );
}
