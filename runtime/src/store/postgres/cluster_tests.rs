//! The membership, the shared facts and the credential watch, on a real
//! PostgreSQL (skipped without one, failed under `CI=true`).

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

/// With a poll far slower than the test, only the notification can
/// move the watching store's generation in time.
#[test]
fn a_credential_change_is_notified_to_the_watching_store_before_any_poll() {
    use crate::records::Tenant;
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let open = || crate::store::Db::open_postgres_with(guard.url(), &testing::pg_options()).unwrap();
    let (a, b) = (open(), open());
    let t = testing::t("acme");
    a.tenant_create(&Tenant { id: t.clone(), created: 1, suspended: false }).unwrap();
    b.cluster().unwrap().watch_credentials(Duration::from_secs(20));
    let started = std::time::Instant::now();
    let quiet = loop {
        // Fresh once the first poll answered and the LISTEN is up.
        let g = b.credentials_generation();
        if b.credentials_generation() == g {
            break g;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the watch never became fresh");
        std::thread::sleep(Duration::from_millis(10));
    };
    let changed = std::time::Instant::now();
    a.tenant_set_suspended(&t, true).unwrap();
    while b.credentials_generation() == quiet {
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "no notification: only the 20 s poll would see it"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("notified after {:?}", changed.elapsed());
}

/// The listening connection killed by the server: the watch is stale
/// (every read a new generation) until it is made again.
#[test]
fn a_lost_listening_connection_drops_every_cache_until_it_is_made_again() {
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let open = || crate::store::Db::open_postgres_with(guard.url(), &testing::pg_options()).unwrap();
    let b = open();
    b.cluster().unwrap().watch_credentials(Duration::from_millis(200));
    let fresh = |db: &crate::store::Db| {
        let g = db.credentials_generation();
        db.credentials_generation() == g
    };
    let started = std::time::Instant::now();
    while !fresh(&b) {
        assert!(started.elapsed() < Duration::from_secs(10), "the watch never became fresh");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let killed: i64 = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(guard.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = 'wasmclaw-listen' AND datname = current_database()",
                &[],
            )
            .await
            .unwrap();
        row.get(0)
    });
    assert_eq!(killed, 1, "one listening connection");
    let lost = std::time::Instant::now();
    while fresh(&b) {
        assert!(lost.elapsed() < Duration::from_secs(5), "the lost listener was not noticed");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Stale: no two reads agree, until the listener is back.
    while !fresh(&b) {
        assert!(lost.elapsed() < Duration::from_secs(10), "the listener was never made again");
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("listening again after {:?}", lost.elapsed());
}

#[test]
fn a_watch_is_trusted_only_for_a_while_after_its_last_answer_and_never_before_the_first() {
    let w = Watch::default();
    assert!(!w.is_stale(), "not watching: one gateway's own changes move the mirror");
    w.trusted_ms.store(100, Ordering::Release);
    w.listening.store(true, Ordering::Release);
    assert!(w.is_stale(), "watching, no answer yet");
    w.answered.store(w.now_ms(), Ordering::Release);
    assert!(!w.is_stale(), "just answered");
    w.listening.store(false, Ordering::Release);
    assert!(w.is_stale(), "answered, but nothing listens for the changes between reads");
    w.listening.store(true, Ordering::Release);
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
