//! Scheduled jobs: the model and the scheduler behind `wasmclaw:skill/cron`.
//!
//! A [`Job`] belongs to one (tenant, skill): the pair that added it through
//! the capability ([`crate::caps::cron`]). Only that pair can list or remove
//! it, and when it fires the [`Scheduler`] hands it to a [`JobRunner`],
//! which invokes the same skill with the job's stored input under the job's
//! tenant, with that tenant's limits. The scheduler never runs a job under
//! any other identity: the tenant and skill come from the stored job, which
//! only the host writes.
//!
//! A job fires on a [`Schedule`]: a cron expression (UTC) or a fixed
//! interval. Times are unix seconds from an injectable [`Clock`], so tests
//! move time instead of sleeping.
//!
//! Firing is at most once per due time. On each tick the scheduler takes
//! the jobs whose next run is at or before now, first moves each one's next
//! run to the first fire time strictly after *now* and commits that, and
//! only then runs it. So:
//! - a job missed for any length of time (the gateway was down, or a tick
//!   was late) runs once on catch-up, not once per missed fire time;
//! - a crash while a job runs does not run it again on restart;
//! - a job whose schedule can never fire again is removed after its last
//!   run.
//!
//! Per-tenant limits (maximum jobs, minimum interval) are enforced when a
//! job is added; see [`shortest_gap`].
//!
//! [`Clock`]: crate::clock::Clock

use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::store::{Db, StoreError};
use cron::TimeUnitSpec;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seconds in a day.
const DAY: u64 = 86_400;
/// 2101-01-01T00:00:00Z: cron expressions cannot name a later year.
const END_OF_CRON_YEARS: u64 = 4_133_980_800;
/// Firing days sampled by [`shortest_gap`] for the gap between days.
const GAP_SAMPLE_DAYS: usize = 32;
/// Due jobs read from the store at once.
const DUE_BATCH: usize = 256;

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
fn civil_from_days(days: u64) -> (u32, u32, u32) {
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
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
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

/// A scheduled job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "RawJob", try_from = "RawJob")]
pub struct Job {
    /// The job's id (32 hex digits).
    pub id: String,
    /// The tenant that added it, and under which it runs.
    pub tenant: TenantId,
    /// The skill that added it, and which it invokes.
    pub skill: String,
    /// When it fires.
    pub schedule: Schedule,
    /// The input (JSON) the skill is invoked with.
    pub input: String,
    /// When it fires next, unix seconds.
    pub next_run: u64,
    /// When it was added, unix seconds.
    pub created: u64,
}

/// A job as stored: the tenant as text, validated again when read.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: String,
    tenant: String,
    skill: String,
    schedule: Schedule,
    input: String,
    next_run: u64,
    created: u64,
}

impl From<Job> for RawJob {
    fn from(j: Job) -> Self {
        RawJob {
            id: j.id,
            tenant: j.tenant.as_str().to_string(),
            skill: j.skill,
            schedule: j.schedule,
            input: j.input,
            next_run: j.next_run,
            created: j.created,
        }
    }
}

impl TryFrom<RawJob> for Job {
    type Error = String;
    fn try_from(r: RawJob) -> Result<Self, String> {
        Ok(Job {
            id: r.id,
            tenant: TenantId::parse(&r.tenant).map_err(|e| e.to_string())?,
            skill: r.skill,
            schedule: r.schedule,
            input: r.input,
            next_run: r.next_run,
            created: r.created,
        })
    }
}

/// Runs a job that fired: invokes `job.skill` with `job.input` as
/// `job.tenant`, with that tenant's limits and grants.
pub trait JobRunner: Send + Sync {
    /// Runs `job` once; the error says why the run failed.
    fn run_job<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// One job run by [`Scheduler::tick`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The job.
    pub job_id: String,
    /// The tenant it ran as.
    pub tenant: TenantId,
    /// What the runner returned.
    pub result: Result<(), String>,
}

/// Fires due jobs.
pub struct Scheduler {
    db: Arc<Db>,
    clock: SharedClock,
}

impl Scheduler {
    /// A scheduler of the jobs in `db`, on `clock`.
    pub fn new(db: Arc<Db>, clock: SharedClock) -> Self {
        Scheduler { db, clock }
    }

    /// Claims every job due at `now`: moves its next run past `now` (or
    /// removes it when it can never fire again), durably, and returns it as
    /// it was when it fell due.
    fn claim_due(&self, now: u64) -> Result<Vec<Job>, StoreError> {
        let mut claimed = Vec::new();
        loop {
            // Each claimed job leaves the range up to `now`, so this ends.
            let batch = self.db.cron_due(now, DUE_BATCH)?;
            if batch.is_empty() {
                return Ok(claimed);
            }
            for job in batch {
                match next_run(&job.schedule, now) {
                    Ok(next) => self.db.cron_reschedule(&job.id, next)?,
                    Err(reason) => {
                        tracing::info!(tenant = %job.tenant, skill = %job.skill, job = %job.id, %reason,
                            "cron: removing a job after its last run");
                        self.db.cron_remove(&job.tenant, &job.skill, &job.id)?;
                    }
                }
                claimed.push(job);
            }
        }
    }

    /// Runs every job due now, once each, one after the other: each job's
    /// next run is first moved to its first fire time after now (however
    /// many fire times were missed) and committed, then the job runs. A job
    /// that can never fire again is removed. Returns what each run gave.
    pub async fn tick(&self, runner: &dyn JobRunner) -> Result<Vec<Fired>, StoreError> {
        let jobs = self.claim_due(self.clock.now())?;
        let mut fired = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let result = runner.run_job(job).await;
            fired.push(Fired { job_id: job.id.clone(), tenant: job.tenant.clone(), result });
        }
        Ok(fired)
    }

    /// Fires due jobs every second until `shutdown` completes.
    ///
    /// Unlike [`Scheduler::tick`], each run is a task of its own, so a slow
    /// job delays neither the others nor the next tick; a job whose
    /// previous run is still going skips this fire time rather than run
    /// twice at once. Runs still going at shutdown are aborted (they are
    /// not retried: their fire time was already claimed).
    pub async fn run(&self, runner: Arc<dyn JobRunner>, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let running: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {}
            }
            while let Some(done) = tasks.try_join_next() {
                if let Err(e) = done {
                    tracing::error!(error = %e, "cron: a job's task failed");
                }
            }
            let jobs = match self.claim_due(self.clock.now()) {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "cron: cannot read due jobs");
                    continue;
                }
            };
            for job in jobs {
                let Some(guard) = Running::start(&running, &job.id) else {
                    tracing::warn!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                        "cron: the previous run is still going; skipping this one");
                    continue;
                };
                let runner = runner.clone();
                tasks.spawn(async move {
                    let _guard = guard;
                    match runner.run_job(&job).await {
                        Ok(()) => tracing::info!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                            "cron: job ran"),
                        Err(e) => tracing::warn!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                            error = %e, "cron: job failed"),
                    }
                });
            }
        }
        tasks.abort_all();
    }
}

/// Marks a job as running until dropped (also when its task panics or is
/// aborted).
struct Running {
    set: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Running {
    /// `None` when the job is already running.
    fn start(set: &Arc<Mutex<HashSet<String>>>, id: &str) -> Option<Running> {
        let mut ids = set.lock().unwrap_or_else(|e| e.into_inner());
        ids.insert(id.to_string()).then(|| Running { set: set.clone(), id: id.to_string() })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    // 2024-01-01T00:00:00Z, a Monday.
    const MON: u64 = 1_704_067_200;

    fn cron(s: &str) -> Schedule {
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

    #[test]
    fn job_serde_keeps_the_tenant_validated() {
        let job = Job {
            id: "j".into(),
            tenant: TenantId::parse("acme").unwrap(),
            skill: "notes".into(),
            schedule: cron("0 * * * * *"),
            input: "{}".into(),
            next_run: 5,
            created: 1,
        };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        let bad = json.replace("\"acme\"", "\"../etc\"");
        assert!(serde_json::from_str::<Job>(&bad).unwrap_err().to_string().contains("invalid tenant id"));
        let every = Job { schedule: Schedule::EverySeconds(60), ..job };
        assert_eq!(serde_json::from_str::<Job>(&serde_json::to_string(&every).unwrap()).unwrap(), every);
    }

    /// Records every job it runs; fails the ones whose input says so.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<Job>>);

    impl Recorder {
        fn ran(&self) -> Vec<Job> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    impl JobRunner for Recorder {
        fn run_job<'a>(
            &'a self,
            job: &'a Job,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            Box::pin(async move {
                self.0.lock().unwrap().push(job.clone());
                if job.input.contains("fail") { Err("it failed".into()) } else { Ok(()) }
            })
        }
    }

    struct Env {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        db: Arc<Db>,
        clock: ManualClock,
        scheduler: Scheduler,
    }

    fn env() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let db = Arc::new(Db::open(&path).unwrap());
        let clock = ManualClock::new(MON);
        let scheduler = Scheduler::new(db.clone(), Arc::new(clock.clone()));
        Env { _dir: dir, path, db, clock, scheduler }
    }

    fn add(db: &Db, id: &str, tenant: &str, schedule: Schedule, input: &str, now: u64) {
        let next_run = next_run(&schedule, now).unwrap();
        let job = Job {
            id: id.into(),
            tenant: TenantId::parse(tenant).unwrap(),
            skill: "skill".into(),
            schedule,
            input: input.into(),
            next_run,
            created: now,
        };
        db.cron_add(&job, 10_000, 10_000).unwrap();
    }

    fn fired_ids(fired: &[Fired]) -> Vec<&str> {
        fired.iter().map(|f| f.job_id.as_str()).collect()
    }

    #[tokio::test]
    async fn fires_when_due_and_not_before() {
        let e = env();
        let r = Recorder::default();
        add(&e.db, "j", "acme", Schedule::EverySeconds(60), "{}", MON);
        e.clock.set(MON + 59);
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
        e.clock.set(MON + 60);
        let fired = e.scheduler.tick(&r).await.unwrap();
        assert_eq!(
            fired,
            vec![Fired { job_id: "j".into(), tenant: TenantId::parse("acme").unwrap(), result: Ok(()) }]
        );
        // Not again in the same second, and next at one interval later.
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
        assert_eq!(
            e.db.cron_list(&TenantId::parse("acme").unwrap(), "skill").unwrap()[0].next_run,
            MON + 120
        );
        e.clock.set(MON + 120);
        assert_eq!(fired_ids(&e.scheduler.tick(&r).await.unwrap()), vec!["j"]);
        assert_eq!(r.ran().len(), 2);
    }

    #[tokio::test]
    async fn cron_job_fires_at_its_time() {
        let e = env();
        let r = Recorder::default();
        add(&e.db, "j", "acme", cron("0 30 9 * * *"), "{}", MON);
        e.clock.set(MON + 9 * 3600 + 1799);
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
        e.clock.set(MON + 9 * 3600 + 1800);
        assert_eq!(fired_ids(&e.scheduler.tick(&r).await.unwrap()), vec!["j"]);
        let next = e.db.cron_due(u64::MAX, 1).unwrap()[0].next_run;
        assert_eq!(next, MON + DAY + 9 * 3600 + 1800);
    }

    #[tokio::test]
    async fn missed_interval_fires_once() {
        let e = env();
        let r = Recorder::default();
        add(&e.db, "j", "acme", Schedule::EverySeconds(60), "{}", MON);
        // Ten intervals pass with no tick (the gateway was down).
        e.clock.set(MON + 600 + 7);
        assert_eq!(fired_ids(&e.scheduler.tick(&r).await.unwrap()), vec!["j"]);
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
        assert_eq!(r.ran().len(), 1);
        assert_eq!(e.db.cron_due(u64::MAX, 1).unwrap()[0].next_run, MON + 607 + 60);
    }

    #[tokio::test]
    async fn jobs_survive_reopening_the_database() {
        let e = env();
        add(&e.db, "j", "acme", Schedule::EverySeconds(60), "{\"k\":1}", MON);
        let Env { _dir, path, db, clock, scheduler } = e;
        drop(scheduler);
        drop(db);
        let db = Arc::new(Db::open(&path).unwrap());
        let scheduler = Scheduler::new(db.clone(), Arc::new(clock.clone()));
        let r = Recorder::default();
        clock.set(MON + 3600);
        assert_eq!(fired_ids(&scheduler.tick(&r).await.unwrap()), vec!["j"]);
        assert_eq!(r.ran()[0].input, "{\"k\":1}");
    }

    #[tokio::test]
    async fn each_tenant_fires_as_itself_with_its_input() {
        let e = env();
        let r = Recorder::default();
        let input_a = "{\"who\":\"a\",\"text\":\"ü \\u0000 \\\"q\\\"\"}";
        add(&e.db, "ja", "tenant-a", Schedule::EverySeconds(10), input_a, MON);
        add(&e.db, "jb", "tenant-b", cron("*/5 * * * * *"), "[1,2,3]", MON);
        e.clock.set(MON + 10);
        let mut fired = e.scheduler.tick(&r).await.unwrap();
        fired.sort_by(|x, y| x.job_id.cmp(&y.job_id));
        assert_eq!(fired.len(), 2);
        assert_eq!((fired[0].job_id.as_str(), fired[0].tenant.as_str()), ("ja", "tenant-a"));
        assert_eq!((fired[1].job_id.as_str(), fired[1].tenant.as_str()), ("jb", "tenant-b"));
        let mut ran = r.ran();
        ran.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(
            (ran[0].tenant.as_str(), ran[0].skill.as_str(), ran[0].input.as_str()),
            ("tenant-a", "skill", input_a)
        );
        assert_eq!((ran[1].tenant.as_str(), ran[1].input.as_str()), ("tenant-b", "[1,2,3]"));
    }

    #[tokio::test]
    async fn failures_are_reported_and_the_job_stays() {
        let e = env();
        let r = Recorder::default();
        add(&e.db, "j", "acme", Schedule::EverySeconds(60), "{\"fail\":true}", MON);
        e.clock.set(MON + 60);
        let fired = e.scheduler.tick(&r).await.unwrap();
        assert_eq!(fired[0].result, Err("it failed".into()));
        assert_eq!(e.db.cron_due(u64::MAX, 1).unwrap()[0].next_run, MON + 120);
    }

    #[tokio::test]
    async fn a_job_that_cannot_fire_again_is_removed_after_its_last_run() {
        let e = env();
        let r = Recorder::default();
        // 2030-01-01T00:00:00Z only.
        add(&e.db, "once", "acme", cron("0 0 0 1 1 * 2030"), "{}", MON);
        e.clock.set(1_893_456_000);
        assert_eq!(fired_ids(&e.scheduler.tick(&r).await.unwrap()), vec!["once"]);
        assert_eq!(e.db.cron_count(&TenantId::parse("acme").unwrap()).unwrap(), 0);
        e.clock.set(END_OF_CRON_YEARS);
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn many_due_jobs_all_fire_once() {
        let e = env();
        let r = Recorder::default();
        for i in 0..(DUE_BATCH + 10) {
            add(&e.db, &format!("j{i:04}"), "acme", Schedule::EverySeconds(60), "{}", MON);
        }
        e.clock.set(MON + 60);
        assert_eq!(e.scheduler.tick(&r).await.unwrap().len(), DUE_BATCH + 10);
        assert!(e.scheduler.tick(&r).await.unwrap().is_empty());
    }
}
