//! Cluster membership on PostgreSQL: `nodes` (one row per replica, kept
//! alive by its heartbeat) and `cluster_facts`. Every time is the server's
//! `now()`.

use super::{PgBackend, StoreError};
use crate::store::cluster::{Beat, ClusterStore, JoinRefusal, LeaseRow, LeaseTake, NodeClaim, NodeRow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many polls of the credential generation may pass without an answer
/// before the mirror is no longer trusted.
const POLLS_TRUSTED: u32 = 3;

/// The background watch of the credential generation: when the last read
/// that answered began, on a monotonic clock (which runs on while the
/// process is stopped), how long that stays trusted, and whether the
/// `LISTEN` connection is up.
pub(super) struct Watch {
    base: Instant,
    /// Milliseconds since `base` at which the last answered read began,
    /// plus one; 0 before the first.
    answered: AtomicU64,
    /// How long an answer is trusted, milliseconds; 0: not watching (one
    /// gateway on the database, whose own changes move the mirror).
    trusted_ms: AtomicU64,
    /// Whether the connection listening on
    /// [`CREDENTIALS_CHANNEL`](super::sql::CREDENTIALS_CHANNEL) is up.
    listening: AtomicBool,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            base: Instant::now(),
            answered: AtomicU64::new(0),
            trusted_ms: AtomicU64::new(0),
            listening: AtomicBool::new(false),
        }
    }
}

impl Watch {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Whether this replica's view of the others' credential changes is
    /// too old to answer from (never, when not watching): the last read is
    /// too old, or no connection listens for their notifications.
    pub(super) fn is_stale(&self) -> bool {
        let trusted = self.trusted_ms.load(Ordering::Acquire);
        if trusted == 0 {
            return false;
        }
        let answered = self.answered.load(Ordering::Acquire);
        answered == 0
            || self.now_ms().saturating_sub(answered) > trusted
            || !self.listening.load(Ordering::Acquire)
    }
}

/// Takes the row when it is new, expired, or this process's own; a live
/// row of another process is left as it is (no row returned).
const JOIN: &str = "INSERT INTO nodes \
     (node_id, instance, addr, version, config_digest, started_at, heartbeat_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, now(), now(), now() + make_interval(secs => $6)) \
     ON CONFLICT (node_id) DO UPDATE SET instance = EXCLUDED.instance, addr = EXCLUDED.addr, \
     version = EXCLUDED.version, config_digest = EXCLUDED.config_digest, started_at = now(), \
     heartbeat_at = now(), expires_at = EXCLUDED.expires_at \
     WHERE nodes.expires_at <= now() OR nodes.instance = EXCLUDED.instance \
     RETURNING node_id";

/// A duration the server computed (seconds or milliseconds as float8), as
/// a whole non-negative number.
pub(super) fn millis(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 { v as u64 } else { 0 }
}

/// The connection listening for credential changes: every notification
/// moves the mirror. While it is down the watch is stale (no cache
/// answers from memory); it is made again `every` after it ended or
/// failed. A connection that lost notifications in silence (a pooler that
/// does not pass them, a half-open socket) is what the poll of the
/// generation row bounds.
async fn listen(
    target: super::connect::Target,
    mirror: std::sync::Arc<AtomicU64>,
    watch: std::sync::Arc<Watch>,
    every: Duration,
) {
    // Named, so that an operator (and a test) can tell it in
    // `pg_stat_activity`.
    let mut target = target;
    target.config.application_name("wasmclaw-listen");
    loop {
        let m = mirror.clone();
        let notices: super::tls::Notices = Box::new(move |_| {
            m.fetch_add(1, Ordering::AcqRel);
        });
        if let Ok((client, driver)) = target.connect_notified(Some(notices)).await {
            let listen = format!("LISTEN {}", super::sql::CREDENTIALS_CHANNEL);
            if client.batch_execute(&listen).await.is_ok() {
                watch.listening.store(true, Ordering::Release);
                // A change committed before the LISTEN took effect was not
                // notified here: every cache reads again once.
                mirror.fetch_add(1, Ordering::AcqRel);
                let _ = driver.await;
                watch.listening.store(false, Ordering::Release);
                mirror.fetch_add(1, Ordering::AcqRel);
                tracing::warn!("the connection listening for credential changes ended; reconnecting");
            } else {
                driver.abort();
            }
        }
        tokio::time::sleep(every).await;
    }
}

impl ClusterStore for PgBackend {
    fn node_join(&self, claim: &NodeClaim, ttl: Duration) -> Result<Result<(), JoinRefusal>, StoreError> {
        let c = claim.clone();
        let secs = ttl.as_secs_f64();
        self.with_client(move |client| {
            Box::pin(async move {
                let stmt = client.prepare_cached(JOIN).await?;
                let joined = client
                    .query_opt(
                        &stmt,
                        &[&c.node_id, &c.instance, &c.addr, &c.version, &c.config_digest, &secs],
                    )
                    .await?;
                if joined.is_some() {
                    return Ok(Ok(()));
                }
                let row = client
                    .query_opt(
                        "SELECT addr, (extract(epoch FROM expires_at - now()) * 1000)::float8 \
                         FROM nodes WHERE node_id = $1",
                        &[&c.node_id],
                    )
                    .await?;
                Ok(Err(match row {
                    Some(r) => JoinRefusal::Taken { addr: r.get(0), expires_in_ms: millis(r.get(1)) },
                    // Gone between the two statements: say so as taken
                    // for no time, and the caller tries again.
                    None => JoinRefusal::Taken { addr: String::new(), expires_in_ms: 0 },
                }))
            })
        })
    }

    fn node_heartbeat(&self, node_id: &str, instance: &str, ttl: Duration) -> Result<Beat, StoreError> {
        let (node_id, instance, secs) = (node_id.to_string(), instance.to_string(), ttl.as_secs_f64());
        self.with_client(move |c| {
            Box::pin(async move {
                // The old row is read in the same statement: whether it had
                // lapsed before this beat (then another replica may have
                // taken this one's tenants meanwhile).
                let stmt = c
                    .prepare_cached(
                        "WITH old AS (SELECT expires_at > now() AS live FROM nodes \
                         WHERE node_id = $1 AND instance = $2 FOR UPDATE) \
                         UPDATE nodes SET heartbeat_at = now(), expires_at = now() + make_interval(secs => $3) \
                         FROM old WHERE node_id = $1 AND instance = $2 RETURNING old.live",
                    )
                    .await?;
                Ok(match c.query_opt(&stmt, &[&node_id, &instance, &secs]).await? {
                    Some(r) => Beat::Renewed { continuous: r.get(0) },
                    None => Beat::Lost,
                })
            })
        })
    }

    fn node_leave(&self, node_id: &str, instance: &str) -> Result<(), StoreError> {
        let (node_id, instance) = (node_id.to_string(), instance.to_string());
        self.with_client(move |c| {
            Box::pin(async move {
                c.execute("DELETE FROM nodes WHERE node_id = $1 AND instance = $2", &[&node_id, &instance])
                    .await?;
                Ok(())
            })
        })
    }

    fn nodes(&self) -> Result<Vec<NodeRow>, StoreError> {
        self.with_client(move |c| {
            Box::pin(async move {
                let rows = c
                    .query(
                        "SELECT node_id, addr, version, config_digest, \
                         extract(epoch FROM now() - started_at)::float8, \
                         (extract(epoch FROM now() - heartbeat_at) * 1000)::float8, \
                         expires_at > now() \
                         FROM nodes ORDER BY node_id",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| NodeRow {
                        node_id: r.get(0),
                        addr: r.get(1),
                        version: r.get(2),
                        config_digest: r.get(3),
                        age_secs: millis(r.get(4)),
                        heartbeat_age_ms: millis(r.get(5)),
                        live: r.get(6),
                    })
                    .collect())
            })
        })
    }

    fn watch_credentials(&self, every: Duration) {
        let trusted = every * POLLS_TRUSTED;
        let trusted_ms = u64::try_from(trusted.as_millis()).unwrap_or(u64::MAX).max(1);
        if self.watch.trusted_ms.compare_exchange(0, trusted_ms, Ordering::AcqRel, Ordering::Acquire).is_err()
        {
            return;
        }
        let (target, mirror, watch) = (self.target.clone(), self.credentials.clone(), self.watch.clone());
        self.handle.spawn(listen(target, mirror, watch, every));
        let (pool, mirror, watch) = (self.pool.clone(), self.credentials.clone(), self.watch.clone());
        self.handle.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seen: Option<i64> = None;
            loop {
                tick.tick().await;
                let began = watch.now_ms();
                let read = async {
                    let c = pool.get().await?;
                    let stmt = c.prepare_cached("SELECT generation FROM credentials_generation").await?;
                    Ok::<i64, StoreError>(c.query_one(&stmt, &[]).await?.get(0))
                };
                let now = tokio::time::timeout(trusted, read).await.ok().and_then(Result::ok);
                // Moved since the last read, or unknown (a failed read, or
                // the first read: a change may have been committed between
                // this store's first cached reads and it): the mirror
                // moves, so every cache reads again at the database.
                if now.is_none() || now != seen {
                    mirror.fetch_add(1, Ordering::AcqRel);
                }
                if now.is_some() {
                    watch.answered.store(began, Ordering::Release);
                }
                seen = now;
            }
        });
    }

    fn enable_fencing(&self, node_id: &str, instance: &str) {
        self.fence_enable(node_id, instance);
    }

    fn lease_take(&self, tenant: &str) -> Result<LeaseTake, StoreError> {
        self.lease_take_pg(tenant)
    }

    fn lease_held(&self, tenant: &str) -> bool {
        self.fence_held(tenant)
    }

    fn lease_release(&self, tenant: &str) -> Result<(), StoreError> {
        self.lease_release_pg(tenant)
    }

    fn lease_forget_all(&self) {
        self.fence_forget_all()
    }

    fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        self.leases_pg()
    }

    fn server_time(&self) -> Result<u64, StoreError> {
        self.with_client(|c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT floor(extract(epoch FROM now()))::float8").await?;
                Ok(millis(c.query_one(&stmt, &[]).await?.get(0)))
            })
        })
    }

    fn fact_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
        let (name, value) = (name.to_string(), value.to_string());
        self.transact(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO cluster_facts (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                    &[&name, &value],
                )
                .await?;
                // A new statement sees the row a concurrent first start
                // committed (read committed).
                let row = tx.query_one("SELECT value FROM cluster_facts WHERE name = $1", &[&name]).await?;
                Ok(row.get(0))
            })
        })
    }
}

#[cfg(test)]
#[path = "leases_tests.rs"]
mod leases_tests;

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
