//! `spin` (hostile): loops forever and never returns.
//! Expected host outcome: the call is interrupted by the host's CPU limit
//! (fuel or epoch deadline) and reported as a timeout, and the host stays
//! responsive.
use std::hint::black_box;
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Spin;

impl Skill for Spin {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "spin";
    const DESCRIPTION: &'static str = "Hostile: busy-loops forever.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<serde_json::Value, Error> {
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

export_skill!(Spin);
