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

use crate::config::{ClusterConfig, NodeIdentity};
use crate::error::Error;
use crate::store::Db;
use crate::store::cluster::{ClusterStore, JoinRefusal, NodeClaim, NodeRow};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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
    /// TTL and a second.
    pub async fn join(
        db: &Db,
        identity: &NodeIdentity,
        config: &ClusterConfig,
        config_digest: String,
        master_fingerprint: String,
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
        loop {
            let (s, c) = (store.clone(), claim.clone());
            match blocking(move || s.node_join(&c, ttl)).await? {
                Ok(()) => break,
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
        }
        // Another replica's credential changes reach this one's token
        // cache within a read of the generation row.
        store.watch_credentials(CREDENTIALS_POLL);
        let joined = Arc::new(Membership {
            store,
            claim,
            ttl,
            heartbeat: Duration::from_millis(config.heartbeat_ms),
            lost: AtomicBool::new(false),
        });
        if !config.experimental_multi_node {
            let others: Vec<String> = joined
                .nodes()
                .await?
                .into_iter()
                .filter(|n| n.live && n.node_id != joined.claim.node_id)
                .map(|n| format!("{} ({})", n.node_id, n.addr))
                .collect();
            if !others.is_empty() {
                joined.leave().await?;
                return Err(Error::Config(format!(
                    "another replica is live ({}): this build keeps no single owner per tenant nor \
                     cache invalidation across replicas yet, so revocations and new secrets could \
                     go unseen by a replica's caches; run one replica, or set \
                     [cluster] experimental_multi_node = true for testing only",
                    others.join(", ")
                )));
            }
        }
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
    /// the next beat.
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
                match blocking(move || s.node_heartbeat(&c.node_id, &c.instance, ttl)).await {
                    Ok(true) => {}
                    Ok(false) => {
                        m.lost.store(true, Ordering::Release);
                        tracing::error!(
                            node = m.node_id(),
                            "this replica's node id was taken over by another process"
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(node = m.node_id(), error = %e, "heartbeat failed; retrying"),
                }
            }
        })
    }

    /// Leaves the cluster (a graceful stop): the row goes at once, so the
    /// others need not wait out its TTL.
    pub async fn leave(&self) -> Result<(), Error> {
        let (s, c) = (self.store.clone(), self.claim.clone());
        blocking(move || s.node_leave(&c.node_id, &c.instance)).await
    }

    /// Every node of the cluster, live or expired.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>, Error> {
        let s = self.store.clone();
        blocking(move || s.nodes()).await
    }
}
