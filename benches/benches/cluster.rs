//! Rows 10a–10e (Step 10, issue 18): a cluster of `wasmclaw serve`
//! replicas over one PostgreSQL database, each a real process of the
//! release binary (`benches/run` builds it), and the outbox's batch claim.
//!
//! - 10a: `echo` throughput over 3 replicas, each connection sent to a
//!   fixed replica (two in three of the tenants owned elsewhere, so two in
//!   three requests forwarded), against 1 replica, same tenants, same run.
//!   On 2 cores three replicas share the cores one had: this shows the
//!   overhead of forwarding, not scaling.
//! - 10b: the added latency of a forwarded request: one connection, its
//!   requests alternating between the tenant's owner and another replica.
//! - 10c: failover: the owner SIGKILLed, the time until another replica
//!   serves its tenant (default timings, TTL 5 s), median of 3.
//! - 10d: revocation: a token warm on all three, revoked through one; the
//!   time until all three refuse it.
//! - 10e: outbox claims per second by 3 stores (3 replicas' workers) with
//!   `outbox_claim_due` (batches, `SKIP LOCKED`), against the per-message
//!   compare-and-set it replaced, same run.
//! - 10f: lease takes per second, 3 stores (3 replicas) taking 10,000
//!   tenants between them (what a cold start or a failover of many
//!   tenants costs the database).
//! - 10g: the fence's cost on a write: `memory.set` of one store holding
//!   the tenant's lease (the check `FOR SHARE` in the write's transaction)
//!   against the same store's writes before fencing was on, same run.

use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use wasmclaw::records::{Message, MessageState};
use wasmclaw::store::Db;
use wasmclaw_benches::pg::Pg;
use wasmclaw_benches::{Row, Status, full, ms, record, stats, us};

use wasmclaw_benches::replicas::{ADMIN_KEY, ROUTE, Replica, binary, call, client, tenants, throughput};

fn main() {
    let Some(pg) = Pg::create("10a–10e") else { return };
    let mut rows = vec![outbox_claims(&pg)];
    rows.extend(leases(&pg));
    match binary() {
        Some(bin) => rows.extend(replicas(&pg, &bin)),
        None => println!("rows 10a–10d skipped: no release binary (`cargo build --release --bin wasmclaw`)"),
    }
    record("cluster", &rows);
}

/// The `wasmclaw` binary beside this bench's own directory (`target/release`
/// for `cargo bench`).
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("a clock after 1970").as_secs()
}

// ---- 10e: outbox claims ---------------------------------------------------

/// Fills the outbox with `n` due messages (one written through the store,
/// the rest copied from it in SQL, ids rewritten).
fn fill_outbox(pg: &Pg, db: &Db, n: usize) {
    pg.query("WITH gone AS (DELETE FROM outbox RETURNING 1) SELECT count(*)::text FROM gone");
    let m = Message {
        id: "m0".into(),
        tenant: wasmclaw::ids::TenantId::parse("bench").expect("a tenant id"),
        skill: "notify".into(),
        contact: "ops".into(),
        url: "http://127.0.0.1:9/hook".into(),
        body: "x".repeat(200),
        created: 1,
        state: MessageState::Pending,
        attempts: 0,
        next_attempt: 100,
        last_error: None,
    };
    db.outbox_put(&m).expect("a message");
    pg.query(&format!(
        "WITH ins AS (INSERT INTO outbox (tenant, id, message, due) \
         SELECT tenant, convert_to('m' || g, 'UTF8'), replace(message, '\"id\":\"m0\"', '\"id\":\"m' || g || '\"'), due \
         FROM outbox, generate_series(1, {}) g RETURNING 1) SELECT count(*)::text FROM ins",
        n - 1
    ));
    let got = db.outbox_get(&m.tenant, &format!("m{}", n - 1)).expect("a read");
    assert!(got.is_some_and(|g| g.state == MessageState::Pending), "the copied messages decode");
}

/// Claims every due message with `workers` threads, one store each; the
/// claims per second and how many were claimed.
fn claim_all(dbs: &[Db], batch: bool) -> (f64, usize) {
    let until = unix_now() + 3600;
    let started = Instant::now();
    let claimed: usize = std::thread::scope(|s| {
        let workers: Vec<_> = dbs
            .iter()
            .map(|db| {
                s.spawn(move || {
                    let mut n = 0;
                    loop {
                        // (read, claimed): a round that read nothing ends.
                        let (read, won) = if batch {
                            let got = db.outbox_claim_due(1000, until, 32).expect("a batch claim").len();
                            (got, got)
                        } else {
                            let due = db.outbox_due(1000, 32).expect("due messages");
                            let won =
                                due.iter().filter(|m| db.outbox_claim(m, until).expect("a claim")).count();
                            (due.len(), won)
                        };
                        if read == 0 {
                            return n;
                        }
                        n += won;
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker")).sum()
    });
    (claimed as f64 / started.elapsed().as_secs_f64(), claimed)
}

fn outbox_claims(pg: &Pg) -> Row {
    let n = if full() { 30_000 } else { 300 };
    let dbs: Vec<Db> = (0..3).map(|_| Db::open_postgres(pg.url()).expect("a store")).collect();
    // Alternating, three rounds each; the median round of each.
    let (mut batched, mut single) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        fill_outbox(pg, &dbs[0], n);
        batched.push(claim_all(&dbs, true));
        fill_outbox(pg, &dbs[0], n);
        single.push(claim_all(&dbs, false));
    }
    let median = |v: &mut Vec<(f64, usize)>| {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v[v.len() / 2]
    };
    let (b, s) = (median(&mut batched), median(&mut single));
    println!("10e: batch {:.0}/s ({} claimed), per message {:.0}/s ({} claimed)", b.0, b.1, s.0, s.1);
    Row {
        id: "10e".into(),
        what: format!(
            "outbox claims by 3 stores (3 replicas' workers) over {n} due messages, batches of 32 with \
             `FOR UPDATE SKIP LOCKED` (median of 3 rounds; {})",
            pg.settings()
        ),
        figure: format!("{:.0} claims/s ({} of {n} claimed)", b.0, b.1),
        baseline: format!("the per-message compare-and-set it replaced: {:.0} claims/s", s.0),
        ratio: format!("{:.1}×", b.0 / s.0),
        goal: "≥ 10,000 claims/s".into(),
        status: Status::of(b.0 >= 10_000.0 && b.1 == n),
    }
}

// ---- 10f, 10g: leases and the fence ---------------------------------------

fn join(db: &Db, node: &str) {
    use wasmclaw::store::cluster::NodeClaim;
    let c = db.cluster().expect("PostgreSQL's cluster operations");
    let claim = NodeClaim {
        node_id: node.into(),
        instance: format!("{node}-bench"),
        addr: format!("http://{node}:8080"),
        version: "bench".into(),
        config_digest: "bench".into(),
    };
    c.node_join(&claim, Duration::from_secs(600)).expect("a join").expect("a free node id");
    c.enable_fencing(&claim.node_id, &claim.instance);
}

/// The median times of one `memory.set` of `tenant` by `fenced` and by
/// `plain`, `n` each, taking turns write by write (so both meet the same
/// rows, the same server and the same load).
fn set_costs(fenced: &Db, plain: &Db, tenant: &wasmclaw::ids::TenantId, n: usize) -> (Duration, Duration) {
    let scope = wasmclaw::store::Scope { tenant, user: None };
    let quota = wasmclaw::config::MemoryQuota::default();
    let (mut f, mut p) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..2 * n {
        let (db, sink) = if i % 2 == 0 { (fenced, &mut f) } else { (plain, &mut p) };
        let t0 = Instant::now();
        db.memory_set(scope, "k", &format!("value {i}"), &quota).expect("a write");
        sink.push(t0.elapsed());
    }
    (stats(f).median, stats(p).median)
}

fn leases(pg: &Pg) -> Vec<Row> {
    use wasmclaw::records::Tenant;
    let count = if full() { 10_000 } else { 100 };
    let dbs: Vec<Db> = (0..3).map(|_| Db::open_postgres(pg.url()).expect("a store")).collect();
    let ids: Vec<wasmclaw::ids::TenantId> =
        (0..count).map(|i| wasmclaw::ids::TenantId::parse(&format!("lease-{i}")).expect("an id")).collect();
    std::thread::scope(|s| {
        for (k, db) in dbs.iter().enumerate() {
            let ids = &ids;
            s.spawn(move || {
                for id in ids.iter().skip(k).step_by(3) {
                    db.tenant_create(&Tenant { id: id.clone(), created: 1, suspended: false })
                        .expect("a tenant");
                }
            });
        }
    });
    for (k, db) in dbs.iter().enumerate() {
        join(db, &format!("b{k}"));
    }
    let started = Instant::now();
    let taken: usize = std::thread::scope(|s| {
        let takers: Vec<_> = dbs
            .iter()
            .enumerate()
            .map(|(k, db)| {
                let ids = &ids;
                s.spawn(move || {
                    let c = db.cluster().expect("cluster operations");
                    ids.iter()
                        .skip(k)
                        .step_by(3)
                        .filter(|id| {
                            let got = c.lease_take(id.as_str()).expect("a take");
                            matches!(got, wasmclaw::store::cluster::LeaseTake::Held { taken: true, .. })
                        })
                        .count()
                })
            })
            .collect();
        takers.into_iter().map(|t| t.join().expect("a taker")).sum()
    });
    let rate = taken as f64 / started.elapsed().as_secs_f64();
    // 10g: the lease holder's writes (fenced) against a store that never
    // joined (one gateway: unfenced), write for write on the same tenant.
    let n = if full() { 2000 } else { 50 };
    let plain = Db::open_postgres(pg.url()).expect("a store");
    let (f, u) = set_costs(&dbs[0], &plain, &ids[0], n);
    println!("10f: {rate:.0} takes/s ({taken} of {count}); 10g: fenced {f:?}, unfenced {u:?}");
    vec![
        Row {
            id: "10f".into(),
            what: format!(
                "lease takes by 3 stores (3 replicas) of {count} tenants between them, one transaction \
                 each ({})",
                pg.settings()
            ),
            figure: format!("{rate:.0} takes/s ({taken} of {count} taken)"),
            baseline: "—".into(),
            ratio: format!("{:.1} s for 1,000,000 tenants", 1e6 / rate),
            goal: "(feeds docs/scaling.md)".into(),
            status: Status::Reported,
        },
        Row {
            id: "10g".into(),
            what: format!(
                "`memory.set` of a 13-byte value by the lease holder, median of {n}, taking turns with \
                 the baseline write for write ({})",
                pg.settings()
            ),
            figure: format!("{:.0} µs (fenced: the lease checked in the write's transaction)", us(f)),
            baseline: format!("the same write unfenced (one gateway): {:.0} µs", us(u)),
            ratio: format!("{:.2}×", f.as_secs_f64() / u.as_secs_f64()),
            goal: "(report)".into(),
            status: Status::Reported,
        },
    ]
}

// ---- 10a–10d: replicas ----------------------------------------------------

fn replicas(pg: &Pg, bin: &Path) -> Vec<Row> {
    let secs = if full() { 5.0 } else { 0.5 };
    let shared = tempfile::tempdir().expect("the tenants directory");
    let c = client();
    let mut rs: Vec<Replica> =
        ["r1", "r2", "r3"].iter().map(|n| Replica::start(bin, pg.url(), n, shared.path())).collect();
    let conns = 12;
    // Tenant i's first call (its install) goes to replica i % 3: its owner.
    let ts = tenants(&c, &rs[0], &[&rs[0], &rs[1], &rs[2]], conns);
    let tokens: Vec<String> = ts.iter().map(|t| t.token.clone()).collect();
    let spread: Vec<String> = (0..conns).map(|i| rs[(i + 1) % 3].url(ROUTE)).collect();
    let direct: Vec<String> = (0..conns).map(|i| rs[i % 3].url(ROUTE)).collect();
    let (mut three, mut owners) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        three.push(throughput(&spread, &tokens, secs));
        owners.push(throughput(&direct, &tokens, secs));
    }
    // Forwarded against direct, one connection, alternating.
    let (mut fwd, mut own) = (Vec::new(), Vec::new());
    let n = if full() { 2000 } else { 50 };
    for i in 0..n {
        let (url, sink) = if i % 2 == 0 { (&direct[0], &mut own) } else { (&spread[0], &mut fwd) };
        let t0 = Instant::now();
        assert_eq!(call(&c, "POST", url, &tokens[0], Some(json!(1))).0, 200);
        sink.push(t0.elapsed());
    }
    let (f, o) = (stats(fwd), stats(own));
    // Revocation: warm everywhere, revoked through r1, refused by all.
    let probe = &ts[1];
    for r in &rs {
        assert_eq!(call(&c, "GET", &r.url("/v1/skills"), &probe.token, None).0, 200);
    }
    let revoked = Instant::now();
    let path = format!("/v1/tenants/{}/tokens/{}", probe.id, probe.token_id);
    let (s, _) = call(&c, "DELETE", &rs[0].url(&path), ADMIN_KEY, None);
    assert_eq!(s, 200, "revoke");
    while rs.iter().any(|r| call(&c, "GET", &r.url("/v1/skills"), &probe.token, None).0 != 401) {
        assert!(revoked.elapsed() < Duration::from_secs(30), "never refused");
    }
    let revocation = revoked.elapsed();
    // Failover, the last (it kills replicas): round k kills replica k % 3
    // and waits for a tenant it owns to be served by the next.
    let mut failovers = Vec::new();
    let (mut i, kills) = (0usize, if full() { 3 } else { 1 });
    while failovers.len() < kills {
        let victim = i % 3;
        // Tenant victim + 3: owned by the victim, and its token not the
        // one 10d revoked.
        let t = victim + 3;
        let other = (victim + 1) % 3;
        rs[victim].kill();
        let killed = Instant::now();
        while call(&c, "POST", &rs[other].url(ROUTE), &tokens[t], Some(json!(1))).0 != 200 {
            std::thread::sleep(Duration::from_millis(20));
            assert!(killed.elapsed() < Duration::from_secs(60), "never taken over");
        }
        failovers.push(killed.elapsed());
        rs[victim] = Replica::start(bin, pg.url(), ["r1", "r2", "r3"][victim], shared.path());
        i += 1;
    }
    failovers.sort();
    let failover = failovers[failovers.len() / 2];
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (t3, t1) = (med(&mut three), med(&mut owners));
    println!("10a: {t3:.0} req/s spread, {t1:.0} req/s at the owners; 10b: {f:?} / {o:?}");
    vec![
        Row {
            id: "10a".into(),
            what: format!(
                "HTTP invoke of `echo`, {conns} connections over 3 replicas, each sent to a replica that does \
                 not own its tenant (every request forwarded once); 2 cores shared by the 3: overhead, not \
                 scaling (median of 3 rounds of {secs} s)"
            ),
            figure: format!("{t3:.0} req/s"),
            baseline: format!("the same connections sent to their tenants' owners: {t1:.0} req/s"),
            ratio: format!("{:.0}% of its throughput", 100.0 * t3 / t1),
            goal: "(report: forwarding's cost)".into(),
            status: Status::Reported,
        },
        Row {
            id: "10b".into(),
            what: format!("latency of a forwarded `echo` call, one connection, alternating ({} each)", f.n),
            figure: format!("p50 {:.0} µs, p99 {:.0} µs", us(f.median), us(f.p99)),
            baseline: format!("at the owner: p50 {:.0} µs, p99 {:.0} µs", us(o.median), us(o.p99)),
            ratio: format!(
                "+{:.0} µs p50, +{:.0} µs p99",
                us(f.median.saturating_sub(o.median)),
                us(f.p99.saturating_sub(o.p99))
            ),
            goal: "(report)".into(),
            status: Status::Reported,
        },
        Row {
            id: "10c".into(),
            what: format!(
                "failover: the owner SIGKILLed, until another replica serves its tenant (TTL 5 s, heartbeat 1 s; median of {kills})"
            ),
            figure: format!("{:.2} s", failover.as_secs_f64()),
            baseline: "TTL + 1 s = 6 s".into(),
            ratio: format!("{:.2}× the goal", failover.as_secs_f64() / 6.0),
            goal: "≤ TTL + 1 s".into(),
            status: Status::of(failover <= Duration::from_secs(6)),
        },
        Row {
            id: "10d".into(),
            what: "revocation: a token warm on 3 replicas, revoked through one, until all three refuse it"
                .into(),
            figure: format!("{:.1} ms", ms(revocation)),
            baseline: "1 s".into(),
            ratio: format!("{:.3}× the goal", revocation.as_secs_f64()),
            goal: "≤ 1 s".into(),
            status: Status::of(revocation <= Duration::from_secs(1)),
        },
    ]
}
