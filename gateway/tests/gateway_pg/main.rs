//! The gateway suites that exercise the store — tenancy and isolation,
//! the lifecycle of tenants and tokens, memory and secrets, cron and the
//! outbox (through agents and channels), backup and restore, and the
//! crash test — run again with every gateway on a PostgreSQL database of
//! its own (`wasmclaw serve --store`, through `WASMCLAW_STORE`), from the
//! same source as `tests/gateway`; `pg_faults` (only here) adds the
//! faults of the database itself: unreachable, restarted, locked.
//!
//! It needs a server: `WASMCLAW_TEST_PG` (see `scripts/pg-test-cluster.sh`).
//! Without one the binary says "skipped: no PostgreSQL" and exits, except
//! under `CI=true`, where that fails.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// Every gateway this binary starts stores in PostgreSQL.
const ON_POSTGRES: bool = true;

#[path = "../gateway/agents.rs"]
mod agents;
#[path = "../gateway/backup.rs"]
mod backup;
#[path = "../gateway/cluster.rs"]
mod cluster;
#[path = "../gateway/cluster_attacks.rs"]
mod cluster_attacks;
#[path = "../gateway/cluster_clock.rs"]
mod cluster_clock;
#[path = "../gateway/cluster_crash.rs"]
mod cluster_crash;
#[path = "../gateway/cluster_cron.rs"]
mod cluster_cron;
#[path = "../gateway/cluster_delivery_attacks.rs"]
mod cluster_delivery_attacks;
#[path = "../gateway/cluster_drain.rs"]
mod cluster_drain;
#[path = "../gateway/cluster_fakes.rs"]
mod cluster_fakes;
#[path = "../gateway/cluster_faults.rs"]
mod cluster_faults;
#[path = "../gateway/cluster_forward.rs"]
mod cluster_forward;
#[path = "../gateway/cluster_forward_attacks.rs"]
mod cluster_forward_attacks;
#[path = "../gateway/cluster_hop_attacks.rs"]
mod cluster_hop_attacks;
#[path = "../gateway/cluster_leases.rs"]
mod cluster_leases;
#[path = "../gateway/cluster_outbox.rs"]
mod cluster_outbox;
#[path = "../gateway/cluster_replays.rs"]
mod cluster_replays;
#[path = "../gateway/cluster_restore.rs"]
mod cluster_restore;
#[path = "../gateway/cluster_trust_attacks.rs"]
mod cluster_trust_attacks;
#[path = "../gateway/crash/mod.rs"]
mod crash;
// Not every helper is used by the suites run here.
#[allow(dead_code)]
#[path = "../gateway/harness.rs"]
mod harness;
#[path = "../gateway/isolation.rs"]
mod isolation;
#[path = "../gateway/lifecycle.rs"]
mod lifecycle;
#[path = "../gateway/pg_faults.rs"]
mod pg_faults;
#[path = "../gateway/pg_logs.rs"]
mod pg_logs;
#[path = "../gateway/roles.rs"]
mod roles;
#[path = "../gateway/secrets.rs"]
mod secrets;
// Not every part is used by the suites run here.
#[allow(dead_code)]
#[path = "../gateway/webhook.rs"]
mod webhook;
