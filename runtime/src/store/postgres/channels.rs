//! A tenant's inbound channels: `channels(tenant, name, spec)` (JSON).

use super::{PgBackend, StoreError};
use crate::ids::TenantId;
use crate::records::ChannelSpec;

fn decode(json: &str) -> Result<ChannelSpec, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored channel is corrupt: {e}")))
}

impl PgBackend {
    /// Adds a channel; `Ok(false)` (nothing written) if the tenant has one
    /// of that name.
    pub fn channel_add(&self, tenant: &TenantId, spec: &ChannelSpec) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let json = super::codec::encode(spec)?;
        let (tenant, name) = (tenant.to_string(), spec.name.as_bytes().to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO channels (tenant, name, spec) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&tenant, &name, &json]).await? == 1)
            })
        })
    }

    /// One channel of a tenant.
    pub fn channel(&self, tenant: &TenantId, name: &str) -> Result<Option<ChannelSpec>, StoreError> {
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT spec FROM channels WHERE tenant = $1 AND name = $2").await?;
                c.query_opt(&stmt, &[&tenant, &name]).await?.map(|r| decode(r.get(0))).transpose()
            })
        })
    }

    /// A tenant's channels, by name.
    pub fn channels(&self, tenant: &TenantId) -> Result<Vec<ChannelSpec>, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt =
                    c.prepare_cached("SELECT spec FROM channels WHERE tenant = $1 ORDER BY name").await?;
                c.query(&stmt, &[&tenant]).await?.iter().map(|r| decode(r.get(0))).collect()
            })
        })
    }

    /// Removes a channel; whether it existed.
    pub fn channel_remove(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, name) = (tenant.to_string(), name.as_bytes().to_vec());
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("DELETE FROM channels WHERE tenant = $1 AND name = $2").await?;
                Ok(c.execute(&stmt, &[&tenant, &name]).await? > 0)
            })
        })
    }
}
