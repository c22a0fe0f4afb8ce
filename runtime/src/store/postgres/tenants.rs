//! Tenants: `tenants(tenant, record)`, and the purge that deletes
//! everything a tenant owns in every table in one transaction.

use super::{PgBackend, StoreError, Transaction, bump_credentials};
use crate::ids::TenantId;
use crate::records::Tenant;
use crate::store::codec::{tenant_decode, tenant_encode};

impl PgBackend {
    /// Creates a tenant, durably; `false` (and nothing written) if it exists.
    pub fn tenant_create(&self, tenant: &Tenant) -> Result<bool, StoreError> {
        let (id, json) = (tenant.id.to_string(), tenant_encode(tenant)?);
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO tenants (tenant, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    )
                    .await?;
                Ok(c.execute(&stmt, &[&id, &json]).await? == 1)
            })
        })
    }

    /// One tenant's record.
    pub fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, StoreError> {
        let id = id.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT record FROM tenants WHERE tenant = $1").await?;
                let row = c.query_opt(&stmt, &[&id]).await?;
                row.map(|r| tenant_decode(&id, r.get(0))).transpose()
            })
        })
    }

    /// Every tenant, by id.
    pub fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT tenant, record FROM tenants ORDER BY tenant").await?;
                c.query(&stmt, &[]).await?.iter().map(|r| tenant_decode(r.get(0), r.get(1))).collect()
            })
        })
    }

    /// Whether the tenant exists and is suspended.
    pub fn tenant_suspended(&self, id: &TenantId) -> Result<bool, StoreError> {
        Ok(self.tenant(id)?.is_some_and(|t| t.suspended))
    }

    /// Sets a tenant's suspension, durably; `None` if there is no such tenant.
    pub fn tenant_set_suspended(&self, id: &TenantId, suspended: bool) -> Result<Option<Tenant>, StoreError> {
        let fence = self.fence_for(id.as_str())?;
        let id = id.to_string();
        let out = self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt =
                    tx.prepare_cached("SELECT record FROM tenants WHERE tenant = $1 FOR UPDATE").await?;
                let Some(row) = tx.query_opt(&stmt, &[&id]).await? else { return Ok(None) };
                let mut t = tenant_decode(&id, row.get(0))?;
                t.suspended = suspended;
                let stmt = tx.prepare_cached("UPDATE tenants SET record = $2 WHERE tenant = $1").await?;
                tx.execute(&stmt, &[&id, &tenant_encode(&t)?]).await?;
                bump_credentials(tx).await?;
                Ok(Some(t))
            })
        });
        self.credentials_changed();
        out
    }

    /// Deletes a tenant and everything it owns in the database (memory,
    /// policy, secrets and data key, cron jobs, messages, tokens, skills,
    /// usage, agents, sessions, model usage, channels, inbound replay
    /// records) in one durable transaction; `false` if there was no tenant.
    pub fn tenant_delete(&self, id: &TenantId) -> Result<bool, StoreError> {
        let fence = self.fence_for(id.as_str())?;
        let id = id.to_string();
        let out = self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("DELETE FROM tenants WHERE tenant = $1").await?;
                let existed = tx.execute(&stmt, &[&id]).await? > 0;
                purge(tx, &id, true).await?;
                bump_credentials(tx).await?;
                Ok(existed)
            })
        });
        self.credentials_changed();
        out
    }
}

/// The tables holding only rows of one tenant, by a `tenant` column.
/// Components are shared: [`super::skills::purge`] handles them.
pub(super) const TENANT_TABLES: [&str; 16] = [
    "policies",
    "tenant_keys",
    "secrets",
    "memory",
    "memory_usage",
    "tokens",
    "skills",
    "usage",
    "usage_hours",
    "agents",
    "sessions",
    "llm_usage",
    "channels",
    "replays",
    "cron_jobs",
    "outbox",
];

/// Deletes every row `tenant` owns but its record, within `tx`; its tokens
/// only `with_tokens` (a dump neither carries nor replaces credentials).
pub(super) async fn purge(tx: &Transaction<'_>, tenant: &str, with_tokens: bool) -> Result<(), StoreError> {
    super::skills::purge(tx, tenant).await?;
    for table in TENANT_TABLES {
        if table == "tokens" && !with_tokens {
            continue;
        }
        let stmt = tx.prepare_cached(&format!("DELETE FROM {table} WHERE tenant = $1")).await?;
        tx.execute(&stmt, &[&tenant]).await?;
    }
    Ok(())
}
