//! The contract of policy: the redb and PostgreSQL backends alike.

use crate::store::backend::names::*;
use crate::store::*;

#[test]
fn policies_round_trip_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("db.redb")).unwrap();
    let a = TenantId::parse("a").unwrap();
    let b = TenantId::parse("b").unwrap();
    assert_eq!(db.policy(&a).unwrap(), TenantPolicy::default());
    let p = TenantPolicy::parse("[cron]\nmax_jobs = 3\nmin_interval_secs = 60\n").unwrap();
    db.set_policy(&a, &p).unwrap();
    assert_eq!(db.policy(&a).unwrap(), p);
    assert_eq!(db.policy(&b).unwrap(), TenantPolicy::default());
}
