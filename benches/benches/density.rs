//! Row 4: density. The resident memory of one gateway process holding
//! 10,000 tenants, each with a skill bound and a call just finished (4), and
//! then with as many of them as the process may hold at once with a call in
//! flight (4b). Baseline: the 2 GiB per tenant a container fleet reserves
//! (10,000 × 2 GiB = 20,000 GiB); goal: ≤ 1 GiB in total.
//!
//! One `Runtime` loads `echo` once (and `fetch`, for 4b, under a manifest
//! granting a local server's origin). RSS (`VmRSS`) is read before any
//! tenant exists (runtime and loaded skills), then `echo` is bound to each
//! of the N tenants and called once as that tenant (the output is checked),
//! and RSS is read again: total, increase, and increase per tenant (4).
//!
//! 4b: K of those tenants get a policy granting the origin of a slow HTTP
//! server (axum, in a child process, so its sockets and memory are not
//! counted) and `fetch` bound, and all K call it at once on a multi-thread
//! tokio runtime. The server holds every request until it has seen all K,
//! then RSS is read (all K suspended in `http.send`, each holding a pooled
//! instance and fiber stack, the other N − K with a call just finished), and
//! the server releases them; all must answer 200. Each call in flight holds
//! two file descriptors in this process (the tenant's preopened directory
//! and its connection), so K is bounded by the open-file limit: by default
//! K = min(N, (RLIMIT_NOFILE − open − 512) / 2).
//!
//! `cargo bench -p wasmclaw-benches --bench density`. Knobs:
//! `WASMCLAW_BENCH_TENANTS` (N, default 10,000), `WASMCLAW_BENCH_INFLIGHT`
//! (K, default as above; 0 skips 4b), `WASMCLAW_BENCH_SMAPS` (`true`:
//! print where the resident memory is while the calls are held). Without `--bench` (a `cargo test` of
//! the bench): 50 tenants, 20 in flight, as a smoke check.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmclaw::policy::TenantPolicy;
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, RssSampler, Status, full, knob, mib, peak_rss_bytes, record, rss_bytes};
use wasmclaw_tests::{skill_path, tenant};

/// Set in the child process: serve `/hold`.
const SERVE_ENV: &str = "WASMCLAW_BENCH_HOLD_SERVER";
/// The goal: 1 GiB in total.
const GOAL_BYTES: u64 = 1 << 30;
/// What a container fleet reserves per tenant: 2 GiB.
const CONTAINER_BYTES: u64 = 2 << 30;

fn main() {
    if std::env::var_os(SERVE_ENV).is_some() {
        serve();
        return;
    }
    let full = full();
    let tenants: usize = knob("WASMCLAW_BENCH_TENANTS", if full { 10_000 } else { 50 });
    let fd_budget = (open_file_limit().saturating_sub(open_files() + 512) / 2).max(1);
    let inflight: usize =
        knob("WASMCLAW_BENCH_INFLIGHT", if full { tenants.min(fd_budget) } else { 20 }).min(tenants);

    let server = (inflight > 0).then(HoldServer::start);
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = u32::try_from(inflight).unwrap().max(16) + 16;
    config.defaults.timeout_ms = 60_000;
    config.defaults.queue_wait_ms = 30_000;
    let rt = Runtime::new(config).unwrap();
    let echo = tokio.block_on(rt.load_skill_file(&skill_path("echo"))).unwrap();
    let fetch = server.as_ref().map(|s| {
        let manifest = dir.path().join("fetch.toml");
        let text =
            format!("name = \"fetch\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{}\"]\n", s.origin());
        std::fs::write(&manifest, text).unwrap();
        tokio.block_on(rt.load_skill_files(&skill_path("fetch"), Some(&manifest))).unwrap()
    });

    // 4: every tenant with `echo` bound and one call just finished.
    let base = rss_bytes();
    let start = Instant::now();
    let mut bound = Vec::with_capacity(tenants);
    for i in 0..tenants {
        let t = tenant(&format!("density-{i:05}"));
        let b = rt.bind(&echo, &t).unwrap();
        let input = json!({"tenant": i}).to_string();
        let out = tokio.block_on(rt.invoke(&b, &Call::default(), &input)).unwrap();
        assert_eq!(out.output, input, "echo answers its input");
        bound.push(b);
    }
    let setup = start.elapsed();
    let settled = rss_bytes();
    let grown = settled.saturating_sub(base);
    println!(
        "{tenants} tenants bound and called once in {:.1} s ({:.0} µs per tenant)",
        setup.as_secs_f64(),
        setup.as_secs_f64() * 1e6 / tenants as f64
    );
    let fleet = tenants as u64 * CONTAINER_BYTES;
    let mut rows = vec![Row {
        id: "4".into(),
        what: format!("density: {tenants} tenants, `echo` bound and a call just finished (RSS)"),
        figure: format!(
            "{:.0} MiB total ({:.0} MiB before the tenants; {:.1} KiB per tenant)",
            mib(settled),
            mib(base),
            grown as f64 / 1024.0 / tenants as f64
        ),
        baseline: format!("{tenants} × 2 GiB = {} GiB reserved", group(tenants as u64 * 2)),
        ratio: format!("1/{:.0}", fleet as f64 / settled as f64),
        goal: "≤ 1 GiB total".into(),
        status: Status::of(settled <= GOAL_BYTES),
    }];

    // 4b: K of them with a call in flight at once.
    let mut inflight_report = None;
    if let (Some(server), Some(fetch)) = (&server, &fetch) {
        let origin = server.origin();
        let policy = TenantPolicy::parse(&format!("[[http]]\norigin = \"{origin}\"\n")).unwrap();
        let fetching: Vec<_> = bound[..inflight]
            .iter()
            .map(|b| {
                rt.set_policy("bench", &b.tenant, &policy).unwrap();
                rt.bind(fetch, &b.tenant).unwrap()
            })
            .collect();
        let input = json!({"url": format!("{origin}/hold"), "method": "GET"}).to_string();
        let before = rss_bytes();
        let sampler = RssSampler::start();
        let start = Instant::now();
        let tasks = wasmclaw_benches::spawn_fetches(&tokio, &rt, &fetching, &input);
        let all_held = server.wait_held(inflight, Duration::from_secs(50));
        let held = rss_bytes();
        let ramp = start.elapsed();
        if knob("WASMCLAW_BENCH_SMAPS", false) {
            println!("with all held:\n{}", memory_breakdown());
        }
        server.release();
        let results = tokio.block_on(async {
            let mut r = Vec::with_capacity(tasks.len());
            for t in tasks {
                r.push(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
            }
            r
        });
        let peak = sampler.stop();
        let after = rss_bytes();
        let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if let Some(first) = failures.first() {
            eprintln!("{} of {inflight} calls failed; the first: {first}", failures.len());
        }
        let per_call = held.saturating_sub(before) / inflight as u64;
        // Every tenant with a call in flight, at the measured cost per call.
        let all_in_flight = settled + per_call * tenants as u64;
        let ok = all_held && failures.is_empty();
        inflight_report = Some((
            before,
            held,
            peak,
            after,
            per_call,
            ramp,
            all_held,
            failures.len(),
            all_in_flight,
            fd_budget,
        ));
        rows.push(Row {
            id: "4b".into(),
            what: format!(
                "density: {tenants} tenants, {inflight} with a call in flight (`fetch` held in `http.send`), \
                 the rest just finished (RSS)"
            ),
            figure: format!(
                "{:.0} MiB total ({:.0} KiB per call in flight; {}/{inflight} ok; all {tenants} in flight ≈ {:.0} MiB \
                 extrapolated)",
                mib(held),
                per_call as f64 / 1024.0,
                inflight - failures.len(),
                mib(all_in_flight)
            ),
            baseline: format!("{tenants} × 2 GiB = {} GiB reserved", group(tenants as u64 * 2)),
            ratio: format!("1/{:.0}", fleet as f64 / held.max(1) as f64),
            goal: "≤ 1 GiB total".into(),
            status: Status::of(ok && held <= GOAL_BYTES),
        });
    }

    println!("\n## density ({tenants} tenants)\n");
    println!("| what | value |");
    println!("| --- | ---: |");
    println!("| RSS before the tenants (runtime, skills loaded) | {:.1} MiB |", mib(base));
    println!("| RSS with {tenants} tenants bound, a call each just finished | {:.1} MiB |", mib(settled));
    println!("| increase per tenant | {:.1} KiB |", grown as f64 / 1024.0 / tenants as f64);
    if let Some((before, held, peak, after, per_call, ramp, all_held, failed, extrapolated, budget)) =
        inflight_report
    {
        println!("| in-flight calls (open-file budget {budget}) | {inflight} |");
        println!("| RSS before they start (policies set, `fetch` bound) | {:.1} MiB |", mib(before));
        println!(
            "| RSS with all {inflight} held at the server | {:.1} MiB ({}, after {:.1} s) |",
            mib(held),
            if all_held { "all held" } else { "NOT all held" },
            ramp.as_secs_f64()
        );
        println!("| RSS peak (sampled every 5 ms) | {:.1} MiB |", mib(peak));
        println!("| RSS after they finished | {:.1} MiB |", mib(after));
        println!("| increase per call in flight | {:.0} KiB |", per_call as f64 / 1024.0);
        println!("| failed calls | {failed} |");
        println!("| all {tenants} in flight, extrapolated | {:.0} MiB |", mib(extrapolated));
    }
    println!("| process peak (VmHWM) | {:.1} MiB |", mib(peak_rss_bytes()));
    record("density", &rows);
    drop(server);
}

/// Where the resident memory is (`WASMCLAW_BENCH_SMAPS=true`): anonymous,
/// file and shared, and the mappings holding the most, grouped by size and
/// permissions.
fn memory_breakdown() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mut out: Vec<String> = status
        .lines()
        .filter(|l| l.starts_with("Rss"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut groups: std::collections::HashMap<(u64, String, String), (u64, u64)> = Default::default();
    let (mut key, mut size) = ((String::new(), String::new()), 0u64);
    let kib = |l: &str| l.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    for l in smaps.lines() {
        let first = l.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let f: Vec<&str> = l.split_whitespace().collect();
            key = (f.get(1).unwrap_or(&"").to_string(), f.get(5).unwrap_or(&"[anon]").to_string());
        } else if let Some(v) = l.strip_prefix("Size:") {
            size = kib(v);
        } else if let Some(v) = l.strip_prefix("Rss:") {
            let e = groups.entry((size, key.0.clone(), key.1.clone())).or_default();
            e.0 += 1;
            e.1 += kib(v);
        }
    }
    let mut g: Vec<_> = groups.into_iter().collect();
    g.sort_by_key(|(_, (_, rss))| std::cmp::Reverse(*rss));
    for ((size, perms, name), (n, rss)) in g.into_iter().take(8) {
        out.push(format!("{n} × {size} KiB {perms} {name}: {:.1} MiB resident", rss as f64 / 1024.0));
    }
    out.join("\n")
}

/// `n` with thousands separated by commas.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The soft limit of open files (`/proc/self/limits`), or 1024.
fn open_file_limit() -> usize {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(1024)
}

/// Files this process has open.
fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// The holding server, in a child process.
struct HoldServer(wasmclaw_benches::ChildServer);

impl HoldServer {
    fn start() -> HoldServer {
        HoldServer(wasmclaw_benches::ChildServer::start(SERVE_ENV, "1"))
    }

    fn origin(&self) -> String {
        self.0.origin()
    }

    /// Waits until the server holds `n` requests (true) or `limit` passes.
    fn wait_held(&self, n: usize, limit: Duration) -> bool {
        self.0.wait_count("/held", n, limit)
    }

    /// Lets every held request (and any later one) be answered.
    fn release(&self) {
        self.0.get("/release").expect("release the held requests");
    }
}

/// The child: `GET /hold` waits for `/release`, then answers `ok`; `GET
/// /held` says how many are waiting. Prints its port, exits on stdin EOF.
fn serve() {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    type Held = (Arc<AtomicUsize>, Arc<tokio::sync::watch::Sender<bool>>);
    let state: Held = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::watch::channel(false).0));
    let app = Router::new()
        .route(
            "/hold",
            get(|State((held, release)): State<Held>| async move {
                let mut rx = release.subscribe();
                held.fetch_add(1, Ordering::SeqCst);
                let _ = rx.wait_for(|r| *r).await;
                held.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/held",
            get(|State((held, _)): State<Held>| async move { held.load(Ordering::SeqCst).to_string() }),
        )
        .route(
            "/release",
            get(|State((_, release)): State<Held>| async move {
                release.send_replace(true);
                "released"
            }),
        )
        .with_state(state);
    wasmclaw_benches::serve_child(app)
}
