//! Metering: per tenant, skill and hour, calls, errors by kind, fuel, wall
//! time, peak memory and a histogram of the calls' wall times. Calls add
//! to an in-memory tally ([`Meter`]); the
//! gateway flushes it to the database every few seconds and on shutdown
//! ([`crate::Runtime::flush_usage`]), so a call never waits on a disk write for
//! its metering. A crash loses at most the last interval's tally.

use crate::ids::TenantId;
use crate::records::{UsageBucket, UsageDelta, UsageTotals};
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

/// The in-memory tally not yet flushed, by tenant, skill and hour.
#[derive(Default)]
pub(crate) struct Meter {
    pending: Mutex<HashMap<(TenantId, String, u64), UsageBucket>>,
}

/// The start of the hour of `at` (Unix seconds).
pub(crate) fn hour_of(at: u64) -> u64 {
    at - at % 3600
}

impl Meter {
    /// Adds one call, made at `at` (Unix seconds): its totals, and its wall
    /// time to the hour's histogram.
    pub(crate) fn add(&self, tenant: &TenantId, skill: &str, at: u64, delta: UsageTotals) {
        let mut bucket = UsageBucket::default();
        bucket.latency.record(delta.wall_us);
        bucket.totals = delta;
        self.merge(UsageDelta {
            tenant: tenant.clone(),
            skill: skill.to_string(),
            hour: hour_of(at),
            bucket,
        });
    }

    fn merge(&self, d: UsageDelta) {
        let mut map = lock(&self.pending);
        map.entry((d.tenant, d.skill, d.hour)).or_default().merge(&d.bucket);
    }

    /// Takes the tally, leaving it empty.
    pub(crate) fn take(&self) -> Vec<UsageDelta> {
        let mut map = lock(&self.pending);
        map.drain()
            .map(|((tenant, skill, hour), bucket)| UsageDelta { tenant, skill, hour, bucket })
            .collect()
    }

    /// Puts a tally back (after a failed flush).
    pub(crate) fn restore(&self, deltas: Vec<UsageDelta>) {
        for d in deltas {
            self.merge(d);
        }
    }

    /// A copy of the pending tally of one tenant (or all).
    pub(crate) fn snapshot(&self, tenant: Option<&TenantId>) -> Vec<UsageDelta> {
        let map = lock(&self.pending);
        map.iter()
            .filter(|((t, _, _), _)| tenant.is_none_or(|want| want == t))
            .map(|((t, s, h), b)| UsageDelta {
                tenant: t.clone(),
                skill: s.clone(),
                hour: *h,
                bucket: b.clone(),
            })
            .collect()
    }

    /// Drops a tenant's pending tally (it was deleted).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        lock(&self.pending).retain(|(t, _, _), _| t != tenant);
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
        let call = |fuel, peak, wall_us| UsageTotals {
            calls: 1,
            fuel,
            memory_peak_bytes: peak,
            wall_us,
            ..Default::default()
        };
        m.add(&a, "echo", 7200, call(5, 10, 300));
        m.add(&a, "echo", 7200 + 3599, call(7, 4, 90));
        m.add(&a, "echo", 7200 + 3600, call(1, 1, 90));
        m.add(&b, "echo", 7200, call(0, 0, 0));
        let mut snap = m.snapshot(Some(&a));
        snap.sort_by_key(|d| d.hour);
        assert_eq!(snap.iter().map(|d| d.hour).collect::<Vec<_>>(), [7200, 10800], "one bucket per hour");
        let first = &snap[0].bucket;
        assert_eq!((first.totals.calls, first.totals.fuel, first.totals.memory_peak_bytes), (2, 12, 10));
        assert_eq!((first.latency.count(), first.latency.quantile(0.5)), (2, Some(100)), "90 µs and 300 µs");
        m.forget(&a);
        assert!(m.snapshot(Some(&a)).is_empty());
        let taken = m.take();
        assert_eq!(taken.len(), 1);
        m.restore(taken.clone());
        m.restore(taken);
        assert_eq!(m.snapshot(None)[0].bucket.latency.count(), 2, "restored, not recorded again");
        m.take();
        assert!(m.snapshot(None).is_empty());
    }
}
