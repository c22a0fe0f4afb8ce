//! End-to-end tests: the real runtime with the real compiled skills, two or
//! more tenants per test, each on a fresh data directory.

mod agents;
mod calls;
mod channels;
mod corpus;
mod corpus_tables;
mod cron;
mod hostile;
mod http;
mod isolation;
mod messaging;
mod packages;
mod props;
mod server;
mod soak;
mod tenancy;

use std::sync::Arc;
use wasmclaw::{BoundSkill, Call, Error, Outcome, Runtime, Skill};
use wasmclaw_tests::{skill_path, tenant};

/// Loads the compiled skill `name`.
pub async fn load(rt: &Runtime, name: &str) -> Arc<Skill> {
    rt.load_skill_file(&skill_path(name)).await.unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Binds `skill` to `tenant_id` (with that tenant's stored policy).
pub fn bind(rt: &Runtime, skill: &Arc<Skill>, tenant_id: &str) -> Arc<BoundSkill> {
    rt.bind(skill, &tenant(tenant_id)).expect("bind")
}

/// Calls `skill` as `tenant_id` with `input`.
pub async fn call(rt: &Runtime, skill: &Arc<Skill>, tenant_id: &str, input: &str) -> Result<Outcome, Error> {
    rt.invoke(&bind(rt, skill, tenant_id), &Call::default(), input).await
}

/// Calls `skill` as `tenant_id` and parses its JSON output; panics on error.
pub async fn call_json(rt: &Runtime, skill: &Arc<Skill>, tenant_id: &str, input: &str) -> serde_json::Value {
    let out = call(rt, skill, tenant_id, input).await.unwrap_or_else(|e| panic!("call {input}: {e}"));
    serde_json::from_str(&out.output).expect("output is JSON")
}

/// Loads the compiled skill `name` with `manifest` (TOML) instead of its own
/// (tests grant origins whose port is only known at run time).
pub async fn load_with_manifest(rt: &Runtime, name: &str, manifest: &str) -> Arc<Skill> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("skill.toml");
    std::fs::write(&path, manifest).unwrap();
    rt.load_skill_files(&skill_path(name), Some(&path)).await.unwrap_or_else(|e| panic!("load {name}: {e}"))
}

/// Stores `policy` (TOML) for `tenant_id`.
pub fn set_policy(rt: &Runtime, tenant_id: &str, policy: &str) {
    let p = wasmclaw::policy::TenantPolicy::parse(policy).unwrap_or_else(|e| panic!("policy: {e}"));
    rt.set_policy("test", &tenant(tenant_id), &p).unwrap();
}

/// The error kind of a skill's own error, e.g. `denied`.
pub fn skill_error_kind(e: &Error) -> &'static str {
    use wasmclaw::bindings::WitError;
    match e {
        Error::Skill(WitError::Denied(_)) => "denied",
        Error::Skill(WitError::NotFound(_)) => "not-found",
        Error::Skill(WitError::Invalid(_)) => "invalid",
        Error::Skill(WitError::LimitExceeded(_)) => "limit-exceeded",
        Error::Skill(WitError::Unavailable(_)) => "unavailable",
        Error::Skill(WitError::Failed(_)) => "failed",
        _ => "not a skill error",
    }
}
