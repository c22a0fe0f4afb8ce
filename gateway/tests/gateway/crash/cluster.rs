//! The crash suite over a cluster (issue 18, test 1): three real replicas
//! over one PostgreSQL database and one tenants directory, the same ten
//! writers sending each write to a replica picked at random (two in three
//! land on one that does not own the write's tenant and forward it), and
//! each round SIGKILLs a replica picked at random, at a random moment, and
//! restarts it.
//!
//! The same checks as over one gateway hold after each restart, made
//! through a replica picked at random: every acknowledged write present
//! and exact, every acknowledged delete absent, every write in flight at
//! the kill wholly present or absent (a tenant gone leaves no directory in
//! the shared tenants directory), and a write answered 503
//! `tenant-unavailable` absent (it did not happen — unless the answer said
//! it may have taken effect: then it was in flight). And a tenant the
//! killed replica owned answers again through another within TTL + 2 s.

use super::model::{Model, Stats};
use super::rng::Rng;
use super::{checks, child, writers};
use crate::harness::{ADMIN_KEY, Body, Gateway, try_req_at};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The master key, the same on every replica (hex of 32 bytes).
const MASTER_KEY: &str = "6372617368207375697465206f766572206120636c75737465722031323334ff";
/// The replicas' node ids.
const NODES: [&str; 3] = ["r1", "r2", "r3"];
/// The cluster's timings: a dead replica's row lapses after `TTL`.
const TTL: Duration = Duration::from_millis(1500);
const CLUSTER: &str = "[cluster]\nheartbeat_ms = 250\nttl_ms = 1500\n";
/// The longest a round's writers run before the kill.
const MAX_KILL_MS: u64 = 2000;

fn replica(node: &str, store: Option<&str>, tenants_dir: &str) -> Gateway {
    let config = format!("{}{CLUSTER}", child::CONFIG);
    let mut args = vec!["--node-id", node, "--tenants-dir", tenants_dir];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(Some(&config), &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

/// A tenant `node` holds the lease of, as the cluster's table says.
fn owned_by(gw: &Gateway, node: &str) -> Option<String> {
    let v = gw.get("/v1/cluster", Some(ADMIN_KEY)).expect(200);
    v["leases"]
        .as_array()?
        .iter()
        .find(|l| l["node_id"] == node && l["live"] == true)
        .and_then(|l| l["tenant"].as_str().map(str::to_string))
}

/// How long until `tenant` answers through `gw` (anything but a 503: it
/// may have been deleted meanwhile); panics on a 5xx other than 503 or
/// after 10 s.
fn answers_again(gw: &Gateway, tenant: &str, killed: Instant) -> Duration {
    let path = format!("/v1/tenants/{tenant}/tokens");
    loop {
        match try_req_at(gw.addr, "GET", &path, Some(ADMIN_KEY), &[], Body::None) {
            Ok(r) if r.status == 503 => {}
            Ok(r) => {
                assert!(r.status < 500, "{path} after the kill: {r:?}");
                return killed.elapsed();
            }
            Err(e) => panic!("a live replica did not answer: {e}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "{tenant} not served 10 s after its owner's kill"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

pub(crate) fn run() {
    let (rounds, seed) = super::rounds_and_seed();
    println!("cluster crash: {rounds} rounds, seed {seed} (WASMCLAW_CRASH_SEED={seed} replays its choices)");
    let began = Instant::now();
    let mut rng = Rng(seed);
    let model = Arc::new(Mutex::new(Model::default()));
    let mut st = Stats::default();
    let shared = tempfile::tempdir().unwrap();
    let tenants_dir = shared.path().to_str().unwrap().to_string();
    let first = replica(NODES[0], None, &tenants_dir);
    let url = first.store_url().unwrap().to_string();
    let mut gws = vec![first];
    for node in &NODES[1..] {
        gws.push(replica(node, Some(&url), &tenants_dir));
    }
    let mut takeovers: Vec<Duration> = Vec::new();
    let mut killed: Option<usize> = None;
    for round in 0..=rounds {
        match killed.take() {
            None => {
                for (i, gw) in gws.iter().enumerate() {
                    child::ready(gw).unwrap_or_else(|e| panic!("{}: {e}", NODES[i]));
                    // Each replica compiles the skills once, for a tenant of its own.
                    writers::warm_as(gw.addr, seed, &model, &format!("c-{}-", NODES[i]));
                }
            }
            Some(k) => {
                if let Err(e) = child::restart(&mut gws[k]) {
                    panic!(
                        "round {round} (seed {seed}): {} did not start: {e}; log:\n{}",
                        NODES[k],
                        child::log_tail(&gws[k])
                    );
                }
            }
        }
        let at = rng.below(gws.len());
        let fails =
            checks::verify(&gws[at], shared.path(), &mut model.lock().unwrap(), &mut st, &mut rng, round);
        if !fails.is_empty() {
            let logs: Vec<String> = gws
                .iter()
                .enumerate()
                .map(|(i, g)| format!("{}:\n{}", NODES[i], child::log_tail(g)))
                .collect();
            panic!(
                "round {round} (seed {seed}): {} failures, checked through {}:\n{}\nlogs:\n{}",
                fails.len(),
                NODES[at],
                fails.join("\n"),
                logs.join("\n")
            );
        }
        if round == rounds {
            for (i, gw) in gws.iter_mut().enumerate() {
                let status = gw.stop();
                assert_eq!(
                    status.code(),
                    Some(0),
                    "{}: SIGTERM must exit 0; log:\n{}",
                    NODES[i],
                    child::log_tail(gw)
                );
            }
            break;
        }
        let before = model.lock().unwrap().lens();
        let targets: Vec<_> = gws.iter().map(|g| g.addr).collect();
        let handles = writers::start_round(&targets, seed, round, &model);
        let kill_ms = rng.range(0, MAX_KILL_MS);
        std::thread::sleep(Duration::from_millis(kill_ms));
        let k = rng.below(gws.len());
        let alive = (k + 1) % gws.len();
        let victim = owned_by(&gws[alive], NODES[k]);
        gws[k].kill();
        let at_kill = Instant::now();
        killed = Some(k);
        if let Some(t) = &victim {
            let took = answers_again(&gws[alive], t, at_kill);
            println!(
                "cluster crash: round {round}: {t} of the killed {} answered again after {took:?}",
                NODES[k]
            );
            takeovers.push(took);
        }
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
        let m = model.lock().unwrap();
        st.count_round(&m, &before);
        println!(
            "cluster crash: round {round}: {} killed at {kill_ms} ms; so far {} writes acknowledged, {} in flight, \
             {} refused or unavailable",
            NODES[k], st.writes_acked, st.writes_inflight, m.unsent
        );
    }
    takeovers.sort();
    println!(
        "cluster crash: {rounds} rounds in {:.1} s (seed {seed}): {} writes acknowledged, {} in flight at a kill \
         ({} present, {} absent), {} refused or unavailable (absent); takeovers {takeovers:?}",
        began.elapsed().as_secs_f64(),
        st.writes_acked,
        st.writes_inflight,
        st.inflight_present,
        st.inflight_absent,
        model.lock().unwrap().unsent,
    );
    assert_eq!(
        st.inflight_present + st.inflight_absent,
        st.writes_inflight,
        "every in-flight write was judged"
    );
    assert!(st.writes_acked > 0, "the writers wrote");
    for took in &takeovers {
        assert!(*took <= TTL + Duration::from_secs(2), "a killed replica's tenant answered after {took:?}");
    }
}
