//! The contract of tenants: the redb and PostgreSQL backends alike.

use crate::records::Tenant;
use crate::store::testing::t;
use crate::store::*;

super::contract! {
    fn create_is_once_and_suspension_is_stored(db: &Db) {
        let acme = Tenant { id: t("acme"), created: 5, suspended: false };
        assert!(db.tenant_create(&acme).unwrap());
        assert!(!db.tenant_create(&acme).unwrap(), "a second create is refused");
        assert!(!db.tenant_suspended(&t("acme")).unwrap());
        assert!(db.tenant_set_suspended(&t("acme"), true).unwrap().unwrap().suspended);
        assert!(db.tenant_suspended(&t("acme")).unwrap());
        assert!(db.tenant_set_suspended(&t("nobody"), true).unwrap().is_none());
        assert_eq!(db.tenants().unwrap().len(), 1);
    }
}
