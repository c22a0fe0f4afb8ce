//! The gateway end to end, against the specification (docs/api.md and
//! docs/cli.md): the real `wasmclaw serve` binary on `127.0.0.1:0`, driven
//! over HTTP and through the real `wasmclaw` CLI.
//!
//! - `harness`: starting, stopping and restarting the binary; the HTTP and
//!   CLI helpers; fixtures.
//! - `roles`: what each credential (operator, admin, member, guest) may and
//!   may not do on every route.
//! - `isolation`: tenant A's tokens on every route of tenant B.
//! - `lifecycle`: suspend/resume, delete, token rotation and revocation,
//!   the policy overlay, a restart.
//! - `cli`: the remote commands against a running gateway.
//! - `bad_input`: a table of malformed, hostile and oversized requests.
//! - `packages`: signed packages, trust, upgrades and the offline skill
//!   commands.
//! - `ops`: `/healthz`, `/readyz`, `/openapi.json`, `/metrics`, the
//!   listening line and the admin key.
//! - `outbox`: a tenant's outbox by state, its paging and its isolation.
//! - `backup`: backup and restore, through the API and the CLI.
//! - `secrets`: what skills wrote comes back scrubbed of secret values.
//! - `migrate`: `store migrate` from a stopped gateway's redb into
//!   PostgreSQL, and the gateway started again on it.
//! - `crash`: SIGKILL at random moments under acknowledged writes, a
//!   restart on the same data directory, every write whole or absent.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// This binary runs every gateway on the embedded redb store
/// (`gateway_pg` runs the store-heavy suites again on PostgreSQL).
const ON_POSTGRES: bool = false;

mod agents;
mod backup;
mod bad_input;
mod boundary_attacks;
mod cli;
mod crash;
mod cron_runs;
mod dashboard;
mod harness;
mod isolation;
mod lifecycle;
mod migrate;
mod ops;
mod outbox;
mod outbox_attacks;
mod packages;
mod roles;
mod secrets;
mod series_attacks;
mod slow_clients;
mod summary;
mod summary_attacks;
mod usage_series;
// Not every part is used by the suites run here.
#[allow(dead_code)]
mod webhook;
