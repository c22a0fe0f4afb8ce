//! # wasmclaw
//!
//! A multi-tenant agent gateway in which every skill is a WebAssembly
//! component. This crate is the runtime library, with no HTTP server in it;
//! the `wasmclaw-gateway` crate serves it over HTTP and holds the
//! `wasmclaw` binary.
//!
//! - [`runtime::Runtime`] loads skills once ([`skill::Skill`]: compiled,
//!   cached, imports resolved), binds them to tenants ([`skill::BoundSkill`]:
//!   the [`policy::Grant`] of manifest ∩ tenant policy, computed once) and
//!   runs each call ([`call`]) in a fresh instance with the tenant's limits,
//!   its own directory as the only filesystem ([`wasi`]) and host
//!   capabilities scoped to it and checked against the grant ([`caps`]).
//! - [`tenants`], [`auth`], [`installed`] and [`metering`] are what the
//!   gateway manages: tenants, credentials and roles, installed skills and
//!   per-tenant usage.
//! - [`records`] are the plain rows every layer shares; [`store`] is the
//!   only module touching the database.
//! - [`error::Error`] is every way a call can fail.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod auth_cache;
pub mod backup;
pub mod bindings;
pub mod cache;
pub mod call;
pub mod caps;
pub mod channels;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod cron;
pub mod disk_quota;
pub mod engine;
pub mod error;
pub mod host;
pub mod ids;
pub mod installed;
pub mod llm;
pub(crate) mod loader;
pub mod manifest;
pub mod messaging;
pub mod metering;
pub mod origin;
pub mod package;
pub mod permissions;
pub mod policy;
pub mod ratelimit;
pub mod records;
pub mod redact;
pub(crate) mod redactors;
pub mod refusals;
pub mod runtime;
pub mod security;
pub(crate) mod services;
pub mod signing;
pub mod skill;
pub(crate) mod slices;
pub mod store;
pub mod store_location;
pub(crate) mod sync;
pub mod tenant_data;
pub mod tenants;
pub mod tree;
pub mod trust;
pub mod upgrade;
pub mod vault;
pub mod wasi;

pub use call::{Outcome, Usage};
pub use config::{LimitOverrides, Limits, MemoryQuota, RuntimeConfig};
pub use error::Error;
pub use ids::{TenantId, UserId};
pub use runtime::{Call, Runtime};
pub use skill::{BoundSkill, Skill, SkillInfo};
pub use store_location::{StoreLocation, StoreUrl};
