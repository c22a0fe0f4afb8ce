//! `counter`: proves that each call runs in a fresh instance. A static
//! counter is incremented on every `invoke` and returned as `{"count":N}`.
//! Expected host outcome: every call answers `{"count":1}`, because nothing
//! in linear memory survives between calls.
use serde::Serialize;
use std::sync::atomic::{AtomicU32, Ordering};
use wasmclaw_sdk::{Error, Skill, export_skill};

static COUNT: AtomicU32 = AtomicU32::new(0);

#[derive(Serialize)]
struct Output {
    count: u32,
}

struct Counter;

impl Skill for Counter {
    type Input = serde_json::Value;
    type Output = Output;
    const NAME: &'static str = "counter";
    const DESCRIPTION: &'static str =
        "Counts its own invocations in a static; answers 1 when every call gets a fresh instance.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<Output, Error> {
        let count = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Output { count })
    }
}

export_skill!(Counter);
