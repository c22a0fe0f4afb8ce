//! Cluster membership on PostgreSQL: `nodes` (one row per replica, kept
//! alive by its heartbeat) and `cluster_facts`. Every time is the server's
//! `now()`.

use super::{PgBackend, StoreError};
use crate::store::cluster::{Beat, ClusterStore, JoinRefusal, LeaseRow, LeaseTake, NodeClaim, NodeRow};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many polls of the credential generation may pass without an answer
/// before the mirror is no longer trusted.
const POLLS_TRUSTED: u32 = 3;

/// The background read of the credential generation: when the last read
/// that answered began, on a monotonic clock (which runs on while the
/// process is stopped), and how long that stays trusted.
pub(super) struct Watch {
    base: Instant,
    /// Milliseconds since `base` at which the last answered read began,
    /// plus one; 0 before the first.
    answered: AtomicU64,
    /// How long an answer is trusted, milliseconds; 0: not watching (one
    /// gateway on the database, whose own changes move the mirror).
    trusted_ms: AtomicU64,
}

impl Default for Watch {
    fn default() -> Self {
        Watch { base: Instant::now(), answered: AtomicU64::new(0), trusted_ms: AtomicU64::new(0) }
    }
}

impl Watch {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX).saturating_add(1)
    }

    /// Whether this replica's view of the others' credential changes is
    /// too old to answer from (never, when not watching).
    pub(super) fn is_stale(&self) -> bool {
        let trusted = self.trusted_ms.load(Ordering::Acquire);
        if trusted == 0 {
            return false;
        }
        let answered = self.answered.load(Ordering::Acquire);
        answered == 0 || self.now_ms().saturating_sub(answered) > trusted
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
mod tests {
    use super::Watch;
    use crate::store::cluster::{Beat, JoinRefusal, NodeClaim};
    use crate::store::testing;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    fn claim(node: &str, instance: &str) -> NodeClaim {
        NodeClaim {
            node_id: node.into(),
            instance: instance.into(),
            addr: format!("http://{instance}:8080"),
            version: "test".into(),
            config_digest: "d".into(),
        }
    }

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn a_live_node_id_is_refused_to_another_process_and_given_back_to_its_own() {
        let Some((_guard, db)) = testing::postgres() else { return };
        let c = db.cluster().expect("PostgreSQL has cluster operations");
        c.node_join(&claim("r1", "a"), LONG).unwrap().unwrap();
        match c.node_join(&claim("r1", "b"), LONG).unwrap() {
            Err(JoinRefusal::Taken { addr, expires_in_ms }) => {
                assert_eq!(addr, "http://a:8080");
                assert!(expires_in_ms > 50_000 && expires_in_ms <= 60_000, "{expires_in_ms}");
            }
            other => panic!("a second process took a live node id: {other:?}"),
        }
        // The same process joining again (a retry) keeps its row.
        c.node_join(&claim("r1", "a"), LONG).unwrap().unwrap();
        // Another node id is another row.
        c.node_join(&claim("r2", "b"), LONG).unwrap().unwrap();
        let nodes = c.nodes().unwrap();
        let ids: Vec<_> = nodes.iter().map(|n| (n.node_id.as_str(), n.addr.as_str(), n.live)).collect();
        assert_eq!(ids, [("r1", "http://a:8080", true), ("r2", "http://b:8080", true)]);
    }

    #[test]
    fn an_expired_node_id_is_taken_over_and_its_old_process_loses_it() {
        let Some((_guard, db)) = testing::postgres() else { return };
        let c = db.cluster().unwrap();
        c.node_join(&claim("r1", "old"), Duration::from_millis(300)).unwrap().unwrap();
        assert_eq!(
            c.node_heartbeat("r1", "old", Duration::from_millis(300)).unwrap(),
            Beat::Renewed { continuous: true }
        );
        std::thread::sleep(Duration::from_millis(500));
        assert!(!c.nodes().unwrap()[0].live, "expired by the server's clock");
        c.node_join(&claim("r1", "new"), LONG).unwrap().unwrap();
        // The old process's heartbeat no longer extends anything.
        assert_eq!(c.node_heartbeat("r1", "old", LONG).unwrap(), Beat::Lost);
        assert_eq!(c.node_heartbeat("r1", "new", LONG).unwrap(), Beat::Renewed { continuous: true });
        assert_eq!(c.nodes().unwrap()[0].addr, "http://new:8080");
        // Nor can the old one remove the new one's row.
        c.node_leave("r1", "old").unwrap();
        assert_eq!(c.nodes().unwrap().len(), 1);
        c.node_leave("r1", "new").unwrap();
        assert!(c.nodes().unwrap().is_empty());
    }

    #[test]
    fn a_heartbeat_after_the_row_lapsed_says_it_was_not_continuous() {
        let Some((_guard, db)) = testing::postgres() else { return };
        let c = db.cluster().unwrap();
        c.node_join(&claim("r1", "a"), Duration::from_millis(200)).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(c.node_heartbeat("r1", "a", LONG).unwrap(), Beat::Renewed { continuous: false });
        assert_eq!(c.node_heartbeat("r1", "a", LONG).unwrap(), Beat::Renewed { continuous: true });
    }

    #[test]
    fn the_first_value_of_a_shared_fact_stays() {
        let Some((_guard, db)) = testing::postgres() else { return };
        let c = db.cluster().unwrap();
        assert_eq!(c.fact_or_insert("master_key", "fp-1").unwrap(), "fp-1");
        assert_eq!(c.fact_or_insert("master_key", "fp-2").unwrap(), "fp-1");
        assert_eq!(c.fact_or_insert("other", "x").unwrap(), "x");
    }

    #[test]
    fn a_credential_change_through_another_store_moves_the_watching_stores_generation() {
        use crate::records::Tenant;
        let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
        let open = || crate::store::Db::open_postgres_with(guard.url(), &testing::pg_options()).unwrap();
        let (a, b) = (open(), open());
        let t = testing::t("acme");
        a.tenant_create(&Tenant { id: t.clone(), created: 1, suspended: false }).unwrap();
        b.cluster().unwrap().watch_credentials(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(300));
        let quiet = b.credentials_generation();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(b.credentials_generation(), quiet, "nothing changed, so the generation stays");
        // A suspends the tenant: b made no change of its own.
        let started = std::time::Instant::now();
        a.tenant_set_suspended(&t, true).unwrap();
        while b.credentials_generation() == quiet {
            assert!(started.elapsed() < Duration::from_secs(10), "b never saw a's change");
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("seen by the other store after {:?}", started.elapsed());
    }

    #[test]
    fn a_watch_is_trusted_only_for_a_while_after_its_last_answer_and_never_before_the_first() {
        let w = Watch::default();
        assert!(!w.is_stale(), "not watching: one gateway's own changes move the mirror");
        w.trusted_ms.store(100, Ordering::Release);
        assert!(w.is_stale(), "watching, no answer yet");
        w.answered.store(w.now_ms(), Ordering::Release);
        assert!(!w.is_stale(), "just answered");
        std::thread::sleep(Duration::from_millis(150));
        assert!(w.is_stale(), "no answer for longer than trusted (a stall, a hung database)");
    }

    #[test]
    fn a_stale_watch_gives_a_new_generation_at_every_read() {
        let Some((_guard, db)) = testing::postgres() else { return };
        db.cluster().unwrap().watch_credentials(Duration::from_millis(50));
        let started = std::time::Instant::now();
        // Until the first read answers, no two reads agree.
        let (g1, g2) = (db.credentials_generation(), db.credentials_generation());
        assert_ne!(g1, g2, "before the watcher's first answer");
        loop {
            let g = db.credentials_generation();
            if db.credentials_generation() == g {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the watcher never answered");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn redb_has_no_cluster_operations() {
        let (_dir, db) = testing::db();
        assert!(db.cluster().is_none());
    }
}
