//! The soak: `SOAK_CALLS` calls (default 1,000,000) across `SOAK_TENANTS`
//! tenants (default 1,000), `SOAK_CONCURRENCY` at a time (default 8),
//! mixing well-behaved and hostile skills (the mix is in
//! `wasmclaw_tests::soak`). It reports the unexpected outcomes (goal: zero)
//! and the process's RSS after setup, at the middle and at the end (goal:
//! flat), and records its rows for `bench-report`.
//!
//! `cargo run --release -p wasmclaw-benches --bin soak`
//! (`SOAK_CALLS=100000 …` for a shorter run). The test suite runs a short
//! soak of the same mix (`tests/e2e/soak.rs`).

use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmclaw::{Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Status, knob, mib, rss_bytes, write_rows};
use wasmclaw_tests::soak::{Report, Soak};

fn main() {
    let calls: u64 = knob("SOAK_CALLS", 1_000_000);
    let tenants: usize = knob("SOAK_TENANTS", 1_000);
    let concurrency: usize = knob("SOAK_CONCURRENCY", 8);
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).expect("runtime");
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio");
    let report = Mutex::new(Report::default());
    let soak = Arc::new(tokio.block_on(Soak::new(&rt, tenants)));

    // One call of the mix per tenant first, so that "start" is measured
    // with every tenant's directory and bindings in place.
    let warm = tenants as u64;
    tokio.block_on(soak.run(0, warm, concurrency, &report));
    let rss_start = rss_bytes();
    let start = Instant::now();
    let half = warm + calls / 2;
    tokio.block_on(soak.run(warm, half, concurrency, &report));
    let rss_mid = rss_bytes();
    tokio.block_on(soak.run(half, warm + calls, concurrency, &report));
    let rss_end = rss_bytes();
    let took = start.elapsed();

    let r = report.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "soak: {} calls over {tenants} tenants in {:.1} s ({:.0} calls/s)",
        r.calls,
        took.as_secs_f64(),
        calls as f64 / took.as_secs_f64()
    );
    for (kind, n) in &r.by_kind {
        println!("  {kind:<12} {n}");
    }
    println!("unexpected outcomes: {}", r.unexpected);
    for s in &r.samples {
        println!("  {s}");
    }
    println!(
        "RSS: start {:.1} MiB, middle {:.1} MiB, end {:.1} MiB",
        mib(rss_start),
        mib(rss_mid),
        mib(rss_end)
    );

    let growth = rss_end as f64 / rss_start.max(1) as f64;
    let rows = vec![
        Row {
            id: "S1".into(),
            what: format!(
                "soak: unexpected outcomes in {} calls over {tenants} tenants (10% hostile)",
                r.calls
            ),
            figure: r.unexpected.to_string(),
            baseline: "0".into(),
            ratio: "-".into(),
            goal: "0".into(),
            status: Status::of(r.unexpected == 0),
        },
        Row {
            id: "S2".into(),
            what: "soak: RSS at start, middle, end".into(),
            figure: format!("{:.0} / {:.0} / {:.0} MiB", mib(rss_start), mib(rss_mid), mib(rss_end)),
            baseline: format!("{:.0} MiB (start)", mib(rss_start)),
            ratio: format!("{growth:.2}×"),
            goal: "flat".into(),
            status: Status::Reported,
        },
    ];
    write_rows("soak", &rows);
    if r.unexpected > 0 {
        std::process::exit(1);
    }
}
