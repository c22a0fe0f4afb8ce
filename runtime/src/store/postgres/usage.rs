//! Metered usage, added in batches of deltas ([`PgBackend::usage_add`]) in
//! one transaction: `usage(tenant, skill, totals)` and
//! `usage_hours(tenant, key, bucket)` (JSON), the key `hour \0 skill` as
//! on redb (the hour's start as 16 decimal digits).

use super::{PgBackend, StoreError, merge_row};
use crate::ids::TenantId;
use crate::records::{SERIES_KEEP_HOURS, UsageBucket, UsageDelta, UsageTotals};
use crate::store::{split_usage_hour, usage_hour_key};

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored usage is corrupt: {e}")))
}

impl PgBackend {
    /// Adds each delta to its `(tenant, skill)` totals and its hour, in one
    /// durable transaction, dropping each tenant's hours past keeping.
    pub fn usage_add(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut newest: std::collections::BTreeMap<String, u64> = Default::default();
        for d in deltas {
            let n = newest.entry(d.tenant.to_string()).or_default();
            *n = (*n).max(d.hour);
        }
        let deltas: Vec<(String, Vec<u8>, Vec<u8>, UsageBucket)> = deltas
            .iter()
            .map(|d| {
                let key = usage_hour_key(d.hour, Some(&d.skill));
                (d.tenant.to_string(), d.skill.as_bytes().to_vec(), key, d.bucket.clone())
            })
            .collect();
        self.transact(move |tx| {
            Box::pin(async move {
                for (tenant, skill, key, delta) in &deltas {
                    let merge = |t: &mut UsageTotals| t.merge(&delta.totals);
                    merge_row(tx, ("usage", "skill", "totals"), tenant, skill, merge).await?;
                    let merge = |b: &mut UsageBucket| b.merge(delta);
                    merge_row(tx, ("usage_hours", "key", "bucket"), tenant, key, merge).await?;
                }
                let stmt =
                    tx.prepare_cached("DELETE FROM usage_hours WHERE tenant = $1 AND key < $2").await?;
                for (tenant, hour) in &newest {
                    let before = usage_hour_key(hour.saturating_sub(SERIES_KEEP_HOURS * 3600), None);
                    tx.execute(&stmt, &[tenant, &before]).await?;
                }
                Ok(())
            })
        })
    }

    /// A tenant's stored hours in `[from, to)`, by hour then skill.
    pub fn usage_series(&self, tenant: &TenantId, from: u64, to: u64) -> Result<Vec<UsageDelta>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let (t, id) = (tenant.clone(), tenant.to_string());
        let (start, end) = (usage_hour_key(from, None), usage_hour_key(to, None));
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT key, bucket FROM usage_hours WHERE tenant = $1 AND key >= $2 AND key < $3 \
                         ORDER BY key",
                    )
                    .await?;
                let mut out = Vec::new();
                for row in c.query(&stmt, &[&id, &start, &end]).await? {
                    // As redb: a row whose key does not read is skipped.
                    let Some((hour, skill)) = split_usage_hour(row.get(0)) else { continue };
                    out.push(UsageDelta { tenant: t.clone(), skill, hour, bucket: decode(row.get(1))? });
                }
                Ok(out)
            })
        })
    }

    /// Stored totals of one tenant (or every tenant), as `(tenant, skill,
    /// totals)` sorted by tenant then skill.
    pub fn usage(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, UsageTotals)>, StoreError> {
        let tenant = tenant.map(TenantId::to_string);
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = match &tenant {
                    Some(t) => {
                        let stmt = c
                            .prepare_cached(
                                "SELECT tenant, skill, totals FROM usage WHERE tenant = $1 ORDER BY skill",
                            )
                            .await?;
                        c.query(&stmt, &[t]).await?
                    }
                    None => {
                        let stmt = c
                            .prepare_cached("SELECT tenant, skill, totals FROM usage ORDER BY tenant, skill")
                            .await?;
                        c.query(&stmt, &[]).await?
                    }
                };
                let mut out = Vec::new();
                for row in rows {
                    // As redb: a row whose tenant or skill does not read as
                    // such is skipped.
                    let (Ok(t), Ok(skill)) = (TenantId::parse(row.get(0)), std::str::from_utf8(row.get(1)))
                    else {
                        continue;
                    };
                    out.push((t, skill.to_string(), decode(row.get(2))?));
                }
                Ok(out)
            })
        })
    }
}
