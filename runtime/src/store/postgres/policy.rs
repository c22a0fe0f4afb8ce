//! Tenant policies: `policies(tenant, policy)` (JSON).

use super::{PgBackend, StoreError};
use crate::ids::TenantId;
use crate::policy::TenantPolicy;

impl PgBackend {
    /// Replaces a tenant's policy, durably.
    pub fn set_policy(&self, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, json) = (tenant.to_string(), super::codec::encode(policy)?);
        self.transact_fenced(fence, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO policies (tenant, policy) VALUES ($1, $2) \
                         ON CONFLICT (tenant) DO UPDATE SET policy = EXCLUDED.policy",
                    )
                    .await?;
                c.execute(&stmt, &[&tenant, &json]).await?;
                Ok(())
            })
        })
    }

    /// A tenant's policy; the empty policy (nothing granted) when none is set.
    pub fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT policy FROM policies WHERE tenant = $1").await?;
                match c.query_opt(&stmt, &[&tenant]).await? {
                    None => Ok(TenantPolicy::default()),
                    Some(row) => serde_json::from_str(row.get(0)).map_err(|e| {
                        StoreError::Backend(format!("stored policy of {tenant} is corrupt: {e}"))
                    }),
                }
            })
        })
    }
}
