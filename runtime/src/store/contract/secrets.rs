//! The contract of secrets: the redb and PostgreSQL backends alike.

use crate::store::testing::t;
use crate::store::*;

#[test]
fn writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let a = t("a");
    {
        let db = Db::open(&path).unwrap();
        db.put_secret_key(&a, b"w").unwrap();
        db.put_secret(&a, "K", b"s").unwrap();
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(db.secret_key(&a).unwrap().as_deref(), Some(&b"w"[..]));
    assert_eq!(db.secret(&a, "K").unwrap().as_deref(), Some(&b"s"[..]));
}

super::contract! {
    fn round_trip(db: &Db) {
        let a = t("a");
        assert_eq!(db.secret_key(&a).unwrap(), None);
        db.put_secret_key(&a, b"wrapped-1").unwrap();
        assert_eq!(db.secret_key(&a).unwrap().as_deref(), Some(&b"wrapped-1"[..]));

        assert_eq!(db.secret(&a, "K").unwrap(), None);
        db.put_secret(&a, "K", b"sealed-1").unwrap();
        db.put_secret(&a, "K", b"sealed-2").unwrap();
        assert_eq!(db.secret(&a, "K").unwrap().as_deref(), Some(&b"sealed-2"[..]));
        assert_eq!(db.secret_names(&a).unwrap(), vec!["K".to_string()]);
        assert!(db.delete_secret(&a, "K").unwrap());
        assert!(!db.delete_secret(&a, "K").unwrap());
        assert_eq!(db.secret(&a, "K").unwrap(), None);
        assert!(db.secret_names(&a).unwrap().is_empty());
    }

    fn key_or_insert_never_replaces(db: &Db) {
        let a = t("a");
        assert_eq!(db.secret_key_or_insert(&a, b"first").unwrap(), b"first");
        assert_eq!(db.secret_key_or_insert(&a, b"second").unwrap(), b"first");
        assert_eq!(db.secret_key(&a).unwrap().as_deref(), Some(&b"first"[..]));
    }

    fn tenants_are_isolated(db: &Db) {
        let (a, ab) = (t("a"), t("ab"));
        db.put_secret_key(&ab, b"key-of-ab").unwrap();
        db.put_secret(&ab, "K", b"of-ab").unwrap();
        db.put_secret(&ab, "L", b"of-ab").unwrap();
        // Tenant "a" is a string prefix of tenant "ab": the separator keeps them apart.
        assert_eq!(db.secret_key(&a).unwrap(), None);
        assert_eq!(db.secret(&a, "K").unwrap(), None);
        assert_eq!(db.secret(&a, "bK").unwrap(), None);
        assert!(db.secret_names(&a).unwrap().is_empty());
        assert!(!db.delete_secret(&a, "K").unwrap());
        db.put_secret(&a, "K", b"of-a").unwrap();
        assert_eq!(db.secret_names(&a).unwrap(), vec!["K".to_string()]);
        assert_eq!(db.secret(&ab, "K").unwrap().as_deref(), Some(&b"of-ab"[..]));
        assert_eq!(db.secret_names(&ab).unwrap(), vec!["K".to_string(), "L".to_string()]);
    }

    fn names_are_sorted(db: &Db) {
        let a = t("a");
        for n in ["ZETA", "ALPHA", "MID_2", "MID_10", "B"] {
            db.put_secret(&a, n, b"x").unwrap();
        }
        db.put_secret(&t("b"), "AAA", b"x").unwrap();
        assert_eq!(db.secret_names(&a).unwrap(), vec!["ALPHA", "B", "MID_10", "MID_2", "ZETA"]);
    }
}
