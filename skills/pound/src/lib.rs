//! `pound` (hostile): calls one host function in a tight loop, `n` times
//! (0: until the host stops it), to burn the host's time rather than its
//! own: `memory-get` (a storage read each time), `memory-list`, `log` or
//! `names` (secrets).
//! Expected host outcome: every host call is charged fuel like the guest
//! code around it, so the call ends out of fuel (or at its deadline) like
//! `spin`; other tenants' calls meanwhile keep their latency within the
//! measured neighbour bound (benches `noisy`).
//!
//! `{"op": OP, "n"?: N}` → `{"calls": N, "errors": E}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, log, memory, secrets};

#[derive(Deserialize)]
struct Input {
    op: String,
    #[serde(default)]
    n: u64,
}

#[derive(Serialize)]
struct Output {
    calls: u64,
    errors: u64,
}

struct Pound;

impl Skill for Pound {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "pound";
    const DESCRIPTION: &'static str = "Hostile: calls a host function in a tight loop.";

    fn run(input: Input) -> Result<Output, Error> {
        let one: fn() -> bool = match input.op.as_str() {
            "memory-get" => || memory::get("pound").is_ok(),
            "memory-list" => || memory::list("", 100).is_ok(),
            "log" => || {
                log::info("pound");
                true
            },
            "names" => || secrets::names().is_ok(),
            other => return Err(Error::invalid(format!("unknown op {other:?}"))),
        };
        let (mut calls, mut errors) = (0u64, 0u64);
        while input.n == 0 || calls < input.n {
            if !one() {
                errors += 1;
            }
            calls += 1;
        }
        Ok(Output { calls, errors })
    }
}

export_skill!(Pound);
