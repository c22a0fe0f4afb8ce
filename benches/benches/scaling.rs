//! Row 7, scaling: the cost of a call of `echo` as the number of tenants
//! grows, and throughput as the number of concurrent clients grows. Goal:
//! flat per call; the curve is reported.
//!
//! (a) One runtime; N tenants (100, then 1,000, then 10,000; the first ones
//! are kept as N grows), each bound to `echo`. After one warm-up round over
//! all N (which also creates each tenant's directory), `SCALING_CALLS`
//! sequential calls (default 30,000, at least three rounds of the largest
//! N) go round-robin across the tenants on a current-thread runtime; each
//! call is timed. Per-call median, p99 and calls/s at each N; baseline the
//! 100-tenant median.
//!
//! (b) A multi-thread tokio runtime with the default workers (one per core,
//! as the gateway); K = 1, 2, 4 tasks each call `echo` in a loop for
//! `SCALING_SECS` (default 5 s), each on tenants of its own (so the
//! per-tenant concurrency limit never binds). Calls/s at each K; baseline
//! K = 1.
//!
//! `cargo bench -p wasmclaw-benches --bench scaling`; without `--bench` it
//! runs with 10/20/30 tenants and 0.2 s per K as a smoke check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use wasmclaw::{BoundSkill, Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Status, full, knob, record, stats, us};
use wasmclaw_tests::{skill_path, tenant};

const INPUT: &str = r#"{"text":"hello, wasmclaw"}"#;

/// Binds `echo` for tenants `t-{from}`..`t-{to}` and adds them to `bound`.
fn bind_more(rt: &Runtime, echo: &Arc<wasmclaw::Skill>, bound: &mut Vec<Arc<BoundSkill>>, to: usize) {
    for i in bound.len()..to {
        bound.push(rt.bind(echo, &tenant(&format!("t-{i:05}"))).unwrap());
    }
}

fn main() {
    let full = full();
    let sizes: [usize; 3] = if full { [100, 1_000, 10_000] } else { [10, 20, 30] };
    let calls: usize = if full { knob("SCALING_CALLS", 30_000) } else { 300 };
    let secs = Duration::from_secs_f64(if full { knob("SCALING_SECS", 5.0) } else { 0.2 });
    let clients = [1usize, 2, 4];

    let load_before = loadavg();
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let echo = current.block_on(rt.load_skill_file(&skill_path("echo"))).unwrap();
    let call = Call::default();
    let mut bound: Vec<Arc<BoundSkill>> = Vec::new();

    // (a) Cost per call against the number of tenants.
    let mut per_n = Vec::new();
    for &n in &sizes {
        bind_more(&rt, &echo, &mut bound, n);
        let tenants = &bound[..n];
        let (lat, took) = current.block_on(async {
            for b in tenants {
                rt.invoke(b, &call, INPUT).await.unwrap();
            }
            let mut lat = Vec::with_capacity(calls);
            let start = Instant::now();
            for i in 0..calls {
                let t = Instant::now();
                let out = rt.invoke(&tenants[i % n], &call, INPUT).await.unwrap();
                lat.push(t.elapsed());
                assert_eq!(out.output, INPUT);
            }
            (lat, start.elapsed())
        });
        per_n.push((n, stats(lat), calls as f64 / took.as_secs_f64()));
    }
    drop(current);

    // (b) Throughput against the number of concurrent clients.
    let multi = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut per_k = Vec::new();
    for &k in &clients {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let tasks: Vec<_> = (0..k)
            .map(|j| {
                // Task j calls tenants j, j + k, j + 2k, … of the first 100.
                let mine: Vec<_> = bound.iter().take(sizes[0]).skip(j).step_by(k).cloned().collect();
                let (rt, stop, done) = (rt.clone(), stop.clone(), done.clone());
                multi.spawn(async move {
                    let call = Call::default();
                    let mut lat = Vec::new();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        rt.invoke(&mine[i % mine.len()], &call, INPUT).await.unwrap();
                        lat.push(t.elapsed());
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        // Warm up for a tenth of the run, then count.
        std::thread::sleep(secs / 10);
        let before = done.load(Ordering::Relaxed);
        let start = Instant::now();
        std::thread::sleep(secs);
        let counted = done.load(Ordering::Relaxed) - before;
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(multi.block_on(t).unwrap());
        }
        per_k.push((k, counted as f64 / took.as_secs_f64(), stats(lat)));
    }

    println!("\n## (a) cost per call against tenants ({calls} round-robin calls each)\n");
    println!("| tenants | median | p99 | calls/s |");
    println!("| ---: | ---: | ---: | ---: |");
    for (n, s, rate) in &per_n {
        println!("| {n} | {:.1} µs | {:.1} µs | {rate:.0} |", us(s.median), us(s.p99));
    }
    println!("\n## (b) throughput against concurrent clients ({:.1} s each)\n", secs.as_secs_f64());
    println!("| clients | calls/s | median | p99 |");
    println!("| ---: | ---: | ---: | ---: |");
    for (k, rate, s) in &per_k {
        println!("| {k} | {rate:.0} | {:.1} µs | {:.1} µs |", us(s.median), us(s.p99));
    }

    let mut rows = Vec::new();
    let base = per_n[0].1;
    for ((n, s, rate), id) in per_n.iter().zip(["7a", "7b", "7c"]) {
        rows.push(Row {
            id: id.into(),
            what: format!("`echo` per call, round-robin over {n} tenants"),
            figure: format!("median {:.1} µs, p99 {:.1} µs ({rate:.0} calls/s)", us(s.median), us(s.p99)),
            baseline: format!("{} tenants: median {:.1} µs", sizes[0], us(base.median)),
            ratio: format!("{:.2}×", s.median.as_secs_f64() / base.median.as_secs_f64()),
            goal: "flat per call".into(),
            status: Status::Reported,
        });
    }
    let base = per_k[0].1;
    for ((k, rate, s), id) in per_k.iter().zip(["7d", "7e", "7f"]) {
        rows.push(Row {
            id: id.into(),
            what: format!("throughput, {k} concurrent client task(s), {} workers", multi_workers(&multi)),
            figure: format!("{rate:.0} calls/s (median {:.1} µs)", us(s.median)),
            baseline: format!("1 client: {base:.0} calls/s"),
            ratio: format!("{:.2}×", rate / base),
            goal: "report the curve".into(),
            status: Status::Reported,
        });
    }
    println!("\nload average (1, 5, 15 min, …): before {load_before}, after {}", loadavg());
    record("scaling", &rows);
}

fn multi_workers(rt: &tokio::runtime::Runtime) -> usize {
    rt.metrics().num_workers()
}

/// `/proc/loadavg`, to show whether something else was using the cores.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}
