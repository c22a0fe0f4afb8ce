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

/// How many hours of a tenant's usage series are kept: 62 days.
pub const SERIES_KEEP_HOURS: u64 = 62 * 24;

/// The upper bounds of the latency histogram's buckets, microseconds; one
/// more bucket counts what is slower than the last.
pub const LATENCY_BOUNDS_US: [u64; 18] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000, 30_000_000, 60_000_000,
];

/// A histogram of call wall times: counts per bucket of
/// [`LATENCY_BOUNDS_US`] (and the overflow bucket last). Empty until a
/// call is recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Latency(Vec<u64>);

impl Latency {
    /// Counts one call of `wall_us`.
    pub fn record(&mut self, wall_us: u64) {
        let i = LATENCY_BOUNDS_US.iter().position(|b| wall_us <= *b).unwrap_or(LATENCY_BOUNDS_US.len());
        self.grow();
        self.0[i] += 1;
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Latency) {
        if other.0.is_empty() {
            return;
        }
        self.grow();
        for (i, n) in other.0.iter().enumerate().take(LATENCY_BOUNDS_US.len() + 1) {
            self.0[i] = self.0[i].saturating_add(*n);
        }
    }

    fn grow(&mut self) {
        self.0.resize(LATENCY_BOUNDS_US.len() + 1, 0);
    }

    /// The count of each bucket with its upper bound, the overflow
    /// bucket's bound `None`.
    pub fn buckets(&self) -> Vec<(Option<u64>, u64)> {
        (0..=LATENCY_BOUNDS_US.len())
            .map(|i| (LATENCY_BOUNDS_US.get(i).copied(), self.0.get(i).copied().unwrap_or(0)))
            .collect()
    }

    /// The calls counted.
    pub fn count(&self) -> u64 {
        self.0.iter().take(LATENCY_BOUNDS_US.len() + 1).fold(0, |a, n| a.saturating_add(*n))
    }

    /// The `q` quantile (0 < q ≤ 1) in microseconds, interpolated within
    /// its bucket as Prometheus's `histogram_quantile` does (a call in the
    /// overflow bucket reads as the last bound); `None` with no calls.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut below = 0u64;
        let mut lower = 0u64;
        // Saturating, as the count: a stored histogram (a restored backup,
        // say) may hold counts that overflow when added up.
        for (i, n) in self.0.iter().enumerate().take(LATENCY_BOUNDS_US.len() + 1) {
            let Some(&upper) = LATENCY_BOUNDS_US.get(i) else { return Some(lower) };
            if *n > 0 && below.saturating_add(*n) as f64 >= rank {
                let within = ((rank - below as f64) / *n as f64).clamp(0.0, 1.0);
                return Some(lower + ((upper - lower) as f64 * within).round() as u64);
            }
            below = below.saturating_add(*n);
            lower = upper;
        }
        Some(lower)
    }
}

/// One hour of one tenant's skill: its totals and the latency histogram
/// of its calls (a usage series' bucket).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UsageBucket {
    /// The hour's totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
    /// The wall times of its calls.
    pub latency: Latency,
}

impl UsageBucket {
    /// Adds `other` to this bucket.
    pub fn merge(&mut self, other: &UsageBucket) {
        self.totals.merge(&other.totals);
        self.latency.merge(&other.latency);
    }
}

/// One call's usage (or a tally of calls) to add: a tenant's skill in the
/// hour starting at `hour` (Unix seconds, a multiple of 3600).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    /// The tenant.
    pub tenant: crate::ids::TenantId,
    /// The skill.
    pub skill: String,
    /// The hour's start, Unix seconds.
    pub hour: u64,
    /// What to add.
    pub bucket: UsageBucket,
}

impl UsageDelta {
    /// `totals` to add to `tenant`'s `skill` in the hour starting at `hour`
    /// (no latency recorded).
    pub fn of(tenant: &crate::ids::TenantId, skill: &str, hour: u64, totals: UsageTotals) -> UsageDelta {
        let bucket = UsageBucket { totals, latency: Latency::default() };
        UsageDelta { tenant: tenant.clone(), skill: skill.to_string(), hour, bucket }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_counts_each_call_in_its_bucket_and_reads_quantiles() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), None);
        for us in [50, 100, 101, 900, 2_000_000] {
            l.record(us);
        }
        l.record(u64::MAX);
        assert_eq!(l.count(), 6);
        let b = l.buckets();
        assert_eq!(b.len(), LATENCY_BOUNDS_US.len() + 1);
        assert_eq!(b[0], (Some(100), 2), "≤ 100 µs: 50 and 100");
        assert_eq!(b[1], (Some(250), 1));
        assert_eq!(b[3], (Some(1_000), 1));
        assert_eq!(b[13], (Some(2_500_000), 1));
        assert_eq!(b.last(), Some(&(None, 1)));
        // Rank 3 of 6 is the one call in (100, 250]: its upper bound.
        assert_eq!(l.quantile(0.5), Some(250));
        // The slowest is in the overflow bucket: it reads as the last bound.
        assert_eq!(l.quantile(1.0), Some(60_000_000));
        let mut m = Latency::default();
        m.merge(&l);
        m.merge(&l);
        assert_eq!(m.count(), 12);
        assert_eq!(m.quantile(0.5), Some(250));
    }

    #[test]
    fn a_bucket_is_stored_as_its_totals_and_its_histogram() {
        let mut b = UsageBucket::default();
        b.totals.calls = 1;
        b.latency.record(700);
        let json = serde_json::to_value(&b).unwrap();
        assert_eq!(json["calls"], 1);
        assert_eq!(json["latency"][3], 1, "{json}");
        let back: UsageBucket = serde_json::from_value(json).unwrap();
        assert_eq!(back, b);
        // A stored bucket with a longer histogram than this build's: the
        // extra counts are not read past the overflow bucket.
        let long: UsageBucket =
            serde_json::from_str(r#"{"calls":1,"latency":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,5]}"#)
                .unwrap();
        let mut merged = UsageBucket::default();
        merged.merge(&long);
        assert_eq!(merged.latency.count(), 1);
    }
}
