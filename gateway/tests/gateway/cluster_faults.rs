//! PostgreSQL restarted under a cluster's load (issue 18): three replicas
//! over a database server of the test's own, writers of acknowledged
//! writes (tokens, tenants, a skill's memory) sent round robin over them;
//! the server stops for 3 s and comes back. Meanwhile every answer is 2xx
//! or a 503 with `Retry-After` (the store, or the tenant's owner, cannot be
//! reached), never a 500; afterwards every writer is acknowledged again
//! through every replica (the leases lapsed with the rows and are taken
//! anew, the caches read again) and every acknowledged write is there.
//! Run from `gateway_pg` only.

use crate::cluster_leases::{CONFIG, MASTER_KEY};
use crate::harness::{ADMIN_KEY, Body, Gateway, install, poll, tenant};
use crate::pg_faults::{ANSWER_BOUND, Cluster, Write, acked, password_of, send, try_send, writer};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn a_database_restarted_under_a_clusters_load_answers_2xx_or_503_and_keeps_every_acknowledged_write() {
    let Some(cluster) = Cluster::start() else { return };
    let store = cluster.database("clusterload");
    let env = [("WASMCLAW_MASTER_KEY", MASTER_KEY)];
    let gws: Vec<Gateway> = ["r1", "r2", "r3"]
        .iter()
        .map(|n| Gateway::start_with_env(Some(CONFIG), &["--node-id", n, "--store", &store], &env))
        .collect();
    let addrs: Vec<_> = gws.iter().map(|g| g.addr).collect();
    let t = tenant(&gws[0], "load");
    install(&gws[1], "load", ADMIN_KEY, "notes", false);
    let stop = Arc::new(AtomicBool::new(false));
    let bound = ANSWER_BOUND;
    // Each writer goes round robin over the replicas, so two in three of
    // its writes land on a replica that forwards them to the owner.
    let tokens = |w: usize| -> Write {
        let addrs = addrs.clone();
        Box::new(move |i| {
            let body = json!({"role": "member", "name": format!("w{w}-{i}")});
            let addr = addrs[(w + i) % 3];
            try_send(addr, "POST", "/v1/tenants/load/tokens", Some(ADMIN_KEY), Body::Json(body), bound)
        })
    };
    let tenants: Write = {
        let addrs = addrs.clone();
        Box::new(move |i| {
            let body = Body::Json(json!({"id": format!("load-{i}")}));
            try_send(addrs[i % 3], "POST", "/v1/tenants", Some(ADMIN_KEY), body, bound)
        })
    };
    let member = t.member.clone();
    let notes: Write = {
        let addrs = addrs.clone();
        Box::new(move |i| {
            let input = json!({"op": "add", "text": format!("note {i}")});
            try_send(addrs[i % 3], "POST", "/v1/skills/notes/invoke", Some(&member), Body::Json(input), bound)
        })
    };
    let tallies = [
        ("token", writer(tokens(0), stop.clone())),
        ("token", writer(tokens(1), stop.clone())),
        ("tenant", writer(tenants, stop.clone())),
        ("note", writer(notes, stop.clone())),
    ];
    let all_past = |n: &[usize]| {
        poll(Duration::from_secs(120), || {
            tallies.iter().zip(n).all(|((_, t), n)| acked(t) >= *n).then_some(())
        })
    };
    all_past(&[6; 4]).expect("every writer is acknowledged before the restart");

    cluster.down();
    std::thread::sleep(Duration::from_secs(3));
    cluster.up();
    let before: Vec<usize> = tallies.iter().map(|(_, t)| acked(t) + 6).collect();
    all_past(&before).unwrap_or_else(|| {
        let seen: Vec<String> = tallies
            .iter()
            .map(|(kind, t)| {
                let t = t.lock().unwrap();
                format!("{kind}: {} acked, {} unavailable, wrong {:?}", t.acked.len(), t.unavailable, t.wrong)
            })
            .collect();
        panic!("not every writer is acknowledged again after the restart: {seen:#?}")
    });
    stop.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs(1));

    let mut unavailable = 0;
    for (kind, t) in &tallies {
        let t = t.lock().unwrap();
        assert!(t.wrong.is_empty(), "{kind} writer: {:#?}", t.wrong);
        unavailable += t.unavailable;
    }
    eprintln!("{unavailable} answers of 503 with Retry-After across the restart");
    assert!(unavailable > 0, "the restart was seen: some answers were 503");

    // Everything acknowledged is there, read through every replica.
    for addr in &addrs {
        let listed = send(*addr, "GET", "/v1/tenants/load/tokens", Some(ADMIN_KEY), None);
        let tenants_now = send(*addr, "GET", "/v1/tenants", Some(ADMIN_KEY), None);
        let notes_now =
            send(*addr, "POST", "/v1/skills/notes/invoke", Some(&t.member), Some(&json!({"op": "list"})));
        for (kind, t) in &tallies {
            let answer = match *kind {
                "token" => &listed,
                "tenant" => &tenants_now,
                _ => &notes_now,
            };
            assert_eq!(answer.status, 200, "{answer:?}");
            for id in &t.lock().unwrap().acked {
                let needle = format!("\"id\":\"{id}\"");
                assert!(answer.text.contains(&needle), "acknowledged {kind} {id} is gone: {}", answer.text);
            }
        }
    }
    for gw in &gws {
        let log = gw.log_text();
        assert!(!log.contains("panicked"), "{log}");
        assert!(!log.contains(&password_of(&store)), "the log shows the password");
    }
}
