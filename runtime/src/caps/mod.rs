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

use crate::bindings::WitError;
use std::sync::{Arc, Mutex};

/// The capability denials of one call. Each capability notes its refusals
/// here; the runtime audits them when the call ends (`capability.denied`).
#[derive(Debug, Default, Clone)]
pub struct Denials(Arc<Mutex<Vec<String>>>);

/// Denials kept per call (the rest are counted in the last one).
const MAX_DENIALS: usize = 16;

impl Denials {
    /// Notes a refusal of `cap` with `reason`.
    pub fn note(&self, cap: &str, reason: &str) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < MAX_DENIALS {
            v.push(format!("{cap}: {}", reason.chars().take(200).collect::<String>()));
        }
    }

    /// Passes `r` on, noting it if it is a denial of `cap`.
    pub fn check<T>(&self, cap: &str, r: Result<T, WitError>) -> Result<T, WitError> {
        if let Err(WitError::Denied(reason)) = &r {
            self.note(cap, reason);
        }
        r
    }

    /// The refusals noted so far, leaving none.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
