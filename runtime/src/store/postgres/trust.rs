//! Trusted publisher keys: `trusted_keys(name, record)` (JSON).
//! Operator-wide, not per tenant: no tenant purge touches it. A change
//! moves the credential generation, so every replica's trust cache reads
//! the keys again.

use super::{LockSpace, PgBackend, StoreError, lock};
use crate::records::TrustedKey;

fn decode(json: &str) -> Result<TrustedKey, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored trusted key is corrupt: {e}")))
}

impl PgBackend {
    /// Adds a trusted key, durably; `Err(existing)` (nothing written) if the
    /// name or the key is already trusted.
    pub fn trust_add(&self, key: &TrustedKey) -> Result<Result<(), TrustedKey>, StoreError> {
        let json = super::codec::encode(key)?;
        let key = key.clone();
        let out = self.transact(move |tx| {
            Box::pin(async move {
                // Names and keys are unique over the table: one adder at a
                // time checks them all.
                lock(tx, LockSpace::Trust, "").await?;
                let stmt = tx.prepare_cached("SELECT record FROM trusted_keys ORDER BY name").await?;
                for row in tx.query(&stmt, &[]).await? {
                    let existing = decode(row.get(0))?;
                    if existing.name == key.name || existing.key == key.key {
                        return Ok(Err(existing));
                    }
                }
                let stmt =
                    tx.prepare_cached("INSERT INTO trusted_keys (name, record) VALUES ($1, $2)").await?;
                tx.execute(&stmt, &[&key.name.as_bytes(), &json]).await?;
                super::sql::bump_credentials(tx).await?;
                Ok(Ok(()))
            })
        });
        // Moved even when nothing was added: a reader then only reads the
        // same keys again.
        self.credentials_changed();
        out
    }

    /// Every trusted key, by name.
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>, StoreError> {
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT record FROM trusted_keys ORDER BY name").await?;
                c.query(&stmt, &[]).await?.iter().map(|r| decode(r.get(0))).collect()
            })
        })
    }

    /// Removes a trusted key, durably; the removed record, if there was one.
    pub fn trust_remove(&self, name: &str) -> Result<Option<TrustedKey>, StoreError> {
        let name = name.as_bytes().to_vec();
        let out = self.transact(move |tx| {
            Box::pin(async move {
                let stmt =
                    tx.prepare_cached("DELETE FROM trusted_keys WHERE name = $1 RETURNING record").await?;
                let removed = tx.query_opt(&stmt, &[&name]).await?.map(|r| decode(r.get(0))).transpose()?;
                if removed.is_some() {
                    super::sql::bump_credentials(tx).await?;
                }
                Ok(removed)
            })
        });
        self.credentials_changed();
        out
    }
}
