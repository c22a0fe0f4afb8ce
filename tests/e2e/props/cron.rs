//! Cron schedules.

use super::*;

/// (year, month, day) of a day since 1970-01-01 (H. Hinnant's algorithm).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(month <= 2), month, day)
}

/// A cron field: its text and the values it allows. Named values are
/// within `lo..=hi`; `*` and `*/k` cover the field's whole `lo..=full`.
fn field(lo: u64, hi: u64, full: u64) -> impl Strategy<Value = (String, BTreeSet<u64>)> {
    prop_oneof![
        Just(("*".to_string(), (lo..=full).collect::<BTreeSet<u64>>())),
        (lo..=hi).prop_map(|n| (n.to_string(), BTreeSet::from([n]))),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| {
            let (a, b) = (a.min(b), a.max(b));
            (format!("{a}-{b}"), (a..=b).collect())
        }),
        (1..=(full - lo).div_ceil(2))
            .prop_map(move |k| (format!("*/{k}"), (lo..=full).step_by(k as usize).collect())),
        prop::collection::btree_set(lo..=hi, 1..5)
            .prop_map(|s| (s.iter().map(u64::to_string).collect::<Vec<_>>().join(","), s)),
    ]
}

/// A cron expression (seconds first, day of month at most 28 so that it
/// fires every month it names) and the values of each field.
fn cron_expr() -> impl Strategy<Value = (String, [BTreeSet<u64>; 6])> {
    let dow = prop_oneof![
        Just(("*".to_string(), (1..=7).collect::<BTreeSet<u64>>())),
        Just(("Mon-Fri".to_string(), (2..=6).collect())),
        Just(("Sat,Sun".to_string(), BTreeSet::from([1, 7]))),
        (1u64..=7).prop_map(|d| (d.to_string(), BTreeSet::from([d]))),
    ];
    (field(0, 59, 59), field(0, 59, 59), field(0, 23, 23), field(1, 28, 31), field(1, 12, 12), dow).prop_map(
        |(s, m, h, dom, mon, dow)| {
            let text = format!("{} {} {} {} {} {}", s.0, m.0, h.0, dom.0, mon.0, dow.0);
            (text, [s.1, m.1, h.1, dom.1, mon.1, dow.1])
        },
    )
}

/// Whether `t` matches every field.
fn matches(t: u64, f: &[BTreeSet<u64>; 6]) -> bool {
    let (days, time) = (t / 86_400, t % 86_400);
    let (_, month, day) = civil(days);
    let weekday = (days + 4) % 7 + 1;
    f[0].contains(&(time % 60))
        && f[1].contains(&(time / 60 % 60))
        && f[2].contains(&(time / 3600))
        && f[3].contains(&day)
        && f[4].contains(&month)
        && f[5].contains(&weekday)
}

/// 2024-01-01T00:00:00Z.
const MON: u64 = 1_704_067_200;

proptest! {
    #![proptest_config(config(256))]

    /// Any text as a cron expression, from any time, gives a time or an
    /// error, never a panic; a time given is after the time asked from.
    #[test]
    fn arbitrary_cron_text_never_panics(
        expr in prop_oneof![
            ".{0,40}",
            "([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@]) ([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@]) ([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@]) ([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@]) ([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@]) ([0-9*/,-]{1,6}|[A-Za-z]{3}|[?LW#@])( [0-9*/,-]{1,9})?",
            "@[a-z]{0,8}",
        ],
        after in prop_oneof![Just(MON), any::<u64>(), 0..5_000_000_000u64],
    ) {
        let s = Schedule::Cron(expr);
        if let Ok(t) = next_run(&s, after) {
            prop_assert!(t > after);
            prop_assert!(shortest_gap(&s, after).is_ok());
        }
    }

    /// The next fire time of a valid expression is after the time asked
    /// from, matches every field, is the first match (checked up to two
    /// hours back), is its own next time from a second earlier, and no two
    /// consecutive fires are closer than the shortest gap.
    #[test]
    fn valid_cron_expressions_fire_exactly_when_they_say(
        (expr, fields) in cron_expr(),
        after in MON..MON + 20 * 365 * 86_400,
    ) {
        let s = Schedule::Cron(expr.clone());
        let t = next_run(&s, after).map_err(|e| TestCaseError::fail(format!("{expr}: {e}")))?;
        prop_assert!(t > after);
        prop_assert!(matches(t, &fields), "{} at {}", expr, t);
        for earlier in (after + 1).max(t.saturating_sub(7200))..t {
            prop_assert!(!matches(earlier, &fields), "{} matches {} before {}", expr, earlier, t);
        }
        prop_assert_eq!(next_run(&s, t - 1), Ok(t));
        let gap = shortest_gap(&s, after).map_err(TestCaseError::fail)?;
        let mut prev = t;
        for _ in 0..3 {
            let n = next_run(&s, prev).map_err(TestCaseError::fail)?;
            prop_assert!(n - prev >= gap, "{}: {} to {} under the gap {}", expr, prev, n, gap);
            prev = n;
        }
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
    }

    /// A fixed interval fires exactly one interval later, and that is its gap.
    #[test]
    fn intervals_fire_one_interval_later(secs in 1u64.., after in any::<u64>()) {
        let s = Schedule::EverySeconds(secs);
        prop_assert_eq!(next_run(&s, after).ok(), after.checked_add(secs));
        prop_assert_eq!(shortest_gap(&s, after), Ok(secs));
    }
}
