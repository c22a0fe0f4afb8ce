//! Tenant policies: tenant → policy (JSON).

use super::RedbBackend;
use crate::ids::TenantId;
use crate::policy::TenantPolicy;
use crate::store::StoreError;
use redb::{ReadableDatabase, TableDefinition, WriteTransaction};

const POLICIES: TableDefinition<&str, &str> = TableDefinition::new("policies");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(POLICIES)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    txn.open_table(POLICIES)?.remove(tenant.as_str())?;
    Ok(())
}

impl RedbBackend {
    /// Replaces a tenant's policy, durably.
    pub(super) fn set_policy(&self, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), StoreError> {
        let json = serde_json::to_string(policy).map_err(|e| StoreError::Backend(e.to_string()))?;
        let txn = self.db.begin_write()?;
        txn.open_table(POLICIES)?.insert(tenant.as_str(), json.as_str())?;
        txn.commit()?;
        Ok(())
    }

    /// A tenant's policy; the empty policy (nothing granted) when none is set.
    pub(super) fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(POLICIES)?;
        match table.get(tenant.as_str())? {
            None => Ok(TenantPolicy::default()),
            Some(v) => serde_json::from_str(v.value())
                .map_err(|e| StoreError::Backend(format!("stored policy of {tenant} is corrupt: {e}"))),
        }
    }
}
