//! Adversarial probes of the usage series' store layout (`usage_hours`,
//! keyed `tenant \0 <hour as 16 digits> \0 skill` on redb, `hour \0 skill`
//! within the tenant on PostgreSQL), on both backends.
//!
//! Tried (see each test):
//! - tenant ids that are prefixes of each other or all digits (`1`, `10`,
//!   `1-0`, `a`, `ab`, `abc`), each with hours at the same times: every
//!   range of one reads its own rows only, and a prune of one (an hour
//!   past keeping) drops none of the others';
//! - skill names the API never accepts but the store is handed as text:
//!   empty, with NUL, holding an hour key of their own (`x \0 <16 digits>`),
//!   all digits, with `/`: every one reads back as itself in its own hour,
//!   never in another hour's range, and `[from, to)` is exact at both ends;
//! - a histogram stored with counts near `u64::MAX` (as a restored or
//!   migrated row could hold): the percentiles neither panic nor leave
//!   the histogram's bounds.
//!
//! Got through when written, fixed since (the sum saturates, as the
//! count does): the quantile's running sum was not saturating (see
//! `quantiles_of_a_saturated_histogram_neither_panic_nor_lie`); reachable
//! only from stored rows (a backup the operator restores, a migrated
//! store), not from a tenant's calls.

use crate::records::{Latency, SERIES_KEEP_HOURS, Tenant, UsageDelta, UsageTotals};
use crate::store::testing::t;
use crate::store::*;

const H: u64 = 1_765_152_000; // an hour's start

fn delta(tenant: &str, skill: &str, hour: u64, calls: u64) -> UsageDelta {
    UsageDelta::of(&t(tenant), skill, hour, UsageTotals { calls, ..Default::default() })
}

/// `(hour, skill, calls)` of a tenant's stored hours in `[from, to)`.
fn seen(db: &Db, tenant: &str, from: u64, to: u64) -> Vec<(u64, String, u64)> {
    let rows = db.usage_series(&t(tenant), from, to).unwrap();
    assert!(rows.iter().all(|d| d.tenant == t(tenant)), "rows of another tenant in {tenant}'s: {rows:?}");
    rows.into_iter().map(|d| (d.hour, d.skill, d.bucket.totals.calls)).collect()
}

super::contract! {
    fn tenant_ids_that_prefix_each_other_read_and_prune_only_their_own_hours(db: &Db) {
        // Each tenant's calls count is its own mark: tenant i has i+1 calls.
        let ids = ["1", "10", "1-0", "100", "a", "ab", "abc", "a-b"];
        let mut deltas = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let n = i as u64 + 1;
            deltas.push(delta(id, "echo", H, n));
            deltas.push(delta(id, "echo", H + 3600, n));
            // A skill named like the next tenant's id, and one like an hour.
            deltas.push(delta(id, "0", H, n));
            deltas.push(delta(id, "0000001765155600", H, n));
        }
        db.usage_add(&deltas).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let n = i as u64 + 1;
            let want = vec![
                (H, "0".to_string(), n),
                (H, "0000001765155600".to_string(), n),
                (H, "echo".to_string(), n),
                (H + 3600, "echo".to_string(), n),
            ];
            assert_eq!(seen(db, id, 0, 253_402_300_800), want, "{id}: every hour, its own");
            assert_eq!(seen(db, id, H, H + 3600), want[..3].to_vec(), "{id}: the first hour only");
            assert_eq!(seen(db, id, H + 3600, H + 7200), want[3..].to_vec(), "{id}: the second hour only");
            assert_eq!(seen(db, id, H + 1, H + 3600), Vec::new(), "{id}: no hour starts in (H, H+3600)");
        }
        // A prune of `1` (its hour past keeping) leaves `10`, `1-0` and `100`.
        let far = H + SERIES_KEEP_HOURS * 3600 + 7200;
        db.usage_add(&[delta("1", "echo", far, 9)]).unwrap();
        assert_eq!(seen(db, "1", 0, 253_402_300_800), vec![(far, "echo".to_string(), 9)]);
        for (i, id) in ids.iter().enumerate().skip(1) {
            assert_eq!(seen(db, id, 0, 253_402_300_800).len(), 4, "{id} pruned by 1's flush (tenant {i})");
        }
        // And a tenant's purge leaves its neighbours whole.
        assert!(db.tenant_create(&Tenant { id: t("a"), created: 1, suspended: false }).unwrap());
        assert!(db.tenant_delete(&t("a")).unwrap());
        assert_eq!(seen(db, "a", 0, 253_402_300_800), Vec::new());
        for id in ["ab", "abc", "a-b"] {
            assert_eq!(seen(db, id, 0, 253_402_300_800).len(), 4, "{id} after a's purge");
        }
    }

    fn skill_names_that_look_like_keys_read_back_as_themselves_in_their_own_hour(db: &Db) {
        // Names the API never lets a manifest carry, handed to the store as
        // text: they must not read as another hour or another skill.
        let forged_hour = format!("x\0{:016}", H + 3600);
        let names = [
            String::new(),
            "\0".to_string(),
            forged_hour.clone(),
            format!("\0{:016}\0echo", H + 7200),
            "9999999999999999".to_string(),
            "a/b".to_string(),
            "\u{7f}\u{ff}".to_string(),
        ];
        let deltas: Vec<UsageDelta> = names.iter().map(|s| delta("k", s, H, 1)).collect();
        db.usage_add(&deltas).unwrap();
        db.usage_add(&[delta("k", "echo", H + 3600, 2)]).unwrap();
        let mut want: Vec<(u64, String, u64)> = names.iter().map(|s| (H, s.clone(), 1)).collect();
        want.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        assert_eq!(seen(db, "k", H, H + 3600), want, "every name in its own hour, as itself");
        assert_eq!(
            seen(db, "k", H + 3600, H + 7200),
            vec![(H + 3600, "echo".to_string(), 2)],
            "a name holding the next hour's key is not in the next hour"
        );
        assert_eq!(seen(db, "k", H + 7200, H + 10_800), Vec::new());
        // The totals of each name are their own too.
        let totals = db.usage(Some(&t("k"))).unwrap();
        assert_eq!(totals.len(), names.len() + 1, "{totals:?}");
    }
}

#[test]
fn quantiles_of_a_saturated_histogram_neither_panic_nor_lie() {
    // A bucket as a restored backup or a migrated store could hold it: the
    // first bound's count small, the next two near u64::MAX.
    let mut counts = vec![0u64; crate::records::LATENCY_BOUNDS_US.len() + 1];
    counts[0] = 1;
    counts[1] = u64::MAX / 2;
    counts[2] = u64::MAX / 2 + 10;
    let l: Latency = serde_json::from_value(serde_json::json!(counts)).unwrap();
    let mut merged = Latency::default();
    merged.merge(&l);
    assert_eq!(merged.count(), u64::MAX, "the count saturates");
    for q in [0.5, 0.95, 0.99] {
        let got = std::panic::catch_unwind(|| merged.quantile(q));
        let v = got.unwrap_or_else(|_| panic!("quantile({q}) panicked on a saturated histogram"));
        let v = v.expect("some calls");
        assert!(v <= crate::records::LATENCY_BOUNDS_US[2], "quantile({q}) = {v} past the third bound");
    }
}
