//! Rows 10h–10j (Step 10, issue 18): three real `wasmclaw serve` replicas
//! of the release binary over one PostgreSQL database, under load.
//!
//! - 10h: 10,000 tenants over 3 replicas, each with `echo` installed and
//!   called once through a replica picked at random (a load balancer that
//!   does not know tenants): the replicas' total RSS and the share of the
//!   calls forwarded; against one replica serving all of them, same run
//!   (the other two stopped gracefully, every tenant called once more).
//! - 10i: noisy neighbour across replicas: tenant B's `echo` p99 at its
//!   owner while tenant A hammers `memory.set` (`notes` adds, 4
//!   connections) at another replica, against B alone, same run. Goal ≤ 2×.
//! - 10j: `echo` through HAProxy (`deploy/haproxy/haproxy.cfg`, hashing by
//!   tenant) over 3 replicas, against the same through HAProxy to 1
//!   replica, same run. The 3 share 2 cores: this shows the overhead of
//!   the cluster, not scaling. Skipped, saying so, without `haproxy`.
//!
//! `cargo bench -p wasmclaw-benches --bench cluster_load` (`benches/run`
//! builds the release binary and starts a durable PostgreSQL); without
//! `--bench` a smoke run of 60 tenants and short phases. Knob:
//! `WASMCLAW_BENCH_TENANTS` (10h's count, 10,000).

use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasmclaw_benches::pg::Pg;
use wasmclaw_benches::replicas::{ADMIN_KEY, ROUTE, Replica, binary, call, client, throughput};
use wasmclaw_benches::{Row, Status, full, knob, mib, record, stats, us};

fn main() {
    let Some(pg) = Pg::create("10h–10j") else { return };
    let Some(bin) = binary() else {
        println!("rows 10h–10j skipped: no release binary (`cargo build --release --bin wasmclaw`)");
        return;
    };
    let mut rows = vec![density(&pg, &bin)];
    let pg2 = Pg::create("10i").expect("a second database");
    rows.push(noisy(&pg2, &bin));
    let pg3 = Pg::create("10j").expect("a third database");
    rows.extend(haproxy(&pg3, &bin));
    record("cluster_load", &rows);
}

fn three(pg: &Pg, bin: &Path, tenants: &Path) -> Vec<Replica> {
    ["r1", "r2", "r3"].iter().map(|n| Replica::start(bin, pg.url(), n, tenants)).collect()
}

fn trust(r: &Replica) {
    let key = wasmclaw_tests::publisher().public().to_string();
    let c = client();
    let (s, _) = call(&c, "POST", &r.url("/v1/trust"), ADMIN_KEY, Some(json!({"name": "tests", "key": key})));
    assert!(s == 201 || s == 200, "trust: {s}");
}

fn package(skill: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(wasmclaw_tests::package(skill))
}

/// Tenant `id` made through `via(0)`, `skill` installed through `via(1)`,
/// a member token minted through `via(2)`: the token.
fn make_tenant(
    c: &reqwest::blocking::Client,
    id: &str,
    package: &str,
    via: impl Fn(usize) -> String,
) -> String {
    let (s, _) = call(c, "POST", &format!("{}/v1/tenants", via(0)), ADMIN_KEY, Some(json!({"id": id})));
    assert_eq!(s, 201, "tenant {id}");
    let path = format!("{}/v1/tenants/{id}/skills", via(1));
    let (s, v) = call(c, "POST", &path, ADMIN_KEY, Some(json!({"package": package})));
    assert_eq!(s, 201, "install in {id}: {v}");
    let path = format!("{}/v1/tenants/{id}/tokens", via(2));
    let (s, v) = call(c, "POST", &path, ADMIN_KEY, Some(json!({"role": "member"})));
    assert_eq!(s, 201, "a token of {id}: {v}");
    v["token"].as_str().expect("a token").to_string()
}

/// A small generator (xorshift), for picking replicas.
struct Pick(u64);

impl Pick {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn forwarded(c: &reqwest::blocking::Client, rs: &[Replica]) -> u64 {
    rs.iter()
        .map(|r| call(c, "GET", &r.url("/v1/cluster"), ADMIN_KEY, None).1["forwarded"].as_u64().unwrap_or(0))
        .sum()
}

/// Calls every tenant's `echo` once, each through `urls[pick]`, from 4
/// threads; panics on any answer but 200.
fn call_each(tokens: &[String], urls: &[String], seed: u64) {
    std::thread::scope(|s| {
        for (k, chunk) in tokens.chunks(tokens.len().div_ceil(4)).enumerate() {
            s.spawn(move || {
                let c = client();
                let mut pick = Pick(seed ^ (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                for token in chunk {
                    let url = &urls[pick.below(urls.len())];
                    let (status, v) = call(&c, "POST", url, token, Some(json!({"n": 1})));
                    assert_eq!(status, 200, "{v}");
                }
            });
        }
    });
}

// ---- 10h: 10,000 tenants over 3 replicas ------------------------------------

fn density(pg: &Pg, bin: &Path) -> Row {
    let n: usize = if full() { knob("WASMCLAW_BENCH_TENANTS", 10_000) } else { 60 };
    let shared = tempfile::tempdir().expect("the tenants directory");
    let mut rs = three(pg, bin, shared.path());
    trust(&rs[0]);
    let bases: Vec<String> = rs.iter().map(|r| r.url("")).collect();
    let idle: u64 = rs.iter().map(Replica::rss).sum();
    let echo = package("echo");
    let made = Instant::now();
    let threads = 6;
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (bases, echo) = (&bases, &echo);
                s.spawn(move || {
                    let c = client();
                    let mut pick = Pick(0x5eed ^ (k as u64 + 1) << 20);
                    (k..n)
                        .step_by(threads)
                        .map(|i| {
                            let via: Vec<usize> = (0..3).map(|_| pick.below(3)).collect();
                            (i, make_tenant(&c, &format!("d-{i}"), echo, |j| bases[via[j]].clone()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<(usize, String)> =
            handles.into_iter().flat_map(|h| h.join().expect("a maker")).collect();
        all.sort();
        all.into_iter().map(|(_, t)| t).collect()
    });
    println!("10h: {n} tenants made in {:.1} s", made.elapsed().as_secs_f64());
    let c = client();
    let urls: Vec<String> = rs.iter().map(|r| r.url(ROUTE)).collect();
    let before = forwarded(&c, &rs);
    call_each(&tokens, &urls, 1);
    let share = (forwarded(&c, &rs) - before) as f64 / n as f64;
    let each: Vec<u64> = rs.iter().map(Replica::rss).collect();
    let total: u64 = each.iter().sum();
    // The baseline: one replica serving every tenant.
    for r in &mut rs[1..] {
        r.stop();
    }
    call_each(&tokens, &urls[..1], 2);
    let one = rs[0].rss();
    println!(
        "10h: 3 replicas {:.0} MiB ({:?} MiB each, {:.0} MiB idle), {:.1}% forwarded; 1 replica {:.0} MiB",
        mib(total),
        each.iter().map(|b| mib(*b).round()).collect::<Vec<_>>(),
        mib(idle),
        100.0 * share,
        mib(one)
    );
    Row {
        id: "10h".into(),
        what: format!(
            "{n} tenants over 3 replicas, `echo` installed and called once each through a replica picked at \
             random (RSS of the 3 after the calls; {:.0} MiB before the tenants)",
            mib(idle)
        ),
        figure: format!(
            "{:.0} MiB total ({} MiB each); {:.1}% of the calls forwarded",
            mib(total),
            each.iter().map(|b| format!("{:.0}", mib(*b))).collect::<Vec<_>>().join(" / "),
            100.0 * share
        ),
        baseline: format!("one replica serving all {n} (the other two stopped): {:.0} MiB", mib(one)),
        ratio: format!("{:.2}× its memory", total as f64 / one as f64),
        goal: "(report; two in three forwarded expected)".into(),
        status: Status::Reported,
    }
}

// ---- 10i: noisy neighbour across replicas -------------------------------------

/// B's `echo` latencies, one call at a time for `secs`.
fn latencies(url: &str, token: &str, secs: f64) -> Vec<Duration> {
    let c = client();
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut v = Vec::new();
    while Instant::now() < end {
        let t0 = Instant::now();
        assert_eq!(call(&c, "POST", url, token, Some(json!({"n": 1}))).0, 200);
        v.push(t0.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    v
}

fn noisy(pg: &Pg, bin: &Path) -> Row {
    let secs = if full() { 10.0 } else { 0.3 };
    let shared = tempfile::tempdir().expect("the tenants directory");
    let rs = three(pg, bin, shared.path());
    trust(&rs[0]);
    let c = client();
    // A is owned by r1 (its install went there), B by r2.
    let a = make_tenant(&c, "noisy-a", &package("notes"), |_| rs[0].url(""));
    let b = make_tenant(&c, "quiet-b", &package("echo"), |_| rs[1].url(""));
    let b_url = rs[1].url(ROUTE);
    let a_url = rs[0].url("/v1/skills/notes/invoke");
    let alone = stats(latencies(&b_url, &b, secs));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (loaded, sets) = std::thread::scope(|s| {
        let hammers: Vec<_> = (0..4)
            .map(|k| {
                let (a, a_url, stop) = (&a, &a_url, &stop);
                s.spawn(move || {
                    let c = client();
                    let mut n = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let text = format!("note {k}-{n}");
                        let (status, v) =
                            call(&c, "POST", a_url, a, Some(json!({"op": "add", "text": text})));
                        assert_eq!(status, 200, "{v}");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let loaded = stats(latencies(&b_url, &b, secs));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (loaded, hammers.into_iter().map(|h| h.join().expect("a hammer")).sum::<u64>())
    });
    let rate = sets as f64 / secs;
    println!("10i: B alone {alone:?}; under A ({rate:.0} adds/s) {loaded:?}");
    let ratio = loaded.p99.as_secs_f64() / alone.p99.as_secs_f64();
    Row {
        id: "10i".into(),
        what: format!(
            "noisy neighbour across replicas: tenant B's `echo` at its owner (one call at a time, {secs} s, {} \
             calls) while tenant A adds notes (2 `memory.set` each) over 4 connections at another replica \
             ({rate:.0} adds/s)",
            loaded.n
        ),
        figure: format!("p99 {:.0} µs (p50 {:.0} µs)", us(loaded.p99), us(loaded.median)),
        baseline: format!("B alone: p99 {:.0} µs (p50 {:.0} µs)", us(alone.p99), us(alone.median)),
        ratio: format!("{ratio:.2}×"),
        goal: "≤ 2×".into(),
        status: Status::of(ratio <= 2.0),
    }
}

// ---- 10j: HAProxy over 3 replicas against 1 ----------------------------------

struct Haproxy(Child);

impl Haproxy {
    /// `deploy/haproxy/haproxy.cfg` in its static mode, its three servers at
    /// `servers`, listening on `port`; once it answers `/readyz`.
    fn start(bin: &str, servers: &[String; 3], port: u16) -> Haproxy {
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/haproxy.cfg");
        let mut cmd = Command::new(bin);
        cmd.args(["-db", "-f"]).arg(config);
        cmd.env("WASMCLAW_LB_SERVERS", "static").env("WASMCLAW_LB_BIND", format!("127.0.0.1:{port}"));
        for (i, s) in servers.iter().enumerate() {
            cmd.env(format!("WASMCLAW_R{i}"), s);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start haproxy");
        let h = Haproxy(child);
        let c = client();
        let started = Instant::now();
        // Every server must have passed its checks (rise 2, every 2 s).
        std::thread::sleep(Duration::from_secs(5));
        while call_ok(&c, &format!("http://127.0.0.1:{port}/readyz")) != Some(200) {
            assert!(started.elapsed() < Duration::from_secs(60), "haproxy never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
        h
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn call_ok(c: &reqwest::blocking::Client, url: &str) -> Option<u16> {
    c.get(url).send().ok().map(|r| r.status().as_u16())
}

fn haproxy_binary() -> Option<String> {
    let out = Command::new("sh").args(["-c", "command -v haproxy"]).output().ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!path.is_empty()).then_some(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("its address").port()
}

fn haproxy(pg: &Pg, bin: &Path) -> Option<Row> {
    let Some(lb) = haproxy_binary() else {
        println!("row 10j skipped: no haproxy (apt-get install haproxy)");
        return None;
    };
    let secs = if full() { 5.0 } else { 0.5 };
    let conns = 12;
    let shared = tempfile::tempdir().expect("the tenants directory");
    let mut rs = three(pg, bin, shared.path());
    trust(&rs[0]);
    let port = free_port();
    let front = format!("http://127.0.0.1:{port}");
    let servers: [String; 3] = [rs[0].addr.clone(), rs[1].addr.clone(), rs[2].addr.clone()];
    let spread = Haproxy::start(&lb, &servers, port);
    let c = client();
    // Made through HAProxy: each tenant's first request lands on its hash.
    let echo = package("echo");
    let tokens: Vec<String> =
        (0..conns).map(|i| make_tenant(&c, &format!("lb-{i}"), &echo, |_| front.clone())).collect();
    let targets: Vec<String> = (0..conns).map(|_| format!("{front}{ROUTE}")).collect();
    let before = forwarded(&c, &rs);
    let mut over_three: Vec<f64> = (0..3).map(|_| throughput(&targets, &tokens, secs)).collect();
    let forwarded_share = (forwarded(&c, &rs) - before) as f64;
    drop(spread);
    // One replica: the other two stopped (their leases free at once), all
    // three servers of the file at it.
    for r in &mut rs[1..] {
        r.stop();
    }
    let one = [rs[0].addr.clone(), rs[0].addr.clone(), rs[0].addr.clone()];
    let single = Haproxy::start(&lb, &one, port);
    let mut over_one: Vec<f64> = (0..3).map(|_| throughput(&targets, &tokens, secs)).collect();
    drop(single);
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (t3, t1) = (med(&mut over_three), med(&mut over_one));
    let total = t3 * secs * 3.0;
    println!("10j: {t3:.0} req/s over 3, {t1:.0} req/s over 1; {forwarded_share} forwarded of ~{total:.0}");
    Some(Row {
        id: "10j".into(),
        what: format!(
            "HTTP invoke of `echo` through HAProxy (`deploy/haproxy/haproxy.cfg`, hash by tenant) over 3 \
             replicas, {conns} connections of {conns} tenants; the 3 share 2 cores: overhead, not scaling \
             (median of 3 rounds of {secs} s; {forwarded_share:.0} requests forwarded)"
        ),
        figure: format!("{t3:.0} req/s"),
        baseline: format!("the same through HAProxy to 1 replica: {t1:.0} req/s"),
        ratio: format!("{:.0}% of its throughput", 100.0 * t3 / t1),
        goal: "(report)".into(),
        status: Status::Reported,
    })
}
