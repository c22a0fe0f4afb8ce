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
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wasmclaw::policy::TenantPolicy;
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Status, full, knob, mib, peak_rss_bytes, record, rss_bytes};
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
    let sampler = Sampler::start();
    let start = Instant::now();
    let tasks: Vec<_> = bound
        .iter()
        .map(|b| {
            let (rt, b, input) = (rt.clone(), b.clone(), input.clone());
            tokio.spawn(async move {
                match rt.invoke(&b, &Call::default(), &input).await {
                    Ok(out) => {
                        let v: serde_json::Value = serde_json::from_str(&out.output).unwrap_or_default();
                        if v["status"] == 200 { Ok(()) } else { Err(format!("answer {}", out.output)) }
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect();
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

/// A thread reading `VmRSS` every 5 ms; `stop` returns the highest.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start() -> Sampler {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(rss_bytes())));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sampler { stop, peak, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Ordering::Relaxed).max(rss_bytes())
    }
}

/// The slow server, in a child process that exits when its stdin closes.
struct SlowServer {
    child: Child,
    port: u16,
}

impl SlowServer {
    fn start(sleep_ms: u64) -> SlowServer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(SERVE_ENV, sleep_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the slow server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().parse().unwrap_or_else(|_| panic!("server said {line:?}"));
        SlowServer { child, port }
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until the server holds `n` requests at once (true) or `limit`
    /// passes (false).
    fn wait_waiting(&self, n: usize, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            let seen = self.waiting().unwrap_or(0);
            if seen >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl SlowServer {
    /// `GET /waiting` over a plain socket: how many requests the server holds.
    fn waiting(&self) -> Option<usize> {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.write_all(b"GET /waiting HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        text.split("\r\n\r\n").nth(1)?.trim().parse().ok()
    }
}

impl Drop for SlowServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The child: `GET /slow` sleeps then answers `ok`; `GET /waiting` says how
/// many `/slow` requests are sleeping. Prints its port, exits on stdin EOF.
fn serve(sleep_ms: u64) {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    tokio.block_on(async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(65_535).unwrap();
        let port = listener.local_addr().unwrap().port();
        let waiting = Arc::new(AtomicUsize::new(0));
        let app =
            Router::new()
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
                    get(move |State(w): State<Arc<AtomicUsize>>| async move {
                        w.load(Ordering::SeqCst).to_string()
                    }),
                )
                .with_state(waiting);
        let mut out = std::io::stdout();
        writeln!(out, "{port}").unwrap();
        out.flush().unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}
