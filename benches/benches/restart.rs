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
//! With a PostgreSQL server (`WASMCLAW_TEST_PG`; `benches/run` starts one)
//! the same skills are installed in a second gateway whose store is a fresh
//! database of it (`--store`; its compiled cache and files stay in its data
//! directory, as with redb), and its warm restarts take turns with redb's
//! (row 6d against row 6). Without a server row 6d is skipped.
//!
//! `cargo bench -p wasmclaw-benches --bench restart`; `WASMCLAW_BENCH_SKILLS`
//! sets the number of installed skills (default 1,000). Under `cargo test`
//! it installs 16.

use std::time::{Duration, Instant};
use wasmclaw::installed::SkillSource;
use wasmclaw::{Call, Runtime, RuntimeConfig, StoreLocation};
use wasmclaw_benches::pg::Pg;
use wasmclaw_benches::{Row, Status, full, knob, mib, ms, rss_bytes};
use wasmclaw_tests::{package, tenant, trust_tests};

const SKILLS: [&str; 8] = ["echo", "counter", "notes", "memget", "fetch", "weather", "notify", "reminder"];

/// The configuration of a gateway on `data` and `store`.
fn config(data: &std::path::Path, store: &StoreLocation) -> RuntimeConfig {
    let mut config = RuntimeConfig::with_data_dir(data);
    config.store = store.clone();
    config
}

/// Installs `n` skills over `n` tenants, one each.
fn install(data: &std::path::Path, store: &StoreLocation, n: usize, tokio: &tokio::runtime::Runtime) {
    let rt = Runtime::new(config(data, store)).unwrap();
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
    println!("installed {n} skills on {store} in {:.1} s", t.elapsed().as_secs_f64());
}

/// Opens `data` on `store`, loads every installed skill and answers one
/// call of tenant 0's `echo`: the time to ready, and the resident memory
/// after.
fn restart(
    data: &std::path::Path,
    store: &StoreLocation,
    tokio: &tokio::runtime::Runtime,
) -> (Duration, usize, u64) {
    let start = Instant::now();
    let rt = Runtime::new(config(data, store)).unwrap();
    let loaded = tokio.block_on(rt.load_installed()).unwrap();
    let echo = tokio.block_on(rt.installed(&tenant("t0"), "echo")).unwrap();
    let out = tokio.block_on(rt.invoke(&echo, &Call::default(), r#"{"ready":true}"#)).unwrap();
    let took = start.elapsed();
    assert_eq!(out.output, r#"{"ready":true}"#);
    (took, loaded, rss_bytes())
}

/// What `load_installed` reads from the store, read directly from a
/// runtime on `data` and `store`: the time, the components read and their
/// bytes (for the breakdown printed beside the rows).
fn read_installed(data: &std::path::Path, store: &StoreLocation) -> (Duration, usize, usize) {
    let rt = Runtime::new(config(data, store)).unwrap();
    let start = Instant::now();
    let (mut read, mut bytes) = (0, 0);
    for t in rt.tenants().unwrap() {
        for skill in rt.db_for_tests().skills(&t.id).unwrap() {
            let (_, component) =
                rt.db_for_tests().skill(&t.id, &skill.name).unwrap().expect("an installed skill");
            read += 1;
            bytes += component.len();
        }
    }
    (start.elapsed(), read, bytes)
}

/// The restart with the median time.
fn median(mut runs: Vec<(Duration, usize, u64)>) -> (Duration, usize, u64) {
    runs.sort_by_key(|w| w.0);
    runs[runs.len() / 2]
}

fn main() {
    let n: usize = if full() { knob("WASMCLAW_BENCH_SKILLS", 1000) } else { 16 };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let redb = StoreLocation::Embedded;
    install(&data, &redb, n, &tokio);
    let pg = Pg::create("6d");
    let pg_data = dir.path().join("pg-data");
    let on_pg = pg.as_ref().map(|pg| pg.location());
    if let Some(store) = &on_pg {
        install(&pg_data, store, n, &tokio);
    }

    // Warm: the compiled cache holds every component. The two stores take
    // turns.
    let rounds = if full() { 5 } else { 1 };
    let (mut warm, mut warm_pg) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        warm.push(restart(&data, &redb, &tokio));
        if let Some(store) = &on_pg {
            warm_pg.push(restart(&pg_data, store, &tokio));
        }
    }
    let (warm_t, loaded, warm_rss) = median(warm);
    assert_eq!(loaded, n, "every installed skill loads");

    for (name, data, store) in
        std::iter::once(("redb", &data, &redb)).chain(on_pg.as_ref().map(|s| ("PostgreSQL", &pg_data, s)))
    {
        let (took, read, bytes) = read_installed(data, store);
        println!(
            "{name}: what `load_installed` reads (every tenant's skills, each record with its component): \
             {read} components, {:.0} MiB, in {:.0} ms",
            mib(bytes as u64),
            ms(took)
        );
    }

    // Cold: no compiled cache.
    std::fs::remove_dir_all(data.join("cache")).unwrap();
    let (cold_t, cold_loaded, _) = restart(&data, &redb, &tokio);
    assert_eq!(cold_loaded, n);

    let mut rows = vec![
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
    if let Some(pg) = &pg {
        let (pg_t, pg_loaded, pg_rss) = median(warm_pg);
        assert_eq!(pg_loaded, n, "every installed skill loads from PostgreSQL");
        rows.push(Row {
            id: "6d".into(),
            what: format!(
                "restart to ready with {n} installed skills on PostgreSQL (`--store`; {}), warm compiled cache; median of {rounds}",
                pg.settings()
            ),
            figure: format!(
                "{:.0} ms ({:.0} µs per skill; RSS {:.0} MiB)",
                ms(pg_t),
                ms(pg_t) * 1e3 / n as f64,
                mib(pg_rss)
            ),
            baseline: format!("on redb (row 6): {:.0} ms", ms(warm_t)),
            ratio: format!("{:.2}×", pg_t.as_secs_f64() / warm_t.as_secs_f64()),
            goal: "≤ 2 s warm".into(),
            status: Status::of(pg_t <= Duration::from_secs(2)),
        });
    }
    wasmclaw_benches::record("restart", &rows);
}
