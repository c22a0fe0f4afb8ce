//! Scheduled jobs: the model and the scheduler behind `wasmclaw:skill/cron`.
//!
//! A [`Job`] belongs to one (tenant, skill) and one call scope
//! ([`JobScope`](crate::records::JobScope): the user and whether the call
//! ran in an agent's session): those of the call that added it through the
//! capability ([`crate::cron::cap`]). Only a call of that pair in that same scope can
//! list or remove it, and when it fires the [`Scheduler`] hands it to a
//! [`JobRunner`], which invokes the same skill with the job's stored input
//! under the job's tenant, in the job's scope (so it reaches that user's
//! files and memory, and in a session only the peer's contacts), with that
//! tenant's limits. The scheduler never runs a job under any other identity:
//! tenant, skill and scope come from the stored job, which only the host
//! writes.
//!
//! A job fires on a [`Schedule`](crate::records::Schedule): a cron expression (UTC) or a fixed
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

mod schedule;

pub use schedule::{next_run, shortest_gap};

pub mod cap;
use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::records::Job;
use crate::store::{Db, StoreError};
use crate::sync::lock;
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Due jobs read from the store at once.
const DUE_BATCH: usize = 256;

/// Runs a job that fired: invokes `job.skill` with `job.input` as
/// `job.tenant`, with that tenant's limits and grants.
pub trait JobRunner: Send + Sync {
    /// Runs `job` once; the error says why the run failed.
    fn run_job<'a>(&'a self, job: &'a Job) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

    /// Whether this process is to run `tenant`'s due jobs: `Some` (held
    /// while the job is claimed and runs) or `None`, leaving them to the
    /// process that is (in a cluster, the tenant's owner). By default,
    /// always.
    fn claim<'a>(&'a self, tenant: &'a TenantId) -> Pin<Box<dyn Future<Output = Option<Claim>> + Send + 'a>> {
        let _ = tenant;
        Box::pin(async { Some(Box::new(()) as Claim) })
    }
}

/// What [`JobRunner::claim`] holds while a job is claimed and runs (a
/// tenant's lease, in a cluster).
pub type Claim = Box<dyn Send>;

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

    /// Claims every job due at `now` that `runner` claims the tenant of:
    /// moves its next run past `now` (or removes it when it can never fire
    /// again), durably, and returns it as it was when it fell due, with the
    /// runner's claim. Jobs of tenants the runner leaves are left as they
    /// are (their owner claims them).
    async fn claim_due(&self, now: u64, runner: &dyn JobRunner) -> Result<Vec<(Job, Claim)>, StoreError> {
        let mut claimed = Vec::new();
        let mut left: HashSet<String> = HashSet::new();
        loop {
            // Each claimed job leaves the range up to `now`, and a batch of
            // nothing but jobs left to others ends the loop: this ends.
            let batch = self.db.cron_due(now, DUE_BATCH)?;
            let fresh: Vec<Job> = batch.into_iter().filter(|j| !left.contains(&j.id)).collect();
            if fresh.is_empty() {
                return Ok(claimed);
            }
            for job in fresh {
                let Some(claim) = runner.claim(&job.tenant).await else {
                    left.insert(job.id.clone());
                    continue;
                };
                // A compare-and-set on the fire time read: of two
                // schedulers that read the job due, one claims it.
                let won = match next_run(&job.schedule, now) {
                    Ok(next) => self.db.cron_reschedule(&job.tenant, &job.id, job.next_run, next),
                    Err(reason) => {
                        tracing::info!(tenant = %job.tenant, skill = %job.skill, job = %job.id, %reason,
                            "cron: removing a job after its last run");
                        let due = job.next_run;
                        self.db.cron_remove_if(&job.tenant, &job.skill, &job.id, |j| j.next_run == due)
                    }
                };
                match won {
                    Ok(true) => claimed.push((job, claim)),
                    // Claimed by another scheduler, or the tenant moved to
                    // another owner since the claim: its owner runs it.
                    Ok(false) | Err(StoreError::TenantMoved(_)) => {
                        left.insert(job.id.clone());
                    }
                    // The jobs claimed so far still run; the rest wait
                    // for the next tick.
                    Err(e) if claimed.is_empty() => return Err(e),
                    Err(e) => {
                        tracing::error!(error = %e, "cron: cannot claim a due job");
                        return Ok(claimed);
                    }
                }
            }
        }
    }

    /// Runs every job due now, once each, one after the other: each job's
    /// next run is first moved to its first fire time after now (however
    /// many fire times were missed) and committed, then the job runs. A job
    /// that can never fire again is removed. Returns what each run gave.
    pub async fn tick(&self, runner: &dyn JobRunner) -> Result<Vec<Fired>, StoreError> {
        let now = self.clock.now();
        let jobs = self.claim_due(now, runner).await?;
        let mut fired = Vec::with_capacity(jobs.len());
        for (job, _claim) in jobs {
            let result = runner.run_job(&job).await;
            record_run(&self.db, &job, now, &result);
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
            let now = self.clock.now();
            let jobs = match self.claim_due(now, runner.as_ref()).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::error!(error = %e, "cron: cannot read due jobs");
                    continue;
                }
            };
            for (job, claim) in jobs {
                let Some(guard) = Running::start(&running, &job.id) else {
                    tracing::warn!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                        "cron: the previous run is still going; skipping this one");
                    continue;
                };
                let (runner, db) = (runner.clone(), self.db.clone());
                tasks.spawn(async move {
                    let _guard = (guard, claim);
                    let result = runner.run_job(&job).await;
                    match &result {
                        Ok(()) => tracing::info!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                            "cron: job ran"),
                        Err(e) => tracing::warn!(tenant = %job.tenant, skill = %job.skill, job = %job.id,
                            error = %e, "cron: job failed"),
                    }
                    // Still holding the claim (in a cluster, the lease).
                    let _ = tokio::task::spawn_blocking(move || record_run(&db, &job, now, &result)).await;
                });
            }
        }
        tasks.abort_all();
    }
}

/// Records a run of `job` started `at` (for its tenant's Cron page); a job
/// removed meanwhile, or a tenant moved to another owner, keeps nothing.
fn record_run(db: &Db, job: &Job, at: u64, result: &Result<(), String>) {
    match db.cron_record_run(&job.tenant, &job.id, &crate::records::LastRun::of(at, result)) {
        Ok(_) | Err(StoreError::TenantMoved(_)) => {}
        Err(e) => {
            tracing::error!(tenant = %job.tenant, job = %job.id, error = %e, "cron: cannot record a run")
        }
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
        let mut ids = lock(set);
        ids.insert(id.to_string()).then(|| Running { set: set.clone(), id: id.to_string() })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::schedule::tests::{MON, cron};
    use super::schedule::{DAY, END_OF_CRON_YEARS};
    use super::*;
    use crate::clock::ManualClock;
    use crate::records::Schedule;

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
            scope: Default::default(),
            schedule,
            input: input.into(),
            next_run,
            created: now,
            last: None,
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
    async fn each_run_is_recorded_with_its_error() {
        let e = env();
        let r = Recorder::default();
        add(&e.db, "ok", "acme", Schedule::EverySeconds(60), "{}", MON);
        add(&e.db, "bad", "acme", Schedule::EverySeconds(60), "{\"fail\":1}", MON);
        let last = |id: &str| {
            let jobs = e.db.cron_list(&TenantId::parse("acme").unwrap(), "skill").unwrap();
            jobs.into_iter().find(|j| j.id == id).unwrap().last
        };
        assert_eq!(last("ok"), None, "not run yet");
        e.clock.set(MON + 60);
        assert_eq!(e.scheduler.tick(&r).await.unwrap().len(), 2);
        assert_eq!(last("ok"), Some(crate::records::LastRun { at: MON + 60, error: None }));
        let bad = last("bad").unwrap();
        assert_eq!((bad.at, bad.error.as_deref()), (MON + 60, Some("it failed")));
    }

    /// A runner whose claim lets another scheduler of the same store tick
    /// first, as a second replica that read the same due job would.
    struct Racing<'a> {
        other: &'a Scheduler,
        other_runner: &'a Recorder,
        mine: Recorder,
    }

    impl JobRunner for Racing<'_> {
        fn run_job<'a>(
            &'a self,
            job: &'a Job,
        ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
            self.mine.run_job(job)
        }

        fn claim<'a>(&'a self, _: &'a TenantId) -> Pin<Box<dyn Future<Output = Option<Claim>> + Send + 'a>> {
            Box::pin(async move {
                self.other.tick(self.other_runner).await.unwrap();
                Some(Box::new(()) as Claim)
            })
        }
    }

    #[tokio::test]
    async fn of_two_schedulers_that_read_a_job_due_only_one_runs_it() {
        let e = env();
        // 2030-01-01T00:00:00Z: one due every minute, one at its last run.
        let now = 1_893_456_000;
        add(&e.db, "every", "acme", Schedule::EverySeconds(60), "{}", now - 60);
        add(&e.db, "last", "acme", cron("0 0 0 1 1 * 2030"), "{}", MON);
        let other = Scheduler::new(e.db.clone(), Arc::new(e.clock.clone()));
        let other_runner = Recorder::default();
        let racing = Racing { other: &other, other_runner: &other_runner, mine: Recorder::default() };
        e.clock.set(now);
        // This scheduler read both jobs due; the other claimed and ran them
        // while this one was claiming: the fire times are gone.
        assert!(e.scheduler.tick(&racing).await.unwrap().is_empty());
        assert!(racing.mine.ran().is_empty(), "no second run of a claimed fire time");
        let mut theirs: Vec<String> = other_runner.ran().into_iter().map(|j| j.id).collect();
        theirs.sort();
        assert_eq!(theirs, ["every", "last"], "each ran once, by the other");
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
