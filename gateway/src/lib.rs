//! # wasmclaw-gateway
//!
//! The HTTP face of wasmclaw: a thin axum layer over the runtime library
//! ([`wasmclaw::Runtime`]), which has no HTTP in it. [`server::run`] serves
//! a listener until a shutdown future resolves (testable on port 0), the
//! way tokio's mini-redis does.
//!
//! - [`state::Gateway`]: what handlers share (the runtime, the draining flag).
//! - `auth`: the credential extractor ([`auth::Principal`]) and the role checks.
//! - `error`: one error type turned into `{"error":{"code","message"}}`.
//! - [`listener`]: the accept loop (header-read timeout, connection cap).
//! - `routes`: one module per resource, each handler a few lines over the runtime.
//! - [`openapi`], [`metrics`]: the API description and the Prometheus text.
//! - [`dashboard`]: the web dashboard at `/ui` (server-rendered pages over
//!   the same handlers).

pub mod auth;
pub mod dashboard;
pub mod error;
pub mod findings;
pub mod forward;
pub mod listener;
pub mod metrics;
pub mod openapi;
mod routes;
pub mod server;
pub mod state;

pub use server::run;
pub use state::Gateway;
