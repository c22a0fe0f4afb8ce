//! `deep` (hostile): recurses without bound (non-tail recursion, so every
//! level keeps a frame).
//! Expected host outcome: a trap reported as a failed call, never a host
//! crash. With wasmtime's default 512 KiB `max_wasm_stack` the trap is "call
//! stack exhausted" (`Trap::StackOverflow`). Frames are kept small on
//! purpose: a large local array would first exhaust the 1 MiB shadow stack
//! that Rust keeps in linear memory, giving an "out of bounds memory access"
//! trap instead.
use std::hint::black_box;
use wasmclaw_sdk::{Error, Skill, export_skill};

/// Non-tail recursion: the addition after the call keeps every frame alive.
/// `black_box` hides the recursion from the optimiser (no tail-call or
/// accumulator rewriting into a loop).
#[inline(never)]
#[expect(unconditional_recursion, reason = "this skill exists to overflow the stack")]
fn dive(n: u64) -> u64 {
    black_box(dive(black_box(n) + 1)) + 1
}

struct Deep;

impl Skill for Deep {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "deep";
    const DESCRIPTION: &'static str = "Hostile: recurses until the stack overflows.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<serde_json::Value, Error> {
        Ok(serde_json::json!({ "depth": dive(0) }))
    }
}

export_skill!(Deep);
