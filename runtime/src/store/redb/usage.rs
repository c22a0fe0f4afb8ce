//! Metered usage: `tenant \0 skill` → totals (JSON). The runtime adds
//! batches of deltas ([`Db::usage_add`]) in one transaction.

use super::RedbBackend;
use super::{remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::records::UsageTotals;
use crate::store::StoreError;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const USAGE: TableDefinition<&[u8], &str> = TableDefinition::new("usage");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(USAGE)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    remove_prefixed(&mut txn.open_table(USAGE)?, &tenant_prefix(tenant))?;
    Ok(())
}

fn key(tenant: &TenantId, skill: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.extend_from_slice(skill.as_bytes());
    k
}

fn decode(json: &str) -> Result<UsageTotals, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored usage is corrupt: {e}")))
}

impl RedbBackend {
    /// Adds each delta to its `(tenant, skill)` totals, in one durable
    /// transaction.
    pub(super) fn usage_add(&self, deltas: &[(TenantId, String, UsageTotals)]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(USAGE)?;
            for (tenant, skill, delta) in deltas {
                let k = key(tenant, skill);
                let mut totals = match table.get(k.as_slice())? {
                    Some(v) => decode(v.value())?,
                    None => UsageTotals::default(),
                };
                totals.merge(delta);
                let json = serde_json::to_string(&totals).map_err(|e| StoreError::Backend(e.to_string()))?;
                table.insert(k.as_slice(), json.as_str())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Stored totals of one tenant (or every tenant), as `(tenant, skill,
    /// totals)` sorted by tenant then skill.
    pub(super) fn usage(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, UsageTotals)>, StoreError> {
        let prefix = tenant.map(tenant_prefix).unwrap_or_default();
        let txn = self.db.begin_read()?;
        let table = txn.open_table(USAGE)?;
        let mut out = Vec::new();
        for item in table.range(prefix.as_slice()..)? {
            let (k, v) = item?;
            let k = k.value();
            if !k.starts_with(&prefix) {
                break;
            }
            let Some(sep) = k.iter().position(|b| *b == 0) else { continue };
            let (Ok(t), Ok(skill)) = (std::str::from_utf8(&k[..sep]), std::str::from_utf8(&k[sep + 1..]))
            else {
                continue;
            };
            let Ok(t) = TenantId::parse(t) else { continue };
            out.push((t, skill.to_string(), decode(v.value())?));
        }
        Ok(out)
    }
}
