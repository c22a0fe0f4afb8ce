//! Trusted publisher keys: name → record (JSON). Operator-wide, not per
//! tenant: no tenant purge touches it.

use super::{Db, StoreError};
use crate::trust::TrustedKey;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const TRUST: TableDefinition<&str, &str> = TableDefinition::new("trusted_keys");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(TRUST)?;
    Ok(())
}

fn decode(json: &str) -> Result<TrustedKey, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored trusted key is corrupt: {e}")))
}

impl Db {
    /// Adds a trusted key, durably; `Err(existing)` (nothing written) if the
    /// name or the key is already trusted.
    pub fn trust_add(&self, key: &TrustedKey) -> Result<Result<(), TrustedKey>, StoreError> {
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
        Ok(Ok(()))
    }

    /// Every trusted key, by name.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(TRUST)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            out.push(decode(item?.1.value())?);
        }
        Ok(out)
    }

    /// Removes a trusted key, durably; the removed record, if there was one.
    pub fn trust_remove(&self, name: &str) -> Result<Option<TrustedKey>, StoreError> {
        let txn = self.db.begin_write()?;
        let removed = txn.open_table(TRUST)?.remove(name)?.map(|v| decode(v.value())).transpose()?;
        txn.commit()?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testing::db;
    use crate::trust::TrustedKey;

    fn k(name: &str, key: &str) -> TrustedKey {
        TrustedKey { name: name.into(), key: key.into(), added: 1 }
    }

    #[test]
    fn names_and_keys_are_unique() {
        let (_d, db) = db();
        db.trust_add(&k("a", "ed25519:A")).unwrap().unwrap();
        assert_eq!(db.trust_add(&k("a", "ed25519:B")).unwrap().unwrap_err().key, "ed25519:A");
        assert_eq!(db.trust_add(&k("b", "ed25519:A")).unwrap().unwrap_err().name, "a");
        db.trust_add(&k("b", "ed25519:B")).unwrap().unwrap();
        assert_eq!(db.trusted_keys().unwrap().len(), 2);
        assert_eq!(db.trust_remove("a").unwrap().unwrap().key, "ed25519:A");
        assert!(db.trust_remove("a").unwrap().is_none());
        assert_eq!(db.trusted_keys().unwrap(), vec![k("b", "ed25519:B")]);
    }
}
