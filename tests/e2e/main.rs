//! End-to-end tests: the real runtime with the real compiled skills, two or
//! more tenants per test, each on a fresh data directory.

mod calls;
mod hostile;
mod isolation;

use std::sync::Arc;
use wasmclaw::{Call, Error, Outcome, Runtime, Skill};
use wasmclaw_tests::{skill_path, tenant};

/// Loads the compiled skill `name`.
pub async fn load(rt: &Runtime, name: &str) -> Arc<Skill> {
    rt.load_skill_file(&skill_path(name)).await.unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Calls `skill` as `tenant_id` with `input`.
pub async fn call(rt: &Runtime, skill: &Skill, tenant_id: &str, input: &str) -> Result<Outcome, Error> {
    rt.invoke(skill, &Call::new(tenant(tenant_id)), input).await
}

/// Calls `skill` as `tenant_id` and parses its JSON output; panics on error.
pub async fn call_json(rt: &Runtime, skill: &Skill, tenant_id: &str, input: &str) -> serde_json::Value {
    let out = call(rt, skill, tenant_id, input).await.unwrap_or_else(|e| panic!("call {input}: {e}"));
    serde_json::from_str(&out.output).expect("output is JSON")
}
