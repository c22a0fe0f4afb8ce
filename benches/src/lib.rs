//! What the benchmarks share: the `--bench` switch and knobs, latency
//! statistics, the process's resident memory, a PostgreSQL database for
//! the PostgreSQL rows ([`pg`]), and the result rows each bench records for
//! `bench-report`, which rewrites the table in `benches/README.md`.
//!
//! A bench run by `cargo bench` (with `--bench`) measures in full and
//! records its rows in `target/bench-results/<bench>.json`; run by
//! `cargo test` it does a few iterations as a smoke check and records
//! nothing.

pub mod pg;
pub mod replicas;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// A thread reading `VmRSS` every 5 ms; `stop` returns the highest seen.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    pub fn start() -> RssSampler {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(rss_bytes())));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        RssSampler { stop, peak, thread }
    }

    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak.load(Ordering::Relaxed).max(rss_bytes())
    }
}

/// Starts one call of `fetch` with `input` per binding in `bound` on
/// `tokio`; a task ends `Ok` when the call answered HTTP status 200.
pub fn spawn_fetches(
    tokio: &tokio::runtime::Runtime,
    rt: &wasmclaw::Runtime,
    bound: &[Arc<wasmclaw::BoundSkill>],
    input: &str,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
    bound
        .iter()
        .map(|b| {
            let (rt, b, input) = (rt.clone(), b.clone(), input.to_string());
            tokio.spawn(async move {
                match rt.invoke(&b, &wasmclaw::Call::default(), &input).await {
                    Ok(out) => {
                        let v: serde_json::Value = serde_json::from_str(&out.output).unwrap_or_default();
                        if v["status"] == 200 { Ok(()) } else { Err(format!("answer {}", out.output)) }
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect()
}

/// A helper server run in a child process (this bench's own binary, run
/// again with `env` set), so that its sockets and memory are not counted in
/// the bench's. The child prints its port on its first line and exits when
/// its stdin closes (when this is dropped).
pub struct ChildServer {
    child: std::process::Child,
    port: u16,
}

impl ChildServer {
    /// Starts the child with `name=value` in its environment.
    pub fn start(name: &str, value: &str) -> ChildServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(std::env::current_exe().expect("this binary"))
            .env(name, value)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the child server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("the child's stdout");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("the child's port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the child server said {line:?}"));
        ChildServer { child, port }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` over a plain socket; the body.
    pub fn get(&self, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        Some(text.split("\r\n\r\n").nth(1)?.trim().to_string())
    }

    /// Polls `GET path` (a count) until it reaches `n` (true) or `limit`
    /// passes (false).
    pub fn wait_count(&self, path: &str, n: usize, limit: Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if self.get(path).and_then(|t| t.parse::<usize>().ok()).unwrap_or(0) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

/// The child's side of [`ChildServer`]: serves `app` on 127.0.0.1 (a
/// backlog for thousands of connections), prints its port, and exits when
/// stdin closes. Never returns.
pub fn serve_child(app: axum::Router) -> ! {
    use std::io::Write;
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let tokio = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    tokio.block_on(async move {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
        let listener = socket.listen(65_535).expect("listen");
        let port = listener.local_addr().expect("its address").port();
        let mut out = std::io::stdout();
        writeln!(out, "{port}").expect("print the port");
        out.flush().expect("print the port");
        axum::serve(listener, app).await.expect("serve");
    });
    std::process::exit(0)
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
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
    if full() {
        write_rows(bench, rows);
    }
}

/// Records `rows` as `target/bench-results/<bench>.json`, whatever the mode
/// (for the `soak` binary, which `cargo bench` does not start).
pub fn write_rows(bench: &str, rows: &[Row]) {
    let dir = results_dir();
    let file = dir.join(format!("{bench}.json"));
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&file, serde_json::to_vec_pretty(rows).expect("rows serialize")));
    match written {
        Ok(()) => println!("\nrecorded in {}", file.display()),
        Err(e) => eprintln!("cannot record {}: {e}", file.display()),
    }
}
