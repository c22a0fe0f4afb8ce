//! A host-call round trip from the guest (`memory.get` of a small value)
//! against a direct read of the same value from redb, in the same run.
//!
//! The guest cost per `get` is (time of a call doing N gets − time of a call
//! doing 0 gets) / N, so instantiation is not counted. `cargo bench -p
//! wasmclaw-benches --bench host_call`; under `cargo test` it runs briefly.

use std::time::{Duration, Instant};
use wasmclaw::store::Scope;
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Status, full, us};
use wasmclaw_tests::{skill_path, tenant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = full();
    let (n, rounds) = if full { (10_000u32, 31) } else { (100, 3) };

    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let t = tenant("bench");
    let scope = Scope { tenant: &t, user: None };
    let quota = rt.config().memory_quota;
    rt.db_for_tests().memory_set(scope, "k", "a small value", &quota).unwrap();
    let skill = tokio.block_on(rt.load_skill_file(&skill_path("memget"))).unwrap();
    let bound = rt.bind(&skill, &t).unwrap();
    let call = Call::default();
    let run = |count: u32| {
        let input = format!(r#"{{"key":"k","n":{count}}}"#);
        let start = Instant::now();
        tokio.block_on(rt.invoke(&bound, &call, &input)).unwrap();
        start.elapsed()
    };
    run(n); // warm up
    let with: Vec<Duration> = (0..rounds).map(|_| run(n)).collect();
    let without: Vec<Duration> = (0..rounds).map(|_| run(0)).collect();
    let guest = (median(with).saturating_sub(median(without))) / n;

    let direct: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(rt.db_for_tests().memory_get(scope, "k").unwrap());
            }
            start.elapsed() / n
        })
        .collect();
    let direct = median(direct);

    println!(
        "\n## host call round trip (`memory.get` of a 13-byte value, {n} per call, median of {rounds})\n"
    );
    println!("| what | per get |");
    println!("| --- | ---: |");
    println!("| guest → host → guest (`memory.get` from wasm) | {:.2} µs |", guest.as_secs_f64() * 1e6);
    println!("| direct `Db::memory_get` (redb read) | {:.2} µs |", direct.as_secs_f64() * 1e6);
    let ratio = guest.as_secs_f64() / direct.as_secs_f64();
    println!("| ratio (guest / direct) | {ratio:.2}× |");
    let rows = [Row {
        id: "2".into(),
        what: format!(
            "host call round trip: `memory.get` of a 13-byte value from the guest ({n} per call, median of {rounds})"
        ),
        figure: format!("{:.2} µs", us(guest)),
        baseline: format!("direct redb read (`Db::memory_get`): {:.2} µs", us(direct)),
        ratio: format!("{ratio:.2}×"),
        goal: "≤ 2×".into(),
        status: Status::of(ratio <= 2.0),
    }];
    wasmclaw_benches::record("host_call", &rows);
}
