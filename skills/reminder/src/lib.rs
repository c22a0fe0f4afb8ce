//! `reminder`: schedules itself through the `cron` capability.
//!
//! - `{"op":"add","text":T,"every_seconds":N}` or `{"op":"add","text":T,"cron":EXPR}`
//!   → `{"job_id": ID}`; the job calls this skill with `{"op":"fire","text":T}`.
//! - `{"op":"fire","text":T}` → appends T to memory under `fired:<n>` (what
//!   a scheduled run does) → `{"fired": n}`.
//! - `{"op":"list"}` → `{"jobs":[{"id","input","next_run"}]}`
//! - `{"op":"remove","id":ID}` → `{"removed": ID}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::cron::{self, Schedule};
use wasmclaw_sdk::{Error, Skill, export_skill, memory};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Input {
    Add { text: String, every_seconds: Option<u64>, cron: Option<String> },
    Fire { text: String },
    List,
    Remove { id: String },
}

#[derive(Serialize)]
struct JobOut {
    id: String,
    input: String,
    next_run: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Output {
    Added { job_id: String },
    Fired { fired: u64 },
    Jobs { jobs: Vec<JobOut> },
    Removed { removed: String },
}

struct Reminder;

impl Skill for Reminder {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "reminder";
    const DESCRIPTION: &'static str = "Schedules reminders that fire later as calls of this skill.";

    fn run(input: Input) -> Result<Output, Error> {
        Ok(match input {
            Input::Add { text, every_seconds, cron: expr } => {
                let schedule = match (every_seconds, expr) {
                    (Some(n), None) => Schedule::EverySeconds(n),
                    (None, Some(e)) => Schedule::Cron(e),
                    _ => return Err(Error::invalid("give exactly one of every_seconds and cron")),
                };
                let fire = serde_json::json!({"op": "fire", "text": text}).to_string();
                Output::Added { job_id: cron::add(&schedule, &fire)? }
            }
            Input::Fire { text } => {
                let n: u64 = memory::get("fired:count")?.and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
                memory::set(&format!("fired:{n:06}"), &text)?;
                memory::set("fired:count", &n.to_string())?;
                Output::Fired { fired: n }
            }
            Input::List => Output::Jobs {
                jobs: cron::list()?
                    .into_iter()
                    .map(|j| JobOut { id: j.id, input: j.input, next_run: j.next_run })
                    .collect(),
            },
            Input::Remove { id } => {
                cron::remove(&id)?;
                Output::Removed { removed: id }
            }
        })
    }
}

export_skill!(Reminder);
