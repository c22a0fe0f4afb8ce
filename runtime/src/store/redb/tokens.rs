//! Credentials: tenant tokens and the operator's admin key, stored only as
//! SHA-256 hashes.
//!
//! Tables:
//!
//! - `tokens`: token id → record (JSON: tenant, role, name, times, hash);
//! - `tenant_tokens`: `tenant \0 id` → `()`, to list a tenant's tokens;
//! - `meta`: `admin_key_sha256` → the admin key's hash.

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::records::TokenInfo;
use crate::store::StoreError;
use crate::store::codec::{token_decode as decode, token_encode as encode};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const TOKENS: TableDefinition<&str, &str> = TableDefinition::new("tokens");
const TENANT_TOKENS: TableDefinition<&[u8], ()> = TableDefinition::new("tenant_tokens");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ADMIN_KEY: &str = "admin_key_sha256";

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(TOKENS)?;
    txn.open_table(TENANT_TOKENS)?;
    txn.open_table(META)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    let mut index = txn.open_table(TENANT_TOKENS)?;
    let mut tokens = txn.open_table(TOKENS)?;
    let prefix = tenant_prefix(tenant);
    for key in remove_prefixed(&mut index, &prefix)? {
        if let Ok(id) = std::str::from_utf8(&key[prefix.len()..]) {
            tokens.remove(id)?;
        }
    }
    Ok(())
}

fn index_key(tenant: &TenantId, id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(id.as_bytes());
    k
}

impl RedbBackend {
    /// Stores a new token, durably; `false` if its id is taken.
    pub(super) fn token_insert(&self, info: &TokenInfo, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let inserted = {
            let mut tokens = txn.open_table(TOKENS)?;
            if tokens.get(info.id.as_str())?.is_some() {
                false
            } else {
                tokens.insert(info.id.as_str(), encode(info, hash)?.as_str())?;
                txn.open_table(TENANT_TOKENS)?.insert(index_key(&info.tenant, &info.id).as_slice(), ())?;
                true
            }
        };
        txn.commit()?;
        Ok(inserted)
    }

    /// A token's record and hash, by id (over all tenants: the caller checks
    /// the tenant the presented token names against it).
    pub(super) fn token(&self, id: &str) -> Result<Option<(TokenInfo, [u8; 32])>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TOKENS)?;
        table.get(id)?.map(|v| decode(id, v.value())).transpose()
    }

    /// A tenant's tokens, by id.
    pub(super) fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_table(TENANT_TOKENS)?;
        let tokens = txn.open_table(TOKENS)?;
        let prefix = tenant_prefix(tenant);
        let mut out = Vec::new();
        for item in index.range(prefix.as_slice()..)? {
            let (k, _) = item?;
            let Some(id) = k.value().strip_prefix(prefix.as_slice()) else { break };
            let id = String::from_utf8_lossy(id).into_owned();
            if let Some(v) = tokens.get(id.as_str())? {
                let (info, _) = decode(&id, v.value())?;
                if &info.tenant == tenant {
                    out.push(info);
                }
            }
        }
        Ok(out)
    }

    /// Applies `change` to token `id` of `tenant`, durably; `None` if the
    /// tenant has no such token. Moves the credential generation.
    pub(super) fn token_update(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &mut dyn FnMut(&mut TokenInfo),
    ) -> Result<Option<TokenInfo>, StoreError> {
        let result = self.token_change(tenant, id, change);
        self.credentials_changed();
        result
    }

    /// Records that token `id` of `tenant` was used at `now`, durably. This
    /// changes no credential's validity, so it leaves the credential
    /// generation alone.
    pub(super) fn token_touch(
        &self,
        tenant: &TenantId,
        id: &str,
        now: u64,
    ) -> Result<Option<TokenInfo>, StoreError> {
        self.token_change(tenant, id, &mut |i| i.last_used = Some(now))
    }

    fn token_change(
        &self,
        tenant: &TenantId,
        id: &str,
        change: &mut dyn FnMut(&mut TokenInfo),
    ) -> Result<Option<TokenInfo>, StoreError> {
        let txn = self.db.begin_write()?;
        let updated = {
            let mut tokens = txn.open_table(TOKENS)?;
            let current = tokens.get(id)?.map(|v| decode(id, v.value())).transpose()?;
            match current {
                Some((mut info, hash)) if &info.tenant == tenant => {
                    change(&mut info);
                    tokens.insert(id, encode(&info, &hash)?.as_str())?;
                    Some(info)
                }
                _ => None,
            }
        };
        txn.commit()?;
        Ok(updated)
    }

    /// Deletes token `id` of `tenant`, durably; `false` if it has no such token.
    pub(super) fn token_remove(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut tokens = txn.open_table(TOKENS)?;
            let current = tokens.get(id)?.map(|v| decode(id, v.value())).transpose()?;
            match current {
                Some((info, _)) if &info.tenant == tenant => {
                    tokens.remove(id)?;
                    txn.open_table(TENANT_TOKENS)?.remove(index_key(tenant, id).as_slice())?;
                    true
                }
                _ => false,
            }
        };
        let committed = txn.commit();
        self.credentials_changed();
        committed?;
        Ok(removed)
    }

    /// The stored hash of the operator's admin key.
    pub(super) fn admin_key_hash(&self) -> Result<Option<[u8; 32]>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(ADMIN_KEY)?.and_then(|v| v.value().try_into().ok()))
    }

    /// Replaces the hash of the operator's admin key, durably.
    pub(super) fn set_admin_key_hash(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(ADMIN_KEY, hash.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}
