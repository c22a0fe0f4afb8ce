//! The metering service: calls add to an in-memory tally
//! ([`crate::metering::Meter`]), flushed to the database by the gateway;
//! reports merge what is stored with what is pending, priced by the
//! operator's rate card.

use crate::clock::SharedClock;
use crate::config::RateCard;
use crate::error::Error;
use crate::ids::TenantId;
use crate::metering::{Meter, UsageRow};
use crate::records::{Latency, UsageBucket, UsageDelta, UsageTotals};
use crate::store::Db;
use crate::sync::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The tally and the stored usage.
pub(crate) struct MeteringService {
    db: Arc<Db>,
    meter: Meter,
    card: RateCard,
    clock: SharedClock,
    /// Every call's wall time since this process started, every tenant's
    /// (what `/metrics` exports), with their sum in microseconds.
    since_start: Mutex<(Latency, u64)>,
}

impl MeteringService {
    pub(crate) fn new(db: Arc<Db>, card: RateCard, clock: SharedClock) -> Self {
        MeteringService { db, meter: Meter::default(), card, clock, since_start: Mutex::default() }
    }

    /// Adds one call of `skill` for `tenant`, made now.
    pub(crate) fn add(&self, tenant: &TenantId, skill: &str, delta: UsageTotals) {
        {
            let mut all = lock(&self.since_start);
            all.0.record(delta.wall_us);
            all.1 = all.1.saturating_add(delta.wall_us);
        }
        self.meter.add(tenant, skill, self.clock.now(), delta);
    }

    /// Every call's wall time since this process started, and their sum
    /// in microseconds.
    pub(crate) fn latency_since_start(&self) -> (Latency, u64) {
        lock(&self.since_start).clone()
    }

    /// The hours of `tenant` in `[from, to)`: what is stored plus what is
    /// pending, by hour then skill.
    pub(crate) fn series(&self, tenant: &TenantId, from: u64, to: u64) -> Result<Vec<UsageDelta>, Error> {
        let mut merged: BTreeMap<(u64, String), UsageBucket> = BTreeMap::new();
        let pending = self.meter.snapshot(Some(tenant)).into_iter().filter(|d| (from..to).contains(&d.hour));
        for d in self.db.usage_series(tenant, from, to)?.into_iter().chain(pending) {
            merged.entry((d.hour, d.skill)).or_default().merge(&d.bucket);
        }
        Ok(merged
            .into_iter()
            .map(|((hour, skill), bucket)| UsageDelta { tenant: tenant.clone(), skill, hour, bucket })
            .collect())
    }

    /// The rate card's price of `totals`.
    pub(crate) fn cost(&self, totals: &UsageTotals) -> f64 {
        self.card.cost(totals.calls, totals.fuel, totals.wall_us)
    }

    /// Drops a deleted tenant's pending tally.
    pub(crate) fn forget(&self, tenant: &TenantId) {
        self.meter.forget(tenant);
    }

    /// Writes the pending tally to the database in one transaction.
    pub(crate) fn flush(&self) -> Result<(), Error> {
        let deltas = self.meter.take();
        if let Err(e) = self.db.usage_add(&deltas) {
            self.meter.restore(deltas);
            return Err(e.into());
        }
        Ok(())
    }

    /// Usage of one tenant (or every tenant) per skill: what is stored plus
    /// what is pending, priced by the rate card.
    pub(crate) fn usage(&self, tenant: Option<&TenantId>) -> Result<Vec<UsageRow>, Error> {
        let mut merged: BTreeMap<(TenantId, String), UsageTotals> = BTreeMap::new();
        let stored = self.db.usage(tenant)?;
        for (t, s, u) in stored {
            merged.entry((t, s)).or_default().merge(&u);
        }
        for d in self.meter.snapshot(tenant) {
            merged.entry((d.tenant, d.skill)).or_default().merge(&d.bucket.totals);
        }
        let card = &self.card;
        Ok(merged
            .into_iter()
            .map(|((t, skill), totals)| UsageRow {
                tenant: t.to_string(),
                skill,
                cost: card.cost(totals.calls, totals.fuel, totals.wall_us),
                totals,
            })
            .collect())
    }
}
