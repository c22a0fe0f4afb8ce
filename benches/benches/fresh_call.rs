//! Fresh-instance call of `echo` against the same work through bubblewrap,
//! measured in the same run; the same calls with wasmtime's default memory
//! reset (`madvise`, no pages kept resident) to show what the in-place reset
//! gains; and a compiled-cache hit against a compile.
//!
//! `cargo bench -p wasmclaw-benches --bench fresh_call` prints a table
//! (figure, baseline, ratio) and records rows 1 and 6c. `BENCH_ITERS` sets
//! the number of wasm calls (default 20,000). Under `cargo test`
//! (`--bench` absent) it runs a few iterations only, as a smoke check.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wasmclaw::cache::{CompiledCache, digest};
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_benches::{Row, Stats, Status, full, knob, stats, us};
use wasmclaw_tests::{skill_path, tenant};

const INPUT: &str = r#"{"text":"hello, wasmclaw"}"#;

fn bwrap_echo() -> Option<Duration> {
    let mut cmd = Command::new("bwrap");
    cmd.args(["--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr"]);
    for (link, target) in [("/bin", "usr/bin"), ("/lib", "usr/lib"), ("/lib64", "usr/lib64")] {
        if std::fs::symlink_metadata(link).map(|m| m.file_type().is_symlink()).unwrap_or(false) {
            cmd.args(["--symlink", target, link]);
        } else {
            cmd.args(["--ro-bind", link, link]);
        }
    }
    cmd.args(["/usr/bin/echo", INPUT]).stdout(Stdio::piped()).stderr(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().ok()?;
    let took = start.elapsed();
    (out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == INPUT).then_some(took)
}

/// `iters` fresh-instance calls of `echo` (after a tenth as many warm-up
/// calls) on a runtime built from `config`.
fn fresh_calls(config: RuntimeConfig, iters: usize) -> Stats {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rt = Runtime::new(config).unwrap();
    let echo = tokio.block_on(rt.load_skill_file(&skill_path("echo"))).unwrap();
    let echo = rt.bind(&echo, &tenant("bench")).unwrap();
    let call = Call::default();
    tokio.block_on(async {
        for _ in 0..(iters / 10).max(10) {
            rt.invoke(&echo, &call, INPUT).await.unwrap();
        }
        let mut v = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            let out = rt.invoke(&echo, &call, INPUT).await.unwrap();
            v.push(t.elapsed());
            assert_eq!(out.output, INPUT);
        }
        stats(v)
    })
}

fn main() {
    let full = full();
    let iters: usize = if full { knob("BENCH_ITERS", 20_000) } else { 50 };
    let bwrap_iters = if full { 200 } else { 3 };

    let dir = tempfile::tempdir().unwrap();
    let wasm = fresh_calls(RuntimeConfig::with_data_dir(dir.path().join("data")), iters);
    // Before: wasmtime's defaults, every page of a finished call handed back
    // to the kernel with `madvise`.
    let mut before = RuntimeConfig::with_data_dir(dir.path().join("data-madvise"));
    before.pool.keep_resident_bytes = 0;
    before.pool.pagemap_scan = false;
    // `FRESH_BEFORE=0` skips it (to profile row 1 alone).
    let madvise = fresh_calls(before, if knob("FRESH_BEFORE", 1) == 0 { 10 } else { iters });

    let bwrap: Option<Stats> = {
        let v: Vec<Duration> = (0..bwrap_iters).map_while(|_| bwrap_echo()).collect();
        (v.len() == bwrap_iters).then(|| stats(v))
    };

    // Compile (cache miss) against deserialize (cache hit), same component.
    let bytes = std::fs::read(skill_path("notes")).unwrap();
    let d = digest(&bytes);
    let engine = wasmclaw::engine::build(&Default::default()).unwrap();
    let cache_iters = if full { 10 } else { 1 };
    let (mut compile, mut hit) = (Vec::new(), Vec::new());
    for i in 0..cache_iters {
        let cache = CompiledCache::new(&dir.path().join(format!("cache-{i}")), &engine).unwrap();
        let t = Instant::now();
        cache.load(&engine, &bytes, &d).unwrap();
        compile.push(t.elapsed());
        let t = Instant::now();
        cache.load(&engine, &bytes, &d).unwrap();
        hit.push(t.elapsed());
    }
    let (compile, hit) = (stats(compile), stats(hit));

    let mut rows = Vec::new();
    let (baseline, ratio, met) = match &bwrap {
        Some(b) => {
            let r = us(b.median) / us(wasm.median);
            (
                format!(
                    "bwrap --unshare-all + native echo: {:.0} / {:.0} µs ({} runs)",
                    us(b.median),
                    us(b.p99),
                    b.n
                ),
                format!("{r:.0}× faster (p99 {:.0}×)", us(b.p99) / us(wasm.p99)),
                us(wasm.median) <= 20.0 && r >= 300.0,
            )
        }
        None => ("bwrap unavailable (install bubblewrap)".into(), "—".into(), false),
    };
    rows.push(Row {
        id: "1".into(),
        what: format!("fresh-instance call of `echo`, median / p99 ({} calls)", wasm.n),
        figure: format!("{:.1} / {:.1} µs", us(wasm.median), us(wasm.p99)),
        baseline,
        ratio,
        goal: "≤ 20 µs median; ≥ 300× faster".into(),
        status: Status::of(met),
    });
    rows.push(Row {
        id: "1b".into(),
        what: "the same, memory reset with `madvise` (wasmtime's default; before Step 6)".into(),
        figure: format!("{:.1} / {:.1} µs", us(madvise.median), us(madvise.p99)),
        baseline: format!("row 1: {:.1} µs", us(wasm.median)),
        ratio: format!("{:.2}× slower", us(madvise.median) / us(wasm.median)),
        goal: "(before/after of the in-place reset)".into(),
        status: Status::Reported,
    });
    rows.push(Row {
        id: "6c".into(),
        what: "loading one compiled skill (`notes`): cache hit (read, SHA-256, deserialize)".into(),
        figure: format!("{:.3} ms", us(hit.median) / 1e3),
        baseline: format!("compiling it: {:.1} ms", us(compile.median) / 1e3),
        ratio: format!("{:.0}× faster", us(compile.median) / us(hit.median)),
        goal: "(feeds row 6)".into(),
        status: Status::Reported,
    });
    wasmclaw_benches::record("fresh_call", &rows);
}
