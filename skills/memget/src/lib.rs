//! `memget` (benchmark): calls `memory.get` of one key `n` times, so the
//! cost of a guest→host→guest round trip can be measured.
//!
//! `{"key": K, "n": N}` → `{"n": N, "bytes": total bytes read}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, memory};

#[derive(Deserialize)]
struct Input {
    key: String,
    n: u32,
}

#[derive(Serialize)]
struct Output {
    n: u32,
    bytes: usize,
}

struct MemGet;

impl Skill for MemGet {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "memget";
    const DESCRIPTION: &'static str = "Benchmark: reads one memory key n times.";

    fn run(input: Input) -> Result<Output, Error> {
        let mut bytes = 0;
        for _ in 0..input.n {
            bytes += memory::get(&input.key)?.map_or(0, |v| v.len());
        }
        Ok(Output { n: input.n, bytes })
    }
}

export_skill!(MemGet);
