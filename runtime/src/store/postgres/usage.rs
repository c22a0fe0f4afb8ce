//! Metered usage: `usage(tenant, skill, totals)` (JSON). The runtime adds
//! batches of deltas ([`PgBackend::usage_add`]) in one transaction.

use super::{PgBackend, StoreError, merge_row};
use crate::ids::TenantId;
use crate::records::UsageTotals;

fn decode(json: &str) -> Result<UsageTotals, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("stored usage is corrupt: {e}")))
}

impl PgBackend {
    /// Adds each delta to its `(tenant, skill)` totals, in one durable
    /// transaction.
    pub fn usage_add(&self, deltas: &[(TenantId, String, UsageTotals)]) -> Result<(), StoreError> {
        if deltas.is_empty() {
            return Ok(());
        }
        let deltas: Vec<(String, Vec<u8>, UsageTotals)> =
            deltas.iter().map(|(t, s, d)| (t.to_string(), s.as_bytes().to_vec(), d.clone())).collect();
        self.transact(move |tx| {
            Box::pin(async move {
                for (tenant, skill, delta) in &deltas {
                    let merge = |t: &mut UsageTotals| t.merge(delta);
                    merge_row(tx, ("usage", "skill", "totals"), tenant, skill, merge).await?;
                }
                Ok(())
            })
        })
    }

    /// Stored totals of one tenant (or every tenant), as `(tenant, skill,
    /// totals)` sorted by tenant then skill.
    pub fn usage(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<(TenantId, String, UsageTotals)>, StoreError> {
        let tenant = tenant.map(TenantId::to_string);
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = match &tenant {
                    Some(t) => {
                        let stmt = c
                            .prepare_cached(
                                "SELECT tenant, skill, totals FROM usage WHERE tenant = $1 ORDER BY skill",
                            )
                            .await?;
                        c.query(&stmt, &[t]).await?
                    }
                    None => {
                        let stmt = c
                            .prepare_cached("SELECT tenant, skill, totals FROM usage ORDER BY tenant, skill")
                            .await?;
                        c.query(&stmt, &[]).await?
                    }
                };
                let mut out = Vec::new();
                for row in rows {
                    // As redb: a row whose tenant or skill does not read as
                    // such is skipped.
                    let (Ok(t), Ok(skill)) = (TenantId::parse(row.get(0)), std::str::from_utf8(row.get(1)))
                    else {
                        continue;
                    };
                    out.push((t, skill.to_string(), decode(row.get(2))?));
                }
                Ok(out)
            })
        })
    }
}
