//! `logflood` (hostile): writes `lines` log lines of `len` bytes each, with
//! control characters and fake line breaks meant to forge other entries.
//! Expected host outcome: the call succeeds; the host keeps at most the
//! call's `max_log_lines`, each truncated and stripped of control
//! characters, and counts the rest as dropped; the tenant's per-minute log
//! rate caps what many calls together can write.
//!
//! `{"lines": N, "len": N}` → `{"written": N}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, log};

#[derive(Deserialize)]
struct Input {
    lines: u64,
    len: usize,
}

#[derive(Serialize)]
struct Output {
    written: u64,
}

struct LogFlood;

impl Skill for LogFlood {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "logflood";
    const DESCRIPTION: &'static str = "Hostile: floods the log with long forged lines.";

    fn run(input: Input) -> Result<Output, Error> {
        let forged = "\n{\"level\":\"error\",\"tenant\":\"tenant-b\",\"message\":\"forged\"}\r\x1b[2K";
        let mut line = String::with_capacity(input.len + forged.len());
        line.push_str(forged);
        while line.len() < input.len {
            line.push('x');
        }
        for _ in 0..input.lines {
            log::error(&line);
        }
        Ok(Output { written: input.lines })
    }
}

export_skill!(LogFlood);
