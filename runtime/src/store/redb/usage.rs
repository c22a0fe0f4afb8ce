//! Metered usage, added in batches of deltas ([`Db::usage_add`]) in one
//! transaction:
//! - `usage`: `tenant \0 skill` → totals (JSON);
//! - `usage_hours`: `tenant \0 hour \0 skill` → the hour's bucket (JSON),
//!   the hour's start as 16 decimal digits, so a tenant's hours are one
//!   range in time order.

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::records::{SERIES_KEEP_HOURS, UsageBucket, UsageDelta, UsageTotals};
use crate::store::{StoreError, split_usage_hour, usage_hour_key};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const USAGE: TableDefinition<&[u8], &str> = TableDefinition::new("usage");
const USAGE_HOURS: TableDefinition<&[u8], &str> = TableDefinition::new("usage_hours");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(USAGE)?;
    txn.open_table(USAGE_HOURS)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    remove_prefixed(&mut txn.open_table(USAGE)?, &tenant_prefix(tenant))?;
    remove_prefixed(&mut txn.open_table(USAGE_HOURS)?, &tenant_prefix(tenant))?;
    Ok(())
}

/// `tenant \0 hour`: where a tenant's hour starts in `usage_hours`.
fn hour_prefix(tenant: &TenantId, hour: u64) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend(usage_hour_key(hour, None));
    k
}

/// The key of a tenant's skill in an hour.
fn hour_key(tenant: &TenantId, hour: u64, skill: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend(usage_hour_key(hour, Some(skill)));
    k
}

/// Removes a tenant's hours before `before`.
fn prune(
    table: &mut redb::Table<'_, &'static [u8], &'static str>,
    tenant: &TenantId,
    before: u64,
) -> Result<(), StoreError> {
    let (from, to) = (tenant_prefix(tenant), hour_prefix(tenant, before));
    let old: Vec<Vec<u8>> = table
        .range(from.as_slice()..to.as_slice())?
        .map(|item| item.map(|(k, _)| k.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for k in &old {
        table.remove(k.as_slice())?;
    }
    Ok(())
}

fn key(tenant: &TenantId, skill: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(skill.as_bytes());
    k
}

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored usage is corrupt: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(e.to_string()))
}

impl RedbBackend {
    /// Adds each delta to its `(tenant, skill)` totals and its hour, in one
    /// durable transaction, dropping each tenant's hours past keeping.
    pub(super) fn usage_add(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(USAGE)?;
            let mut hours = txn.open_table(USAGE_HOURS)?;
            let mut newest: std::collections::BTreeMap<&TenantId, u64> = Default::default();
            for d in deltas {
                let k = key(&d.tenant, &d.skill);
                let mut totals = match table.get(k.as_slice())? {
                    Some(v) => decode(v.value())?,
                    None => UsageTotals::default(),
                };
                totals.merge(&d.bucket.totals);
                table.insert(k.as_slice(), encode(&totals)?.as_str())?;
                let k = hour_key(&d.tenant, d.hour, &d.skill);
                let mut bucket: UsageBucket = match hours.get(k.as_slice())? {
                    Some(v) => decode(v.value())?,
                    None => UsageBucket::default(),
                };
                bucket.merge(&d.bucket);
                hours.insert(k.as_slice(), encode(&bucket)?.as_str())?;
                let n = newest.entry(&d.tenant).or_default();
                *n = (*n).max(d.hour);
            }
            for (tenant, hour) in newest {
                prune(&mut hours, tenant, hour.saturating_sub(SERIES_KEEP_HOURS * 3600))?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// A tenant's stored hours in `[from, to)`, by hour then skill.
    pub(super) fn usage_series(
        &self,
        tenant: &TenantId,
        from: u64,
        to: u64,
    ) -> Result<Vec<UsageDelta>, StoreError> {
        let (start, end) = (hour_prefix(tenant, from), hour_prefix(tenant, to));
        if start >= end {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USAGE_HOURS)?;
        let prefix_len = tenant_prefix(tenant).len();
        let mut out = Vec::new();
        for item in table.range(start.as_slice()..end.as_slice())? {
            let (k, v) = item?;
            let rest = &k.value()[prefix_len..];
            // As the totals: a row whose key does not read is skipped.
            let Some((hour, skill)) = split_usage_hour(rest) else { continue };
            out.push(UsageDelta { tenant: tenant.clone(), skill, hour, bucket: decode(v.value())? });
        }
        Ok(out)
    }

    /// Stored totals of one tenant (or every tenant), as `(tenant, skill,
    /// totals)` sorted by tenant then skill.
    pub(super) fn usage(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, UsageTotals)>, StoreError> {
        let prefix = tenant.map(tenant_prefix).unwrap_or_default();
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USAGE)?;
        let mut out = Vec::new();
        for item in table.range(prefix.as_slice()..)? {
            let (k, v) = item?;
            let k = k.value();
            if !k.starts_with(&prefix) {
                break;
            }
            let Some(sep) = k.iter().position(|b| *b == 0) else { continue };
            let (Ok(t), Ok(skill)) = (std::str::from_utf8(&k[..sep]), std::str::from_utf8(&k[sep + 1..]))
            else {
                continue;
            };
            let Ok(t) = TenantId::parse(t) else { continue };
            out.push((t, skill.to_string(), decode(v.value())?));
        }
        Ok(out)
    }
}
