//! Inbound requests already taken, per tenant: `replays(tenant, key,
//! until)`, until being the unix second after which the record may be
//! forgotten (decimal text, as redb stores it).
//!
//! Capped per tenant: one tenant's flood fills only its own records and
//! never evicts another's; a record is never dropped before it expires.

use super::{LockSpace, PgBackend, StoreError, lock};
use crate::ids::TenantId;
use crate::store::Replay;

fn expiry(v: &str) -> u64 {
    // A corrupt value counts as live for ever: refusing is the safe side.
    v.parse().unwrap_or(u64::MAX)
}

impl PgBackend {
    /// Records `key` for `tenant` until `until` (unix seconds), durably,
    /// unless a live record of it exists ([`Replay::Seen`]) or the tenant
    /// already holds `cap` live records ([`Replay::Full`]). Expired records
    /// of the tenant are dropped on the way. `key` must not contain `\0`.
    pub fn replay_first(
        &self,
        tenant: &TenantId,
        key: &str,
        now: u64,
        until: u64,
        cap: usize,
    ) -> Result<Replay, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (tenant, key) = (tenant.to_string(), key.as_bytes().to_vec());
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                // The tenant's records are counted and written by one
                // transaction at a time, as by redb's single writer.
                lock(tx, LockSpace::Replays, &tenant).await?;
                let stmt = tx.prepare_cached("SELECT key, until FROM replays WHERE tenant = $1").await?;
                let rows = tx.query(&stmt, &[&tenant]).await?;
                let (mut live, mut expired) = (0usize, Vec::new());
                for row in &rows {
                    let (k, v): (&[u8], &str) = (row.get(0), row.get(1));
                    if expiry(v) > now {
                        if k == key.as_slice() {
                            return Ok(Replay::Seen);
                        }
                        live += 1;
                    } else {
                        expired.push(k.to_vec());
                    }
                }
                if !expired.is_empty() {
                    let stmt =
                        tx.prepare_cached("DELETE FROM replays WHERE tenant = $1 AND key = ANY($2)").await?;
                    tx.execute(&stmt, &[&tenant, &expired]).await?;
                }
                if live >= cap {
                    return Ok(Replay::Full);
                }
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO replays (tenant, key, until) VALUES ($1, $2, $3) \
                         ON CONFLICT (tenant, key) DO UPDATE SET until = EXCLUDED.until",
                    )
                    .await?;
                tx.execute(&stmt, &[&tenant, &key, &until.to_string()]).await?;
                Ok(Replay::First)
            })
        })
    }
}
