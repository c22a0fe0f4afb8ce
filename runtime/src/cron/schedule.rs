//! Schedules: when a job fires. A cron expression (with seconds, UTC) or a
//! fixed interval, on unix seconds; [`next_run`] finds the next fire time and
//! [`shortest_gap`] the smallest interval a schedule can have (for the
//! tenant's minimum interval).
//!
//! The next fire time of a cron expression is the `cron` crate's own
//! schedule iteration ([`cron::Schedule::after`]) on `DateTime<Utc>`; this
//! module converts unix seconds to and from it and stops at the end of the
//! crate's years (2100). The crate keeps a day only when both its day of
//! month and its day of week match, as [`Schedule::Cron`] documents. The
//! tests check it against hand-computed dates and a second-by-second scan.

use chrono::{DateTime, Utc};
use cron::TimeUnitSpec;
use std::str::FromStr;

use crate::records::Schedule;

/// Seconds in a day.
pub(crate) const DAY: u64 = 86_400;
/// 2101-01-01T00:00:00Z: cron expressions cannot name a later year.
pub(crate) const END_OF_CRON_YEARS: u64 = 4_133_980_800;
/// Firing days sampled by [`shortest_gap`] for the gap between days.
const GAP_SAMPLE_DAYS: usize = 32;

/// The first fire time of `schedule` strictly after `after` (unix seconds,
/// UTC); an error explaining why for an invalid schedule or one that never
/// fires after `after`.
pub fn next_run(schedule: &Schedule, after: u64) -> Result<u64, String> {
    match schedule {
        Schedule::EverySeconds(0) => Err("the interval must be at least 1 second".into()),
        Schedule::EverySeconds(secs) => {
            after.checked_add(*secs).ok_or_else(|| format!("an interval of {secs} seconds never fires"))
        }
        Schedule::Cron(expr) => next_cron(&parse_cron(expr)?, after).ok_or_else(never_fires),
    }
}

/// The shortest gap, in seconds, between two consecutive fire times of
/// `schedule` from `from` on (`u64::MAX` when it fires only once), to hold
/// it to a minimum interval. `* * * * * *` gives 1; `0 0 9 * * Mon-Fri`
/// gives 86400.
///
/// For a cron expression, gaps within a day are computed exactly from the
/// second, minute and hour fields (every firing day has the same times of
/// day), and gaps between days over the next 32 firing days, so a dense
/// burst cannot hide after the first few occurrences.
pub fn shortest_gap(schedule: &Schedule, from: u64) -> Result<u64, String> {
    let expr = match schedule {
        Schedule::EverySeconds(0) => return Err("the interval must be at least 1 second".into()),
        Schedule::EverySeconds(secs) => return Ok(*secs),
        Schedule::Cron(expr) => expr,
    };
    let s = parse_cron(expr)?;
    let first = next_cron(&s, from).ok_or_else(never_fires)?;
    let secs: Vec<u64> = s.seconds().iter().map(u64::from).collect();
    let mins: Vec<u64> = s.minutes().iter().map(u64::from).collect();
    let hours: Vec<u64> = s.hours().iter().map(u64::from).collect();
    let (Some(&s_min), Some(&s_max), Some(&m_min), Some(&m_max), Some(&h_min), Some(&h_max)) =
        (secs.first(), secs.last(), mins.first(), mins.last(), hours.first(), hours.last())
    else {
        return Err(never_fires());
    };
    let mut gap = u64::MAX;
    // Consecutive fires in the same minute, in consecutive minutes of an
    // hour, in consecutive hours of a day.
    for w in secs.windows(2) {
        gap = gap.min(w[1] - w[0]);
    }
    for w in mins.windows(2) {
        gap = gap.min((w[1] - w[0]) * 60 - (s_max - s_min));
    }
    let (hour_first, hour_last) = (m_min * 60 + s_min, m_max * 60 + s_max);
    for w in hours.windows(2) {
        gap = gap.min((w[1] - w[0]) * 3600 - (hour_last - hour_first));
    }
    // The last fire of one firing day to the first of the next.
    let spread = (h_max * 3600 + hour_last) - (h_min * 3600 + hour_first);
    let mut day = first / DAY;
    for _ in 0..GAP_SAMPLE_DAYS {
        let Some(next) = next_cron(&s, day * DAY + DAY - 1) else { break };
        let next_day = next / DAY;
        gap = gap.min((next_day - day) * DAY - spread);
        day = next_day;
    }
    Ok(gap)
}

fn never_fires() -> String {
    "the schedule never fires again".into()
}

fn parse_cron(expr: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expr).map_err(|e| format!("invalid cron expression: {e}"))
}

/// The first time strictly after `after` that `s` matches, in UTC: the
/// `cron` crate's own schedule iteration, on unix seconds.
fn next_cron(s: &cron::Schedule, after: u64) -> Option<u64> {
    // Nothing fires past the last cron year. Stopping here also keeps
    // `after` well inside chrono's range: the crate adds a second to it,
    // which would panic at chrono's last representable time.
    if after >= END_OF_CRON_YEARS {
        return None;
    }
    let after = DateTime::<Utc>::from_timestamp(i64::try_from(after).ok()?, 0)?;
    let next = s.after(&after).next()?;
    u64::try_from(next.timestamp()).ok()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z, a Monday (also used by the scheduler's tests).
    pub(in crate::cron) const MON: u64 = 1_704_067_200;

    pub(in crate::cron) fn cron(s: &str) -> Schedule {
        Schedule::Cron(s.into())
    }

    /// The seconds a `DateTime<Utc>` of `t`, for the tests' own checks.
    fn utc(t: u64) -> DateTime<Utc> {
        DateTime::from_timestamp(i64::try_from(t).unwrap(), 0).unwrap()
    }

    #[test]
    fn constants_name_their_dates() {
        use chrono::{Datelike, Weekday};
        assert_eq!(utc(MON).to_rfc3339(), "2024-01-01T00:00:00+00:00");
        assert_eq!(utc(MON).weekday(), Weekday::Mon);
        assert_eq!(utc(END_OF_CRON_YEARS).to_rfc3339(), "2101-01-01T00:00:00+00:00");
        assert_eq!(DAY, 24 * 3600);
    }

    #[test]
    fn next_run_known_times() {
        // Friday 2024-01-05 10:00 → Monday 2024-01-08 09:30.
        assert_eq!(next_run(&cron("0 30 9 * * Mon-Fri"), 1_704_448_800), Ok(1_704_706_200));
        // After 2024-03-01, the next 29 February at noon is in 2028.
        assert_eq!(next_run(&cron("0 0 12 29 2 *"), 1_709_251_200), Ok(1_835_438_400));
        assert_eq!(next_run(&cron("0 0 12 29 2 *"), 1_709_208_000 - 1), Ok(1_709_208_000));
        assert_eq!(next_run(&cron("@daily"), MON + 5), Ok(MON + DAY));
        assert_eq!(next_run(&cron("0 0 0 1 1 * 2030"), MON), Ok(1_893_456_000));
        assert_eq!(next_run(&Schedule::EverySeconds(90), MON), Ok(MON + 90));
        // Month and year ends roll over.
        assert_eq!(next_run(&cron("0 0 0 1 * *"), MON - 1), Ok(MON));
        assert_eq!(next_run(&cron("59 59 23 31 12 *"), MON - 2), Ok(MON - 1));
    }

    #[test]
    fn next_run_is_strictly_after() {
        assert_eq!(next_run(&cron("* * * * * *"), MON), Ok(MON + 1));
        assert_eq!(next_run(&cron("0 0 0 * * *"), MON), Ok(MON + DAY));
        assert_eq!(next_run(&cron("0 0 0 * * *"), MON - 1), Ok(MON));
    }

    #[test]
    fn next_run_agrees_with_matching_every_second() {
        // Walk two days second by second against the schedule's fields.
        use chrono::{Datelike, Timelike};
        let s = parse_cron("*/7 0,13,59 0-2,23 * * Mon,Tue").unwrap();
        let matches = |t: u64| {
            let at = utc(t);
            s.days_of_week().includes(at.weekday().number_from_sunday())
                && s.hours().includes(at.hour())
                && s.minutes().includes(at.minute())
                && s.seconds().includes(at.second())
        };
        let mut expected = MON - 1;
        let mut t = MON - 1;
        while t < MON + 2 * DAY {
            let next = next_cron(&s, t).unwrap();
            expected += 1;
            while !matches(expected) {
                expected += 1;
            }
            assert_eq!(next, expected);
            t = next;
        }
    }

    #[test]
    fn day_of_month_and_day_of_week_must_both_match() {
        use chrono::{Datelike, Weekday};
        // Friday 13 September 2024 at noon, not the first Friday nor the
        // first 13th after Monday 2024-01-01.
        assert_eq!(next_run(&cron("0 0 12 13 * Fri"), MON), Ok(1_726_228_800));
        // The first Monday of February 2024 (the 5th), not 1 February.
        assert_eq!(next_run(&cron("0 0 0 1-7 * Mon"), MON), Ok(1_707_091_200));
        // Every fire through 2030 is a Friday the 13th, and none is
        // skipped: the scan finds the 12 such days a calendar has.
        let s = cron("0 0 12 13 * Fri");
        let (mut t, mut fires) = (MON, 0);
        while let Ok(next) = next_run(&s, t) {
            if next >= 1_924_992_000 {
                break; // 2031-01-01
            }
            let at = utc(next);
            assert_eq!((at.day(), at.weekday()), (13, Weekday::Fri), "{at}");
            (t, fires) = (next, fires + 1);
        }
        assert_eq!(fires, 12);
    }

    #[test]
    fn next_run_errors() {
        let e = next_run(&cron("not cron"), MON).unwrap_err();
        assert!(e.starts_with("invalid cron expression"), "{e}");
        assert!(next_run(&cron("* * * * *"), MON).is_err(), "five fields lack the seconds");
        assert!(next_run(&cron("0 0 0 30 2 *"), MON).unwrap_err().contains("never fires"));
        assert!(next_run(&cron("0 0 0 1 1 * 2020"), MON).unwrap_err().contains("never fires"));
        assert!(next_run(&cron("* * * * * *"), END_OF_CRON_YEARS - 1).is_err());
        assert!(next_run(&cron("* * * * * *"), u64::MAX).is_err());
        assert!(next_run(&Schedule::EverySeconds(0), MON).is_err());
        assert!(next_run(&Schedule::EverySeconds(u64::MAX), MON).is_err());
    }

    #[test]
    fn shortest_gaps() {
        let gap = |s: &str| shortest_gap(&cron(s), MON).unwrap();
        assert_eq!(gap("* * * * * *"), 1);
        assert_eq!(gap("0 * * * * *"), 60);
        assert_eq!(gap("0,30 * * * * *"), 30);
        assert_eq!(gap("0 */15 * * * *"), 900);
        assert_eq!(gap("@hourly"), 3600);
        assert_eq!(gap("0 30 9 * * Mon-Fri"), DAY);
        assert_eq!(gap("0 0 0 * * Mon"), 7 * DAY);
        // February of a common year.
        assert_eq!(gap("0 0 0 1 * *"), 28 * DAY);
        // A dense second late in the minute, and a burst across midnight.
        assert_eq!(
            gap(
                "0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,58,59 * * * * *"
            ),
            1
        );
        assert_eq!(gap("0,59 0,59 0,23 * * *"), 1);
        assert_eq!(gap("0 0 0 1 1 * 2030"), u64::MAX);
        assert_eq!(shortest_gap(&Schedule::EverySeconds(300), MON), Ok(300));
        assert!(shortest_gap(&Schedule::EverySeconds(0), MON).is_err());
        assert!(shortest_gap(&cron("nope"), MON).is_err());
        assert!(shortest_gap(&cron("0 0 0 1 1 * 2020"), MON).is_err());
    }

    #[test]
    fn shortest_gap_agrees_with_brute_force() {
        for expr in ["5,10 */20 1,2 * * *", "0 0 0,12 * * Sat,Sun", "15,45 59 23 * * *", "0 0 0 28,1 2,3 *"] {
            let s = cron(expr);
            let mut t = next_run(&s, MON).unwrap();
            let mut brute = u64::MAX;
            for _ in 0..3000 {
                let Ok(n) = next_run(&s, t) else { break };
                brute = brute.min(n - t);
                t = n;
            }
            assert_eq!(shortest_gap(&s, MON).unwrap(), brute, "{expr}");
        }
    }
}
