//! Tenants: tenant → record (JSON), and the purge that deletes everything a
//! tenant owns in every table in one transaction.

use super::RedbBackend;
use crate::ids::TenantId;
use crate::records::Tenant;
use crate::store::StoreError;
use crate::store::codec::{tenant_decode as decode, tenant_encode as encode};
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Tenants: tenant → record (JSON).
const TENANTS: TableDefinition<&str, &str> = TableDefinition::new("tenants");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(TENANTS)?;
    Ok(())
}

impl RedbBackend {
    /// Creates a tenant, durably; `false` (and nothing written) if it exists.
    pub(super) fn tenant_create(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let created = {
            let mut table = txn.open_table(TENANTS)?;
            if table.get(tenant.id.as_str())?.is_some() {
                false
            } else {
                table.insert(tenant.id.as_str(), encode(tenant)?.as_str())?;
                true
            }
        };
        txn.commit()?;
        Ok(created)
    }

    /// One tenant's record.
    pub(super) fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TENANTS)?;
        table.get(id.as_str())?.map(|v| decode(id.as_str(), v.value())).transpose()
    }

    /// Every tenant, by id.
    pub(super) fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TENANTS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (k, v) = item?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Whether the tenant exists and is suspended.
    pub(super) fn tenant_suspended(&self, id: &TenantId) -> Result<bool, StoreError> {
        Ok(self.tenant(id)?.is_some_and(|t| t.suspended))
    }

    /// Sets a tenant's suspension, durably; `None` if there is no such tenant.
    pub(super) fn tenant_set_suspended(
        &self,
        id: &TenantId,
        suspended: bool,
    ) -> Result<Option<Tenant>, StoreError> {
        let txn = self.db.begin_write()?;
        let updated = {
            let mut table = txn.open_table(TENANTS)?;
            let current = table.get(id.as_str())?.map(|v| decode(id.as_str(), v.value())).transpose()?;
            match current {
                None => None,
                Some(mut t) => {
                    t.suspended = suspended;
                    table.insert(id.as_str(), encode(&t)?.as_str())?;
                    Some(t)
                }
            }
        };
        let committed = txn.commit();
        self.credentials_changed();
        committed?;
        Ok(updated)
    }

    /// Deletes a tenant and everything it owns in the database (memory,
    /// policy, secrets and data key, cron jobs, messages, tokens, skills,
    /// usage, agents, sessions, model usage, channels, inbound replay records) in one durable
    /// transaction; `false` if there was no tenant.
    pub(super) fn tenant_delete(&self, id: &TenantId) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let existed = txn.open_table(TENANTS)?.remove(id.as_str())?.is_some();
        super::purge_tenant(&txn, id, true)?;
        let committed = txn.commit();
        self.credentials_changed();
        committed?;
        Ok(existed)
    }
}
