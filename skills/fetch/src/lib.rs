//! `fetch`: one HTTP request through the `http` capability, to the origins
//! the tenant grants.
//!
//! `{"url": U, "method"?: M, "headers"?: {name: value}, "body"?: TEXT}` →
//! `{"status": N, "body": TEXT}`
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use wasmclaw_sdk::http::{self, Header, Request};
use wasmclaw_sdk::{Error, Skill, export_skill};

#[derive(Deserialize)]
struct Input {
    url: String,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

fn get() -> String {
    "GET".into()
}

#[derive(Serialize)]
struct Output {
    status: u16,
    body: String,
}

struct Fetch;

impl Skill for Fetch {
    type Input = Input;
    type Output = Output;
    const NAME: &'static str = "fetch";
    const DESCRIPTION: &'static str = "Fetches a URL from an origin the tenant grants.";

    fn input_schema() -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "required": ["url"],
            "properties": { "url": { "type": "string" }, "method": { "type": "string" } },
        })
    }

    fn run(input: Input) -> Result<Output, Error> {
        let req = Request {
            method: input.method,
            url: input.url,
            headers: input.headers.into_iter().map(|(name, value)| Header { name, value }).collect(),
            body: input.body.map(String::into_bytes),
        };
        let resp = http::send(&req)?;
        Ok(Output { status: resp.status, body: resp.text() })
    }
}

export_skill!(Fetch);
