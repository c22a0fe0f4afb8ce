//! Gateway restart to ready with 1,000 installed skills: the time from
//! opening the data directory (`Runtime::new`) through loading, verifying
//! and binding every installed skill (`load_installed`, what `wasmclaw
//! serve` does before it listens) to a first call answered, with the
//! compiled cache warm, and again with the cache directory removed (cold).
//!
//! The skills are signed packages installed over 1,000 tenants, one each,
//! cycling through eight example skills, as a gateway whose tenants install
//! popular skills would hold. The goal (≤ 2 s warm) has no baseline to run.
//!
//! `cargo bench -p wasmclaw-benches --bench restart`; `WASMCLAW_BENCH_SKILLS`
//! sets the number of installed skills (default 1,000). Under `cargo test`
//! it installs 16.

use std::time::{Duration, Instant};
use wasmclaw::installed::SkillSource;
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Status, full, knob, mib, ms, rss_bytes};
use wasmclaw_tests::{package, tenant, trust_tests};

const SKILLS: [&str; 8] = ["echo", "counter", "notes", "memget", "fetch", "weather", "notify", "reminder"];

/// Opens `data`, loads every installed skill and answers one call of
/// tenant 0's `echo`: the time to ready, and the resident memory after.
fn restart(data: &std::path::Path, tokio: &tokio::runtime::Runtime) -> (Duration, usize, u64) {
    let start = Instant::now();
    let rt = Runtime::new(RuntimeConfig::with_data_dir(data)).unwrap();
    let loaded = tokio.block_on(rt.load_installed()).unwrap();
    let echo = tokio.block_on(rt.installed(&tenant("t0"), "echo")).unwrap();
    let out = tokio.block_on(rt.invoke(&echo, &Call::default(), r#"{"ready":true}"#)).unwrap();
    let took = start.elapsed();
    assert_eq!(out.output, r#"{"ready":true}"#);
    (took, loaded, rss_bytes())
}

fn main() {
    let n: usize = if full() { knob("WASMCLAW_BENCH_SKILLS", 1000) } else { 16 };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    // Install: n tenants, one skill each.
    {
        let rt = Runtime::new(RuntimeConfig::with_data_dir(&data)).unwrap();
        trust_tests(&rt);
        let packages: Vec<Vec<u8>> = SKILLS.iter().map(|s| package(s)).collect();
        let t = Instant::now();
        tokio.block_on(async {
            for i in 0..n {
                let id = tenant(&format!("t{i}"));
                rt.create_tenant("bench", &id).unwrap();
                let pkg = packages[i % SKILLS.len()].clone();
                rt.install_skill("bench", &id, SkillSource::Package(pkg), Default::default()).await.unwrap();
            }
        });
        println!("installed {n} skills in {:.1} s", t.elapsed().as_secs_f64());
    }

    // Warm: the compiled cache holds every component.
    let rounds = if full() { 5 } else { 1 };
    let mut warm: Vec<(Duration, usize, u64)> = (0..rounds).map(|_| restart(&data, &tokio)).collect();
    warm.sort_by_key(|w| w.0);
    let (warm_t, loaded, warm_rss) = warm[warm.len() / 2];
    assert_eq!(loaded, n, "every installed skill loads");

    // Cold: no compiled cache.
    std::fs::remove_dir_all(data.join("cache")).unwrap();
    let (cold_t, cold_loaded, _) = restart(&data, &tokio);
    assert_eq!(cold_loaded, n);

    let rows = vec![
        Row {
            id: "6".into(),
            what: format!(
                "restart to ready with {n} installed skills ({} distinct components), warm compiled cache; median of {rounds}",
                SKILLS.len().min(n)
            ),
            figure: format!(
                "{:.0} ms ({:.0} µs per skill; RSS {:.0} MiB)",
                ms(warm_t),
                ms(warm_t) * 1e3 / n as f64,
                mib(warm_rss)
            ),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: "≤ 2 s warm".into(),
            status: Status::of(warm_t <= Duration::from_secs(2)),
        },
        Row {
            id: "6b".into(),
            what: format!(
                "the same, cold (cache directory removed: {} components compiled)",
                SKILLS.len().min(n)
            ),
            figure: format!("{:.0} ms", ms(cold_t)),
            baseline: format!("warm: {:.0} ms", ms(warm_t)),
            ratio: format!("{:.1}× slower", cold_t.as_secs_f64() / warm_t.as_secs_f64()),
            goal: "(report)".into(),
            status: Status::Reported,
        },
    ];
    wasmclaw_benches::record("restart", &rows);
}
