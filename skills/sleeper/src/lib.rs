//! `sleeper` (hostile): blocks in a WASI sleep for `secs` seconds, burning
//! no fuel, to hold its instance slot and its tenant's concurrency for as
//! long as it can.
//! Expected host outcome: the wall-clock deadline ends the call with
//! `timeout`, whatever the fuel left; the slot is given back.
//!
//! `{"secs": N}` → `{"slept": N}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    secs: u64,
}

#[derive(Serialize)]
struct Output {
    slept: u64,
}

struct Sleeper;

impl Skill for Sleeper {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "sleeper";
    const DESCRIPTION: &'static str = "Hostile: sleeps past its deadline.";

    fn run(input: Input) -> Result<Output, Error> {
        std::thread::sleep(std::time::Duration::from_secs(input.secs));
        Ok(Output { slept: input.secs })
    }
}

export_skill!(Sleeper);
