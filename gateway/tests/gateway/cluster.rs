//! Replicas of a cluster (issue 18) over one PostgreSQL database: each
//! joins under its node id with the cluster's master key, sees the others
//! in `GET /v1/cluster`, and a node id is one live process at a time. Run
//! from `gateway_pg` only.

use crate::harness::{ADMIN_KEY, Gateway, tenant};
use crate::pg_faults::wasmclaw;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The master key every replica of a test cluster shares (hex, 32 bytes).
const MASTER_KEY: &str = "4b6579206f6620746865207465737420636c7573746572203132333435363738";
const OTHER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn replica(node: &str, store: Option<&str>) -> Gateway {
    let mut args = vec!["--node-id", node];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(None, &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

fn nodes(gw: &Gateway) -> Vec<Value> {
    let v = gw.get("/v1/cluster", Some(ADMIN_KEY)).expect(200);
    assert_eq!(v["clustered"], true, "{v}");
    v["nodes"].as_array().unwrap().clone()
}

fn node_ids(gw: &Gateway) -> Vec<String> {
    nodes(gw).iter().map(|n| n["node_id"].as_str().unwrap().to_string()).collect()
}

/// `serve` as a further replica of `store` that is expected to refuse:
/// its exit code and stderr.
fn refused_replica(store: &str, node: &str, master_key: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let config = dir.path().join("wasmclaw.toml");
    std::fs::write(&config, "").unwrap();
    let config = config.display().to_string();
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        &data,
        "--config",
        &config,
        "--store",
        store,
        "--node-id",
        node,
    ];
    let env = [("WASMCLAW_ADMIN_KEY", ADMIN_KEY), ("WASMCLAW_MASTER_KEY", master_key)];
    let (code, _, stderr) = wasmclaw(&args, &env, Duration::from_secs(60));
    (code, stderr)
}

#[test]
fn replicas_with_the_cluster_key_join_and_list_each_other() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let b = replica("r2", Some(&url));
    let listed = nodes(&b);
    assert_eq!(node_ids(&b), ["r1", "r2"], "{listed:?}");
    for (n, gw) in listed.iter().zip([&a, &b]) {
        assert_eq!(n["addr"], format!("http://{}", gw.addr), "{n}");
        assert_eq!(n["live"], true, "{n}");
        assert!(n["heartbeat_age_ms"].as_u64().unwrap() < 60_000, "{n}");
    }
    assert_eq!(listed[0]["config_digest"], listed[1]["config_digest"], "same configuration");
    assert_eq!(b.get("/v1/cluster", Some(ADMIN_KEY)).json()["node"], "r2");
    // The store is one: a tenant made through one replica is there on the other.
    let t = tenant(&a, "shared-one");
    b.get("/v1/tenants/shared-one", Some(ADMIN_KEY)).expect(200);
    // The membership is the operator's to read.
    b.get("/v1/cluster", Some(&t.admin)).expect_error(403, "forbidden");
    b.get("/v1/cluster", None).expect_error(401, "unauthorized");
}

#[test]
fn a_second_live_process_may_not_take_a_node_id() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let started = Instant::now();
    let (code, stderr) = refused_replica(&url, "r1", MASTER_KEY);
    assert_eq!(code, Some(17), "{stderr}");
    let held = format!("node id r1 is held by another live replica (http://{})", a.addr);
    assert!(stderr.contains(&held), "{stderr}");
    // It waited out the TTL (5 s) first: a restart would have got the id.
    assert!(started.elapsed() >= Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(node_ids(&a), ["r1"], "the refused process left no row");
}

#[test]
fn a_replica_with_another_master_key_is_refused() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let (code, stderr) = refused_replica(&url, "r2", OTHER_KEY);
    assert_eq!(code, Some(15), "{stderr}");
    assert!(stderr.contains("is not the cluster's") && stderr.contains("WASMCLAW_MASTER_KEY"), "{stderr}");
    assert!(!stderr.contains(OTHER_KEY) && !stderr.contains(MASTER_KEY), "no key in the message: {stderr}");
    assert_eq!(node_ids(&a), ["r1"]);
}

#[test]
fn a_killed_replica_gets_its_node_id_back_and_a_stopped_one_leaves() {
    let mut a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let mut b = replica("r2", Some(&url));
    // SIGKILL: r2's row stays until its TTL runs out; the restart waits
    // for that, then takes it.
    b.kill();
    assert_eq!(node_ids(&a), ["r1", "r2"], "a killed replica's row lives out its TTL");
    b.restart_stopped();
    let listed = nodes(&a);
    assert_eq!(listed[1]["addr"], format!("http://{}", b.addr), "{listed:?}");
    assert_eq!(listed[1]["live"], true);
    // A graceful stop removes the row at once.
    b.stop();
    assert_eq!(node_ids(&a), ["r1"]);
    a.stop();
}

#[test]
fn a_publisher_key_untrusted_through_one_replica_disables_its_skills_at_the_owner() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let b = replica("r2", Some(&url));
    let t = tenant(&a, "signed");
    crate::harness::install(&a, "signed", ADMIN_KEY, "echo", false);
    // Bound (and its publisher checked) at the tenant's owner, whichever
    // replica that is; the trust is then changed through the other.
    assert_eq!(crate::harness::output(&b, &t.member, "echo", &serde_json::json!(1)), 1);
    let owner = crate::cluster_leases::owner(&a, "signed").expect("a call took the lease");
    let (at_owner, elsewhere) = if owner == "r1" { (&a, &b) } else { (&b, &a) };
    elsewhere.delete("/v1/trust/tests", Some(ADMIN_KEY)).expect(200);
    let started = Instant::now();
    loop {
        let r = crate::harness::invoke(at_owner, &t.member, "echo", &serde_json::json!(1));
        if r.status == 403 {
            let e = r.expect_error(403, "untrusted");
            assert!(e.contains("skill echo is disabled"), "{e}");
            break;
        }
        assert_eq!(r.status, 200, "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(10), "the owner still ran the skill after 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "untrusted through {} and refused by the owner {owner} after {:?}",
        other(&owner),
        started.elapsed()
    );
    // Trusted again through the other replica: the owner runs it again.
    let key = wasmclaw_tests::publisher().public().to_string();
    elsewhere
        .post("/v1/trust", Some(ADMIN_KEY), serde_json::json!({"name": "tests", "key": key}))
        .expect(201);
    let started = Instant::now();
    while crate::harness::invoke(at_owner, &t.member, "echo", &serde_json::json!(1)).status != 200 {
        assert!(started.elapsed() < Duration::from_secs(10), "the owner never trusted the key again");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn other(node: &str) -> &'static str {
    if node == "r1" { "r2" } else { "r1" }
}

fn finding_codes(gw: &Gateway) -> Vec<(String, String)> {
    let v = gw.get("/v1/security/audit", Some(ADMIN_KEY)).expect(200);
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["message"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_replica_with_another_configuration_is_a_security_finding() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    assert!(!finding_codes(&a).iter().any(|(c, _)| c.starts_with("cluster-")), "{:?}", finding_codes(&a));
    // A top-level key, so before the [cluster] table.
    let _b = Gateway::start_with_env(
        Some("shutdown_grace_secs = 31\n"),
        &["--node-id", "r2", "--store", &url],
        &[("WASMCLAW_MASTER_KEY", MASTER_KEY)],
    );
    let found = finding_codes(&a);
    let mismatch = found.iter().find(|(c, _)| c == "cluster-config-mismatch");
    assert!(mismatch.is_some_and(|(_, m)| m.contains("r2") && m.contains("(r1)")), "{found:?}");
}

/// How long `gw` takes to refuse `token` with `status` (polling), at most
/// ten seconds.
/// How long until every one of `gws` refuses `token` with `status` (a
/// 200 meanwhile; anything else fails).
fn refused_by_all_after(gws: &[Gateway], token: &str, status: u16) -> Duration {
    let started = Instant::now();
    let mut pending: Vec<&Gateway> = gws.iter().collect();
    while !pending.is_empty() {
        pending.retain(|gw| {
            let r = gw.get("/v1/skills", Some(token));
            assert!(r.status == 200 || r.status == status, "{r:?}");
            r.status != status
        });
        assert!(started.elapsed() < Duration::from_secs(10), "still accepted after 10 s");
    }
    started.elapsed()
}

/// Issue 18, test 4: a token warm on all three replicas, revoked through
/// one, is refused by all three within 1 s; the same for a tenant
/// suspended, and one deleted. Each replica checks the credential itself
/// (a non-owner authenticates before it forwards), so each one's own cache
/// must drop it: by the notification, or at the latest by the poll.
#[test]
fn a_revocation_suspension_or_deletion_through_one_replica_is_refused_by_all_three_within_a_second() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let gws = [a, replica("r2", Some(&url)), replica("r3", Some(&url))];
    let warm = |token: &str| {
        for gw in &gws {
            // Twice: the second from the cache.
            gw.get("/v1/skills", Some(token)).expect(200);
            gw.get("/v1/skills", Some(token)).expect(200);
        }
    };
    tenant(&gws[0], "revoked-here");
    let (token, id) = crate::harness::mint(&gws[0], "revoked-here", ADMIN_KEY, "member");
    warm(&token);
    gws[1].delete(&format!("/v1/tenants/revoked-here/tokens/{id}"), Some(ADMIN_KEY)).expect(200);
    let revoked = refused_by_all_after(&gws, &token, 401);

    let t = tenant(&gws[0], "suspended-here");
    warm(&t.member);
    gws[2]
        .req("POST", "/v1/tenants/suspended-here/suspend", Some(ADMIN_KEY), crate::harness::Body::None)
        .expect(200);
    let suspended = refused_by_all_after(&gws, &t.member, 403);

    let t = tenant(&gws[0], "deleted-here");
    warm(&t.member);
    gws[1].delete("/v1/tenants/deleted-here", Some(ADMIN_KEY)).expect(200);
    let deleted = refused_by_all_after(&gws, &t.member, 401);
    eprintln!(
        "refused by all three after: revoked {revoked:?}, suspended {suspended:?}, deleted {deleted:?}"
    );
    for (what, took) in [("revoked", revoked), ("suspended", suspended), ("deleted", deleted)] {
        assert!(took <= Duration::from_secs(1), "{what}: refused by all three only after {took:?}");
    }
}

#[test]
fn a_replica_that_stalled_past_its_ttl_stops_when_it_wakes_to_find_its_node_id_taken() {
    let mut a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    // A stalled process (a long GC pause, a frozen VM): it does not beat.
    a.signal("STOP");
    // The pod is restarted elsewhere under its name: the new process waits
    // out the old row (the TTL), then takes the node id.
    let b = replica("r1", Some(&url));
    assert_eq!(nodes(&b)[0]["addr"], format!("http://{}", b.addr));
    // The old one wakes: its next heartbeat finds the id taken; it stops
    // serving and exits 17, and the node is still the new process.
    a.signal("CONT");
    let exit = a.wait_exit(Duration::from_secs(30)).expect("the stale replica went on serving");
    assert_eq!(exit.code(), Some(17), "log:\n{}", a.log_text());
    assert!(a.log_text().contains("taken over by another process"), "{}", a.log_text());
    assert_eq!(nodes(&b)[0]["addr"], format!("http://{}", b.addr));
}

#[test]
fn doctor_names_the_live_replicas_of_the_store() {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let data = a.data_dir().display().to_string();
    let (code, stdout, stderr) =
        wasmclaw(&["doctor", "--data-dir", &data, "--store", &url], &[], Duration::from_secs(60));
    let line = stdout
        .lines()
        .find(|l| l.contains("store postgres://"))
        .unwrap_or_else(|| panic!("{stdout}{stderr}"));
    assert!(line.contains(&format!("cluster: 1 live replica(s) (r1 http://{})", a.addr)), "{line}");
    assert!(code == Some(0) || code == Some(21), "{stdout}{stderr}");
}
