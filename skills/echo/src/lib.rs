//! `echo`: returns its input unchanged. The smallest useful skill, and the
//! one the benchmarks call.
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Echo;

impl Skill for Echo {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "echo";
    const DESCRIPTION: &'static str = "Returns its input unchanged.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(input: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(input)
    }
}

export_skill!(Echo);
