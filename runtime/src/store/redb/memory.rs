//! Memory entries (`memory` capability): `tenant \0 user \0 key` → value,
//! with a per-tenant usage record for the quota.

use super::RedbBackend;
use crate::config::MemoryQuota;
use crate::ids::TenantId;
use crate::store::{Budget, MemoryEntry, MemoryUsage, ScanBound, Scope, Search, SearchScan, StoreError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Memory entries: `tenant \0 user \0 key` → value.
const MEMORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("memory");
/// Memory usage per tenant: tenant → (entries, bytes).
const MEMORY_USAGE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("memory_usage");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(MEMORY)?;
    txn.open_table(MEMORY_USAGE)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    super::remove_prefixed(&mut txn.open_table(MEMORY)?, &super::tenant_prefix(tenant))?;
    txn.open_table(MEMORY_USAGE)?.remove(tenant.as_str())?;
    Ok(())
}

impl RedbBackend {
    /// Reads one entry.
    pub(super) fn memory_get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY)?;
        let value = table.get(super::scope_key(&scope, key).as_slice())?;
        Ok(value.map(|v| String::from_utf8_lossy(v.value()).into_owned()))
    }

    /// Writes one entry, durably, if the tenant's quota allows it.
    pub(super) fn memory_set(
        &self,
        scope: Scope<'_>,
        key: &str,
        value: &str,
        quota: &MemoryQuota,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(MEMORY)?;
            let mut usage_table = txn.open_table(MEMORY_USAGE)?;
            let full_key = super::scope_key(&scope, key);
            let old_len = table.get(full_key.as_slice())?.map(|v| v.value().len() as u64);
            let (entries, bytes) =
                usage_table.get(scope.tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
            let after = MemoryUsage { entries, bytes }.after_set(
                key.len() as u64,
                old_len,
                value.len() as u64,
                quota,
            )?;
            table.insert(full_key.as_slice(), value.as_bytes())?;
            usage_table.insert(scope.tenant.as_str(), (after.entries, after.bytes))?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes one entry, durably; `false` when there was none.
    pub(super) fn memory_delete(&self, scope: Scope<'_>, key: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut table = txn.open_table(MEMORY)?;
            let mut usage_table = txn.open_table(MEMORY_USAGE)?;
            let old_len =
                table.remove(super::scope_key(&scope, key).as_slice())?.map(|v| v.value().len() as u64);
            if let Some(old) = old_len {
                let (entries, bytes) =
                    usage_table.get(scope.tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
                let after = MemoryUsage { entries, bytes }.after_delete(key.len() as u64, old);
                usage_table.insert(scope.tenant.as_str(), (after.entries, after.bytes))?;
            }
            old_len.is_some()
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Visits the scope's entries whose key starts with `prefix`, in key
    /// order, until `visit` returns `false`.
    fn memory_scan(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        mut visit: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), StoreError> {
        let start = super::scope_key(&scope, prefix);
        let scope_len = super::scope_prefix(&scope).len();
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY)?;
        for item in table.range(start.as_slice()..)? {
            let (k, v) = item?;
            let k = k.value();
            if !k.starts_with(&start) {
                break;
            }
            let key = String::from_utf8_lossy(&k[scope_len..]);
            let value = String::from_utf8_lossy(v.value());
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// Lists up to `limit` entries whose key starts with `prefix`, stopping
    /// before the total of keys and values would pass `max_bytes`.
    pub(super) fn memory_list(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<MemoryEntry>, StoreError> {
        let mut out = Vec::new();
        let mut budget = Budget::new(limit, max_bytes);
        self.memory_scan(scope, prefix, |k, v| budget.take(&mut out, k, v))?;
        Ok(out)
    }

    /// Finds up to `limit` entries whose key or value contains every one of
    /// `words` (case-insensitive), with the same byte budget as
    /// [`Db::memory_list`], reading no more of the scope than `bound`
    /// allows. The result says what was read, for the caller to charge.
    pub(super) fn memory_search(
        &self,
        scope: Scope<'_>,
        words: &[String],
        limit: usize,
        max_bytes: usize,
        bound: &ScanBound,
    ) -> Result<SearchScan, StoreError> {
        let mut search = Search::new(words, limit, max_bytes, bound)?;
        self.memory_scan(scope, "", |k, v| search.visit(k, v))?;
        Ok(search.finish())
    }

    /// A tenant's memory usage.
    pub(super) fn memory_usage(&self, tenant: &TenantId) -> Result<MemoryUsage, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(MEMORY_USAGE)?;
        let (entries, bytes) = table.get(tenant.as_str())?.map(|v| v.value()).unwrap_or((0, 0));
        Ok(MemoryUsage { entries, bytes })
    }
}
