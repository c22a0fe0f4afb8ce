//! A tenant's usage as a time series (`GET …/usage/series`): per hour or
//! per UTC day and skill, the calls, errors by kind, fuel, wall time and
//! cost, and the p50/p95/p99 wall time read from the bucket's histogram.
//! Built from the stored hours ([`crate::records::SERIES_KEEP_HOURS`] of
//! them are kept) and what is pending, so a call shows at once.

use crate::error::Error;
use crate::ids::TenantId;
use crate::records::{SERIES_KEEP_HOURS, UsageBucket};
use crate::runtime::Runtime;
use serde::Serialize;
use std::collections::BTreeMap;

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
/// The latest time a series may name: the end of the year 9999.
pub const MAX_TIME: u64 = 253_402_300_799;

/// The width of a series' buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// An hour.
    Hour,
    /// A UTC day.
    Day,
}

impl Step {
    /// `hour` or `day`.
    pub fn parse(s: &str) -> Result<Step, Error> {
        match s {
            "hour" => Ok(Step::Hour),
            "day" => Ok(Step::Day),
            _ => Err(Error::InvalidInput(format!("step {s:?}: use hour or day"))),
        }
    }

    fn seconds(self) -> u64 {
        match self {
            Step::Hour => HOUR,
            Step::Day => DAY,
        }
    }

    /// The longest span one series covers: 31 days by the hour (744
    /// buckets), every day kept by the day.
    pub fn max_span(self) -> u64 {
        match self {
            Step::Hour => 31 * DAY,
            Step::Day => SERIES_KEEP_HOURS * HOUR,
        }
    }

    /// The span when `since` is not given: a day by the hour, 30 days by
    /// the day.
    fn default_span(self) -> u64 {
        match self {
            Step::Hour => DAY,
            Step::Day => 30 * DAY,
        }
    }
}

/// A series: its buckets' width, the span it covers, its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The buckets' width.
    pub step: Step,
    /// The first bucket's start, Unix seconds.
    pub since: u64,
    /// The end of the last bucket (exclusive), Unix seconds.
    pub until: u64,
    /// One row per bucket and skill that had calls, by start then skill.
    pub rows: Vec<SeriesRow>,
}

/// One skill in one bucket.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesRow {
    /// The bucket's start, Unix seconds.
    pub start: u64,
    /// The skill.
    pub skill: String,
    /// Calls, successful or not.
    pub calls: u64,
    /// Failed calls by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time, microseconds.
    pub wall_us: u64,
    /// The totals priced by the rate card.
    pub cost: f64,
    /// The median call's wall time, microseconds (from the histogram:
    /// interpolated within its bucket).
    pub p50_us: Option<u64>,
    /// The 95th percentile, microseconds.
    pub p95_us: Option<u64>,
    /// The 99th percentile, microseconds.
    pub p99_us: Option<u64>,
}

impl Runtime {
    /// The usage series of `tenant` by `step`, over `[since, until)` (Unix
    /// seconds, widened to whole buckets; by default the last day by the
    /// hour or the last 30 days by the day), of one skill or all.
    pub fn usage_series(
        &self,
        tenant: &TenantId,
        step: Step,
        since: Option<u64>,
        until: Option<u64>,
        skill: Option<&str>,
    ) -> Result<Series, Error> {
        self.tenant(tenant)?;
        if let Some(s) = skill.filter(|s| !crate::manifest::valid_skill_name(s)) {
            return Err(Error::InvalidInput(format!("skill {s:?}: not a skill name")));
        }
        let width = step.seconds();
        let until = until.unwrap_or_else(|| self.now().saturating_add(1));
        let since = since.unwrap_or_else(|| until.saturating_sub(step.default_span()));
        if since > MAX_TIME || until > MAX_TIME {
            return Err(Error::InvalidInput(format!(
                "since and until are Unix seconds, at most {MAX_TIME} (the end of 9999)"
            )));
        }
        if since >= until {
            return Err(Error::InvalidInput(format!("since ({since}) must be before until ({until})")));
        }
        let from = since - since % width;
        let to = (until - 1) - (until - 1) % width + width;
        if to - from > step.max_span() {
            return Err(Error::InvalidInput(format!(
                "a series by the {} covers at most {} days: narrow since and until",
                if step == Step::Hour { "hour" } else { "day" },
                step.max_span() / DAY
            )));
        }
        let mut buckets: BTreeMap<(u64, String), UsageBucket> = BTreeMap::new();
        for d in self.inner.metering.series(tenant, from, to)? {
            if skill.is_some_and(|s| s != d.skill) {
                continue;
            }
            let start = d.hour - d.hour % width;
            buckets.entry((start, d.skill)).or_default().merge(&d.bucket);
        }
        let rows = buckets
            .into_iter()
            .map(|((start, skill), b)| SeriesRow {
                start,
                skill,
                cost: self.inner.metering.cost(&b.totals),
                calls: b.totals.calls,
                fuel: b.totals.fuel,
                wall_us: b.totals.wall_us,
                p50_us: b.latency.quantile(0.50),
                p95_us: b.latency.quantile(0.95),
                p99_us: b.latency.quantile(0.99),
                errors: b.totals.errors,
            })
            .collect();
        Ok(Series { step, since: from, until: to, rows })
    }

    /// Every call's wall time since this process started, every tenant's
    /// (what `/metrics` exports as a histogram), and their sum in
    /// microseconds.
    pub fn call_latency(&self) -> (crate::records::Latency, u64) {
        self.inner.metering.latency_since_start()
    }
}
