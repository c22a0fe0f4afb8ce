//! `search-hog` (hostile): fills its tenant's memory with large values,
//! then searches it in a tight loop, so that each cheap guest call makes
//! the host read the whole scope.
//! Expected host outcome: each search is charged fuel for every byte it
//! reads and reads at most `MAX_SCAN_BYTES` (16 MiB; past it,
//! `limit-exceeded`), on a blocking thread in a long-call turn, so the call
//! ends out of fuel (or at its deadline) having paid for its scans, and
//! other tenants' calls keep their latency (benches `noisy`,
//! `NOISY_A=search-hog`).
//!
//! `{"op": "fill", "mb": N}` writes N values of 1 MiB and one small entry
//! holding "Needle";
//! `{"op": "search", "n"?: N}` searches for "needle" N times (0: until the
//! host stops it) → `{"calls": N, "errors": E, "found": F, "error"?: KIND}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, memory};

#[derive(Deserialize)]
struct Input {
    op: String,
    #[serde(default)]
    n: u64,
    #[serde(default)]
    mb: u32,
}

#[derive(Serialize)]
struct Output {
    calls: u64,
    errors: u64,
    found: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

struct SearchHog;

impl Skill for SearchHog {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "search-hog";
    const DESCRIPTION: &'static str = "Hostile: searches a large memory scope in a tight loop.";

    fn run(input: Input) -> Result<Output, Error> {
        let mut out = Output { calls: 0, errors: 0, found: 0, error: None };
        match input.op.as_str() {
            "fill" => {
                let value = "x".repeat(1024 * 1024 - 16);
                for i in 0..input.mb {
                    memory::set(&format!("hog:{i:05}"), &value)?;
                    out.calls += 1;
                }
                memory::set("hit", "a Needle in the hay")?;
            }
            "search" => {
                while input.n == 0 || out.calls < input.n {
                    match memory::search("needle", 10) {
                        Ok(hits) => out.found += hits.len() as u64,
                        Err(e) => {
                            out.errors += 1;
                            out.error = Some(e.kind().to_string());
                        }
                    }
                    out.calls += 1;
                }
            }
            other => return Err(Error::invalid(format!("unknown op {other:?}"))),
        }
        Ok(out)
    }
}

export_skill!(SearchHog);
