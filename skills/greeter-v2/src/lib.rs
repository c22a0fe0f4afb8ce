//! `greeter` 2.0.0: like 1.0.0, and it also imports `http` (to fetch a
//! greeting from a granted origin when asked), so upgrading to it widens
//! the skill's permissions.
use wasmclaw_sdk::{Error, Skill, export_skill, http};

struct Greeter;

impl Skill for Greeter {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "greeter";
    const VERSION: &'static str = "2.0.0";
    const DESCRIPTION: &'static str = "Greets by name, or with a greeting fetched from a URL.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({"type": "object"})
    }

    fn run(input: serde_json::Value) -> Result<serde_json::Value, Error> {
        if let Some(url) = input["url"].as_str() {
            let body = http::get(url, &[])?.body;
            return Ok(serde_json::json!({"greeting": String::from_utf8_lossy(&body), "version": 2}));
        }
        let name = input["name"].as_str().unwrap_or("world");
        Ok(serde_json::json!({"greeting": format!("Hello, {name}!"), "version": 2}))
    }
}

export_skill!(Greeter);
