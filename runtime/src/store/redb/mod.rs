//! The embedded backend: one redb file in the data directory.
//!
//! Every key starts with the tenant: `tenant \0 user \0 key` for memory
//! entries (user empty when the call has none). Tenant and user ids are
//! validated types that cannot contain `\0`, so one scope's range never
//! overlaps another's. Every write commits with redb's default (immediate)
//! durability: when a method returns `Ok`, the write survives a crash.
//!
//! Each table family is one file of inherent methods named as the
//! operations of [`super::backend`]; [`super::backend::forward_to_inherent`]
//! turns them into the [`super::backend::Backend`] implementation.

use super::{Scope, StoreError};
use crate::ids::{TenantId, UserId};
use redb::Database;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

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

/// The redb backend.
pub(crate) struct RedbBackend {
    db: Database,
    /// Bumped after every committed change that can make a credential
    /// invalid. Kept in memory: redb locks its file for one process, so
    /// this process sees every change there is, and a restart (which
    /// empties every cache) needs no history of it.
    credentials: AtomicU64,
}

impl RedbBackend {
    /// Opens (or creates) the database file at `path` and its tables.
    pub(crate) fn open(path: &Path) -> Result<RedbBackend, StoreError> {
        let db = Database::create(path)
            .map_err(|e| StoreError::Open { store: path.display().to_string(), reason: e.to_string() })?;
        let txn = db.begin_write()?;
        for f in &TABLES {
            (f.create)(&txn)?;
        }
        txn.commit()?;
        Ok(RedbBackend { db, credentials: AtomicU64::new(0) })
    }

    fn credentials_generation(&self) -> u64 {
        self.credentials.load(Ordering::Acquire)
    }

    fn credentials_changed(&self) {
        self.credentials.fetch_add(1, Ordering::AcqRel);
    }
}

use super::backend::{forward_to_inherent, with_operations};
with_operations!(forward_to_inherent RedbBackend);

/// Removes what one tenant has in a module's tables.
type Purge = fn(&redb::WriteTransaction, &TenantId) -> Result<(), StoreError>;

/// One module's tables: how to create them, and how to remove what one
/// tenant has in them.
struct Tables {
    create: fn(&redb::WriteTransaction) -> Result<(), StoreError>,
    purge: Option<Purge>,
    /// Whether they hold credentials (which a dump neither carries nor
    /// replaces).
    credentials: bool,
}

/// Every table of the database, by module: the one list that opening,
/// deleting a tenant and importing a dump go by.
const TABLES: [Tables; 13] = [
    Tables { create: tenants::create_tables, purge: None, credentials: false },
    Tables { create: tokens::create_tables, purge: Some(tokens::purge), credentials: true },
    Tables { create: trust::create_tables, purge: None, credentials: false },
    Tables { create: memory::create_tables, purge: Some(memory::purge), credentials: false },
    Tables { create: policy::create_tables, purge: Some(policy::purge), credentials: false },
    Tables { create: secrets::create_tables, purge: Some(secrets::purge), credentials: false },
    Tables { create: cron::create_tables, purge: Some(cron::purge), credentials: false },
    Tables { create: outbox::create_tables, purge: Some(outbox::purge), credentials: false },
    Tables { create: skills::create_tables, purge: Some(skills::purge), credentials: false },
    Tables { create: usage::create_tables, purge: Some(usage::purge), credentials: false },
    Tables { create: agents::create_tables, purge: Some(agents::purge), credentials: false },
    Tables { create: channels::create_tables, purge: Some(channels::purge), credentials: false },
    Tables { create: replays::create_tables, purge: Some(replays::purge), credentials: false },
];

/// Removes every row `tenant` owns but its tenant record, and its tokens
/// only `with_tokens`.
fn purge_tenant(
    txn: &redb::WriteTransaction,
    tenant: &TenantId,
    with_tokens: bool,
) -> Result<(), StoreError> {
    for t in &TABLES {
        if let Some(purge) = t.purge
            && (with_tokens || !t.credentials)
        {
            purge(txn, tenant)?;
        }
    }
    Ok(())
}

/// `tenant \0 user \0`: the start of every memory key of a scope.
fn scope_prefix(scope: &Scope<'_>) -> Vec<u8> {
    let user = scope.user.map(UserId::as_str).unwrap_or("");
    let mut p = Vec::with_capacity(scope.tenant.as_str().len() + user.len() + 2);
    p.extend_from_slice(scope.tenant.as_str().as_bytes());
    p.push(0);
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p
}

/// `tenant \0 user \0 key`.
fn scope_key(scope: &Scope<'_>, key: &str) -> Vec<u8> {
    let mut k = scope_prefix(scope);
    k.extend_from_slice(key.as_bytes());
    k
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
