//! A tenant's inbound channels: `tenant \0 name` → the channel (JSON).

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::records::ChannelSpec;
use crate::store::StoreError;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const CHANNELS: TableDefinition<&[u8], &str> = TableDefinition::new("channels");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(CHANNELS)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    remove_prefixed(&mut txn.open_table(CHANNELS)?, &tenant_prefix(tenant))?;
    Ok(())
}

fn key(tenant: &TenantId, name: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(name.as_bytes());
    k
}

fn decode(json: &str) -> Result<ChannelSpec, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored channel is corrupt: {e}")))
}

impl RedbBackend {
    /// Adds a channel; `Ok(false)` (nothing written) if the tenant has one
    /// of that name.
    pub(super) fn channel_add(&self, tenant: &TenantId, spec: &ChannelSpec) -> Result<bool, StoreError> {
        let k = key(tenant, &spec.name);
        let json = serde_json::to_string(spec).map_err(|e| StoreError::Backend(e.to_string()))?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(CHANNELS)?;
            if table.get(k.as_slice())?.is_some() {
                return Ok(false);
            }
            table.insert(k.as_slice(), json.as_str())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// One channel of a tenant.
    pub(super) fn channel(&self, tenant: &TenantId, name: &str) -> Result<Option<ChannelSpec>, StoreError> {
        let txn = self.db.begin_read()?;
        let v = txn.open_table(CHANNELS)?.get(key(tenant, name).as_slice())?.map(|v| decode(v.value()));
        v.transpose()
    }

    /// A tenant's channels, by name.
    pub(super) fn channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSpec>, StoreError> {
        let txn = self.db.begin_read()?;
        super::values_prefixed(&txn.open_table(CHANNELS)?, &tenant_prefix(tenant), decode)
    }

    /// Removes a channel; whether it existed.
    pub(super) fn channel_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(CHANNELS)?.remove(key(tenant, name).as_slice())?.is_some();
        txn.commit()?;
        Ok(existed)
    }
}
