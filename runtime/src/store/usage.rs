//! Metered usage: `tenant \0 skill` → totals (JSON). The runtime adds
//! batches of deltas ([`Db::usage_add`]) in one transaction.

use super::{Db, StoreError, remove_prefixed, tenant_prefix};
use crate::ids::TenantId;
use crate::metering::UsageTotals;
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

impl Db {
    /// Adds each delta to its `(tenant, skill)` totals, in one durable
    /// transaction.
    pub fn usage_add(&self, deltas: &[(TenantId, String, UsageTotals)]) -> Result<(), StoreError> {
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
    pub fn usage(
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

#[cfg(test)]
mod tests {
    use crate::metering::UsageTotals;
    use crate::store::testing::{db, t};

    #[test]
    fn deltas_add_up_per_tenant_and_skill() {
        let (_d, db) = db();
        let one =
            UsageTotals { calls: 1, fuel: 10, wall_us: 5, memory_peak_bytes: 100, ..Default::default() };
        let mut failed = one.clone();
        failed.errors.insert("trap".into(), 1);
        failed.memory_peak_bytes = 300;
        db.usage_add(&[(t("a"), "echo".into(), one.clone()), (t("ab"), "echo".into(), one.clone())]).unwrap();
        db.usage_add(&[(t("a"), "echo".into(), failed)]).unwrap();
        let a = db.usage(Some(&t("a"))).unwrap();
        assert_eq!(a.len(), 1);
        let totals = &a[0].2;
        assert_eq!((totals.calls, totals.fuel, totals.memory_peak_bytes), (2, 20, 300));
        assert_eq!(totals.errors.get("trap"), Some(&1));
        assert_eq!(db.usage(None).unwrap().len(), 2);
    }
}
