//! Tenant leases on PostgreSQL (`tenant_leases`) and the fence every write
//! of a tenant's state passes: see [`PgBackend::transact_for`].
//!
//! A lease is live while the membership row it names (node id and
//! instance) is live by the server's `now()`. Taking one locks its row
//! (`FOR UPDATE`, with a lock timeout): a takeover waits for the writes in
//! flight that hold it `FOR SHARE`, and every write after it sees the new
//! epoch. A stale owner's transaction cannot hold the row for ever:
//! connections run with `idle_in_transaction_session_timeout`.

use super::calls::{BoxFut, Transaction};
use super::cluster::millis;
use super::{PgBackend, StoreError};
use crate::store::cluster::{LeaseRow, LeaseTake};
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Longest a takeover waits for the writes in flight of the old owner.
const TAKE_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '3s'";

/// This process's side of the fence: who it is in the cluster (set once
/// fencing is on) and the epoch of every lease it holds.
#[derive(Debug, Default)]
pub(super) struct Fence {
    me: OnceLock<(String, String)>,
    held: Mutex<HashMap<String, i64>>,
}

/// Checks the lease inside a write's transaction and keeps its row from
/// changing owner until the transaction ends.
const CHECK: &str = "SELECT 1 FROM tenant_leases \
     WHERE tenant = $1 AND node_id = $2 AND instance = $3 AND epoch = $4 FOR SHARE";

/// What a write checks: see [`PgBackend::fence_for`].
pub(super) struct FenceCheck(Option<Check>);

struct Check {
    tenant: String,
    node: String,
    instance: String,
    epoch: i64,
    fence: Arc<Fence>,
}

impl FenceCheck {
    /// A write that checks nothing.
    pub(super) fn none() -> FenceCheck {
        FenceCheck(None)
    }

    /// Checks the lease in `tx`, holding its row `FOR SHARE` until `tx`
    /// ends; a lease that moved is forgotten here too.
    pub(super) async fn check(&self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let Some(c) = &self.0 else { return Ok(()) };
        let stmt = tx.prepare_cached(CHECK).await?;
        if tx.query_opt(&stmt, &[&c.tenant, &c.node, &c.instance, &c.epoch]).await?.is_some() {
            return Ok(());
        }
        let mut held = lock(&c.fence.held);
        if held.get(&c.tenant) == Some(&c.epoch) {
            held.remove(&c.tenant);
        }
        Err(StoreError::TenantMoved(c.tenant.clone()))
    }
}

impl Fence {
    pub(super) fn enable(&self, node_id: &str, instance: &str) {
        let _ = self.me.set((node_id.to_string(), instance.to_string()));
    }

    fn me(&self) -> Option<&(String, String)> {
        self.me.get()
    }
}

impl PgBackend {
    /// The fence of a write of `tenant`'s state, to check inside its
    /// transaction ([`FenceCheck::check`]): nothing to check with fencing
    /// off; [`StoreError::TenantMoved`] at once when this process holds no
    /// lease of the tenant.
    pub(super) fn fence_for(&self, tenant: &str) -> Result<FenceCheck, StoreError> {
        let Some((node, instance)) = self.fence.me().cloned() else { return Ok(FenceCheck(None)) };
        let epoch = lock(&self.fence.held)
            .get(tenant)
            .copied()
            .ok_or_else(|| StoreError::TenantMoved(tenant.to_string()))?;
        Ok(FenceCheck(Some(Check {
            tenant: tenant.to_string(),
            node,
            instance,
            epoch,
            fence: self.fence.clone(),
        })))
    }

    /// [`PgBackend::transact`] behind `fence`: the transaction first checks
    /// that this process still holds the tenant's lease at the epoch it
    /// took, and is refused with [`StoreError::TenantMoved`] (nothing
    /// written) when it does not.
    pub(super) fn transact_fenced<T, F>(&self, fence: FenceCheck, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Transaction<'a>) -> BoxFut<'a, T> + Send + 'static,
    {
        self.transact(move |tx| {
            Box::pin(async move {
                fence.check(tx).await?;
                f(tx).await
            })
        })
    }

    pub(super) fn fence_enable(&self, node_id: &str, instance: &str) {
        self.fence.enable(node_id, instance);
    }

    pub(super) fn fence_held(&self, tenant: &str) -> bool {
        lock(&self.fence.held).contains_key(tenant)
    }

    pub(super) fn fence_forget_all(&self) {
        lock(&self.fence.held).clear();
    }

    pub(super) fn lease_take_pg(&self, tenant: &str) -> Result<LeaseTake, StoreError> {
        let Some((node, instance)) = self.fence.me().cloned() else {
            return Err(StoreError::Backend("leases need fencing on (a replica of a cluster)".into()));
        };
        let t = tenant.to_string();
        let taken = self.transact(move |tx| {
            Box::pin(async move {
                tx.batch_execute(TAKE_LOCK_TIMEOUT).await?;
                if tx.query_opt("SELECT 1 FROM tenants WHERE tenant = $1", &[&t]).await?.is_none() {
                    return Ok(LeaseTake::NoTenant);
                }
                // Make sure a row exists to lock (a first lease starts at 0
                // without owner, then is taken as any released one).
                tx.execute(
                    "INSERT INTO tenant_leases (tenant, node_id, instance, epoch) VALUES ($1, '', '', 0) \
                     ON CONFLICT (tenant) DO NOTHING",
                    &[&t],
                )
                .await?;
                let row = tx
                    .query_one(
                        "SELECT l.node_id, l.instance, l.epoch, coalesce(n.addr, ''), \
                         coalesce(n.expires_at > now(), false), \
                         coalesce((extract(epoch FROM n.expires_at - now()) * 1000)::float8, 0) \
                         FROM tenant_leases l LEFT JOIN nodes n \
                         ON n.node_id = l.node_id AND n.instance = l.instance \
                         WHERE l.tenant = $1 FOR UPDATE OF l",
                        &[&t],
                    )
                    .await?;
                let (owner, owner_instance, epoch): (String, String, i64) =
                    (row.get(0), row.get(1), row.get(2));
                if owner == node && owner_instance == instance {
                    return Ok(LeaseTake::Held { epoch, taken: false });
                }
                if row.get::<_, bool>(4) {
                    return Ok(LeaseTake::Owned {
                        node_id: owner,
                        addr: row.get(3),
                        expires_in_ms: millis(row.get(5)),
                    });
                }
                // Only a live replica takes a lease (an owner found live is
                // still told, so the request goes there).
                let me_live = tx
                    .query_opt(
                        "SELECT 1 FROM nodes WHERE node_id = $1 AND instance = $2 AND expires_at > now()",
                        &[&node, &instance],
                    )
                    .await?
                    .is_some();
                if !me_live {
                    return Err(StoreError::Unavailable(
                        "this replica's membership has lapsed; it takes no tenant until it beats again"
                            .into(),
                    ));
                }
                let epoch = epoch + 1;
                tx.execute(
                    "UPDATE tenant_leases SET node_id = $2, instance = $3, epoch = $4, taken_at = now() \
                     WHERE tenant = $1",
                    &[&t, &node, &instance, &epoch],
                )
                .await?;
                Ok(LeaseTake::Held { epoch, taken: true })
            })
        });
        // A lock timeout (the old owner's write in flight held the row) is
        // `Unavailable` already: retryable.
        let taken = taken?;
        if let LeaseTake::Held { epoch, .. } = taken {
            lock(&self.fence.held).insert(tenant.to_string(), epoch);
        } else {
            lock(&self.fence.held).remove(tenant);
        }
        Ok(taken)
    }

    pub(super) fn lease_release_pg(&self, tenant: &str) -> Result<(), StoreError> {
        let Some((node, instance)) = self.fence.me().cloned() else { return Ok(()) };
        // Out of the fence first: no write of this tenant starts from here.
        let Some(epoch) = lock(&self.fence.held).remove(tenant) else { return Ok(()) };
        let t = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute(
                    "UPDATE tenant_leases SET node_id = '', instance = '' \
                     WHERE tenant = $1 AND node_id = $2 AND instance = $3 AND epoch = $4",
                    &[&t, &node, &instance, &epoch],
                )
                .await?;
                Ok(())
            })
        })
    }

    pub(super) fn leases_pg(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT l.tenant, l.node_id, l.epoch, \
                         extract(epoch FROM now() - l.taken_at)::float8, \
                         coalesce(n.expires_at > now(), false) \
                         FROM tenant_leases l LEFT JOIN nodes n \
                         ON n.node_id = l.node_id AND n.instance = l.instance ORDER BY l.tenant",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| LeaseRow {
                        tenant: r.get(0),
                        node_id: r.get(1),
                        epoch: r.get(2),
                        age_secs: millis(r.get(3)),
                        live: r.get(4),
                    })
                    .collect())
            })
        })
    }
}
