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

/// What a call's capabilities did that the audit log must hold: their
/// refusals (`capability.denied`, `files.quota`) and the state they changed
/// (`cron.add`).
/// The runtime writes them when the call ends, so the capability modules
/// keep no handle on the log.
#[derive(Debug, Default, Clone)]
pub struct CallAudit(Arc<Mutex<Vec<AuditNote>>>);

/// One note: an action, its target and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditNote {
    /// E.g. `capability.denied`, `cron.add`.
    pub action: &'static str,
    /// What it concerns (names, never values).
    pub target: String,
    /// `denied`, `ok`.
    pub outcome: &'static str,
}

/// Notes kept per call.
const MAX_NOTES: usize = 32;

impl CallAudit {
    fn push(&self, note: AuditNote) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < MAX_NOTES {
            v.push(note);
        }
    }

    /// Notes a refusal of `cap` with `reason`.
    pub fn denied(&self, cap: &str, reason: &str) {
        let target = format!("{cap}: {}", reason.chars().take(200).collect::<String>());
        self.push(AuditNote { action: "capability.denied", target, outcome: "denied" });
    }

    /// Notes a refusal by a quota: `action` (e.g. `files.quota`) with
    /// `target` saying which limit.
    pub fn limited(&self, action: &'static str, target: &str) {
        self.push(AuditNote { action, target: target.to_string(), outcome: "limit-exceeded" });
    }

    /// Notes a state change.
    pub fn changed(&self, action: &'static str, target: &str) {
        self.push(AuditNote { action, target: target.to_string(), outcome: "ok" });
    }

    /// Passes `r` on, noting it if it is a denial of `cap`.
    pub fn check<T>(&self, cap: &str, r: Result<T, WitError>) -> Result<T, WitError> {
        if let Err(WitError::Denied(reason)) = &r {
            self.denied(cap, reason);
        }
        r
    }

    /// The notes so far, leaving none.
    pub fn take(&self) -> Vec<AuditNote> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
