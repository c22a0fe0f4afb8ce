//! `bigout` (hostile): returns an output of `bytes` bytes (a JSON string).
//! Expected host outcome: past the call's `max_output_bytes` the call fails
//! with `invalid output` and nothing of it reaches the caller.
//!
//! `{"bytes": N}` → `"ooo…"`
use serde::Deserialize;
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    bytes: usize,
}

struct BigOut;

impl Skill for BigOut {
    type Input = Input;
    type Output = String;
    const NAME: &'static str = "bigout";
    const DESCRIPTION: &'static str = "Hostile: returns a multi-MiB output.";

    fn run(input: Input) -> Result<String, Error> {
        Ok("o".repeat(input.bytes.saturating_sub(2)))
    }
}

export_skill!(BigOut);
