//! `flood` (hostile): writes `flood:<i>` memory entries of `value_size` bytes
//! (default 65536) until the host refuses one, then reports how many it
//! wrote and the error: `{"written":N,"error_kind":K,"message":M}`, where `K`
//! is the kebab-case name of the error variant. After 1,000,000 writes it
//! gives up with `error_kind` `none`.
//! Expected host outcome: the tenant's quota stops it with `limit-exceeded`,
//! and the entries written before stay within the quota.
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, memory};

const MAX_WRITES: u64 = 1_000_000;

#[derive(Deserialize)]
struct Input {
    #[serde(default = "default_value_size")]
    value_size: usize,
}

fn default_value_size() -> usize {
    65536
}

#[derive(Serialize)]
struct Output {
    written: u64,
    error_kind: String,
    message: String,
}

struct Flood;

impl Skill for Flood {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "flood";
    const DESCRIPTION: &'static str = "Hostile: fills memory until the quota refuses a write.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": { "value_size": { "type": "integer", "minimum": 0 } }
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        let value = "x".repeat(input.value_size);
        for i in 0..MAX_WRITES {
            if let Err(e) = memory::set(&format!("flood:{i:08}"), &value) {
                return Ok(Output {
                    written: i,
                    error_kind: e.kind().to_string(),
                    message: e.message().to_string(),
                });
            }
        }
        Ok(Output { written: MAX_WRITES, error_kind: "none".to_string(), message: String::new() })
    }
}

export_skill!(Flood);
