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
use crate::webhook::receiver;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MESSAGES: usize = 40;

#[test]
fn messages_sent_through_three_replicas_arrive_at_least_once_across_a_kill() {
    let mut gws = three();
    let (url, seen) = receiver(|_| (Duration::from_secs(3), 200));
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
    while seen.lock().unwrap().arrivals.len() < 3 {
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
    let all: BTreeMap<String, Vec<Instant>> = seen
        .lock()
        .unwrap()
        .arrivals
        .iter()
        .map(|(id, a)| (id.clone(), a.iter().map(|a| a.at).collect()))
        .collect();
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
