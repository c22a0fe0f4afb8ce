//! Dumps on redb: a tenant's rows of every family of
//! [`crate::store::dump::FAMILIES`], exported in one read transaction and
//! imported in one write transaction.
//!
//! Most families are a table of the same name keyed `tenant \0 key`; the
//! tenant record, policy and data key are keyed by the tenant, and cron
//! jobs by their id (found through the owner index). The derived tables
//! (memory usage, the cron and outbox due indexes) are rebuilt on import.

use super::{RedbBackend, tenant_prefix};
use crate::ids::TenantId;
use crate::store::StoreError;
use crate::store::dump::{Bytes, FAMILIES, Family, TenantRows, Values, outbox_head};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::collections::BTreeMap;

const TENANTS: TableDefinition<&str, &str> = TableDefinition::new("tenants");
const POLICIES: TableDefinition<&str, &str> = TableDefinition::new("policies");
const TENANT_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenant_keys");
const MEMORY_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("memory_usage");
const CRON_JOBS: TableDefinition<&str, &str> = TableDefinition::new("cron_jobs");
const CRON_DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("cron_due");
const CRON_OWNER: TableDefinition<&[u8], ()> = TableDefinition::new("cron_owner");
const OUTBOX_DUE: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("outbox_due");

/// The tables that follow from a tenant's rows, rebuilt on import.
#[cfg(test)]
const DERIVED: [&str; 4] = ["memory_usage", "cron_due", "cron_owner", "outbox_due"];

/// The redb table that holds `family`.
fn table_of(family: &str) -> &str {
    match family {
        "tenant" => "tenants",
        "policy" => "policies",
        "data_key" => "tenant_keys",
        name => name,
    }
}

fn bytes_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static [u8]> {
    TableDefinition::new(name)
}

fn text_table(name: &str) -> TableDefinition<'_, &'static [u8], &'static str> {
    TableDefinition::new(name)
}

/// The rows of `table` whose keys start with `prefix`, the prefix cut off.
fn prefixed_rows<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static [u8], V>,
    prefix: &[u8],
    value: impl Fn(V::SelfType<'_>) -> Vec<u8>,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let mut out = Vec::new();
    for item in table.range(prefix..)? {
        let (k, v) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((Bytes(k.value()[prefix.len()..].to_vec()), Bytes(value(v.value()))));
    }
    Ok(out)
}

fn one(v: Option<Vec<u8>>) -> Vec<(Bytes, Bytes)> {
    v.map(|v| vec![(Bytes::default(), Bytes(v))]).unwrap_or_default()
}

fn export_family(
    txn: &ReadTransaction,
    tenant: &TenantId,
    f: &Family,
) -> Result<Vec<(Bytes, Bytes)>, StoreError> {
    let id = tenant.as_str();
    let prefix = tenant_prefix(tenant);
    Ok(match f.name {
        "tenant" => one(txn.open_table(TENANTS)?.get(id)?.map(|v| v.value().as_bytes().to_vec())),
        "policy" => one(txn.open_table(POLICIES)?.get(id)?.map(|v| v.value().as_bytes().to_vec())),
        "data_key" => one(txn.open_table(TENANT_KEYS)?.get(id)?.map(|v| v.value().to_vec())),
        "cron_jobs" => {
            let jobs = txn.open_table(CRON_JOBS)?;
            let mut rows = Vec::new();
            for (k, _) in prefixed_rows(&txn.open_table(CRON_OWNER)?, &prefix, |()| Vec::new())? {
                // `skill \0 id`: the id follows the last separator.
                let job_id = k.0.rsplit(|&b| b == 0).next().unwrap_or_default();
                let job_id = String::from_utf8_lossy(job_id).into_owned();
                if let Some(json) = jobs.get(job_id.as_str())? {
                    rows.push((Bytes(job_id.into_bytes()), Bytes(json.value().as_bytes().to_vec())));
                }
            }
            rows.sort();
            rows
        }
        "memory" | "secrets" | "skill_components" => {
            prefixed_rows(&txn.open_table(bytes_table(table_of(f.name)))?, &prefix, |v| v.to_vec())?
        }
        name => {
            prefixed_rows(&txn.open_table(text_table(table_of(name)))?, &prefix, |v| v.as_bytes().to_vec())?
        }
    })
}

fn export_one(txn: &ReadTransaction, tenant: &TenantId) -> Result<Option<TenantRows>, StoreError> {
    if txn.open_table(TENANTS)?.get(tenant.as_str())?.is_none() {
        return Ok(None);
    }
    let mut families = BTreeMap::new();
    for f in &FAMILIES {
        let rows = export_family(txn, tenant, f)?;
        if !rows.is_empty() {
            families.insert(f.name.to_string(), rows);
        }
    }
    Ok(Some(TenantRows { tenant: tenant.as_str().to_string(), families }))
}

fn text(v: &Bytes) -> Result<&str, StoreError> {
    std::str::from_utf8(&v.0).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Replaces everything `rows` covers of its tenant (all but its tokens) by
/// `rows`, within `txn`, and rebuilds the derived tables.
fn import_one(txn: &WriteTransaction, tenant: &TenantId, rows: &TenantRows) -> Result<(), StoreError> {
    let id = tenant.as_str();
    super::purge_tenant(txn, tenant, false)?;
    let prefix = tenant_prefix(tenant);
    let keyed = |k: &Bytes| [prefix.as_slice(), k.0.as_slice()].concat();
    for f in &FAMILIES {
        let family_rows = rows.rows(f.name);
        match f.name {
            "tenant" | "policy" => {
                let table = if f.name == "tenant" { TENANTS } else { POLICIES };
                if let Some((_, v)) = family_rows.first() {
                    txn.open_table(table)?.insert(id, text(v)?)?;
                }
            }
            "data_key" => {
                if let Some((_, v)) = family_rows.first() {
                    txn.open_table(TENANT_KEYS)?.insert(id, v.0.as_slice())?;
                }
            }
            "cron_jobs" => {
                let (mut jobs, mut due, mut owner) =
                    (txn.open_table(CRON_JOBS)?, txn.open_table(CRON_DUE)?, txn.open_table(CRON_OWNER)?);
                for (_, json) in family_rows {
                    let job: crate::records::Job =
                        serde_json::from_str(text(json)?).map_err(|e| StoreError::Invalid(e.to_string()))?;
                    if jobs.get(job.id.as_str())?.is_some() {
                        return Err(StoreError::Invalid(format!(
                            "cron job {} belongs to another tenant",
                            job.id
                        )));
                    }
                    jobs.insert(job.id.as_str(), text(json)?)?;
                    due.insert((job.next_run, job.id.as_str()), ())?;
                    let key = [id.as_bytes(), b"\0", job.skill.as_bytes(), b"\0", job.id.as_bytes()].concat();
                    owner.insert(key.as_slice(), ())?;
                }
            }
            name if f.values == Values::Bytes || name == "memory" => {
                let mut table = txn.open_table(bytes_table(table_of(name)))?;
                for (k, v) in family_rows {
                    table.insert(keyed(k).as_slice(), v.0.as_slice())?;
                }
            }
            name => {
                let mut table = txn.open_table(text_table(table_of(name)))?;
                for (k, v) in family_rows {
                    table.insert(keyed(k).as_slice(), text(v)?)?;
                }
            }
        }
    }
    let usage = crate::store::MemoryUsage::of_dump(rows)?;
    if usage.entries > 0 {
        txn.open_table(MEMORY_USAGE)?.insert(id, (usage.entries, usage.bytes))?;
    }
    let mut outbox_due = txn.open_table(OUTBOX_DUE)?;
    for (k, json) in rows.rows("outbox") {
        let head = outbox_head(&json.0)?;
        if head.state == "pending" {
            outbox_due.insert((head.next_attempt, keyed(k).as_slice()), ())?;
        }
    }
    Ok(())
}

impl RedbBackend {
    pub(super) fn export_tenants(&self, tenants: &[TenantId]) -> Result<Vec<TenantRows>, StoreError> {
        let txn = self.db.begin_read()?;
        tenants
            .iter()
            .map(|t| export_one(&txn, t)?.ok_or_else(|| StoreError::Invalid(format!("no tenant {t}"))))
            .collect()
    }

    pub(super) fn import_tenants(&self, dumps: &[(TenantId, &TenantRows)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        for (tenant, d) in dumps {
            import_one(&txn, tenant, d)?;
        }
        let committed = txn.commit();
        self.credentials_changed();
        committed?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table added to the store must be dumped (as a family or rebuilt
    /// from one) or be listed as left out on purpose; otherwise backups
    /// and migrations would silently miss it.
    #[test]
    fn every_table_is_dumped_or_left_out_on_purpose() {
        use redb::TableHandle;
        // Credentials and gateway-wide state: not a tenant's data.
        const LEFT_OUT: [&str; 4] = ["tokens", "tenant_tokens", "meta", "trusted_keys"];
        let dir = tempfile::tempdir().unwrap();
        let db = RedbBackend::open(&dir.path().join("db.redb")).unwrap();
        let txn = db.db.begin_read().unwrap();
        let mut missing = Vec::new();
        for table in txn.list_tables().unwrap() {
            let name = table.name().to_string();
            let covered =
                FAMILIES.iter().map(|f| table_of(f.name)).chain(DERIVED).chain(LEFT_OUT).any(|n| n == name);
            if !covered {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "tables neither dumped nor left out: {missing:?}");
    }
}
