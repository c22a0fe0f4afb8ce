//! Row 5r, the redactor at the caps: building one tenant's redactor from
//! 100 secrets of 2,600 bytes (the default `secret_limits`: 100 secrets,
//! 256 KiB), the memory it holds, and scrubbing a 1 MB output with it.
//! Goal: a build under 50 ms and 16 MiB, a 1 MB scrub under 50 ms (before
//! the single automaton, 1,200 secrets made one call take 9–14 s).
//!
//! `cargo bench -p wasmclaw-benches --bench redactor`; without `--bench` it
//! does one iteration as a smoke check.

use std::time::{Duration, Instant};
use wasmclaw::redact::Redactor;
use wasmclaw_benches::{Row, Status, full, mib, ms, record, stats};
use zeroize::Zeroizing;

fn value(i: usize) -> String {
    let mut v = format!("sk-{i:03}-");
    while v.len() < 2600 {
        v.push_str(&format!("{:016x}", (v.len() as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64));
    }
    v.truncate(2600);
    v
}

fn main() {
    let n = if full() { 20 } else { 1 };
    let secrets: Vec<(String, Zeroizing<Vec<u8>>)> =
        (0..100).map(|i| (format!("S{i}"), Zeroizing::new(value(i).into_bytes()))).collect();
    let mut builds = Vec::new();
    let mut r = None;
    for _ in 0..n {
        let t = Instant::now();
        r = Some(Redactor::new(&secrets));
        builds.push(t.elapsed());
    }
    let r = r.unwrap();
    let memory = r.memory_bytes() as u64;
    // Text with a secret's prefix every 4 KB and one whole secret.
    let chunk = format!("{}{}", "lorem ipsum ".repeat(340), &value(7)[..40]);
    let mut text = chunk.repeat(1_000_000 / chunk.len());
    text.push_str(&value(42));
    let mut scrubs = Vec::new();
    for _ in 0..n {
        let t = Instant::now();
        let got = r.redact(&text);
        scrubs.push(t.elapsed());
        assert_eq!(got.hits, vec!["S42".to_string()]);
    }
    let (build, scrub) = (stats(builds), stats(scrubs));
    println!(
        "\n## redactor at the caps: build median {:.1} ms, {:.1} MiB; 1 MB scrub median {:.1} ms\n",
        ms(build.median),
        mib(memory),
        ms(scrub.median)
    );
    let ok = build.median < Duration::from_millis(50)
        && memory < 16 * 1024 * 1024
        && scrub.median < Duration::from_millis(50);
    record(
        "redactor",
        &[Row {
            id: "5r".into(),
            what: "one tenant's redactor at the secret caps (100 × 2,600 B): build, memory, 1 MB scrub"
                .into(),
            figure: format!(
                "build {:.1} ms, {:.1} MiB; scrub {:.1} ms",
                ms(build.median),
                mib(memory),
                ms(scrub.median)
            ),
            baseline: "before: a scan per needle, 1,200 secrets → 9.4–13.7 s per call".into(),
            ratio: "—".into(),
            goal: "build < 50 ms and 16 MiB, scrub < 50 ms".into(),
            status: Status::of(ok),
        }],
    );
}
