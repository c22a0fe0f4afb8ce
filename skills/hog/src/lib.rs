//! `hog` (hostile): allocates 1 MiB chunks, touching each one, until the
//! allocator is refused.
//! Expected host outcome: the call fails on the host's memory limit (the
//! guest traps when `memory.grow` is denied), and the host stays up.
use std::hint::black_box;
use wasmclaw_sdk::{Error, Skill, export_skill};

struct Hog;

impl Skill for Hog {
    type Input = serde_json::Value;
    type Output = serde_json::Value;
    const NAME: &'static str = "hog";
    const DESCRIPTION: &'static str = "Hostile: grows its memory until refused.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({})
    }

    fn run(_input: serde_json::Value) -> Result<serde_json::Value, Error> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // `vec![1; N]` writes every byte, so the pages are really used.
            let chunk = black_box(vec![1u8; 1 << 20]);
            chunks.push(chunk);
            black_box(&mut chunks);
        }
    }
}

export_skill!(Hog);
