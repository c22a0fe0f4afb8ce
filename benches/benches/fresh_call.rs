//! Fresh-instance call of `echo` against the same work through bubblewrap,
//! measured in the same run; and a compiled-cache hit against a compile.
//!
//! `cargo bench -p wasmclaw-benches` prints a table (figure, baseline,
//! ratio). `BENCH_ITERS` sets the number of wasm calls (default 20,000).
//! Under `cargo test` (`--bench` absent) it runs a few iterations only, as a
//! smoke check.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wasmclaw::cache::{CompiledCache, digest};
use wasmclaw::{Call, Runtime, RuntimeConfig};
use wasmclaw_tests::{skill_path, tenant};

const INPUT: &str = r#"{"text":"hello, wasmclaw"}"#;

struct Stats {
    median: Duration,
    p99: Duration,
    n: usize,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let n = v.len();
    Stats { median: v[n / 2], p99: v[(n * 99 / 100).min(n - 1)], n }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

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

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iters: usize = if full {
        std::env::var("BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000)
    } else {
        50
    };
    let bwrap_iters = if full { 200 } else { 3 };

    let dir = tempfile::tempdir().unwrap();
    let config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rt = Runtime::new(config).unwrap();
    let echo = tokio.block_on(rt.load_skill_file(&skill_path("echo"))).unwrap();
    let echo = rt.bind(&echo, &tenant("bench")).unwrap();
    let call = Call::default();

    // Warm up, then measure fresh-instance calls.
    tokio.block_on(async {
        for _ in 0..(iters / 10).max(10) {
            rt.invoke(&echo, &call, INPUT).await.unwrap();
        }
    });
    let wasm = tokio.block_on(async {
        let mut v = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            let out = rt.invoke(&echo, &call, INPUT).await.unwrap();
            v.push(t.elapsed());
            assert_eq!(out.output, INPUT);
        }
        stats(v)
    });

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

    println!("\n## fresh-instance call of `echo` ({} calls; bwrap {} runs)\n", wasm.n, bwrap_iters);
    println!("| what | median | p99 |");
    println!("| --- | ---: | ---: |");
    println!("| wasmclaw fresh instance | {:.1} µs | {:.1} µs |", us(wasm.median), us(wasm.p99));
    match &bwrap {
        Some(b) => {
            println!("| bwrap --unshare-all + native echo | {:.1} µs | {:.1} µs |", us(b.median), us(b.p99));
            println!(
                "| ratio (bwrap / wasmclaw) | {:.0}× | {:.0}× |",
                us(b.median) / us(wasm.median),
                us(b.p99) / us(wasm.p99)
            );
        }
        None => println!("| bwrap baseline | unavailable (install bubblewrap) | |"),
    }
    println!("\n## loading `notes` ({} runs)\n", compile.n);
    println!("| what | median |");
    println!("| --- | ---: |");
    println!("| compile (cache miss) | {:.2} ms |", us(compile.median) / 1e3);
    println!("| deserialize (cache hit) | {:.3} ms |", us(hit.median) / 1e3);
    println!("| ratio | {:.0}× |", us(compile.median) / us(hit.median));
}
