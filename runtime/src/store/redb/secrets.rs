//! Secrets (the vault's storage): opaque sealed bytes, never plaintext.
//!
//! Two tables, both keyed by the tenant first:
//!
//! - `tenant_keys`: tenant → the tenant's data key, wrapped (encrypted) by
//!   the master key;
//! - `secrets`: `tenant \0 name` → the secret value, sealed by the tenant's
//!   data key.
//!
//! This module neither encrypts nor decrypts: [`crate::vault`] does, and
//! binds every sealed blob to its tenant and name, so a blob moved to
//! another key here fails to open. Tenant ids cannot contain `\0`, so one
//! tenant's range of names never overlaps another's (`a` vs `ab`).

use super::RedbBackend;
use crate::ids::TenantId;
use crate::store::StoreError;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Wrapped data keys: tenant → wrapped key.
const TENANT_KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenant_keys");
/// Sealed secret values: `tenant \0 name` → sealed value.
const SECRETS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("secrets");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(TENANT_KEYS)?;
    txn.open_table(SECRETS)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    txn.open_table(TENANT_KEYS)?.remove(tenant.as_str())?;
    super::remove_prefixed(&mut txn.open_table(SECRETS)?, &prefix(tenant))?;
    Ok(())
}

/// `tenant \0`: the start of every key of the tenant's secrets.
fn prefix(tenant: &TenantId) -> Vec<u8> {
    let mut p = Vec::with_capacity(tenant.as_str().len() + 1);
    p.extend_from_slice(tenant.as_str().as_bytes());
    p.push(0);
    p
}

/// `tenant \0 name`.
fn key(tenant: &TenantId, name: &str) -> Vec<u8> {
    let mut k = prefix(tenant);
    k.extend_from_slice(name.as_bytes());
    k
}

impl RedbBackend {
    /// The tenant's wrapped data key, if it has one.
    pub(super) fn secret_key(&self, tenant: &TenantId) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TENANT_KEYS)?;
        Ok(table.get(tenant.as_str())?.map(|v| v.value().to_vec()))
    }

    /// Stores (or replaces) the tenant's wrapped data key, durably.
    ///
    /// Replacing a key makes every secret sealed under the old one
    /// unreadable; the vault creates keys with
    /// [`Db::secret_key_or_insert`], which never replaces one.
    pub(super) fn put_secret_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(TENANT_KEYS)?.insert(tenant.as_str(), wrapped)?;
        txn.commit()?;
        Ok(())
    }

    /// The tenant's wrapped data key; when it has none, stores `wrapped`
    /// (durably) and returns it. Atomic: of two concurrent first uses, both
    /// get the same key.
    pub(super) fn secret_key_or_insert(
        &self,
        tenant: &TenantId,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let txn = self.db.begin_write()?;
        let stored = {
            let mut table = txn.open_table(TENANT_KEYS)?;
            let existing = table.get(tenant.as_str())?.map(|v| v.value().to_vec());
            match existing {
                Some(existing) => existing,
                None => {
                    table.insert(tenant.as_str(), wrapped)?;
                    wrapped.to_vec()
                }
            }
        };
        txn.commit()?;
        Ok(stored)
    }

    /// Stores (or replaces) one sealed secret value, durably.
    pub(super) fn put_secret(&self, tenant: &TenantId, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(SECRETS)?.insert(key(tenant, name).as_slice(), sealed)?;
        txn.commit()?;
        Ok(())
    }

    /// One sealed secret value, if set.
    pub(super) fn secret(&self, tenant: &TenantId, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SECRETS)?;
        Ok(table.get(key(tenant, name).as_slice())?.map(|v| v.value().to_vec()))
    }

    /// The names of the tenant's secrets, sorted.
    pub(super) fn secret_names(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let start = prefix(tenant);
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SECRETS)?;
        let mut names = Vec::new();
        for item in table.range(start.as_slice()..)? {
            let (k, _) = item?;
            let k = k.value();
            if !k.starts_with(&start) {
                break;
            }
            names.push(String::from_utf8_lossy(&k[start.len()..]).into_owned());
        }
        // Keys are ordered by bytes, which is the order of the names; sort
        // anyway so the contract does not rest on the backend's ordering.
        names.sort();
        Ok(names)
    }

    /// Deletes one secret value, durably; `false` when there was none.
    pub(super) fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn.open_table(SECRETS)?.remove(key(tenant, name).as_slice())?.is_some();
        txn.commit()?;
        Ok(removed)
    }
}
