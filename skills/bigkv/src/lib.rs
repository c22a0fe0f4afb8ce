//! `bigkv` (hostile): giant keys and values, and prefix scans for other
//! tenants' keys. It tries `memory::set` with a key of `key_bytes` and with
//! a value of `value_bytes`, then lists every prefix in `prefixes` and
//! reports each key it was shown.
//! Expected host outcome: the giant key and value are `invalid` (the host's
//! size limits, checked before storage); the scans show only the calling
//! tenant's own keys.
//!
//! `{"key_bytes": N, "value_bytes": N, "prefixes": [..]}` →
//! `{"giant_key": KIND, "giant_value": KIND, "listed": [keys], "list_errors": [KIND]}`
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::{Error, Skill, export_skill, memory};

#[derive(Deserialize)]
struct Input {
    key_bytes: usize,
    value_bytes: usize,
    #[serde(default)]
    prefixes: Vec<String>,
}

#[derive(Serialize)]
struct Output {
    giant_key: String,
    giant_value: String,
    listed: Vec<String>,
    list_errors: Vec<String>,
}

fn kind(r: Result<(), Error>) -> String {
    r.err().map_or("ok", |e| e.kind()).to_string()
}

struct BigKv;

impl Skill for BigKv {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "bigkv";
    const DESCRIPTION: &'static str = "Hostile: giant memory keys and values, and prefix scans.";

    fn run(input: Input) -> Result<Output, Error> {
        let giant_key = kind(memory::set(&"k".repeat(input.key_bytes), "v"));
        let giant_value = kind(memory::set("bigkv:value", &"v".repeat(input.value_bytes)));
        let (mut listed, mut list_errors) = (Vec::new(), Vec::new());
        for prefix in &input.prefixes {
            match memory::list(prefix, 1000) {
                Ok(entries) => listed.extend(entries.into_iter().map(|e| e.key)),
                Err(e) => list_errors.push(e.kind().to_string()),
            }
        }
        Ok(Output { giant_key, giant_value, listed, list_errors })
    }
}

export_skill!(BigKv);
