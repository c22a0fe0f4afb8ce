//! The contract of tokens: the redb and PostgreSQL backends alike.

use crate::records::{Role, TokenInfo};
use crate::store::testing::t;
use crate::store::*;

fn info(id: &str, tenant: &str) -> TokenInfo {
    TokenInfo {
        id: id.into(),
        tenant: t(tenant),
        role: Role::Member,
        name: String::new(),
        created: 1,
        last_used: None,
        expires: None,
    }
}

super::contract! {
    fn tokens_are_listed_and_changed_only_within_their_tenant(db: &Db) {
        assert!(db.token_insert(&info("aaaa", "a"), &[1; 32]).unwrap());
        assert!(!db.token_insert(&info("aaaa", "b"), &[2; 32]).unwrap(), "ids are unique");
        assert!(db.token_insert(&info("bbbb", "ab"), &[3; 32]).unwrap());
        assert_eq!(db.tokens(&t("a")).unwrap().len(), 1);
        assert_eq!(db.tokens(&t("ab")).unwrap()[0].id, "bbbb");
        assert!(!db.token_remove(&t("a"), "bbbb").unwrap(), "another tenant's token is not removed");
        assert!(db.token_update(&t("a"), "bbbb", |i| i.role = Role::Admin).unwrap().is_none());
        assert_eq!(db.token("bbbb").unwrap().unwrap().0.role, Role::Member);
        assert!(db.token_remove(&t("ab"), "bbbb").unwrap());
        assert!(db.token("bbbb").unwrap().is_none());
        assert!(db.tokens(&t("ab")).unwrap().is_empty());
    }

    fn the_admin_key_hash_round_trips(db: &Db) {
        assert_eq!(db.admin_key_hash().unwrap(), None);
        db.set_admin_key_hash(&[7; 32]).unwrap();
        assert_eq!(db.admin_key_hash().unwrap(), Some([7; 32]));
    }
}
