//! Host capabilities: one module per WIT interface, each of the same shape:
//! a context (its configuration and the call's scope), the generated `Host`
//! trait implemented on that context, an `add_to_linker`, and tests that call
//! the host implementation directly, without WebAssembly.
//!
//! A capability never traps the guest for a refusal: it returns the WIT
//! `error` (`denied`, `invalid`, `limit-exceeded`, …).
//!
//! `cron` and `messaging` are features that span layers (a capability, a
//! worker that runs jobs or delivers messages, a calendar), so each lives
//! in one folder of its own and its capability is `cap.rs` there
//! ([`crate::cron::cap`], [`crate::messaging::cap`]), built on what this
//! module shares ([`CallAudit`], [`FuelDebt`]). They are not re-exported
//! here: this module sits below both.

pub mod http;
pub mod log;
pub mod memory;
pub mod secrets;

use crate::bindings::WitError;
use crate::sync::lock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Fuel every host call costs, whatever it does (a guest→host→guest round
/// trip is about 2 µs, the time of a few thousand guest instructions).
pub const HOST_CALL_FUEL: u64 = 1_000;
/// Fuel per byte a host function reads, scans, writes or returns.
pub const FUEL_PER_BYTE: u64 = 1;
/// Fuel per stored entry a host function visits or returns.
pub const FUEL_PER_ENTRY: u64 = 200;

/// Fuel a call's host functions owe for the work they did, taken from the
/// call's fuel when the host returns to the guest (the store's call hook in
/// `call::new_store`); a debt past the fuel left ends the call `out of
/// fuel`. So a guest cannot buy host work cheaper than its own: a scan of
/// a megabyte costs what the guest would pay to read a megabyte itself.
///
/// Clones share the account. It also holds the fuel the call had when it
/// entered the host, so a host function can bound its work by what the
/// call can still pay for ([`FuelDebt::affordable`]).
#[derive(Debug, Clone)]
pub struct FuelDebt(Arc<DebtInner>);

#[derive(Debug)]
struct DebtInner {
    owed: AtomicU64,
    left: AtomicU64,
}

impl Default for FuelDebt {
    fn default() -> Self {
        FuelDebt(Arc::new(DebtInner { owed: AtomicU64::new(0), left: AtomicU64::new(u64::MAX) }))
    }
}

impl FuelDebt {
    /// Adds `fuel` to what the call owes.
    pub fn charge(&self, fuel: u64) {
        let _ =
            self.0.owed.fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| Some(o.saturating_add(fuel)));
    }

    /// Charges `bytes` at [`FUEL_PER_BYTE`] and `entries` at [`FUEL_PER_ENTRY`].
    pub fn charge_work(&self, bytes: u64, entries: u64) {
        self.charge(
            bytes.saturating_mul(FUEL_PER_BYTE).saturating_add(entries.saturating_mul(FUEL_PER_ENTRY)),
        );
    }

    /// What is owed, leaving nothing owed.
    pub fn take(&self) -> u64 {
        self.0.owed.swap(0, Ordering::AcqRel)
    }

    /// What is owed so far.
    pub fn owed(&self) -> u64 {
        self.0.owed.load(Ordering::Acquire)
    }

    /// Records the fuel the call has as it enters the host.
    pub(crate) fn set_left(&self, fuel: u64) {
        self.0.left.store(fuel, Ordering::Release);
    }

    /// Fuel the call can still pay for this host call (unbounded outside a
    /// store, as in unit tests).
    pub fn affordable(&self) -> u64 {
        self.0.left.load(Ordering::Acquire).saturating_sub(self.owed())
    }

    /// Bytes the call can still pay to have scanned.
    pub fn affordable_bytes(&self) -> usize {
        usize::try_from(self.affordable() / FUEL_PER_BYTE.max(1)).unwrap_or(usize::MAX)
    }
}

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
        let mut v = lock(&self.0);
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
        std::mem::take(&mut *lock(&self.0))
    }
}
