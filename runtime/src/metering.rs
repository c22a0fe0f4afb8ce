//! Metering: per tenant and skill, calls, errors by kind, fuel, wall time
//! and peak memory. Calls add to an in-memory tally ([`Meter`]); the
//! gateway flushes it to the database every few seconds and on shutdown
//! ([`crate::Runtime::flush_usage`]), so a call never waits on a disk write for
//! its metering. A crash loses at most the last interval's tally.

use crate::ids::TenantId;
use crate::records::UsageTotals;
use crate::sync::lock;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    /// The tenant.
    pub tenant: String,
    /// The skill.
    pub skill: String,
    /// The totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
    /// The totals priced by the operator's rate card.
    pub cost: f64,
}

/// The in-memory tally not yet flushed.
#[derive(Default)]
pub(crate) struct Meter {
    pending: Mutex<HashMap<(TenantId, String), UsageTotals>>,
}

impl Meter {
    /// Adds one call.
    pub(crate) fn add(&self, tenant: &TenantId, skill: &str, delta: UsageTotals) {
        let mut map = lock(&self.pending);
        map.entry((tenant.clone(), skill.to_string())).or_default().merge(&delta);
    }

    /// Takes the tally, leaving it empty.
    pub(crate) fn take(&self) -> Vec<(TenantId, String, UsageTotals)> {
        let mut map = lock(&self.pending);
        map.drain().map(|((t, s), u)| (t, s, u)).collect()
    }

    /// Puts a tally back (after a failed flush).
    pub(crate) fn restore(&self, deltas: Vec<(TenantId, String, UsageTotals)>) {
        for (t, s, u) in deltas {
            self.add(&t, &s, u);
        }
    }

    /// A copy of the pending tally of one tenant (or all).
    pub(crate) fn snapshot(&self, tenant: Option<&TenantId>) -> Vec<(TenantId, String, UsageTotals)> {
        let map = lock(&self.pending);
        map.iter()
            .filter(|((t, _), _)| tenant.is_none_or(|want| want == t))
            .map(|((t, s), u)| (t.clone(), s.clone(), u.clone()))
            .collect()
    }

    /// Drops a tenant's pending tally (it was deleted).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        lock(&self.pending).retain(|(t, _), _| t != tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_merges_and_snapshots_per_tenant() {
        let m = Meter::default();
        let a = TenantId::parse("a").unwrap();
        let b = TenantId::parse("b").unwrap();
        m.add(&a, "echo", UsageTotals { calls: 1, fuel: 5, memory_peak_bytes: 10, ..Default::default() });
        m.add(&a, "echo", UsageTotals { calls: 1, fuel: 7, memory_peak_bytes: 4, ..Default::default() });
        m.add(&b, "echo", UsageTotals { calls: 1, ..Default::default() });
        let snap = m.snapshot(Some(&a));
        assert_eq!(snap.len(), 1);
        assert_eq!((snap[0].2.calls, snap[0].2.fuel, snap[0].2.memory_peak_bytes), (2, 12, 10));
        m.forget(&a);
        assert!(m.snapshot(Some(&a)).is_empty());
        assert_eq!(m.take().len(), 1);
        assert!(m.snapshot(None).is_empty());
    }
}
