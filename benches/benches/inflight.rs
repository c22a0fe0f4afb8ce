//! Row 8: 1,000 concurrent in-flight calls, each waiting in a host call,
//! complete; the process's resident memory is reported before, at the peak
//! while they are in flight, and after.
//!
//! A slow HTTP server (axum on 127.0.0.1:0) runs in a child process (this
//! same binary, re-executed), so its sockets and memory are not counted in
//! the gateway's RSS; its handler sleeps `S` before answering 200. The
//! gateway side is one `Runtime` (pool sized for the calls) with `fetch`
//! loaded under a manifest granting the server's origin, and N tenants,
//! each with a policy granting that origin and `fetch` bound: one call per
//! tenant, so the per-tenant concurrency limit (default 4) is not raised.
//! All N calls are started at once on a multi-thread tokio runtime; each
//! holds a pooled instance (memory, fiber stack) suspended in `http.send`
//! until the server answers. A sampler thread reads `VmRSS` every 5 ms; the
//! RSS with all N in flight is read when the server reports N requests
//! waiting.
//!
//! Reported: failures (anything but status 200), wall time of the batch
//! against the server's sleep (the ideal), RSS before / with all in flight
//! / peak / after, and the increase per in-flight call. Goal: completes
//! (all N succeed); RSS reported. There is no baseline measured in the run.
//!
//! `cargo bench -p wasmclaw-benches --bench inflight`. Knobs:
//! `WASMCLAW_BENCH_CALLS` (N, default 1,000), `WASMCLAW_BENCH_SLEEP_MS` (S,
//! default 2,000). Without `--bench` (a `cargo test` of the bench): 20
//! calls, 200 ms sleep, as a smoke check.

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmclaw::policy::TenantPolicy;
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, RssSampler, Status, full, knob, mib, peak_rss_bytes, record, rss_bytes};
use wasmclaw_tests::{skill_path, tenant};

/// Set in the child process: serve slowly, sleeping this many ms.
const SERVE_ENV: &str = "WASMCLAW_BENCH_SLOW_SERVER_MS";

fn main() {
    if let Ok(ms) = std::env::var(SERVE_ENV) {
        serve(ms.parse().expect("sleep ms"));
        return;
    }
    let full = full();
    let calls: usize = knob("WASMCLAW_BENCH_CALLS", if full { 1_000 } else { 20 });
    let sleep_ms: u64 = knob("WASMCLAW_BENCH_SLEEP_MS", if full { 2_000 } else { 200 });

    let server = SlowServer::start(sleep_ms);
    let origin = server.origin();

    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = u32::try_from(calls).unwrap() + 16;
    config.defaults.timeout_ms = sleep_ms + 30_000;
    config.defaults.queue_wait_ms = 30_000;
    let rt = Runtime::new(config).unwrap();

    let manifest_dir = tempfile::tempdir().unwrap();
    let manifest = manifest_dir.path().join("skill.toml");
    std::fs::write(
        &manifest,
        format!("name = \"fetch\"\nversion = \"0.1.0\"\n[permissions]\nhttp = [\"{origin}\"]\n"),
    )
    .unwrap();
    let fetch = tokio.block_on(rt.load_skill_files(&skill_path("fetch"), Some(&manifest))).unwrap();
    let policy = TenantPolicy::parse(&format!("[[http]]\norigin = \"{origin}\"\n")).unwrap();
    let setup = Instant::now();
    let bound: Vec<_> = (0..calls)
        .map(|i| {
            let t = tenant(&format!("inflight-{i:05}"));
            rt.set_policy("bench", &t, &policy).unwrap();
            rt.bind(&fetch, &t).unwrap()
        })
        .collect();
    println!("{calls} tenants with a policy and `fetch` bound in {:.1} s", setup.elapsed().as_secs_f64());
    let input = json!({"url": format!("{origin}/slow"), "method": "GET"}).to_string();

    // One call first, so the HTTP client and the pool are warm.
    let warm = Instant::now();
    let out = tokio.block_on(rt.invoke(&bound[0], &Call::default(), &input)).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out.output).unwrap()["status"], 200);
    println!("one call alone: {:.0} ms (server sleep {sleep_ms} ms)", warm.elapsed().as_secs_f64() * 1e3);

    let before = rss_bytes();
    let sampler = RssSampler::start();
    let start = Instant::now();
    let tasks = wasmclaw_benches::spawn_fetches(&tokio, &rt, &bound, &input);
    // The RSS when the server holds all N requests (or the batch is over).
    let all_waiting = server.wait_waiting(calls, Duration::from_millis(sleep_ms));
    let in_flight = rss_bytes();
    let ramp = start.elapsed();
    let results = tokio.block_on(async {
        let mut r = Vec::with_capacity(tasks.len());
        for t in tasks {
            r.push(t.await.unwrap_or_else(|e| Err(format!("task: {e}"))));
        }
        r
    });
    let wall = start.elapsed();
    let peak = sampler.stop();
    let after = rss_bytes();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let ok = results.len() - failures.len();
    if let Some(first) = failures.first() {
        eprintln!("{} calls failed; the first: {first}", failures.len());
    }

    let per_call = in_flight.saturating_sub(before) / calls as u64;
    println!("\n## in-flight calls ({calls} × `fetch` to a server sleeping {sleep_ms} ms, one per tenant)\n");
    println!("| what | value |");
    println!("| --- | ---: |");
    println!("| succeeded (status 200) | {ok} / {calls} |");
    println!(
        "| all {calls} waiting at the server at once | {} (after {:.0} ms) |",
        if all_waiting { "yes" } else { "no" },
        ramp.as_secs_f64() * 1e3
    );
    println!("| wall time of the batch | {:.0} ms |", wall.as_secs_f64() * 1e3);
    println!("| ideal (the server's sleep) | {sleep_ms} ms |");
    println!("| RSS before | {:.1} MiB |", mib(before));
    println!("| RSS with all in flight | {:.1} MiB |", mib(in_flight));
    println!("| RSS peak (sampled every 5 ms) | {:.1} MiB |", mib(peak));
    println!("| RSS after | {:.1} MiB |", mib(after));
    println!("| process peak (VmHWM) | {:.1} MiB |", mib(peak_rss_bytes()));
    println!("| increase per in-flight call | {:.0} KiB |", per_call as f64 / 1024.0);

    let rows = [Row {
        id: "8".into(),
        what: format!("{calls} concurrent in-flight calls (`fetch` waiting {sleep_ms} ms in `http.send`)"),
        figure: format!(
            "{ok}/{calls} ok in {:.2} s; RSS {:.0} → {:.0} MiB in flight (peak {:.0}), {:.0} after; {:.0} KiB per call",
            wall.as_secs_f64(),
            mib(before),
            mib(in_flight),
            mib(peak),
            mib(after),
            per_call as f64 / 1024.0
        ),
        baseline: format!("the server's sleep: {:.2} s", sleep_ms as f64 / 1e3),
        ratio: format!("{:.2}× the sleep", wall.as_secs_f64() * 1e3 / sleep_ms as f64),
        goal: "completes; RSS reported".into(),
        status: Status::of(failures.is_empty()),
    }];
    record("inflight", &rows);
    drop(server);
}

/// The slow server, in a child process.
struct SlowServer(wasmclaw_benches::ChildServer);

impl SlowServer {
    fn start(sleep_ms: u64) -> SlowServer {
        SlowServer(wasmclaw_benches::ChildServer::start(SERVE_ENV, &sleep_ms.to_string()))
    }

    fn origin(&self) -> String {
        self.0.origin()
    }

    /// Waits until the server holds `n` requests at once (true) or `limit`
    /// passes (false).
    fn wait_waiting(&self, n: usize, limit: Duration) -> bool {
        self.0.wait_count("/waiting", n, limit)
    }
}

/// The child: `GET /slow` sleeps then answers `ok`; `GET /waiting` says how
/// many `/slow` requests are sleeping. Prints its port, exits on stdin EOF.
fn serve(sleep_ms: u64) {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    let waiting = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/slow",
            get(move |State(w): State<Arc<AtomicUsize>>| async move {
                w.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
                w.fetch_sub(1, Ordering::SeqCst);
                "ok"
            }),
        )
        .route(
            "/waiting",
            get(move |State(w): State<Arc<AtomicUsize>>| async move { w.load(Ordering::SeqCst).to_string() }),
        )
        .with_state(waiting);
    wasmclaw_benches::serve_child(app)
}
