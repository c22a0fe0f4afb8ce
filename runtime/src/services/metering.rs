//! The metering service: calls add to an in-memory tally
//! ([`crate::metering::Meter`]), flushed to the database by the gateway;
//! reports merge what is stored with what is pending, priced by the
//! operator's rate card.

use crate::config::RateCard;
use crate::error::Error;
use crate::ids::TenantId;
use crate::metering::{Meter, UsageRow};
use crate::records::UsageTotals;
use crate::store::Db;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The tally and the stored usage.
pub(crate) struct MeteringService {
    db: Arc<Db>,
    meter: Meter,
    card: RateCard,
}

impl MeteringService {
    pub(crate) fn new(db: Arc<Db>, card: RateCard) -> Self {
        MeteringService { db, meter: Meter::default(), card }
    }

    /// Adds one call of `skill` for `tenant`.
    pub(crate) fn add(&self, tenant: &TenantId, skill: &str, delta: UsageTotals) {
        self.meter.add(tenant, skill, delta);
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
        for (t, s, u) in stored.into_iter().chain(self.meter.snapshot(tenant)) {
            merged.entry((t, s)).or_default().merge(&u);
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
