//! The contract of usage: the redb and PostgreSQL backends alike.

use crate::records::{UsageDelta, UsageTotals};
use crate::store::testing::t;
use crate::store::*;

super::contract! {
    fn deltas_add_up_per_tenant_and_skill(db: &Db) {
        let one =
            UsageTotals { calls: 1, fuel: 10, wall_us: 5, memory_peak_bytes: 100, ..Default::default() };
        let mut failed = one.clone();
        failed.errors.insert("trap".into(), 1);
        failed.memory_peak_bytes = 300;
        db.usage_add(&[UsageDelta::of(&t("a"), "echo", 0, one.clone()), UsageDelta::of(&t("ab"), "echo", 0, one.clone())])
            .unwrap();
        db.usage_add(&[UsageDelta::of(&t("a"), "echo", 3600, failed)]).unwrap();
        let a = db.usage(Some(&t("a"))).unwrap();
        assert_eq!(a.len(), 1);
        let totals = &a[0].2;
        assert_eq!((totals.calls, totals.fuel, totals.memory_peak_bytes), (2, 20, 300));
        assert_eq!(totals.errors.get("trap"), Some(&1));
        assert_eq!(db.usage(None).unwrap().len(), 2);
    }

    fn hours_add_up_and_read_back_per_tenant_in_time_order(db: &Db) {
        let h = 1_765_152_000u64; // an hour's start
        let call = |calls, wall_us| {
            let mut d = UsageDelta::of(&t("a"), "echo", h, UsageTotals { calls, wall_us, ..Default::default() });
            d.bucket.latency.record(wall_us);
            d
        };
        let mut later = call(1, 900);
        later.hour = h + 3600;
        let mut notes = call(1, 40);
        notes.skill = "notes".into();
        let mut neighbour = call(5, 5);
        neighbour.tenant = t("ab");
        db.usage_add(&[call(1, 300), later, notes, neighbour]).unwrap();
        db.usage_add(&[call(2, 700)]).unwrap();

        let rows = db.usage_series(&t("a"), h, h + 7200).unwrap();
        let seen: Vec<(u64, &str, u64)> =
            rows.iter().map(|d| (d.hour, d.skill.as_str(), d.bucket.totals.calls)).collect();
        assert_eq!(seen, [(h, "echo", 3), (h, "notes", 1), (h + 3600, "echo", 1)]);
        assert!(rows.iter().all(|d| d.tenant == t("a")));
        assert_eq!(rows[0].bucket.latency.count(), 2, "each delta's histogram merged");
        assert_eq!(rows[0].bucket.totals.wall_us, 1000);
        // [from, to): the second hour is not in [h, h + 3600).
        assert_eq!(db.usage_series(&t("a"), h, h + 3600).unwrap().len(), 2);
        assert!(db.usage_series(&t("a"), h + 7200, h + 10_800).unwrap().is_empty());
        assert!(db.usage_series(&t("a"), h + 3600, h).unwrap().is_empty());
        // The neighbour whose id extends a's is its own, and not in a's.
        let theirs = db.usage_series(&t("ab"), 0, u64::MAX / 2).unwrap();
        assert_eq!(theirs.iter().map(|d| d.bucket.totals.calls).collect::<Vec<_>>(), [5]);
        // The totals have every hour.
        assert_eq!(db.usage(Some(&t("a"))).unwrap().iter().map(|r| r.2.calls).sum::<u64>(), 5);

        // An hour past keeping drops a's oldest hours, not ab's.
        let mut far = call(1, 1);
        far.hour = h + crate::records::SERIES_KEEP_HOURS * 3600 + 3600;
        db.usage_add(&[far]).unwrap();
        let hours: Vec<u64> = db.usage_series(&t("a"), 0, u64::MAX / 2).unwrap().iter().map(|d| d.hour).collect();
        assert_eq!(hours, [h + 3600, h + crate::records::SERIES_KEEP_HOURS * 3600 + 3600]);
        assert_eq!(db.usage_series(&t("ab"), 0, u64::MAX / 2).unwrap().len(), 1);
        assert_eq!(db.usage(Some(&t("a"))).unwrap()[0].2.calls, 5, "the totals keep everything");
    }
}
