//! The store's side of a cluster of gateways (several replicas on one
//! PostgreSQL database): the membership table and the facts every replica
//! must share. Only a shared backend has one ([`Db::cluster`]); redb, one
//! process's file, has none.
//!
//! Every time here is the database server's (`now()`): a replica's own
//! clock never decides whether a node is alive.

use super::StoreError;

use serde::Serialize;
use std::time::Duration;

/// What a replica says of itself when it joins and at each heartbeat.
#[derive(Debug, Clone)]
pub struct NodeClaim {
    /// The node id (`--node-id`).
    pub node_id: String,
    /// Random per process: tells a restart of this node id (the old row
    /// has stopped beating) from a second process claiming it.
    pub instance: String,
    /// Where the other replicas reach it (`--advertise`).
    pub addr: String,
    /// The wasmclaw version it runs.
    pub version: String,
    /// SHA-256 of its effective configuration (without secrets), hex.
    pub config_digest: String,
}

/// A node as the membership table holds it, with ages by the server's
/// clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeRow {
    /// The node id.
    pub node_id: String,
    /// Where the other replicas reach it.
    pub addr: String,
    /// The version it runs.
    pub version: String,
    /// Its configuration's digest.
    pub config_digest: String,
    /// Seconds since it started (joined).
    pub age_secs: u64,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: u64,
    /// Whether its heartbeat is still within its time to live.
    pub live: bool,
}

/// Why a node could not join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinRefusal {
    /// Another live process holds the node id (its address, and how long
    /// its row has to live, in milliseconds).
    Taken {
        /// The other process's address.
        addr: String,
        /// How long until its row expires if it stops beating.
        expires_in_ms: u64,
    },
}

/// What taking a tenant's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseTake {
    /// This process holds the lease now, at this epoch; `taken` when this
    /// call took it (the epoch moved: whatever this process remembered of
    /// the tenant may be stale).
    Held {
        /// The lease's epoch.
        epoch: i64,
        /// Whether it was taken just now.
        taken: bool,
    },
    /// Another live replica holds it.
    Owned {
        /// That replica's node id.
        node_id: String,
        /// Where it is reached.
        addr: String,
        /// How long its membership row has to live if it stops beating.
        expires_in_ms: u64,
    },
    /// No such tenant: no lease is made for it (so names that exist
    /// nowhere leave no rows).
    NoTenant,
}

/// A tenant's lease as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseRow {
    /// The tenant.
    pub tenant: String,
    /// Its owner's node id (empty: released).
    pub node_id: String,
    /// The lease's epoch (grows at every change of owner).
    pub epoch: i64,
    /// Seconds since it was taken.
    pub age_secs: u64,
    /// Whether its owner is live (the lease is held).
    pub live: bool,
}

/// How a heartbeat went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beat {
    /// Renewed; `continuous` when the row had not expired before it (no
    /// other replica could have taken this one's tenants in between).
    Renewed {
        /// Whether the row was still live.
        continuous: bool,
    },
    /// The row is another process's now.
    Lost,
}

/// The cluster operations of a shared store.
pub trait ClusterStore: Send + Sync {
    /// Joins as `claim` for `ttl`: the row is created, or taken over when
    /// it is expired or already this process's. `Ok(Err(_))` when another
    /// live process holds the node id.
    fn node_join(&self, claim: &NodeClaim, ttl: Duration) -> Result<Result<(), JoinRefusal>, StoreError>;
    /// Extends this process's row by `ttl` from now ([`Beat::Lost`] when
    /// the row is no longer this process's: it expired and another took
    /// the id).
    fn node_heartbeat(&self, node_id: &str, instance: &str, ttl: Duration) -> Result<Beat, StoreError>;
    /// Removes this process's row (a graceful stop).
    fn node_leave(&self, node_id: &str, instance: &str) -> Result<(), StoreError>;
    /// Every node, live or expired, by node id.
    fn nodes(&self) -> Result<Vec<NodeRow>, StoreError>;
    /// The database server's clock: seconds since the Unix epoch.
    fn server_time(&self) -> Result<u64, StoreError>;
    /// The shared fact `name`: set to `value` if it has none, then read.
    fn fact_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError>;
    /// From now on, reads the credential generation every `every` and
    /// moves [`Db::credentials_generation`](super::Db::credentials_generation)
    /// when another replica changed a credential (a token revoked or
    /// rotated, a tenant suspended, resumed or deleted, a publisher key
    /// trusted or untrusted), on the first read, and on every read that
    /// fails; and while no read has answered for three polls (the process
    /// stalled, the database slow or away) every read of the generation
    /// moves it, so no cache answers from memory until one does. Once per
    /// store.
    fn watch_credentials(&self, every: Duration);

    /// From now on, every write of a tenant's state by this store checks in
    /// its own transaction that this process (`node_id`, `instance`) holds
    /// the tenant's lease at the epoch it took, and fails with
    /// [`StoreError::TenantMoved`] otherwise, writing nothing. Once per
    /// store.
    fn enable_fencing(&self, node_id: &str, instance: &str);
    /// Takes `tenant`'s lease for this process when it has no live owner
    /// (the epoch grows by one), or finds who holds it. This process must be
    /// live itself: an expired membership takes nothing.
    fn lease_take(&self, tenant: &str) -> Result<LeaseTake, StoreError>;
    /// Whether this process holds `tenant`'s lease (as far as the writes'
    /// fence knows: the last take, release or refused write).
    fn lease_held(&self, tenant: &str) -> bool;
    /// Gives `tenant`'s lease up (kept as a row without owner).
    fn lease_release(&self, tenant: &str) -> Result<(), StoreError>;
    /// Forgets every lease this process holds without a round trip (its
    /// membership lapsed: they may be another's already).
    fn lease_forget_all(&self);
    /// Every lease, by tenant.
    fn leases(&self) -> Result<Vec<LeaseRow>, StoreError>;
}
