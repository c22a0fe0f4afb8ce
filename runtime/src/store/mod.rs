//! Storage: the only module that touches redb.
//!
//! The API is narrow and backend-neutral: tenant-scoped operations on plain
//! Rust types, so a shared SQL backend can replace redb behind it. Every key
//! starts with the tenant: `tenant \0 user \0 key` for memory entries (user
//! empty when the call has none). Tenant and user ids are validated types
//! that cannot contain `\0`, so one scope's range never overlaps another's.
//!
//! Every write commits with redb's default (immediate) durability: when a
//! method returns `Ok`, the write survives a crash.

use crate::ids::{TenantId, UserId};
use redb::Database;
use std::path::Path;

mod agents;
mod channels;
mod cron;
mod dump;
mod memory;
mod outbox;
mod policy;
mod replays;
mod secrets;
mod skills;
mod tenants;
mod tokens;
mod trust;
mod usage;

pub use agents::LlmUsageRow;
pub use dump::{Bytes, TenantRows};
pub use memory::{MemoryEntry, MemoryUsage, ScanBound, ScanStop, SearchScan};
pub use replays::Replay;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write would exceed the tenant's quota.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// The database could not be opened.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// redb's reason.
        #[source]
        source: Box<redb::DatabaseError>,
    },
    /// The backend failed.
    #[error("storage failure: {0}")]
    Backend(String),
    /// Rows given to import are not valid (a restore's data).
    #[error("invalid data: {0}")]
    Invalid(String),
}

macro_rules! backend_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(e.to_string())
            }
        }
    )*};
}
backend_errors!(redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// The scope of a memory operation: a tenant, and optionally one user in it.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The tenant every read and write is confined to.
    pub tenant: &'a TenantId,
    /// The user within the tenant, when the call has one.
    pub user: Option<&'a UserId>,
}

impl Scope<'_> {
    fn prefix(&self) -> Vec<u8> {
        let user = self.user.map(UserId::as_str).unwrap_or("");
        let mut p = Vec::with_capacity(self.tenant.as_str().len() + user.len() + 2);
        p.extend_from_slice(self.tenant.as_str().as_bytes());
        p.push(0);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p
    }

    fn key(&self, key: &str) -> Vec<u8> {
        let mut k = self.prefix();
        k.extend_from_slice(key.as_bytes());
        k
    }
}

/// `tenant \0`: the start of every byte key a tenant owns.
fn tenant_prefix(tenant: &TenantId) -> Vec<u8> {
    let mut p = Vec::with_capacity(tenant.as_str().len() + 1);
    p.extend_from_slice(tenant.as_str().as_bytes());
    p.push(0);
    p
}

/// Removes every key of `table` starting with `prefix`; returns them.
fn remove_prefixed<V: redb::Value + 'static>(
    table: &mut redb::Table<'_, &'static [u8], V>,
    prefix: &[u8],
) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    for item in redb::ReadableTable::range(table, prefix..)? {
        let (k, _) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        keys.push(k.value().to_vec());
    }
    for k in &keys {
        table.remove(k.as_slice())?;
    }
    Ok(keys)
}

/// The gateway's database.
/// The values of every key of `table` starting with `prefix`, decoded, in
/// key order.
fn values_prefixed<T>(
    table: &impl redb::ReadableTable<&'static [u8], &'static str>,
    prefix: &[u8],
    decode: impl Fn(&str) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for item in table.range(prefix..)? {
        let (k, v) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push(decode(v.value())?);
    }
    Ok(out)
}

pub struct Db {
    db: Database,
    /// Bumped after every committed change that can make a credential
    /// invalid (a token updated or removed, a tenant suspended, resumed or
    /// deleted), so that what was read before it can be recognised as stale.
    credentials: std::sync::atomic::AtomicU64,
}

impl Db {
    /// The credential generation: it changes after every committed change
    /// that can make a credential invalid. A caching reader takes it before
    /// reading and trusts what it read only while it is unchanged.
    pub fn credentials_generation(&self) -> u64 {
        self.credentials.load(std::sync::atomic::Ordering::Acquire)
    }

    fn credentials_changed(&self) {
        self.credentials.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Opens (or creates) the database file at `path` and its tables.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let db = Database::create(path)
            .map_err(|e| StoreError::Open { path: path.display().to_string(), source: Box::new(e) })?;
        let txn = db.begin_write()?;
        memory::create_tables(&txn)?;
        policy::create_tables(&txn)?;
        secrets::create_tables(&txn)?;
        cron::create_tables(&txn)?;
        outbox::create_tables(&txn)?;
        tenants::create_tables(&txn)?;
        tokens::create_tables(&txn)?;
        skills::create_tables(&txn)?;
        usage::create_tables(&txn)?;
        trust::create_tables(&txn)?;
        agents::create_tables(&txn)?;
        channels::create_tables(&txn)?;
        replays::create_tables(&txn)?;
        txn.commit()?;
        Ok(Db { db, credentials: Default::default() })
    }
}

/// Helpers for the storage tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::Db;
    use crate::ids::TenantId;

    /// A database in a fresh temporary directory (kept alive by the guard).
    pub(crate) fn db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("db.redb")).unwrap();
        (dir, db)
    }

    /// A tenant id the test knows is valid.
    pub(crate) fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }
}
