//! `stdflood` (hostile): writes `bytes` bytes to stdout and to stderr.
//! Expected host outcome: the call succeeds; the host keeps at most the
//! call's `max_stdio_bytes` of each stream and drops the rest (the guest's
//! writes never block nor fail, so it cannot tell).
//!
//! `{"bytes": N}` → `{"written": N}`
use serde::{Deserialize, Serialize};
use std::io::Write;
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    bytes: u64,
}

#[derive(Serialize)]
struct Output {
    written: u64,
}

struct StdFlood;

impl Skill for StdFlood {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "stdflood";
    const DESCRIPTION: &'static str = "Hostile: floods stdout and stderr.";

    fn run(input: Input) -> Result<Output, Error> {
        let chunk = vec![b'o'; 64 * 1024];
        let mut written = 0u64;
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        while written < input.bytes {
            let n = chunk.len().min((input.bytes - written) as usize);
            out.write_all(&chunk[..n]).map_err(|e| Error::failed(e.to_string()))?;
            err.write_all(&chunk[..n]).map_err(|e| Error::failed(e.to_string()))?;
            written += n as u64;
        }
        Ok(Output { written })
    }
}

export_skill!(StdFlood);
