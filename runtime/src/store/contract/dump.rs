//! The contract of dump: the redb and PostgreSQL backends alike.

use crate::records::Tenant;
use crate::store::testing::t;
use crate::store::*;
use crate::store::{Scope, StoreError};

fn setup(db: &Db, id: &str, value: &str) {
    let tenant = t(id);
    db.tenant_create(&Tenant { id: tenant.clone(), created: 1, suspended: false }).unwrap();
    db.memory_set(Scope { tenant: &tenant, user: None }, "k", value, &Default::default()).unwrap();
    db.put_secret_key(&tenant, b"wrapped").unwrap();
    db.put_secret(&tenant, "S", value.as_bytes()).unwrap();
}

fn memory(db: &Db, id: &str) -> Option<String> {
    db.memory_get(Scope { tenant: &t(id), user: None }, "k").unwrap()
}

super::contract! {
    fn an_import_restores_one_tenant_and_leaves_the_other(db: &Db) {
        setup(db, "a", "a1");
        setup(db, "b", "b1");
        let dump = db.export_tenants(&[t("a")]).unwrap();
        assert_eq!(dump[0].rows("memory").len(), 1);
        db.memory_set(Scope { tenant: &t("a"), user: None }, "k", "a2", &Default::default()).unwrap();
        db.memory_set(Scope { tenant: &t("b"), user: None }, "k", "b2", &Default::default()).unwrap();
        db.put_secret(&t("a"), "T", b"new").unwrap();
        db.import_tenants(&dump).unwrap();
        assert_eq!(memory(db, "a").as_deref(), Some("a1"));
        assert_eq!(memory(db, "b").as_deref(), Some("b2"), "the other tenant keeps its change");
        assert_eq!(db.secret_names(&t("a")).unwrap(), ["S"]);
        assert_eq!(db.secret(&t("a"), "S").unwrap().as_deref(), Some(b"a1".as_slice()));
        assert_eq!(db.export_tenants(&[t("a")]).unwrap(), dump, "the tenant is back exactly");
        assert!(matches!(db.export_tenants(&[t("nobody")]), Err(StoreError::Invalid(_))));
    }

    /// Keys carry no tenant (a dump's rows are its tenant's by where they
    /// stand), so another tenant's rows cannot be named; a row whose key
    /// has not its family's shape, rows out of order, an unknown family
    /// or a tenant twice are refused whole.
    fn a_malformed_dump_is_refused_whole(db: &Db) {
        setup(db, "a", "a1");
        setup(db, "ab", "x");
        let dump = db.export_tenants(&[t("a")]).unwrap();
        db.memory_set(Scope { tenant: &t("a"), user: None }, "k", "a2", &Default::default()).unwrap();
        let malformed: [(&str, &[u8]); 4] =
            [("memory", b"no-separator"), ("memory", b"Not A User\0k"), ("secrets", b"S\0T"), ("memory", b"\0a")];
        // A record with a raw NUL (JSON never has one; PostgreSQL's text refuses it).
        let mut nul = dump.clone();
        nul[0].families.insert("agents".into(), vec![(Bytes(b"x".to_vec()), Bytes(b"{\"name\":\"a\0b\"}".to_vec()))]);
        let err = db.import_tenants(&nul).unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "a NUL in a record: {err}");
        for (family, key) in malformed {
            let mut bad = dump.clone();
            bad[0].families.entry(family.into()).or_default().push((Bytes(key.to_vec()), Bytes(b"evil".to_vec())));
            let err = db.import_tenants(&bad).unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{family} {key:?}: {err}");
        }
        let mut unknown = dump.clone();
        unknown[0].families.insert("tokens".into(), vec![(Bytes(b"t1".to_vec()), Bytes(b"{}".to_vec()))]);
        assert!(matches!(db.import_tenants(&unknown), Err(StoreError::Invalid(_))));
        assert_eq!(memory(db, "a").as_deref(), Some("a2"), "nothing changed");
        assert_eq!(memory(db, "ab").as_deref(), Some("x"));
        let mut twice = db.export_tenants(&[t("a")]).unwrap();
        twice.push(twice[0].clone());
        assert!(matches!(db.import_tenants(&twice), Err(StoreError::Invalid(_))));
    }
}

/// Guest-made memory (NUL in keys and values, keys that sort oddly, a
/// 1 MiB value) of tenant A, exported from redb, imports into PostgreSQL
/// exactly, and tenant B's rows land as B's.
#[test]
fn guest_made_rows_cross_from_redb_to_postgres_exactly() {
    let Some((_guard, pg)) = crate::store::testing::postgres() else { return };
    let (_dir, redb) = crate::store::testing::db();
    setup(&redb, "a", "a1");
    setup(&redb, "b", "b1");
    let a = Scope { tenant: &t("a"), user: None };
    let big = "\0é".repeat(1 << 19);
    for (k, v) in [
        ("\0", "\0"),
        ("\0\0k", "v\0"),
        ("\u{10FFFF}", "\u{FFFD}"),
        ("k\0", big.as_str()),
        ("\u{1}", "\\u0000"),
    ] {
        redb.memory_set(a, k, v, &Default::default()).unwrap();
    }
    let dump = redb.export_tenants(&[t("a"), t("b")]).unwrap();
    pg.import_tenants(&dump).unwrap();
    assert_eq!(pg.export_tenants(&[t("a"), t("b")]).unwrap(), dump);
    assert_eq!(pg.memory_get(a, "k\0").unwrap().as_deref(), Some(big.as_str()));
    assert_eq!(memory(&pg, "b").as_deref(), Some("b1"));
}
