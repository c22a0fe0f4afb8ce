//! Host capabilities: one module per WIT interface, each of the same shape:
//! a context (its configuration and the call's scope), the generated `Host`
//! trait implemented on that context, an `add_to_linker`, and tests that call
//! the host implementation directly, without WebAssembly.
//!
//! A capability never traps the guest for a refusal: it returns the WIT
//! `error` (`denied`, `invalid`, `limit-exceeded`, …).

pub mod cron;
pub mod http;
pub mod log;
pub mod memory;
pub mod messaging;
pub mod secrets;
