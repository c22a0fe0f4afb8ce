//! The short soak: the mix of `wasmclaw_tests::soak` (well-behaved and
//! hostile skills) over 20 tenants, 4 calls at a time. Every call must have
//! its one expected outcome. The long soak (1,000,000 calls, 1,000 tenants,
//! RSS sampled) is `cargo run --release -p wasmclaw-benches --bin soak`.

use std::sync::{Arc, Mutex};
use wasmclaw_tests::runtime;
use wasmclaw_tests::soak::{Report, Soak};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_has_no_unexpected_outcome() {
    let (_d, rt) = runtime();
    let soak = Arc::new(Soak::new(&rt, 20).await);
    let report = Mutex::new(Report::default());
    soak.run(0, 2_000, 4, &report).await;
    let r = report.into_inner().unwrap();
    assert_eq!(r.calls, 2_000);
    assert_eq!(r.unexpected, 0, "{:#?}", r.samples);
    // Every kind of the mix ran.
    assert_eq!(r.by_kind.len(), 15, "{:?}", r.by_kind);
    assert_eq!(r.by_kind["echo"], 1_000);
}
