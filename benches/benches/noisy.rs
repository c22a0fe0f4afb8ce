//! Row 5, noisy neighbour: tenant B's latency while tenant A keeps its
//! concurrency limit saturated with the hostile `spin` and `hog`, against
//! tenant B's latency alone, measured in the same run. Goal: B's p99 under
//! load ≤ 2× B's p99 alone.
//!
//! The gateway's shape: a multi-thread tokio runtime with the default number
//! of workers (one per core). Tenant B is a client outside the runtime (the
//! main thread): it sends one `echo` request at a time, one every
//! `NOISY_INTERVAL_US` (default 1,000 µs, or at once when the previous one
//! took longer), each spawned onto the runtime as a request handler would
//! be; its latency is spawn → result, so it includes the wait for a worker.
//! Phase 1: B alone for `NOISY_SECS` (default 10 s). Phase 2: A runs as many
//! loops as its concurrency limit, each alternating `spin` and `hog` and
//! restarting a call as soon as it ends, whatever error it ends with
//! (out-of-fuel for `spin` under the default fuel of 10⁹, memory limit for
//! `hog` at the default 64 MiB), while B repeats phase 1. Default limits
//! throughout.
//!
//! Sub-rows show what moves the figure: A's concurrency 1 (below the core
//! count), an epoch tick of 1 ms instead of 5 ms, and A's calls on a tokio
//! runtime of their own (what a runtime that moves long guest calls off the
//! request workers would give), and those workers at nice 19 (what running
//! them at a lower OS priority would give).
//!
//! `cargo bench -p wasmclaw-benches --bench noisy`; without `--bench` it
//! runs each phase for 0.2 s as a smoke check. Knobs: `NOISY_SECS`,
//! `NOISY_INTERVAL_US`, `NOISY_A` (`spin`, `hog`, `pound` or `search-hog` alone — `search-hog`
//! first fills A's memory with 60 MiB — or
//! `redact`: A holds secrets at the default caps, 100 of 2,600 bytes, rewrites
//! one before every call so its redactor is built again, and echoes 900 KB
//! that the host must scrub), `NOISY_ONLY`
//! (variant ids, comma-separated), `NOISY_KEEP_RESIDENT` (bytes, overrides
//! `pool.keep_resident_bytes`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmclaw::{BoundSkill, Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Stats, Status, full, knob, ms, record, stats, us};
use wasmclaw_tests::{skill_path, tenant};

const INPUT: &str = r#"{"text":"hello, wasmclaw"}"#;

/// One configuration of the experiment.
struct Variant {
    id: &'static str,
    what: &'static str,
    /// Tenant A's concurrency limit (and number of A's loops).
    a_concurrency: u32,
    epoch_tick_ms: u64,
    /// A's calls run on a tokio runtime of their own.
    a_own_runtime: bool,
    /// That runtime's workers run at nice 19.
    a_nice: bool,
}

struct Outcome {
    alone: Stats,
    loaded: Stats,
    a_calls: BTreeMap<String, u64>,
}

fn tokio_mt(name: &str, nice: bool) -> tokio::runtime::Runtime {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if nice {
        b.on_thread_start(renice_this_thread);
    }
    b.thread_name(name).enable_all().build().unwrap()
}

/// Lowers the calling thread to nice 19 (`renice` on its thread id; the
/// benches have no `libc`).
fn renice_this_thread() {
    let tid = std::fs::read_link("/proc/thread-self").ok().and_then(|p| p.file_name().map(|f| f.to_owned()));
    let ok = tid.is_some_and(|tid| {
        std::process::Command::new("renice")
            .args(["-n".as_ref(), "19".as_ref(), "-p".as_ref(), tid.as_os_str()])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        eprintln!("cannot renice a tenant-a worker");
    }
}

/// B's client loop: one call at a time, one every `interval`, for `secs`.
fn b_phase(
    handle: &tokio::runtime::Handle,
    rt: &Runtime,
    b: &Arc<BoundSkill>,
    secs: Duration,
    interval: Duration,
) -> Stats {
    let mut lat = Vec::new();
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < secs {
        let (rt, b) = (rt.clone(), b.clone());
        let t = Instant::now();
        let out = handle
            .block_on(handle.spawn(async move { rt.invoke(&b, &Call::default(), INPUT).await }))
            .unwrap()
            .expect("tenant B's echo failed");
        lat.push(t.elapsed());
        assert_eq!(out.output, INPUT);
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    stats(lat)
}

/// `pound` imports `secrets`, which its manifest must declare.
const POUND_MANIFEST: &str =
    "name = \"pound\"\nversion = \"0.1.0\"\n[permissions]\nsecrets = [\"API_KEY\"]\n";

fn run(v: &Variant, data_dir: &std::path::Path, secs: Duration, interval: Duration) -> Outcome {
    let mut config = RuntimeConfig::with_data_dir(data_dir);
    config.defaults.concurrency = v.a_concurrency;
    config.pool.epoch_tick_ms = v.epoch_tick_ms;
    // `NOISY_KEEP_RESIDENT` overrides `pool.keep_resident_bytes`.
    config.pool.keep_resident_bytes = knob("NOISY_KEEP_RESIDENT", config.pool.keep_resident_bytes);
    let gateway = tokio_mt("gateway", false);
    let rt = Runtime::new(config).unwrap();
    let manifest = data_dir.with_extension("pound.toml");
    std::fs::write(&manifest, POUND_MANIFEST).unwrap();
    let (echo, spin, hog, pound, search_hog) = gateway.block_on(async {
        (
            rt.load_skill_file(&skill_path("echo")).await.unwrap(),
            rt.load_skill_file(&skill_path("spin")).await.unwrap(),
            rt.load_skill_file(&skill_path("hog")).await.unwrap(),
            rt.load_skill_files(&skill_path("pound"), Some(&manifest)).await.unwrap(),
            rt.load_skill_file(&skill_path("search-hog")).await.unwrap(),
        )
    });
    let b = rt.bind(&echo, &tenant("tenant-b")).unwrap();
    let a_bind =
        |s: &Arc<wasmclaw::Skill>, input: &'static str| (rt.bind(s, &tenant("tenant-a")).unwrap(), input);
    let (spin, hog) = (a_bind(&spin, "{}"), a_bind(&hog, "{}"));
    // `NOISY_A` (`spin`, `hog`, `pound`; default spin and hog) picks what A
    // runs; `pound` calls `memory.get` in a tight loop; `search-hog` fills
    // 60 MiB of A's memory (inside the 64 MiB quota), then loops
    // `memory.search` over it.
    let redact = std::env::var("NOISY_A").as_deref() == Ok("redact");
    let a: Vec<(Arc<BoundSkill>, &str)> = match std::env::var("NOISY_A").as_deref() {
        Ok("spin") => vec![spin],
        Ok("hog") => vec![hog],
        Ok("pound") => vec![a_bind(&pound, r#"{"op":"memory-get"}"#)],
        Ok("redact") => {
            let t = tenant("tenant-a");
            for i in 0..100 {
                rt.put_secret("bench", &t, &format!("S{i}"), secret_value(i, 0).as_bytes()).unwrap();
            }
            // Text that is not secret, with a secret's prefix every 4 KB.
            let chunk = format!("{}{}", "lorem ipsum ".repeat(340), &secret_value(7, 0)[..40]);
            let text = chunk.repeat(900_000 / chunk.len());
            let input: &'static str =
                Box::leak(serde_json::json!({ "text": text }).to_string().into_boxed_str());
            vec![a_bind(&echo, input)]
        }
        Ok("search-hog") => {
            let (bound, _) = a_bind(&search_hog, "");
            let filled = gateway.block_on(rt.invoke(&bound, &Call::default(), r#"{"op":"fill","mb":60}"#));
            filled.unwrap_or_else(|e| panic!("search-hog fill: {e}"));
            vec![(bound, r#"{"op":"search"}"#)]
        }
        _ => vec![spin, hog],
    };
    let handle = gateway.handle().clone();

    // Warm up, then phase 1: B alone.
    b_phase(&handle, &rt, &b, secs / 10, interval);
    let alone = b_phase(&handle, &rt, &b, secs, interval);

    // Phase 2: A saturates its slots, B repeats phase 1.
    let own = v.a_own_runtime.then(|| tokio_mt("tenant-a", v.a_nice));
    let a_handle = own.as_ref().map_or_else(|| handle.clone(), |r| r.handle().clone());
    let stop = Arc::new(AtomicBool::new(false));
    let a_calls = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let loops: Vec<_> = (0..v.a_concurrency as usize)
        .map(|i| {
            let (rt, a, stop, a_calls) = (rt.clone(), a.clone(), stop.clone(), a_calls.clone());
            a_handle.spawn(async move {
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let (skill, input) = &a[n % a.len()];
                    n += 1;
                    if redact {
                        let value = secret_value(n % 100, n);
                        let name = format!("S{}", n % 100);
                        if let Err(e) = rt.put_secret("bench", &tenant("tenant-a"), &name, value.as_bytes()) {
                            *a_calls.lock().unwrap().entry(format!("put {}", e.kind())).or_default() += 1;
                        }
                    }
                    let kind = match rt.invoke(skill, &Call::default(), input).await {
                        Ok(_) => "ok".to_string(),
                        Err(e) => e.kind().to_string(),
                    };
                    let key = format!("{} {kind}", skill.skill.info.name);
                    *a_calls.lock().unwrap().entry(key).or_default() += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let loaded = b_phase(&handle, &rt, &b, secs, interval);
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        a_handle.block_on(l).unwrap();
    }
    drop(own);
    let a_calls = a_calls.lock().unwrap().clone();
    Outcome { alone, loaded, a_calls }
}

fn main() {
    let secs = Duration::from_secs_f64(if full() { knob("NOISY_SECS", 10.0) } else { 0.2 });
    let interval = Duration::from_micros(knob("NOISY_INTERVAL_US", 1000));
    let variants = [
        Variant {
            id: "5",
            what: "tenant B's `echo` p99 while tenant A runs `spin`+`hog` at its limit (4), epoch tick 5 ms",
            a_concurrency: 4,
            epoch_tick_ms: 5,
            a_own_runtime: false,
            a_nice: false,
        },
        Variant {
            id: "5b",
            what: "as 5, tenant A's concurrency 1",
            a_concurrency: 1,
            epoch_tick_ms: 5,
            a_own_runtime: false,
            a_nice: false,
        },
        Variant {
            id: "5c",
            what: "as 5, epoch tick 1 ms",
            a_concurrency: 4,
            epoch_tick_ms: 1,
            a_own_runtime: false,
            a_nice: false,
        },
        Variant {
            id: "5d",
            what: "as 5, A's calls on a tokio runtime of their own (2 workers)",
            a_concurrency: 4,
            epoch_tick_ms: 5,
            a_own_runtime: true,
            a_nice: false,
        },
        Variant {
            id: "5e",
            what: "as 5d, A's workers at nice 19",
            a_concurrency: 4,
            epoch_tick_ms: 5,
            a_own_runtime: true,
            a_nice: true,
        },
    ];
    let load_before = loadavg();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    println!(
        "\n## noisy neighbour: B sends one `echo` every {} µs, {:.1} s per phase\n",
        us(interval),
        secs.as_secs_f64()
    );
    println!("| # | B alone median | B alone p99 | B loaded median | B loaded p99 | p99 ratio | A's calls |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    // `NOISY_ONLY=5,5c` runs only those variants.
    let only = std::env::var("NOISY_ONLY").ok();
    for v in variants.iter().filter(|v| only.as_deref().is_none_or(|o| o.split(',').any(|id| id == v.id))) {
        // One data directory, reused in turn: the compiled cache is kept.
        let o = run(v, &dir.path().join("data"), secs, interval);
        let ratio = o.loaded.p99.as_secs_f64() / o.alone.p99.as_secs_f64();
        let a_calls: Vec<String> = o.a_calls.iter().map(|(k, n)| format!("{k}: {n}")).collect();
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.1} µs | {:.3} ms | {:.1}× | {} |",
            v.id,
            us(o.alone.median),
            us(o.alone.p99),
            us(o.loaded.median),
            ms(o.loaded.p99),
            ratio,
            a_calls.join(", ")
        );
        rows.push(Row {
            id: v.id.into(),
            what: v.what.into(),
            figure: format!(
                "p99 {:.2} ms (median {:.0} µs, {} calls)",
                ms(o.loaded.p99),
                us(o.loaded.median),
                o.loaded.n
            ),
            baseline: format!(
                "B alone: p99 {:.0} µs (median {:.0} µs, {} calls)",
                us(o.alone.p99),
                us(o.alone.median),
                o.alone.n
            ),
            ratio: format!("{ratio:.1}×"),
            goal: "≤ 2×".into(),
            status: Status::of(ratio <= 2.0),
        });
    }
    println!("\nload average (1, 5, 15 min, …): before {load_before}, after {}", loadavg());
    record("noisy", &rows);
}

/// Secret `i`'s value in its `version`: 2,600 bytes, so that 100 of them
/// sit at the default caps (256 KiB).
fn secret_value(i: usize, version: usize) -> String {
    let head = format!("sk-{i:03}-{version:08}-");
    let mut v = head.clone();
    while v.len() < 2600 {
        v.push_str(&format!("{:016x}", (v.len() as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64));
    }
    v.truncate(2600);
    v
}

/// `/proc/loadavg`, to show whether something else was using the cores.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}
