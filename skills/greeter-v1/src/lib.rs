//! `greeter` 1.0.0: greets by name, using nothing but its input. With
//! `greeter-v2` it is the pair the upgrade tests install over each other.
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Greeter;

impl Skill for Greeter {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "greeter";
    const VERSION: &'static str = "1.0.0";
    const DESCRIPTION: &'static str = "Greets by name.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({"type": "object"})
    }

    fn run(input: serde_json::Value) -> Result<serde_json::Value, Error> {
        let name = input["name"].as_str().unwrap_or("world");
        Ok(serde_json::json!({"greeting": format!("Hello, {name}!"), "version": 1}))
    }
}

export_skill!(Greeter);
