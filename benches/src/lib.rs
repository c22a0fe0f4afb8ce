//! What the benchmarks share: the `--bench` switch and knobs, latency
//! statistics, the process's resident memory, and the result rows each
//! bench records for `bench-report`, which rewrites the table in
//! `benches/README.md`.
//!
//! A bench run by `cargo bench` (with `--bench`) measures in full and
//! records its rows in `target/bench-results/<bench>.json`; run by
//! `cargo test` it does a few iterations as a smoke check and records
//! nothing.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Whether the bench was started by `cargo bench` (measure in full) rather
/// than `cargo test` (a short smoke run).
pub fn full() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A knob from the environment, or its default.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Latency statistics of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Median.
    pub median: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Sample size.
    pub n: usize,
}

/// The statistics of `v` (not empty).
pub fn stats(mut v: Vec<Duration>) -> Stats {
    assert!(!v.is_empty(), "no sample");
    v.sort();
    let n = v.len();
    Stats { median: v[n / 2], p99: v[(n * 99 / 100).min(n - 1)], n }
}

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The resident set size of this process (`VmRSS`), in bytes; 0 where
/// `/proc` is not readable.
pub fn rss_bytes() -> u64 {
    proc_status_kib("VmRSS:") * 1024
}

/// The peak resident set size of this process (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    proc_status_kib("VmHWM:") * 1024
}

fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// MiB, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether a goal was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The goal was met in this run.
    Met,
    /// The goal was missed in this run.
    Missed,
    /// The row has no pass/fail goal (a curve to report).
    Reported,
}

impl Status {
    /// `Met` when `ok`, else `Missed`.
    pub fn of(ok: bool) -> Status {
        if ok { Status::Met } else { Status::Missed }
    }
}

/// One row of the results table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// The row number, with a letter for sub-rows (`"1"`, `"6b"`).
    pub id: String,
    /// What was measured.
    pub what: String,
    /// The figure.
    pub figure: String,
    /// The baseline measured in the same run (or the reference it is held
    /// against).
    pub baseline: String,
    /// Figure against baseline.
    pub ratio: String,
    /// The goal.
    pub goal: String,
    /// Met, missed, or reported.
    pub status: Status,
}

/// Where recorded rows are kept: `target/bench-results/`.
pub fn results_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-results")
}

/// Prints `rows` as a table and, in a full run, records them as
/// `target/bench-results/<bench>.json` for `bench-report`.
pub fn record(bench: &str, rows: &[Row]) {
    println!("\n## {bench}: results\n");
    println!("| # | what | figure | baseline | ratio | goal | status |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {:?} |",
            r.id, r.what, r.figure, r.baseline, r.ratio, r.goal, r.status
        );
    }
    if !full() {
        return;
    }
    let dir = results_dir();
    let file = dir.join(format!("{bench}.json"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&file, serde_json::to_vec_pretty(rows).expect("rows serialize")));
    match written {
        Ok(()) => println!("\nrecorded in {}", file.display()),
        Err(e) => eprintln!("cannot record {}: {e}", file.display()),
    }
}
