//! The contract of trust: the redb and PostgreSQL backends alike.

use crate::records::TrustedKey;
use crate::store::*;

fn k(name: &str, key: &str) -> TrustedKey {
    TrustedKey { name: name.into(), key: key.into(), added: 1 }
}

super::contract! {
    fn names_and_keys_are_unique(db: &Db) {
        db.trust_add(&k("a", "ed25519:A")).unwrap().unwrap();
        assert_eq!(db.trust_add(&k("a", "ed25519:B")).unwrap().unwrap_err().key, "ed25519:A");
        assert_eq!(db.trust_add(&k("b", "ed25519:A")).unwrap().unwrap_err().name, "a");
        db.trust_add(&k("b", "ed25519:B")).unwrap().unwrap();
        assert_eq!(db.trusted_keys().unwrap().len(), 2);
        assert_eq!(db.trust_remove("a").unwrap().unwrap().key, "ed25519:A");
        assert!(db.trust_remove("a").unwrap().is_none());
        assert_eq!(db.trusted_keys().unwrap(), vec![k("b", "ed25519:B")]);
    }

    fn a_change_of_the_trusted_keys_moves_the_credential_generation(db: &Db) {
        // The trust cache of every gateway (and, on PostgreSQL, of every
        // replica) reads the keys again when the generation moves.
        let g0 = db.credentials_generation();
        db.trust_add(&k("a", "ed25519:A")).unwrap().unwrap();
        let g1 = db.credentials_generation();
        assert!(g1 > g0, "an added key moves it");
        assert!(db.trust_remove("a").unwrap().is_some());
        assert!(db.credentials_generation() > g1, "a removed key moves it");
    }
}
