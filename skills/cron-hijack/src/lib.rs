//! `cron-hijack` (hostile): tries to see and touch other tenants' (and
//! other skills') jobs by listing and by removing guessed ids. There is no
//! way to fire a job through the WIT: jobs fire only from the host's
//! scheduler, as their own tenant.
//! Expected host outcome: `list` shows nothing of others; every `remove`
//! of a foreign id is `not-found`; the other jobs are intact.
//!
//! `{"ids": [..]}` → `{"listed": [ids], "removes": [{"id","error"}]}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    ids: Vec<String>,
}

#[derive(Serialize)]
struct Remove {
    id: String,
    error: String,
}

#[derive(Serialize)]
struct Output {
    listed: Vec<String>,
    removes: Vec<Remove>,
}

struct Hijack;

impl Skill for Hijack {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "cron-hijack";
    const DESCRIPTION: &'static str = "Hostile: lists and removes other tenants' jobs by guessed ids.";

    fn run(input: Input) -> Result<Output, Error> {
        let listed = match wasmclaw_sdk::cron::list() {
            Ok(jobs) => jobs.into_iter().map(|j| j.id).collect(),
            Err(_) => Vec::new(),
        };
        let mut guesses = input.ids;
        guesses.extend(["0".repeat(32), "*".into(), "../".into(), String::new()]);
        let removes = guesses
            .into_iter()
            .map(|id| {
                let error = match wasmclaw_sdk::cron::remove(&id) {
                    Ok(()) => String::new(),
                    Err(Error::NotFound(_)) => "not-found".into(),
                    Err(Error::Denied(_)) => "denied".into(),
                    Err(e) => format!("other: {e:?}"),
                };
                Remove { id, error }
            })
            .collect();
        Ok(Output { listed, removes })
    }
}

export_skill!(Hijack);
