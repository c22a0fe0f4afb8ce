//! Helpers shared by the end-to-end tests and the benchmarks: where the
//! compiled skills are, a runtime on a fresh data directory, and an empty
//! PostgreSQL database per test (`pg_testing`).

pub mod fake_llm;
// One file for the runtime's store tests and for these: it uses nothing of
// the runtime crate.
#[path = "../../runtime/src/store/pg_testing.rs"]
pub mod pg_testing;
pub mod soak;

use std::path::PathBuf;
use wasmclaw::clock::SharedClock;
use wasmclaw::{Runtime, RuntimeConfig, TenantId};

/// The directory holding the skills built by this crate's build script.
pub const SKILLS_DIR: &str = env!("WASMCLAW_SKILLS_DIR");

/// The path of the compiled skill `name` (crate name; dashes become
/// underscores as cargo names `cdylib` outputs).
pub fn skill_path(name: &str) -> PathBuf {
    PathBuf::from(SKILLS_DIR).join(format!("{}.wasm", name.replace('-', "_")))
}

/// A runtime on a fresh temporary data directory, with `tweak` applied to
/// the default configuration.
pub fn runtime_with(tweak: impl FnOnce(&mut RuntimeConfig)) -> (tempfile::TempDir, Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    // Small pools keep test processes light.
    config.pool.max_instances = 64;
    tweak(&mut config);
    let rt = Runtime::new(config).expect("runtime");
    (dir, rt)
}

/// A runtime on a fresh temporary data directory, on `clock`.
pub fn runtime_with_clock(clock: SharedClock) -> (tempfile::TempDir, Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = RuntimeConfig::with_data_dir(dir.path().join("data"));
    config.pool.max_instances = 64;
    let rt = Runtime::with_clock(config, clock).expect("runtime");
    (dir, rt)
}

/// A runtime on an existing data directory (to test what survives a restart).
pub fn reopen(data_dir: &std::path::Path, clock: SharedClock) -> Runtime {
    let mut config = RuntimeConfig::with_data_dir(data_dir);
    config.pool.max_instances = 64;
    Runtime::with_clock(config, clock).expect("runtime")
}

/// A runtime with the default configuration on a fresh data directory.
pub fn runtime() -> (tempfile::TempDir, Runtime) {
    runtime_with(|_| {})
}

/// Parses a tenant id that the test knows is valid.
pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

/// The publisher key the tests sign with (one per test process).
pub fn publisher() -> &'static wasmclaw::signing::PublisherKey {
    static KEY: std::sync::OnceLock<wasmclaw::signing::PublisherKey> = std::sync::OnceLock::new();
    KEY.get_or_init(wasmclaw::signing::PublisherKey::generate)
}

/// The manifest of the compiled skill `name`: its `skill.toml` when it has
/// one, else a minimal one for the SDK's default version.
pub fn manifest_text(name: &str) -> String {
    std::fs::read_to_string(skill_path(name).with_extension("toml"))
        .unwrap_or_else(|_| format!("name = \"{name}\"\nversion = \"0.1.0\"\n"))
}

/// The compiled skill `name` with its manifest, packed and signed by `key`.
pub fn package_with(name: &str, key: &wasmclaw::signing::PublisherKey) -> Vec<u8> {
    let component = std::fs::read(skill_path(name)).expect("compiled skill");
    wasmclaw::package::Package::sign(component, manifest_text(name), key).expect("pack").to_bytes()
}

/// The compiled skill `name`, packed and signed by [`publisher`].
pub fn package(name: &str) -> Vec<u8> {
    package_with(name, publisher())
}

/// Trusts [`publisher`] in `rt` as `tests`.
pub fn trust_tests(rt: &Runtime) {
    rt.trust_add("operator", "tests", &publisher().public().to_string()).expect("trust the test key");
}

/// The name of a user's directory inside its tenant's files
/// (`users/<this>`): the user id in hex.
pub fn user_dir_name(user: &str) -> String {
    user.bytes().map(|b| format!("{b:02x}")).collect()
}
