//! Usage records: the totals of one tenant's skill ([`UsageTotals`]).
//! Counting and pricing them is [`crate::metering`]'s.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Usage totals of one tenant's skill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageTotals {
    /// Calls, successful or not.
    pub calls: u64,
    /// Failed calls by error kind (`trap`, `out-of-fuel`, …).
    pub errors: BTreeMap<String, u64>,
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time, microseconds.
    pub wall_us: u64,
    /// The most linear memory one call held, bytes.
    pub memory_peak_bytes: u64,
}

impl UsageTotals {
    /// Adds `other` to these totals (the peak is the larger of the two).
    pub fn merge(&mut self, other: &UsageTotals) {
        self.calls += other.calls;
        for (kind, n) in &other.errors {
            *self.errors.entry(kind.clone()).or_default() += n;
        }
        self.fuel += other.fuel;
        self.wall_us += other.wall_us;
        self.memory_peak_bytes = self.memory_peak_bytes.max(other.memory_peak_bytes);
    }
}
