//! The contract of memory: the redb and PostgreSQL backends alike.

use crate::ids::UserId;
use crate::store::backend::names::*;
use crate::store::testing::t;
use crate::store::*;

const QUOTA: MemoryQuota = MemoryQuota { max_entries: 3, max_bytes: 100 };

const UNBOUNDED: ScanBound = ScanBound { max_bytes: usize::MAX, max_entries: usize::MAX, deadline: None };

#[test]
fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let a = t("a");
    {
        let db = Db::open(&path).unwrap();
        db.memory_set(Scope { tenant: &a, user: None }, "k", "v", &QUOTA).unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(db.memory_get(Scope { tenant: &a, user: None }, "k").unwrap().as_deref(), Some("v"));
}

super::contract! {
    fn set_get_delete_round_trip(db: &Db) {
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        db.memory_set(s, "k", "v1", &QUOTA).unwrap();
        db.memory_set(s, "k", "v22", &QUOTA).unwrap();
        assert_eq!(db.memory_get(s, "k").unwrap().as_deref(), Some("v22"));
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage { entries: 1, bytes: 4 });
        assert!(db.memory_delete(s, "k").unwrap());
        assert!(!db.memory_delete(s, "k").unwrap());
        assert_eq!(db.memory_get(s, "k").unwrap(), None);
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage::default());
    }

    fn tenants_and_users_do_not_see_each_other(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        let alice = UserId::parse("alice").unwrap();
        let sa = Scope { tenant: &a, user: None };
        let sab = Scope { tenant: &ab, user: None };
        let sa_alice = Scope { tenant: &a, user: Some(&alice) };
        db.memory_set(sab, "secret", "of-ab", &QUOTA).unwrap();
        db.memory_set(sa_alice, "secret", "of-alice", &QUOTA).unwrap();
        // Tenant "a" is a string prefix of tenant "ab": the separator keeps them apart.
        assert_eq!(db.memory_get(sa, "secret").unwrap(), None);
        assert!(db.memory_list(sa, "", 100, 1 << 20).unwrap().is_empty());
        assert!(db.memory_search(sa, &["of".into()], 100, 1 << 20, &UNBOUNDED).unwrap().entries.is_empty());
        assert_eq!(db.memory_list(sa_alice, "", 100, 1 << 20).unwrap().len(), 1);
        // A key that embeds the separator cannot reach another scope.
        assert_eq!(db.memory_get(sa, "\0secret").unwrap(), None);
        assert_eq!(db.memory_get(sa, "b\0\0secret").unwrap(), None);
    }

    fn quota_counts_entries_and_bytes_per_tenant(db: &Db) {
        let a = t("a");
        let b = t("b");
        let s = Scope { tenant: &a, user: None };
        for k in ["1", "2", "3"] {
            db.memory_set(s, k, "x", &QUOTA).unwrap();
        }
        assert!(matches!(db.memory_set(s, "4", "x", &QUOTA), Err(StoreError::QuotaExceeded(_))));
        // Replacing an entry does not add one.
        db.memory_set(s, "3", "yy", &QUOTA).unwrap();
        let big = "z".repeat(200);
        assert!(matches!(db.memory_set(s, "3", &big, &QUOTA), Err(StoreError::QuotaExceeded(_))));
        // The refused writes changed nothing, and tenant b is unaffected.
        assert_eq!(db.memory_get(s, "3").unwrap().as_deref(), Some("yy"));
        assert_eq!(db.memory_usage(&a).unwrap(), MemoryUsage { entries: 3, bytes: 7 });
        db.memory_set(Scope { tenant: &b, user: None }, "1", "x", &QUOTA).unwrap();
    }

    fn list_and_search_respect_prefix_limit_and_budget(db: &Db) {
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        let q = MemoryQuota { max_entries: 100, max_bytes: 10_000 };
        for i in 0..10 {
            db.memory_set(s, &format!("note:{i}"), &format!("Hello world {i}"), &q).unwrap();
        }
        db.memory_set(s, "other", "hello", &q).unwrap();
        assert_eq!(db.memory_list(s, "note:", 100, 1 << 20).unwrap().len(), 10);
        assert_eq!(db.memory_list(s, "note:", 3, 1 << 20).unwrap().len(), 3);
        // Each entry is 6 + 13 = 19 bytes: a 40-byte budget holds two.
        assert_eq!(db.memory_list(s, "note:", 100, 40).unwrap().len(), 2);
        let hits = db.memory_search(s, &["world".into(), "7".into()], 100, 1 << 20, &UNBOUNDED).unwrap();
        assert_eq!(hits.entries, vec![MemoryEntry { key: "note:7".into(), value: "Hello world 7".into() }]);
        assert_eq!(hits.scanned_entries, 11, "the whole scope was read");
        assert_eq!(hits.stopped, None);
        assert_eq!(
            db.memory_search(s, &["hello".into()], 100, 1 << 20, &UNBOUNDED).unwrap().entries.len(),
            11
        );
    }

    fn a_search_stops_at_its_bound_and_says_so(db: &Db) {
        let a = t("a");
        let s = Scope { tenant: &a, user: None };
        let q = MemoryQuota { max_entries: 100, max_bytes: 10_000 };
        for i in 0..10 {
            db.memory_set(s, &format!("k{i}"), "0123456789", &q).unwrap();
        }
        let words = ["zzz".to_string()];
        let by_entries = ScanBound { max_entries: 4, ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &by_entries).unwrap();
        assert_eq!((scan.scanned_entries, scan.stopped), (4, Some(ScanStop::Bound)));
        // Each entry is 2 + 10 bytes: 30 bytes read two.
        let by_bytes = ScanBound { max_bytes: 30, ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &by_bytes).unwrap();
        assert_eq!((scan.scanned_bytes, scan.stopped), (24, Some(ScanStop::Bound)));
        let past = ScanBound { deadline: Some(std::time::Instant::now()), ..UNBOUNDED };
        let scan = db.memory_search(s, &words, 100, 1 << 20, &past).unwrap();
        assert_eq!((scan.scanned_entries, scan.stopped), (0, Some(ScanStop::Deadline)));
        // Enough matches end a search early without an error.
        let scan = db.memory_search(s, &["0123".to_string()], 3, 1 << 20, &by_entries).unwrap();
        assert_eq!((scan.entries.len(), scan.stopped), (3, None));
    }
}
