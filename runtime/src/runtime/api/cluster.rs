//! The runtime's face as a replica of a cluster ([`crate::cluster`]):
//! joining and leaving, where a tenant is served, the nodes and leases,
//! and the signed hop between replicas. A single gateway answers `None`
//! (or nothing to do) to each.

use super::super::Runtime;
use crate::error::Error;
use crate::ids::TenantId;
use std::sync::Arc;

impl Runtime {
    /// Joins the cluster as `identity` ([`crate::cluster`]) and keeps its
    /// membership alive; a second call does nothing.
    pub async fn join_cluster(&self, identity: &crate::config::NodeIdentity) -> Result<(), Error> {
        if self.inner.membership.get().is_some() {
            return Ok(());
        }
        let config = &self.inner.config;
        let inner = Arc::downgrade(&self.inner);
        let forget = Box::new(move |tenant: &str| {
            if let (Some(inner), Ok(t)) = (inner.upgrade(), TenantId::parse(tenant)) {
                // Taken anew, lost or given up: what another replica may
                // have changed is read again (bound skills and grants,
                // redactors, the disk count; the token cache follows the
                // credential generation).
                inner.skills.forget(&t);
                inner.secrets.forget(&t);
                inner.tenants.refresh(&t);
            }
        });
        let joined = crate::cluster::Membership::join(
            &self.inner.db,
            identity,
            &config.cluster,
            (config.shared_digest(), self.inner.master_fingerprint.clone()),
            forget,
            self.inner.time.clone(),
        )
        .await?;
        joined.spawn_heartbeat();
        self.record("operator", None, "cluster.join", identity.node_id.as_str(), "ok");
        let _ = self.inner.membership.set(joined);
        Ok(())
    }

    /// Leaves the cluster (a graceful stop); nothing when not in one.
    pub async fn leave_cluster(&self) -> Result<(), Error> {
        match self.inner.membership.get() {
            Some(m) => m.leave().await,
            None => Ok(()),
        }
    }

    /// Where a request of `tenant` is served ([`crate::cluster::Route`]);
    /// `None` for a single gateway (always here).
    pub async fn route(&self, tenant: &str) -> Result<Option<crate::cluster::Route>, Error> {
        match self.inner.membership.get() {
            Some(m) => Ok(Some(m.route(tenant).await?)),
            None => Ok(None),
        }
    }

    /// Forgets where `tenant` was served by another replica (a forward to
    /// it failed or was refused); nothing for a single gateway.
    pub fn forget_placement(&self, tenant: &str) {
        if let Some(m) = self.inner.membership.get() {
            m.forget_placement(tenant);
        }
    }

    /// Every tenant lease of the cluster; `None` for a single gateway.
    pub async fn cluster_leases(&self) -> Result<Option<Vec<crate::store::cluster::LeaseRow>>, Error> {
        match self.inner.membership.get() {
            Some(m) => Ok(Some(m.leases().await?)),
            None => Ok(None),
        }
    }

    /// The nodes of the cluster this replica is in, by node id; `None` for a
    /// single gateway.
    pub async fn cluster_nodes(&self) -> Result<Option<Vec<crate::store::cluster::NodeRow>>, Error> {
        match self.inner.membership.get() {
            Some(m) => Ok(Some(m.nodes().await?)),
            None => Ok(None),
        }
    }

    /// Whether another process took this replica's node id (it stopped
    /// beating for longer than the TTL): it must stop serving.
    pub fn cluster_lost(&self) -> bool {
        self.inner.membership.get().is_some_and(|m| m.is_lost())
    }

    /// This replica's node id, in a cluster.
    pub fn node_id(&self) -> Option<&str> {
        self.inner.membership.get().map(|m| m.node_id())
    }

    /// The hop header's value for a request `method path` (path and query)
    /// this replica forwards now; `None` for a single gateway.
    pub fn hop_sign(&self, method: &str, path: &str) -> Option<String> {
        let node = self.node_id()?;
        Some(self.inner.hop_key.sign(node, crate::clock::Clock::now(&*self.inner.time), method, path))
    }

    /// The forwarding replica's node id when `value` is a hop header this
    /// cluster signed for `method path` just now; `None` for a client's.
    pub fn hop_check(&self, value: &str, method: &str, path: &str) -> Option<String> {
        self.node_id()?;
        self.inner.hop_key.check(value, crate::clock::Clock::now(&*self.inner.time), method, path)
    }
}
