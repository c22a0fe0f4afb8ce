//! This replica's membership of a cluster: several `wasmclaw serve` over
//! one PostgreSQL database (issue 18). At start it checks what every
//! replica must share (the master key), joins the membership table under
//! its node id, and then renews its row every heartbeat; on a graceful
//! stop it leaves. The database's clock alone decides who is alive.
//!
//! A node id is one process at a time. A restart of the same node id
//! (a pod restarted under its name) finds its old row still alive for up
//! to the TTL and waits it out; a second live process with that id keeps
//! beating, so the wait ends in a refusal naming its address.
//!
//! Each tenant is served by one replica at a time: see [`leases`].

mod hop;
mod leases;
mod placements;

pub use hop::HopKey;
pub use leases::{LeaseGuard, Route};

use crate::config::{ClusterConfig, NodeIdentity};
use crate::error::Error;
use crate::store::Db;
use crate::store::StoreError;
use crate::store::cluster::{Beat, ClusterStore, JoinRefusal, LeaseRow, LeaseTake, NodeClaim, NodeRow};
use leases::Leases;
use placements::Placements;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a replica reads the credential generation: the bound on how
/// long another replica's revocation may take to reach its token cache.
const CREDENTIALS_POLL: Duration = Duration::from_millis(250);

/// The name of the master key's fingerprint in `cluster_facts`.
const MASTER_KEY_FACT: &str = "master_key_fingerprint";

/// A replica's membership.
pub struct Membership {
    store: Arc<dyn ClusterStore>,
    claim: NodeClaim,
    ttl: Duration,
    heartbeat: Duration,
    /// Set once a heartbeat finds the row taken by another process.
    lost: AtomicBool,
    /// The tenants this replica owns.
    leases: Arc<Leases>,
    /// Where other replicas' tenants were lately (hints for forwarding).
    placements: Placements,
    /// How long an unused lease is kept.
    idle: Duration,
    /// The runtime's clock, kept to the database's at every heartbeat.
    time: Arc<crate::clock::OffsetClock>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership").field("node_id", &self.claim.node_id).finish_non_exhaustive()
    }
}

/// Runs a cluster operation off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("a cluster operation did not finish: {e}")))?
        .map_err(Error::Store)
}

impl Membership {
    /// Checks the master key against the cluster's and joins as
    /// `identity`, waiting out an old row of this node id for at most the
    /// TTL and a second. `forget` drops what the runtime remembers of a
    /// tenant (called when its lease is taken here anew, lost or given up).
    pub(crate) async fn join(
        db: &Db,
        identity: &NodeIdentity,
        config: &ClusterConfig,
        (config_digest, master_fingerprint): (String, String),
        forget: Box<dyn Fn(&str) + Send + Sync>,
        time: Arc<crate::clock::OffsetClock>,
    ) -> Result<Arc<Membership>, Error> {
        config.validate().map_err(Error::Config)?;
        let store = db.cluster().cloned().ok_or_else(|| {
            Error::Config(
                "--node-id runs this gateway as a replica of a cluster, which needs a shared \
                 store: start it with --store postgres://…"
                    .into(),
            )
        })?;
        let s = store.clone();
        let fp = master_fingerprint.clone();
        let shared = blocking(move || s.fact_or_insert(MASTER_KEY_FACT, &fp)).await?;
        if shared != master_fingerprint {
            return Err(Error::Config(format!(
                "this replica's master key (fingerprint {master_fingerprint}) is not the cluster's \
                 ({shared}): every replica needs the same WASMCLAW_MASTER_KEY"
            )));
        }
        let claim = NodeClaim {
            node_id: identity.node_id.clone(),
            instance: crate::auth::random_hex(16)?,
            addr: identity.advertise.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            config_digest,
        };
        let ttl = Duration::from_millis(config.ttl_ms);
        let deadline = tokio::time::Instant::now() + ttl + Duration::from_secs(1);
        let joined_at = loop {
            let (s, c) = (store.clone(), claim.clone());
            let sent = Instant::now();
            match blocking(move || s.node_join(&c, ttl)).await? {
                Ok(()) => break sent,
                Err(JoinRefusal::Taken { addr, expires_in_ms }) => {
                    let now = tokio::time::Instant::now();
                    if now >= deadline {
                        return Err(Error::Conflict(format!(
                            "node id {} is held by another live replica ({addr}): give each replica \
                             its own --node-id",
                            claim.node_id
                        )));
                    }
                    let wait = Duration::from_millis(expires_in_ms.clamp(50, 500));
                    tokio::time::sleep(wait.min(deadline - now)).await;
                }
            }
        };
        // Every write of a tenant's state checks this process's lease.
        store.enable_fencing(&claim.node_id, &claim.instance);
        // Another replica's credential changes reach this one's token
        // cache within a read of the generation row.
        store.watch_credentials(CREDENTIALS_POLL);
        let joined = Arc::new(Membership {
            store,
            claim,
            ttl,
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            lost: AtomicBool::new(false),
            leases: Arc::new(Leases::new(joined_at + ttl, forget)),
            placements: Placements::default(),
            idle: Duration::from_millis(config.lease_idle_ms),
            time,
        });
        // From the first job and message on, this replica's time is the
        // database's.
        joined.keep_time().await;
        Ok(joined)
    }

    /// This replica's node id.
    pub fn node_id(&self) -> &str {
        &self.claim.node_id
    }

    /// Whether another process has taken this node id (this one stopped
    /// beating for longer than the TTL).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }

    /// Renews the row every heartbeat until the process ends or the row is
    /// lost; a failed renewal (the database away) is logged and retried at
    /// the next beat. Each beat also gives up the leases idle for longer
    /// than `[cluster] lease_idle_ms`.
    pub fn spawn_heartbeat(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = Arc::downgrade(self);
        let every = self.heartbeat;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(m) = me.upgrade() else { return };
                let (s, c, ttl) = (m.store.clone(), m.claim.clone(), m.ttl);
                let sent = Instant::now();
                match blocking(move || s.node_heartbeat(&c.node_id, &c.instance, ttl)).await {
                    Ok(Beat::Renewed { continuous: true }) => m.leases.renewed(sent, ttl),
                    Ok(Beat::Renewed { continuous: false }) => {
                        // The row had lapsed: another replica may have taken
                        // any of this one's tenants meanwhile.
                        tracing::warn!(
                            node = m.node_id(),
                            "this replica's membership had lapsed; retaking its tenants on demand"
                        );
                        m.forget_leases();
                        m.leases.renewed(sent, ttl);
                    }
                    Ok(Beat::Lost) => {
                        m.lost.store(true, Ordering::Release);
                        m.forget_leases();
                        tracing::error!(
                            node = m.node_id(),
                            "this replica's node id was taken over by another process"
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(node = m.node_id(), error = %e, "heartbeat failed; retrying"),
                }
                m.keep_time().await;
                m.release_idle().await;
            }
        })
    }

    /// Keeps the runtime's clock to the database server's (a failed read
    /// keeps the last offset).
    async fn keep_time(&self) {
        let s = self.store.clone();
        match blocking(move || s.server_time()).await {
            Ok(t) => {
                let before = self.time.offset();
                self.time.keep_to(t);
                if self.time.offset() != before {
                    tracing::info!(
                        node = self.node_id(),
                        offset_secs = self.time.offset(),
                        "this replica's clock is kept to the database's"
                    );
                }
            }
            Err(e) => tracing::warn!(node = self.node_id(), error = %e, "cannot read the database's clock"),
        }
    }

    /// Forgets every lease, here and in the writes' fence.
    fn forget_leases(&self) {
        self.store.lease_forget_all();
        self.leases.forget_all();
        self.placements.clear();
    }

    /// Gives up the leases idle for the configured time.
    async fn release_idle(&self) {
        for tenant in self.leases.take_idle(self.idle) {
            let s = self.store.clone();
            let t = tenant.clone();
            if let Err(e) = blocking(move || s.lease_release(&t)).await {
                // Still ours at the store: its row lapses with this
                // replica's, or the next request here takes it again.
                tracing::warn!(%tenant, error = %e, "could not give up an idle lease");
            }
        }
    }

    /// Where a request (or a cron run) of `tenant` is served: here while
    /// this replica holds its lease or can take it, else at its owner.
    pub async fn route(self: &Arc<Self>, tenant: &str) -> Result<Route, Error> {
        if self.is_lost() {
            return Err(Error::Store(StoreError::Unavailable("this replica is leaving the cluster".into())));
        }
        if !self.leases.certain() {
            // Not known to be live (a stall, the database away): nothing
            // remembered is trusted; every lease is checked again below.
            self.forget_leases();
        } else if let Some(guard) = self.leases.enter(tenant, self.store.lease_held(tenant)) {
            return Ok(Route::Serve(guard));
        } else if let Some(p) = self.placements.get(tenant, Instant::now()) {
            let left = p.owner_until.saturating_duration_since(Instant::now());
            let retry_after_secs = left.as_millis().div_ceil(1000).max(1) as u64;
            return Ok(Route::Forward { node_id: p.node_id, addr: p.addr, retry_after_secs });
        }
        let (s, t) = (self.store.clone(), tenant.to_string());
        let asked = Instant::now();
        Ok(match blocking(move || s.lease_take(&t)).await? {
            LeaseTake::Held { .. } => {
                self.placements.forget(tenant);
                Route::Serve(self.leases.taken(tenant))
            }
            LeaseTake::Owned { node_id, addr, expires_in_ms } => {
                self.leases.moved(tenant);
                let expires_in = Duration::from_millis(expires_in_ms);
                self.placements.put(tenant, &node_id, &addr, expires_in, asked);
                Route::Forward { node_id, addr, retry_after_secs: expires_in_ms.div_ceil(1000).max(1) }
            }
            LeaseTake::NoTenant => {
                self.placements.forget(tenant);
                Route::NoTenant
            }
        })
    }

    /// Forgets where `tenant` was served elsewhere (a forward to it failed,
    /// or its owner answered that it does not serve it), so the next
    /// request asks the database again.
    pub fn forget_placement(&self, tenant: &str) {
        self.placements.forget(tenant);
    }

    /// Every tenant lease of the cluster.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, Error> {
        let s = self.store.clone();
        blocking(move || s.leases()).await
    }

    /// Leaves the cluster (a graceful stop): the row goes at once, so the
    /// others need not wait out its TTL.
    pub async fn leave(&self) -> Result<(), Error> {
        // Without its row every lease of this replica is free at once.
        self.forget_leases();
        let (s, c) = (self.store.clone(), self.claim.clone());
        blocking(move || s.node_leave(&c.node_id, &c.instance)).await
    }

    /// Every node of the cluster, live or expired.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, Error> {
        let s = self.store.clone();
        blocking(move || s.nodes()).await
    }
}
