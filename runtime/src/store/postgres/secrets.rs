//! Secrets (the vault's storage): opaque sealed bytes, never plaintext.
//!
//! - `tenant_keys(tenant, wrapped)`: the tenant's data key, wrapped by the
//!   master key;
//! - `secrets(tenant, name, sealed)`: each value, sealed by the tenant's
//!   data key.
//!
//! This module neither encrypts nor decrypts: [`crate::vault`] does, and
//! binds every sealed blob to its tenant and name.

use super::{PgBackend, StoreError};
use crate::ids::TenantId;

impl PgBackend {
    /// The tenant's wrapped data key, if it has one.
    pub fn secret_key(&self, tenant: &TenantId) -> Result<Option<Vec<u8>>, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT wrapped FROM tenant_keys WHERE tenant = $1").await?;
                Ok(c.query_opt(&stmt, &[&tenant]).await?.map(|r| r.get(0)))
            })
        })
    }

    /// Stores (or replaces) the tenant's wrapped data key, durably.
    ///
    /// Replacing a key makes every secret sealed under the old one
    /// unreadable; the vault creates keys with
    /// [`PgBackend::secret_key_or_insert`], which never replaces one.
    pub fn put_secret_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<(), StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, wrapped) = (tenant.to_string(), wrapped.to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO tenant_keys (tenant, wrapped) VALUES ($1, $2) \
                         ON CONFLICT (tenant) DO UPDATE SET wrapped = EXCLUDED.wrapped",
                    )
                    .await?;
                c.execute(&stmt, &[&tenant, &wrapped]).await?;
                Ok(())
            })
        })
    }

    /// The tenant's wrapped data key; when it has none, stores `wrapped`
    /// (durably) and returns it. Atomic: of two concurrent first uses, both
    /// get the same key.
    pub fn secret_key_or_insert(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, wrapped) = (tenant.to_string(), wrapped.to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                // The no-op update makes the row come back whether this
                // statement inserted it or found it (waiting for a
                // concurrent inserter to commit).
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO tenant_keys (tenant, wrapped) VALUES ($1, $2) \
                         ON CONFLICT (tenant) DO UPDATE SET wrapped = tenant_keys.wrapped \
                         RETURNING wrapped",
                    )
                    .await?;
                Ok(c.query_one(&stmt, &[&tenant, &wrapped]).await?.get(0))
            })
        })
    }

    /// Stores (or replaces) one sealed secret value, durably.
    pub fn put_secret(&self, tenant: &TenantId, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, name, sealed) = (tenant.to_string(), name.as_bytes().to_vec(), sealed.to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO secrets (tenant, name, sealed) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, name) DO UPDATE SET sealed = EXCLUDED.sealed",
                    )
                    .await?;
                c.execute(&stmt, &[&tenant, &name, &sealed]).await?;
                Ok(())
            })
        })
    }

    /// One sealed secret value, if set.
    pub fn secret(&self, tenant: &TenantId, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT sealed FROM secrets WHERE tenant = $1 AND name = $2").await?;
                Ok(c.query_opt(&stmt, &[&tenant, &name]).await?.map(|r| r.get(0)))
            })
        })
    }

    /// The names of the tenant's secrets, sorted.
    pub fn secret_names(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT name FROM secrets WHERE tenant = $1 ORDER BY name").await?;
                let rows = c.query(&stmt, &[&tenant]).await?;
                let mut names: Vec<String> =
                    rows.iter().map(|r| String::from_utf8_lossy(r.get(0)).into_owned()).collect();
                // Sorted by bytes already; sorted again as the redb store
                // does, so the contract does not rest on the backend.
                names.sort();
                Ok(names)
            })
        })
    }

    /// Deletes one secret value, durably; `false` when there was none.
    pub fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("DELETE FROM secrets WHERE tenant = $1 AND name = $2").await?;
                Ok(c.execute(&stmt, &[&tenant, &name]).await? > 0)
            })
        })
    }
}
