//! Memory entries (`memory` capability): `memory(tenant, key, value)`, key
//! being `user \0 key` (user empty for a call without one), both bytea, and
//! `memory_usage(tenant, entries, bytes)` for the quota.
//!
//! Every write of a tenant's memory first locks the tenant's usage row
//! (creating it if need be), then reads and writes: the quota check and the
//! write are one transaction, and two writers of one tenant take their
//! locks in the same order. Prefix scans are byte ranges
//! (`key >= prefix AND key < upper`), so `%`, `_` and `\` in a prefix are
//! bytes, never patterns.

use super::{PgBackend, StoreError, from_i64, prefix_upper, to_i64};
use crate::config::MemoryQuota;
use crate::ids::TenantId;
use crate::store::{Budget, MemoryEntry, MemoryUsage, ScanBound, Scope, Search, SearchScan};
use tokio_postgres::types::ToSql;

/// Rows a scan reads per round trip.
const SCAN_BATCH: i32 = 128;

/// `user \0`: the start of the scope's keys within its tenant.
fn scope_prefix(scope: &Scope<'_>) -> Vec<u8> {
    let mut p = scope.user.map(|u| u.as_str().as_bytes().to_vec()).unwrap_or_default();
    p.push(0);
    p
}

fn scope_key(scope: &Scope<'_>, key: &str) -> Vec<u8> {
    let mut k = scope_prefix(scope);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The usage row of the tenant, created if missing, locked until the end
/// of the transaction: (entries, bytes).
const LOCK_USAGE: &str = "INSERT INTO memory_usage (tenant, entries, bytes) VALUES ($1, 0, 0) \
     ON CONFLICT (tenant) DO UPDATE SET entries = memory_usage.entries RETURNING entries, bytes";

impl PgBackend {
    /// Reads one entry.
    pub fn memory_get(&self, scope: Scope<'_>, key: &str) -> Result<Option<String>, StoreError> {
        let (tenant, key) = (scope.tenant.to_string(), scope_key(&scope, key));
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT value FROM memory WHERE tenant = $1 AND key = $2").await?;
                let row = c.query_opt(&stmt, &[&tenant, &key]).await?;
                Ok(row.map(|r| String::from_utf8_lossy(r.get(0)).into_owned()))
            })
        })
    }

    /// Writes one entry, durably, if the tenant's quota allows it.
    pub fn memory_set(
        &self,
        scope: Scope<'_>,
        key: &str,
        value: &str,
        quota: &MemoryQuota,
    ) -> Result<(), StoreError> {
        let fence = self.fence_for(scope.tenant.as_str())?;
        let (tenant, full_key, value) = (scope.tenant.to_string(), scope_key(&scope, key), value.to_string());
        let (key_len, quota) = (key.len() as u64, *quota);
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached(LOCK_USAGE).await?;
                let row = tx.query_one(&stmt, &[&tenant]).await?;
                let usage = (from_i64(row.get(0), "memory usage")?, from_i64(row.get(1), "memory usage")?);
                let stmt = tx
                    .prepare_cached("SELECT octet_length(value) FROM memory WHERE tenant = $1 AND key = $2")
                    .await?;
                let old_len =
                    tx.query_opt(&stmt, &[&tenant, &full_key]).await?.map(|r| r.get::<_, i32>(0) as u64);
                let usage = MemoryUsage { entries: usage.0, bytes: usage.1 };
                let after = usage.after_set(key_len, old_len, value.len() as u64, &quota)?;
                let stmt = tx
                    .prepare_cached(
                        "WITH written AS (INSERT INTO memory (tenant, key, value) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, key) DO UPDATE SET value = EXCLUDED.value) \
                         UPDATE memory_usage SET entries = $4, bytes = $5 WHERE tenant = $1",
                    )
                    .await?;
                let (entries, bytes) =
                    (to_i64(after.entries, "memory entries")?, to_i64(after.bytes, "memory bytes")?);
                tx.execute(&stmt, &[&tenant, &full_key, &value.as_bytes(), &entries, &bytes]).await?;
                Ok(())
            })
        })
    }

    /// Deletes one entry, durably; `false` when there was none.
    pub fn memory_delete(&self, scope: Scope<'_>, key: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(scope.tenant.as_str())?;
        let (tenant, full_key, key_len) =
            (scope.tenant.to_string(), scope_key(&scope, key), key.len() as u64);
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                // The usage row first, as a write does (no deadlock).
                let stmt =
                    tx.prepare_cached("SELECT entries, bytes FROM memory_usage WHERE tenant = $1 FOR UPDATE").await?;
                let usage = match tx.query_opt(&stmt, &[&tenant]).await? {
                    Some(r) => (from_i64(r.get(0), "memory usage")?, from_i64(r.get(1), "memory usage")?),
                    None => (0, 0),
                };
                let stmt = tx
                    .prepare_cached(
                        "DELETE FROM memory WHERE tenant = $1 AND key = $2 RETURNING octet_length(value)",
                    )
                    .await?;
                let Some(row) = tx.query_opt(&stmt, &[&tenant, &full_key]).await? else { return Ok(false) };
                let after = MemoryUsage { entries: usage.0, bytes: usage.1 }
                    .after_delete(key_len, row.get::<_, i32>(0) as u64);
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO memory_usage (tenant, entries, bytes) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant) DO UPDATE SET entries = EXCLUDED.entries, bytes = EXCLUDED.bytes",
                    )
                    .await?;
                let (entries, bytes) = (to_i64(after.entries, "memory entries")?, to_i64(after.bytes, "memory bytes")?);
                tx.execute(&stmt, &[&tenant, &entries, &bytes]).await?;
                Ok(true)
            })
        })
    }

    /// Visits the scope's entries whose key starts with `prefix`, in key
    /// order, until `visit` returns `false`; `batch` rows per round trip.
    fn memory_scan(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        batch: i32,
        mut visit: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), StoreError> {
        let start = scope_key(&scope, prefix);
        let scope_len = scope_prefix(&scope).len();
        let tenant = scope.tenant.to_string();
        let (sql, params): (&'static str, Vec<Box<dyn ToSql + Send + Sync>>) = match prefix_upper(&start) {
            Some(upper) => (
                "SELECT key, value FROM memory WHERE tenant = $1 AND key >= $2 AND key < $3 ORDER BY key",
                vec![Box::new(tenant), Box::new(start), Box::new(upper)],
            ),
            None => (
                "SELECT key, value FROM memory WHERE tenant = $1 AND key >= $2 ORDER BY key",
                vec![Box::new(tenant), Box::new(start)],
            ),
        };
        self.scan(sql, params, batch, |rows| {
            for row in rows {
                let (k, v): (&[u8], &[u8]) = (row.get(0), row.get(1));
                let key = String::from_utf8_lossy(&k[scope_len.min(k.len())..]);
                let value = String::from_utf8_lossy(v);
                if !visit(&key, &value) {
                    return false;
                }
            }
            true
        })
    }

    /// Lists up to `limit` entries whose key starts with `prefix`, stopping
    /// before the total of keys and values would pass `max_bytes`.
    pub fn memory_list(
        &self,
        scope: Scope<'_>,
        prefix: &str,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<MemoryEntry>, StoreError> {
        let mut out = Vec::new();
        let mut budget = Budget::new(limit, max_bytes);
        let batch = i32::try_from(limit).unwrap_or(SCAN_BATCH).clamp(1, SCAN_BATCH);
        self.memory_scan(scope, prefix, batch, |k, v| budget.take(&mut out, k, v))?;
        Ok(out)
    }

    /// Finds up to `limit` entries whose key or value contains every one of
    /// `words` (case-insensitive), with the same byte budget as
    /// [`PgBackend::memory_list`], reading no more of the scope than
    /// `bound` allows. The result says what was read, for the caller to
    /// charge.
    pub fn memory_search(
        &self,
        scope: Scope<'_>,
        words: &[String],
        limit: usize,
        max_bytes: usize,
        bound: &ScanBound,
    ) -> Result<SearchScan, StoreError> {
        let mut search = Search::new(words, limit, max_bytes, bound)?;
        self.memory_scan(scope, "", SCAN_BATCH, |k, v| search.visit(k, v))?;
        Ok(search.finish())
    }

    /// A tenant's memory usage.
    pub fn memory_usage(&self, tenant: &TenantId) -> Result<MemoryUsage, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT entries, bytes FROM memory_usage WHERE tenant = $1").await?;
                match c.query_opt(&stmt, &[&tenant]).await? {
                    Some(r) => Ok(MemoryUsage {
                        entries: from_i64(r.get(0), "memory usage")?,
                        bytes: from_i64(r.get(1), "memory usage")?,
                    }),
                    None => Ok(MemoryUsage::default()),
                }
            })
        })
    }
}
