//! The services the runtime is composed of: each owns its handles (the
//! database, the clock, its caches) and offers a narrow API; the
//! [`crate::runtime::Runtime`] builds them once and hands its public
//! methods on to them.
//!
//! - [`recorder`]: the audit trail every service writes (events, and
//!   refusals throttled per stream).
//! - [`tokens`]: the admin key and tenant tokens, and the cache of valid ones.
//! - [`trust`]: the trusted publisher keys, held in memory.
//! - [`skills`]: installs, the skills bound to tenants, the loaded skills shared.
//! - [`metering`]: the per-call tally and the stored usage.
//! - [`tenants`]: the tenants, and their slots in memory.
//! - [`secrets`]: the tenants' sealed secrets and the redactors of their values.

pub(crate) mod metering;
pub(crate) mod recorder;
pub(crate) mod secrets;
pub(crate) mod skills;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod trust;
