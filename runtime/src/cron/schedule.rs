//! Schedules: when a job fires. A cron expression (with seconds, UTC) or a
//! fixed interval, on unix seconds; [`next_run`] finds the next fire time and
//! [`shortest_gap`] the smallest interval a schedule can have (for the
//! tenant's minimum interval).
//!
//! The next fire time of a cron expression is computed here from the
//! `cron` crate's parsed fields, on unix seconds, so no calendar crate is
//! needed; the tests check it against hand-computed dates and a
//! second-by-second scan.

use cron::TimeUnitSpec;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Seconds in a day.
pub(crate) const DAY: u64 = 86_400;
/// 2101-01-01T00:00:00Z: cron expressions cannot name a later year.
pub(crate) const END_OF_CRON_YEARS: u64 = 4_133_980_800;
/// Firing days sampled by [`shortest_gap`] for the gap between days.
const GAP_SAMPLE_DAYS: usize = 32;

/// When a job fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// A cron expression with seconds, in UTC: `sec min hour day-of-month
    /// month day-of-week [year]`, e.g. `0 30 9 * * Mon-Fri`. Day of month
    /// and day of week must both match. Days of the week are `Sun`–`Sat` or
    /// 1–7 counted from Sunday (1 is Sunday, unlike Unix cron); years run
    /// to 2100. `@hourly`, `@daily`, `@weekly`, `@monthly` and `@yearly`
    /// are accepted too.
    Cron(String),
    /// Every this many seconds, the first one interval after it is added.
    EverySeconds(u64),
}

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

/// The first time strictly after `after` that `s` matches, in UTC.
///
/// The `cron` crate computes this on chrono dates; this walks the same
/// fields (year, month, day of month and day of week, hour, minute,
/// second, smallest first) on unix seconds, which keeps chrono out of the
/// crate's direct dependencies.
fn next_cron(s: &cron::Schedule, after: u64) -> Option<u64> {
    let start = after.checked_add(1)?;
    if start >= END_OF_CRON_YEARS {
        return None;
    }
    let (days, time) = (start / DAY, start % DAY);
    let (y, m, d) = civil_from_days(days);
    // Each below 86400, so they fit a u32.
    let (h, mi, sec) = ((time / 3600) as u32, (time % 3600 / 60) as u32, (time % 60) as u32);
    for year in s.years().range(y..) {
        let first_year = year == y;
        for month in s.months().range(if first_year { m } else { 1 }..).take_while(|&x| x <= 12) {
            let first_month = first_year && month == m;
            let last_day = days_in_month(year, month);
            for day in
                s.days_of_month().range(if first_month { d } else { 1 }..).take_while(|&x| x <= last_day)
            {
                let date = days_from_civil(year, month, day);
                if !s.days_of_week().includes(weekday_from_sunday(date)) {
                    continue;
                }
                let from = if first_month && day == d { (h, mi, sec) } else { (0, 0, 0) };
                if let Some(t) = first_time_of_day(s, from) {
                    return Some(date * DAY + t);
                }
            }
        }
    }
    None
}

/// The first time of day (seconds) at or after `(hour, minute, second)`
/// that `s` matches.
fn first_time_of_day(s: &cron::Schedule, (h, m, sec): (u32, u32, u32)) -> Option<u64> {
    for hour in s.hours().range(h..) {
        for minute in s.minutes().range(if hour == h { m } else { 0 }..) {
            let from = if hour == h && minute == m { sec } else { 0 };
            if let Some(second) = s.seconds().range(from..).next() {
                return Some(u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second));
            }
        }
    }
    None
}

/// (year, month, day) of a day counted from 1970-01-01 (H. Hinnant's
/// algorithm, for days on or after the epoch).
pub(crate) fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400) as u32 + u32::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to a date on or after it.
pub(crate) fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = u64::from(if month > 2 { month - 3 } else { month + 9 });
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day of the week as cron numbers it: Sunday 1 to Saturday 7
/// (1970-01-01 was a Thursday).
fn weekday_from_sunday(days: u64) -> u32 {
    ((days + 4) % 7) as u32 + 1
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// 2024-01-01T00:00:00Z, a Monday (also used by the scheduler's tests).
    pub(in crate::cron) const MON: u64 = 1_704_067_200;

    pub(in crate::cron) fn cron(s: &str) -> Schedule {
        Schedule::Cron(s.into())
    }

    #[test]
    fn calendar_round_trips() {
        for days in [0, 59, 365, 10_957, 19_723, 19_782, 47_846] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(MON / DAY), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(weekday_from_sunday(MON / DAY), 2);
        assert_eq!(days_from_civil(2101, 1, 1) * DAY, END_OF_CRON_YEARS);
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
        let s = parse_cron("*/7 0,13,59 0-2,23 * * Mon,Tue").unwrap();
        let matches = |t: u64| {
            let (days, time) = (t / DAY, t % DAY);
            s.days_of_week().includes(weekday_from_sunday(days))
                && s.hours().includes((time / 3600) as u32)
                && s.minutes().includes((time % 3600 / 60) as u32)
                && s.seconds().includes((time % 60) as u32)
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
