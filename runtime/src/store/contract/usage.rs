//! The contract of usage: the redb and PostgreSQL backends alike.

use crate::records::UsageTotals;
use crate::store::testing::t;
use crate::store::*;

super::contract! {
    fn deltas_add_up_per_tenant_and_skill(db: &Db) {
        let one =
            UsageTotals { calls: 1, fuel: 10, wall_us: 5, memory_peak_bytes: 100, ..Default::default() };
        let mut failed = one.clone();
        failed.errors.insert("trap".into(), 1);
        failed.memory_peak_bytes = 300;
        db.usage_add(&[(t("a"), "echo".into(), one.clone()), (t("ab"), "echo".into(), one.clone())]).unwrap();
        db.usage_add(&[(t("a"), "echo".into(), failed)]).unwrap();
        let a = db.usage(Some(&t("a"))).unwrap();
        assert_eq!(a.len(), 1);
        let totals = &a[0].2;
        assert_eq!((totals.calls, totals.fuel, totals.memory_peak_bytes), (2, 20, 300));
        assert_eq!(totals.errors.get("trap"), Some(&1));
        assert_eq!(db.usage(None).unwrap().len(), 2);
    }
}
