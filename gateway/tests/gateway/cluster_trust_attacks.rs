//! Attacks on the trust of publisher keys across replicas: a key the
//! operator untrusted through one replica must stop every run and every
//! install of what it signed at every other replica — a restarted one, a
//! stalled one, its cron jobs, its upgrades. Each test asserts the secure
//! behaviour, so a hole shows as a failing test. Real processes on one
//! PostgreSQL database. Run from `gateway_pg` only.

use crate::cluster_leases::{index_of, owner};
use crate::harness::{ADMIN_KEY, Body, Gateway, Resp, invoke, output, tenant};
use base64::Engine;
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmclaw::signing::PublisherKey;
use wasmclaw_tests::package_with;

const MASTER_KEY: &str = "4b6579206f6620746865207465737420636c7573746572203132333435363738";

/// The default timings (a TTL of 5 s: a killed replica's restart waits
/// that long for its old row, and a short stall keeps every lease).
fn replica(node: &str, store: Option<&str>) -> Gateway {
    let mut args = vec!["--node-id", node];
    if let Some(url) = store {
        args.extend(["--store", url]);
    }
    Gateway::start_with_env(None, &args, &[("WASMCLAW_MASTER_KEY", MASTER_KEY)])
}

fn two() -> [Gateway; 2] {
    let a = replica("r1", None);
    let url = a.store_url().unwrap().to_string();
    let b = replica("r2", Some(&url));
    [a, b]
}

/// A fresh publisher key, trusted through `gw` as `name`.
fn trusted_key(gw: &Gateway, name: &str) -> PublisherKey {
    let key = PublisherKey::generate();
    gw.post("/v1/trust", Some(ADMIN_KEY), json!({"name": name, "key": key.public().to_string()})).expect(201);
    key
}

fn signed_body(skill: &str, key: &PublisherKey) -> Value {
    json!({"package": base64::engine::general_purpose::STANDARD.encode(package_with(skill, key))})
}

fn install_signed(gw: &Gateway, tenant: &str, skill: &str, key: &PublisherKey) -> Resp {
    gw.post(&format!("/v1/tenants/{tenant}/skills"), Some(ADMIN_KEY), signed_body(skill, key))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Polls `gw` with a call of `skill` until it is refused (403); how long
/// that took, or `Err` with the last answer when it still ran after 10 s.
fn refused_within_10s(gw: &Gateway, token: &str, skill: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let mut ran = 0;
    loop {
        let r = invoke(gw, token, skill, &json!(1));
        if r.status == 403 {
            return Ok(started.elapsed());
        }
        if r.status == 200 {
            ran += 1;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{ran} calls still ran over 10 s; last answer {} {}", r.status, r.text));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A replica killed and restarted under its node id waits out its old row
/// (the TTL) before it joins. Its trust cache is read at the very start
/// (`Runtime::new`), before the watcher starts at the join. A key untrusted
/// through another replica during that wait was trusted by the restarted
/// replica until some other credential changed (it ran the key's skills
/// and installed its packages); now the watcher's first read always moves
/// the generation, and no cache answers before a read has.
#[test]
fn a_replica_restarted_while_a_key_is_untrusted_elsewhere_does_not_keep_trusting_it() {
    let [a, b] = two();
    let key = trusted_key(&a, "restart-pub");
    let t = tenant(&a, "stale-restart");
    install_signed(&a, "stale-restart", "echo", &key).expect(201);
    assert_eq!(output(&a, &t.member, "echo", &json!(1)), 1);
    let first = owner(&a, "stale-restart").expect("the call took the lease");
    let mut gws = [a, b];
    let o = index_of(&first);
    let (victim, other) = {
        let (x, y) = gws.split_at_mut(1);
        if o == 0 { (&mut x[0], &y[0]) } else { (&mut y[0], &x[0]) }
    };
    victim.kill();
    let killed = Instant::now();
    let (untrusted_at, restarted_at) = std::thread::scope(|s| {
        let restart = s.spawn(|| {
            victim.restart_stopped();
            killed.elapsed()
        });
        // The restarted process has read its keys by now, and still waits
        // for its old row (5 s from its last beat) to lapse.
        std::thread::sleep(Duration::from_millis(2500));
        let v = other.delete("/v1/trust/restart-pub", Some(ADMIN_KEY)).expect(200);
        eprintln!("untrusted through {}: {v}", if o == 0 { "r2" } else { "r1" });
        let untrusted_at = killed.elapsed();
        (untrusted_at, restart.join().unwrap())
    });
    eprintln!("killed {first}; untrusted after {untrusted_at:?}; it listened again after {restarted_at:?}");
    assert!(
        restarted_at > untrusted_at,
        "set-up: the restart finished before the untrust ({restarted_at:?} <= {untrusted_at:?})"
    );
    let mut holes = Vec::new();
    // Straight to the restarted replica, which takes the tenant's lease.
    match refused_within_10s(victim, &t.member, "echo") {
        Ok(took) => eprintln!("the restarted replica refused the untrusted skill after {took:?}"),
        Err(e) => holes.push(format!("the restarted {first} ran a skill of the untrusted key: {e}")),
    }
    eprintln!("owner now: {:?}", owner(victim, "stale-restart"));
    // And a package the untrusted key signed is not installed there.
    let r = install_signed(victim, "stale-restart", "sleeper", &key);
    if r.status != 403 {
        holes.push(format!(
            "the restarted {first} installed a package of the untrusted key: {} {}",
            r.status, r.text
        ));
    }
    assert!(holes.is_empty(), "{holes:#?}");
}

/// The tenant's owner is stopped (SIGSTOP: a long pause, a frozen VM) for
/// less than its TTL, so it keeps its leases; meanwhile the key is
/// untrusted through the other replica. Calls sent to the owner while it
/// was stopped are served when it wakes, racing its watcher's next read.
/// They used to be served from the trust cache (1, 2 and 8 of 8 calls ran
/// in 3 of 5 runs); now a watcher that has not answered for three polls
/// makes every cache read again at the database.
#[test]
fn a_stalled_owner_does_not_run_an_untrusted_skill_when_it_wakes() {
    let gws = two();
    let key = trusted_key(&gws[0], "stall-pub");
    let t = tenant(&gws[0], "stalled");
    install_signed(&gws[0], "stalled", "echo", &key).expect(201);
    assert_eq!(output(&gws[0], &t.member, "echo", &json!(1)), 1);
    let o = index_of(&owner(&gws[0], "stalled").expect("lease"));
    let (at_owner, elsewhere) = (&gws[o], &gws[1 - o]);
    // Warm: bound and checked at the owner.
    assert_eq!(output(at_owner, &t.member, "echo", &json!(2)), 2);
    at_owner.signal("STOP");
    let statuses = std::thread::scope(|s| {
        elsewhere.delete("/v1/trust/stall-pub", Some(ADMIN_KEY)).expect(200);
        let untrusted = Instant::now();
        // Well over a poll (250 ms) after the untrust returned.
        std::thread::sleep(Duration::from_millis(1200));
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let token = t.member.clone();
                s.spawn(move || invoke(at_owner, &token, "echo", &json!(i)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        at_owner.signal("CONT");
        let out: Vec<(u16, String)> = calls
            .into_iter()
            .map(|c| {
                let r = c.join().unwrap();
                (r.status, r.text.chars().take(160).collect())
            })
            .collect();
        eprintln!("served {:?} after the untrust", untrusted.elapsed());
        out
    });
    for s in &statuses {
        eprintln!("woken owner: {} {}", s.0, s.1);
    }
    let ran = statuses.iter().filter(|s| s.0 == 200).count();
    assert_eq!(
        ran, 0,
        "the woken owner ran {ran} of 8 calls of a skill whose key was untrusted 1.5 s before: {statuses:?}"
    );
    // And it refuses from then on.
    refused_within_10s(at_owner, &t.member, "echo").unwrap();
}

/// Cron at the owner: the job's runs stop once the key is untrusted
/// through another replica (`run_job` goes through the per-call check).
#[test]
fn an_owners_cron_job_of_a_skill_untrusted_through_another_replica_stops_running() {
    let gws = two();
    let key = trusted_key(&gws[0], "cron-pub");
    let t = tenant(&gws[0], "cron-trust");
    let policy = b"[cron]\nmax_jobs = 5\nmin_interval_secs = 1\n".to_vec();
    gws[0].req("PUT", &t.path("/policy"), Some(ADMIN_KEY), Body::Raw("application/toml", policy)).expect(200);
    install_signed(&gws[0], "cron-trust", "reminder", &key).expect(201);
    let added =
        output(&gws[0], &t.member, "reminder", &json!({"op": "add", "text": "x", "every_seconds": 1}));
    assert!(added["job_id"].is_string(), "{added}");
    let o = index_of(&owner(&gws[0], "cron-trust").expect("lease"));
    let (at_owner, elsewhere) = (&gws[o], &gws[1 - o]);
    let runs = |gw: &Gateway| -> Vec<(u64, String)> {
        let v = gw.get("/v1/audit?limit=100000", Some(ADMIN_KEY)).expect(200);
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "cron.run" && e["tenant"] == "cron-trust")
            .map(|e| {
                let target = e["target"].as_str().unwrap();
                let due = target.rsplit(' ').next().unwrap().parse().unwrap();
                (due, e["outcome"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let ok_run = crate::harness::poll(Duration::from_secs(10), || {
        runs(at_owner).iter().any(|(_, o)| o == "ok").then_some(())
    });
    assert!(ok_run.is_some(), "set-up: the job never ran at the owner: {:?}", runs(at_owner));
    elsewhere.delete("/v1/trust/cron-pub", Some(ADMIN_KEY)).expect(200);
    // One poll and a fire time of slack.
    std::thread::sleep(Duration::from_millis(1500));
    let from = unix_now() + 1;
    std::thread::sleep(Duration::from_secs(4));
    let all: Vec<(u64, String)> = gws.iter().flat_map(runs).collect();
    let after: Vec<_> = all.iter().filter(|(due, _)| *due >= from).collect();
    eprintln!("cron runs due from {from} on: {after:?}");
    assert!(!after.is_empty(), "set-up: no fire time came due after the untrust");
    let ran: Vec<_> = after.iter().filter(|(_, o)| o == "ok").collect();
    assert!(ran.is_empty(), "the job of an untrusted key's skill still ran: {ran:?}");
}

/// Install and upgrade through the replica that does not own the tenant,
/// after the key was untrusted through the owner: forwarded, and refused.
#[test]
fn an_untrusted_keys_package_is_not_installed_or_upgraded_through_a_non_owner() {
    let gws = two();
    let key = trusted_key(&gws[0], "upgrade-pub");
    let t = tenant(&gws[0], "upgrades");
    install_signed(&gws[0], "upgrades", "greeter-v1", &key).expect(201);
    assert_eq!(output(&gws[0], &t.member, "greeter", &json!({}))["version"], 1);
    let o = index_of(&owner(&gws[0], "upgrades").expect("lease"));
    let (at_owner, elsewhere) = (&gws[o], &gws[1 - o]);
    at_owner.delete("/v1/trust/upgrade-pub", Some(ADMIN_KEY)).expect(200);
    // The non-owner had the key cached (it installed, or forwarded, it);
    // whichever serves it, nothing signed by the key goes in.
    std::thread::sleep(Duration::from_millis(1000));
    let mut holes = Vec::new();
    let r = install_signed(elsewhere, "upgrades", "greeter-v2", &key);
    if r.status != 403 {
        holes.push(format!("upgrade through the non-owner: {} {}", r.status, r.text));
    }
    let r = install_signed(elsewhere, "upgrades", "echo", &key);
    if r.status != 403 {
        holes.push(format!("install through the non-owner: {} {}", r.status, r.text));
    }
    let r = invoke(elsewhere, &t.member, "greeter", &json!({}));
    if r.status != 403 {
        holes.push(format!("the old version runs through the non-owner: {} {}", r.status, r.text));
    }
    assert!(holes.is_empty(), "{holes:#?}");
}

/// A PostgreSQL cluster of the test's own (`scripts/pg-test-cluster.sh`),
/// which it may freeze under running replicas; thawed and removed on drop.
struct OwnCluster {
    dir: String,
    url: String,
}

fn pg_script(args: &[&str]) -> String {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run bash");
    assert!(out.status.success(), "pg-test-cluster.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let dir = pg_script(&["dir"]).trim().to_string();
        let mut url = String::new();
        for line in pg_script(&["start", &dir]).lines() {
            if let Some(v) = line.strip_prefix("export WASMCLAW_TEST_PG='") {
                url = v.trim_end_matches('\'').to_string();
            }
        }
        assert!(url.starts_with("postgres://"), "no URL from pg-test-cluster.sh start");
        OwnCluster { dir, url }
    }

    /// A new database `name`; its URL.
    fn database(&self, name: &str) -> String {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        });
        let mut url = url::Url::parse(&self.url).unwrap();
        url.set_path(&format!("/{name}"));
        url.into()
    }

    fn freeze(&self) {
        pg_script(&["freeze", &self.dir]);
    }

    fn thaw(&self) {
        pg_script(&["thaw", &self.dir]);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let script =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster.sh");
        for cmd in ["thaw", "stop"] {
            let _ = std::process::Command::new("bash").arg(&script).args([cmd, &self.dir]).output();
        }
    }
}

/// The owner is stopped (SIGSTOP, for less than its TTL, so it keeps its
/// leases); the key is untrusted through the other replica; then the
/// database stops answering (a failover, a partition) before the owner
/// wakes. The owner's watcher read then hangs, and the trust cache — whose
/// last confirmed read is seconds old — was taken as current until the
/// read timed out (2 s): calls served from memory (the token cache, the
/// lease, the bound skill) ran the skill of a key untrusted well before.
/// Secure: a call whose trust cannot be confirmed as current is refused or
/// waits, never runs.
#[test]
fn a_stalled_owner_woken_while_the_store_is_hung_does_not_run_an_untrusted_skill() {
    let cluster = OwnCluster::start();
    let store = cluster.database("trusthung");
    let a = replica("r1", Some(&store));
    let b = replica("r2", Some(&store));
    let key = trusted_key(&a, "hung-pub");
    let t = tenant(&a, "hung-trust");
    install_signed(&a, "hung-trust", "echo", &key).expect(201);
    assert_eq!(output(&a, &t.member, "echo", &json!(1)), 1);
    let gws = [a, b];
    let o = index_of(&owner(&gws[0], "hung-trust").expect("lease"));
    let (at_owner, elsewhere) = (&gws[o], &gws[1 - o]);
    assert_eq!(output(at_owner, &t.member, "echo", &json!(2)), 2);
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(4))
        .build()
        .unwrap();
    at_owner.signal("STOP");
    let stopped = Instant::now();
    elsewhere.delete("/v1/trust/hung-pub", Some(ADMIN_KEY)).expect(200);
    let untrusted = Instant::now();
    cluster.freeze();
    eprintln!(
        "untrusted {:?} after the stop; store frozen {:?} after",
        untrusted - stopped,
        untrusted.elapsed()
    );
    std::thread::sleep(Duration::from_millis(700));
    let url = at_owner.url("/v1/skills/echo/invoke");
    let results: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let (client, url, token) = (&client, url.clone(), t.member.clone());
                s.spawn(move || {
                    let r = client
                        .post(&url)
                        .bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(json!(i).to_string())
                        .send();
                    match r {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            format!(
                                "{status} {}",
                                r.text().unwrap_or_default().chars().take(120).collect::<String>()
                            )
                        }
                        Err(e) => format!("no answer: {e}"),
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        at_owner.signal("CONT");
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    eprintln!("woken {:?} after the untrust", untrusted.elapsed());
    cluster.thaw();
    for r in &results {
        eprintln!("woken owner, store hung: {r}");
    }
    let ran: Vec<_> = results.iter().filter(|r| r.starts_with("200 ")).collect();
    assert!(
        ran.is_empty(),
        "the woken owner ran {} of 8 calls of a skill whose key was untrusted about 1 s before: {ran:?}",
        ran.len()
    );
}
