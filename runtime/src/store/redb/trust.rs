//! Trusted publisher keys: name → record (JSON). Operator-wide, not per
//! tenant: no tenant purge touches it.

use super::RedbBackend;
use crate::records::TrustedKey;
use crate::store::StoreError;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const TRUST: TableDefinition<&str, &str> = TableDefinition::new("trusted_keys");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(TRUST)?;
    Ok(())
}

fn decode(json: &str) -> Result<TrustedKey, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored trusted key is corrupt: {e}")))
}

impl RedbBackend {
    /// Adds a trusted key, durably; `Err(existing)` (nothing written) if the
    /// name or the key is already trusted.
    pub(super) fn trust_add(&self, key: &TrustedKey) -> Result<Result<(), TrustedKey>, StoreError> {
        let json = serde_json::to_string(key).map_err(|e| StoreError::Backend(e.to_string()))?;
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(TRUST)?;
            for item in table.iter()? {
                let (_, v) = item?;
                let existing = decode(v.value())?;
                if existing.name == key.name || existing.key == key.key {
                    return Ok(Err(existing));
                }
            }
            table.insert(key.name.as_str(), json.as_str())?;
        }
        txn.commit()?;
        self.credentials_changed();
        Ok(Ok(()))
    }

    /// Every trusted key, by name.
    pub(super) fn trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TRUST)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            out.push(decode(item?.1.value())?);
        }
        Ok(out)
    }

    /// Removes a trusted key, durably; the removed record, if there was one.
    pub(super) fn trust_remove(&self, name: &str) -> Result<Option<TrustedKey>, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn.open_table(TRUST)?.remove(name)?.map(|v| decode(v.value())).transpose()?;
        txn.commit()?;
        if removed.is_some() {
            self.credentials_changed();
        }
        Ok(removed)
    }
}
