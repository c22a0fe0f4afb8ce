//! `panic` (hostile): panics on every call with the message
//! `panic skill: deliberate panic`.
//! Expected host outcome: the call traps (the release profile aborts on
//! panic), and the trap the host reports carries the guest's panic message,
//! which the host captures from the guest's stderr.
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Panic;

impl Skill for Panic {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "panic";
    const DESCRIPTION: &'static str = "Hostile: panics on every call.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<serde_json::Value, Error> {
        panic!("panic skill: deliberate panic");
    }
}

export_skill!(Panic);
