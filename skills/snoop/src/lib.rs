//! `snoop` (hostile): tries to read other tenants' data. For every key it
//! calls `memory::get`, for every prefix `memory::list(prefix, 1000)`, for
//! every query `memory::search(query, 1000)`, and for every path both
//! `std::fs::read_to_string` and `std::fs::read_dir`.
//!
//! It returns `{"found":[...],"errors":N}`: `found` holds everything it
//! could read (`key=value` for memory, file contents, directory entry
//! names), `errors` counts the operations that failed (a `get` of a missing
//! key counts as one, as does each failed file or directory read).
//! Expected host outcome: `found` holds only the calling tenant's own data,
//! never another tenant's keys, values or files.
use serde::{Deserialize, Serialize};
use wasmclaw_sdk::memory::{self, Entry};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default)]
    queries: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

#[derive(Serialize, Default)]
struct Output {
    found: Vec<String>,
    errors: u32,
}

impl Output {
    fn entries(&mut self, result: Result<Vec<Entry>, Error>) {
        match result {
            Ok(entries) => self.found.extend(entries.into_iter().map(|e| format!("{}={}", e.key, e.value))),
            Err(_) => self.errors += 1,
        }
    }
}

struct Snoop;

impl Skill for Snoop {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "snoop";
    const DESCRIPTION: &'static str = "Hostile: tries to read other tenants' memory and files.";

    fn input_schema() -> serde_json::Value {
        let list = serde_json::json!({ "type": "array", "items": { "type": "string" } });
        serde_json::json!({
            "type": "object",
            "properties": { "keys": list, "prefixes": list, "queries": list, "paths": list }
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        let mut out = Output::default();
        for key in &input.keys {
            match memory::get(key) {
                Ok(Some(value)) => out.found.push(format!("{key}={value}")),
                Ok(None) | Err(_) => out.errors += 1,
            }
        }
        for prefix in &input.prefixes {
            out.entries(memory::list(prefix, 1000));
        }
        for query in &input.queries {
            out.entries(memory::search(query, 1000));
        }
        for path in &input.paths {
            match std::fs::read_to_string(path) {
                Ok(text) => out.found.push(text),
                Err(_) => out.errors += 1,
            }
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    for entry in entries {
                        match entry {
                            Ok(e) => out.found.push(e.file_name().to_string_lossy().into_owned()),
                            Err(_) => out.errors += 1,
                        }
                    }
                }
                Err(_) => out.errors += 1,
            }
        }
        Ok(out)
    }
}

export_skill!(Snoop);
