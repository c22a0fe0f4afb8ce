//! The contract of replays: the redb and PostgreSQL backends alike.

use crate::store::testing::t;
use crate::store::*;

#[test]
fn records_survive_a_reopen_and_go_with_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        let db = crate::store::Db::open(&path).unwrap();
        assert_eq!(db.replay_first(&t("a"), "k", 0, 100, 5).unwrap(), Replay::First);
    }
    let db = crate::store::Db::open(&path).unwrap();
    assert_eq!(db.replay_first(&t("a"), "k", 1, 100, 5).unwrap(), Replay::Seen);
    db.tenant_delete(&t("a")).unwrap();
    assert_eq!(db.replay_first(&t("a"), "k", 1, 100, 5).unwrap(), Replay::First, "purged with it");
}

super::contract! {
    fn a_key_is_taken_once_until_it_expires(db: &Db) {
        assert_eq!(db.replay_first(&t("a"), "k", 10, 20, 5).unwrap(), Replay::First);
        assert_eq!(db.replay_first(&t("a"), "k", 19, 30, 5).unwrap(), Replay::Seen);
        assert_eq!(db.replay_first(&t("b"), "k", 19, 30, 5).unwrap(), Replay::First, "another tenant's key");
        assert_eq!(db.replay_first(&t("a"), "k", 20, 30, 5).unwrap(), Replay::First, "expired: taken again");
    }

    fn one_tenant_at_its_cap_is_refused_and_evicts_no_one(db: &Db) {
        assert_eq!(db.replay_first(&t("b"), "b-key", 0, 100, 3).unwrap(), Replay::First);
        for i in 0..3 {
            assert_eq!(db.replay_first(&t("a"), &format!("a{i}"), 0, 100, 3).unwrap(), Replay::First);
        }
        assert_eq!(db.replay_first(&t("a"), "a3", 0, 100, 3).unwrap(), Replay::Full);
        assert_eq!(db.replay_first(&t("a"), "a0", 0, 100, 3).unwrap(), Replay::Seen, "its own kept");
        assert_eq!(db.replay_first(&t("b"), "b-key", 1, 100, 3).unwrap(), Replay::Seen, "b's kept");
        // Once a's records expire, it is served again.
        assert_eq!(db.replay_first(&t("a"), "a3", 100, 200, 3).unwrap(), Replay::First);
    }
}
