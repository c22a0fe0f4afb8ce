//! Tenant leases and the writes' fence, on two stores over one database
//! (two replicas, as far as the database can tell).

use crate::error::StoreError;
use crate::records::Tenant;
use crate::store::cluster::{LeaseTake, NodeClaim};
use crate::store::testing::{self, t};
use crate::store::{Db, Scope};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// Joins `db` as node `node` (instance `node`-i) for `ttl`, fencing on.
fn replica(db: &Db, node: &str, ttl: Duration) {
    let c = db.cluster().expect("PostgreSQL has cluster operations");
    let claim = NodeClaim {
        node_id: node.into(),
        instance: format!("{node}-i"),
        addr: format!("http://{node}:8080"),
        version: "test".into(),
        config_digest: "d".into(),
    };
    c.node_join(&claim, ttl).unwrap().unwrap();
    c.enable_fencing(&claim.node_id, &claim.instance);
}

fn second(url: &str) -> Db {
    Db::open_postgres_with(url, &testing::pg_options()).expect("a second store on the database")
}

fn set(db: &Db, key: &str, value: &str) -> Result<(), StoreError> {
    db.memory_set(Scope { tenant: &t("acme"), user: None }, key, value, &Default::default())
}

fn get(db: &Db, key: &str) -> Option<String> {
    db.memory_get(Scope { tenant: &t("acme"), user: None }, key).unwrap()
}

fn tenant(db: &Db) {
    db.tenant_create(&Tenant { id: t("acme"), created: 1, suspended: false }).unwrap();
}

#[test]
fn a_lease_is_held_by_one_replica_and_writes_without_it_are_refused() {
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let (a, b) = (second(guard.url()), second(guard.url()));
    replica(&a, "r1", LONG);
    replica(&b, "r2", LONG);
    tenant(&a);
    // No lease yet: a fenced write is refused before it reaches the table.
    assert!(matches!(set(&a, "k", "v"), Err(StoreError::TenantMoved(t)) if t == "acme"));
    assert_eq!(a.cluster().unwrap().lease_take("acme").unwrap(), LeaseTake::Held { epoch: 1, taken: true });
    assert_eq!(a.cluster().unwrap().lease_take("acme").unwrap(), LeaseTake::Held { epoch: 1, taken: false });
    set(&a, "k", "from-r1").unwrap();
    match b.cluster().unwrap().lease_take("acme").unwrap() {
        LeaseTake::Owned { node_id, addr, expires_in_ms } => {
            assert_eq!((node_id.as_str(), addr.as_str()), ("r1", "http://r1:8080"));
            assert!(expires_in_ms > 50_000, "{expires_in_ms}");
        }
        other => panic!("a live owner's lease was taken: {other:?}"),
    }
    assert!(matches!(set(&b, "k", "from-r2"), Err(StoreError::TenantMoved(_))));
    assert_eq!(get(&a, "k").as_deref(), Some("from-r1"));
    // Unfenced bookkeeping and reads still work anywhere.
    assert_eq!(get(&b, "k").as_deref(), Some("from-r1"));
}

#[test]
fn a_stale_owners_write_after_a_takeover_changes_nothing() {
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let (a, b) = (second(guard.url()), second(guard.url()));
    replica(&a, "r1", Duration::from_millis(300));
    replica(&b, "r2", LONG);
    tenant(&a);
    assert!(matches!(a.cluster().unwrap().lease_take("acme").unwrap(), LeaseTake::Held { epoch: 1, .. }));
    set(&a, "k", "old").unwrap();
    let job = crate::records::Job {
        id: "j".into(),
        tenant: t("acme"),
        skill: "s".into(),
        scope: Default::default(),
        schedule: crate::records::Schedule::EverySeconds(60),
        input: "{}".into(),
        next_run: 100,
        created: 1,
        last: None,
    };
    a.cron_add(&job, 10, 10).unwrap();
    // r1 stalls past its TTL; r2 takes the tenant and writes.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.cluster().unwrap().lease_take("acme").unwrap(), LeaseTake::Held { epoch: 2, taken: true });
    set(&b, "k", "new").unwrap();
    // r1 wakes up still believing it holds epoch 1: its row even beats
    // again, but every write it tries is refused and writes nothing.
    let beat = a.cluster().unwrap().node_heartbeat("r1", "r1-i", LONG).unwrap();
    assert_eq!(beat, crate::store::cluster::Beat::Renewed { continuous: false });
    assert!(a.cluster().unwrap().lease_held("acme"), "it has not been told yet");
    for w in [
        // First, so that the database's check refuses it (after one
        // refusal the lease is forgotten here and refused before that).
        a.cron_reschedule(&t("acme"), "j", 100, 160).map(|_| ()),
        set(&a, "k", "stale"),
        set(&a, "other", "stale"),
        a.put_secret(&t("acme"), "s", b"x"),
        a.tenant_set_suspended(&t("acme"), true).map(|_| ()),
    ] {
        assert!(matches!(w, Err(StoreError::TenantMoved(_))), "{w:?}");
    }
    assert!(!a.cluster().unwrap().lease_held("acme"), "a refused write drops the lease here");
    assert_eq!(get(&b, "k").as_deref(), Some("new"));
    assert_eq!(get(&b, "other"), None);
    assert!(b.secret(&t("acme"), "s").unwrap().is_none());
    assert!(!b.tenant(&t("acme")).unwrap().unwrap().suspended);
    assert_eq!(
        b.cron_list(&t("acme"), "s").unwrap()[0].next_run,
        100,
        "the job's fire time is r2's to claim"
    );
    // r2 is live, so r1 cannot take it back.
    assert!(matches!(a.cluster().unwrap().lease_take("acme").unwrap(), LeaseTake::Owned { .. }));
}

#[test]
fn a_released_lease_is_taken_at_a_higher_epoch_and_the_old_epoch_stays_refused() {
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let (a, b) = (second(guard.url()), second(guard.url()));
    replica(&a, "r1", LONG);
    replica(&b, "r2", LONG);
    tenant(&a);
    let (ca, cb) = (a.cluster().unwrap(), b.cluster().unwrap());
    ca.lease_take("acme").unwrap();
    ca.lease_release("acme").unwrap();
    assert!(!ca.lease_held("acme"));
    assert!(matches!(set(&a, "k", "v"), Err(StoreError::TenantMoved(_))));
    assert_eq!(cb.lease_take("acme").unwrap(), LeaseTake::Held { epoch: 2, taken: true });
    set(&b, "k", "v").unwrap();
    let leases = cb.leases().unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!(
        (leases[0].tenant.as_str(), leases[0].node_id.as_str(), leases[0].epoch, leases[0].live),
        ("acme", "r2", 2, true)
    );
}

#[test]
fn no_lease_is_made_for_a_tenant_that_does_not_exist_nor_by_a_lapsed_replica() {
    let Some(guard) = crate::store::pg_testing::TestDb::create() else { return };
    let a = second(guard.url());
    replica(&a, "r1", Duration::from_millis(200));
    let c = a.cluster().unwrap();
    assert_eq!(c.lease_take("nobody").unwrap(), LeaseTake::NoTenant);
    assert!(c.leases().unwrap().is_empty(), "no row for a name that exists nowhere");
    tenant(&a);
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        matches!(c.lease_take("acme"), Err(StoreError::Unavailable(_))),
        "a lapsed replica takes nothing"
    );
}

#[test]
fn without_fencing_a_single_gateway_writes_as_before() {
    let Some((_guard, db)) = testing::postgres() else { return };
    tenant(&db);
    set(&db, "k", "v").unwrap();
    assert_eq!(get(&db, "k").as_deref(), Some("v"));
}
