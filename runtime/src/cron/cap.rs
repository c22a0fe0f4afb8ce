//! The `wasmclaw:skill/cron` capability: a skill schedules calls of itself,
//! as the call's tenant.
//!
//! Security properties:
//! - The owner of a job is the (tenant, skill) and call scope (user, in an
//!   agent's session or not: [`JobScope`]) of the call that added it, taken
//!   from the host's context, never from the guest; the job fires in that
//!   scope. `list` and `remove` reach only that owner's jobs in that same
//!   scope: another tenant's job, another skill's in the same tenant, or
//!   another user's (or another scope's) of the same skill, is `not-found`
//!   exactly like an id that does not exist, so ids cannot be probed.
//! - Without a cron grant for this (tenant, skill), every function is
//!   `denied`.
//! - The tenant's and skill's maximum jobs are checked in the same storage
//!   transaction as the insert; a schedule that could fire more often than
//!   the granted minimum interval is refused, its shortest gap computed
//!   over the whole schedule ([`crate::cron::shortest_gap`]).
//! - Input and expressions are bounded, and the input must be JSON, before
//!   anything is stored. Job ids are 128 random bits.

use crate::bindings::WitError;
use crate::bindings::wasmclaw::skill::cron as wit;
use crate::clock::SharedClock;
use crate::cron::{next_run, shortest_gap};
use crate::ids::TenantId;
use crate::policy::CronGrant;
use crate::records::{Job, JobScope, Schedule};
use crate::store::{Db, StoreError};
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest job input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// Longest cron expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 256;

/// Why a context without a grant refuses.
const NO_GRANT: &str = "this skill has no cron grant for this tenant";

/// The cron capability of one call.
pub struct CronCtx {
    access: Result<Access, String>,
    audit: crate::caps::CallAudit,
    debt: crate::caps::FuelDebt,
}

struct Access {
    db: Arc<Db>,
    tenant: TenantId,
    skill: String,
    scope: JobScope,
    grant: CronGrant,
    clock: SharedClock,
}

impl CronCtx {
    /// Jobs of `skill` for `tenant` in the call scope `scope`, within
    /// `grant`; with no grant, every call returns `denied`.
    pub fn new(
        db: Arc<Db>,
        tenant: TenantId,
        skill: String,
        scope: JobScope,
        grant: Option<CronGrant>,
        clock: SharedClock,
    ) -> Self {
        match grant {
            Some(grant) => CronCtx {
                access: Ok(Access { db, tenant, skill, scope, grant, clock }),
                audit: Default::default(),
                debt: Default::default(),
            },
            None => CronCtx::denied(NO_GRANT),
        }
    }

    /// Charges this context's work to `debt`.
    pub fn with_debt(mut self, debt: crate::caps::FuelDebt) -> Self {
        self.debt = debt;
        self
    }

    /// Notes this context's refusals in `audit`.
    pub fn with_audit(mut self, audit: crate::caps::CallAudit) -> Self {
        self.audit = audit;
        self
    }

    /// A context in which every call returns `denied` with `reason`.
    pub fn denied(reason: impl Into<String>) -> Self {
        CronCtx { access: Err(reason.into()), audit: Default::default(), debt: Default::default() }
    }

    fn access(&self) -> Result<&Access, WitError> {
        let r = self.access.as_ref().map_err(|reason| WitError::Denied(reason.clone()));
        self.audit.check("cron", r)
    }
}

fn store_error(e: StoreError) -> WitError {
    match e {
        StoreError::QuotaExceeded(m) => WitError::LimitExceeded(m),
        other => {
            tracing::error!(error = %other, "cron capability: storage failure");
            WitError::Unavailable("storage is unavailable".into())
        }
    }
}

fn not_found() -> WitError {
    WitError::NotFound("no such job".into())
}

fn from_wit(schedule: wit::Schedule) -> Result<Schedule, WitError> {
    match schedule {
        wit::Schedule::Cron(expr) => {
            if expr.len() > MAX_EXPRESSION_BYTES {
                return Err(WitError::Invalid(format!(
                    "the cron expression is {} bytes, the most is {MAX_EXPRESSION_BYTES}",
                    expr.len()
                )));
            }
            Ok(Schedule::Cron(expr))
        }
        wit::Schedule::EverySeconds(0) => {
            Err(WitError::Invalid("the interval must be at least 1 second".into()))
        }
        wit::Schedule::EverySeconds(secs) => Ok(Schedule::EverySeconds(secs)),
    }
}

fn to_wit(job: Job) -> wit::Job {
    let schedule = match job.schedule {
        Schedule::Cron(expr) => wit::Schedule::Cron(expr),
        Schedule::EverySeconds(secs) => wit::Schedule::EverySeconds(secs),
    };
    wit::Job { id: job.id, schedule, input: job.input, next_run: job.next_run }
}

impl wit::Host for CronCtx {
    async fn add(&mut self, schedule: wit::Schedule, input: String) -> Result<String, WitError> {
        self.debt.charge_work(input.len() as u64, 1);
        let a = self.access()?;
        if input.len() > MAX_INPUT_BYTES {
            return Err(WitError::Invalid(format!(
                "the input is {} bytes, the most is {MAX_INPUT_BYTES}",
                input.len()
            )));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&input) {
            return Err(WitError::Invalid(format!("the input is not JSON: {e}")));
        }
        let schedule = from_wit(schedule)?;
        let now = a.clock.now();
        let next = next_run(&schedule, now).map_err(WitError::Invalid)?;
        let gap = shortest_gap(&schedule, now).map_err(WitError::Invalid)?;
        let min = a.grant.min_interval_secs;
        if gap < min {
            return Err(WitError::LimitExceeded(format!(
                "the schedule can fire {gap} seconds apart; the minimum interval is {min} seconds"
            )));
        }
        let job = Job {
            id: hex::encode(rand::random::<[u8; 16]>()),
            tenant: a.tenant.clone(),
            skill: a.skill.clone(),
            scope: a.scope.clone(),
            schedule,
            input,
            next_run: next,
            created: now,
            last: None,
        };
        let (id, tenant_max, skill_max) = (job.id.clone(), a.grant.tenant_max_jobs, a.grant.skill_max_jobs);
        a.db.run(&a.tenant, move |db| db.cron_add(&job, tenant_max, skill_max)).await.map_err(store_error)?;
        self.audit.changed("cron.add", &id);
        Ok(id)
    }

    async fn list(&mut self) -> Result<Vec<wit::Job>, WitError> {
        let a = self.access()?;
        let (tenant, skill) = (a.tenant.clone(), a.skill.clone());
        let jobs = a.db.run(&a.tenant, move |db| db.cron_list(&tenant, &skill)).await.map_err(store_error)?;
        self.debt.charge_work(jobs.iter().map(|j| j.input.len() as u64).sum(), jobs.len() as u64 + 1);
        Ok(jobs.into_iter().filter(|j| j.scope == a.scope).map(to_wit).collect())
    }

    async fn remove(&mut self, id: String) -> Result<(), WitError> {
        let a = self.access()?;
        // Ids are 32 hex digits; anything else cannot be a job.
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let (tenant, skill, scope, job) = (a.tenant.clone(), a.skill.clone(), a.scope.clone(), id.clone());
        let removed =
            a.db.run(&a.tenant, move |db| db.cron_remove_if(&tenant, &skill, &job, |j| j.scope == scope))
                .await;
        match removed.map_err(store_error)? {
            true => {
                self.audit.changed("cron.remove", &id);
                Ok(())
            }
            false => Err(not_found()),
        }
    }
}

struct HasCron;

impl HasData for HasCron {
    type Data<'a> = &'a mut CronCtx;
}

/// Adds `wasmclaw:skill/cron` to `linker`, reaching each call's context
/// through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut CronCtx,
) -> wasmtime::Result<()> {
    wit::add_to_linker::<T, HasCron>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use wit::Host;

    // 2024-01-01T00:00:00Z, a Monday.
    const NOW: u64 = 1_704_067_200;

    const GRANT: CronGrant = CronGrant { tenant_max_jobs: 3, skill_max_jobs: 2, min_interval_secs: 60 };

    fn db() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("db.redb")).unwrap());
        (dir, db)
    }

    fn ctx(db: &Arc<Db>, tenant: &str, skill: &str) -> CronCtx {
        CronCtx::new(
            db.clone(),
            TenantId::parse(tenant).unwrap(),
            skill.into(),
            JobScope::default(),
            Some(GRANT),
            Arc::new(ManualClock::new(NOW)),
        )
    }

    fn cron(s: &str) -> wit::Schedule {
        wit::Schedule::Cron(s.into())
    }

    #[tokio::test]
    async fn add_list_remove() {
        let (_d, db) = db();
        let mut c = ctx(&db, "acme", "notes");
        let id = c.add(cron("0 30 9 * * Mon-Fri"), "{\"say\":\"hi\"}".into()).await.unwrap();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let id2 = c.add(wit::Schedule::EverySeconds(60), "[]".into()).await.unwrap();
        assert_ne!(id, id2);
        let jobs = c.list().await.unwrap();
        assert_eq!(jobs.len(), 2);
        let j = jobs.iter().find(|j| j.id == id).unwrap();
        assert!(matches!(&j.schedule, wit::Schedule::Cron(e) if e == "0 30 9 * * Mon-Fri"));
        assert_eq!(j.input, "{\"say\":\"hi\"}");
        assert_eq!(j.next_run, NOW + 9 * 3600 + 1800);
        let j2 = jobs.iter().find(|j| j.id == id2).unwrap();
        assert!(matches!(j2.schedule, wit::Schedule::EverySeconds(60)));
        assert_eq!(j2.next_run, NOW + 60);
        // The stored job is owned by the call's tenant and skill.
        let stored = db.cron_list_tenant(&TenantId::parse("acme").unwrap()).unwrap();
        assert!(stored.iter().all(|j| j.tenant.as_str() == "acme" && j.skill == "notes" && j.created == NOW));
        c.remove(id.clone()).await.unwrap();
        assert!(matches!(c.remove(id).await, Err(WitError::NotFound(_))));
        assert_eq!(c.list().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn no_grant_denies_every_function() {
        let (_d, db) = db();
        let mut c = CronCtx::new(
            db.clone(),
            TenantId::parse("acme").unwrap(),
            "notes".into(),
            JobScope::default(),
            None,
            Arc::new(ManualClock::new(NOW)),
        );
        let denied = |r: Result<(), WitError>| matches!(r, Err(WitError::Denied(ref s)) if s == NO_GRANT);
        assert!(denied(c.add(wit::Schedule::EverySeconds(3600), "{}".into()).await.map(drop)));
        assert!(denied(c.list().await.map(drop)));
        assert!(denied(c.remove("0".repeat(32)).await));
        assert_eq!(db.cron_count(&TenantId::parse("acme").unwrap()).unwrap(), 0);

        let mut c = CronCtx::denied("no cron in describe");
        let denied =
            |r: Result<(), WitError>| matches!(r, Err(WitError::Denied(ref s)) if s == "no cron in describe");
        assert!(denied(c.add(wit::Schedule::EverySeconds(3600), "{}".into()).await.map(drop)));
        assert!(denied(c.list().await.map(drop)));
        assert!(denied(c.remove("x".into()).await));
    }

    #[tokio::test]
    async fn minimum_interval_is_limit_exceeded() {
        let (_d, db) = db();
        let mut c = ctx(&db, "acme", "notes");
        let limited = |r: Result<String, WitError>| matches!(r, Err(WitError::LimitExceeded(ref m)) if m.contains("60 seconds"));
        assert!(limited(c.add(wit::Schedule::EverySeconds(59), "{}".into()).await));
        assert!(limited(c.add(cron("* * * * * *"), "{}".into()).await));
        assert!(limited(c.add(cron("0,30 * * * * *"), "{}".into()).await));
        // One close pair at midnight is enough to refuse.
        assert!(limited(c.add(cron("0,59 0,59 0,23 * * *"), "{}".into()).await));
        c.add(wit::Schedule::EverySeconds(60), "{}".into()).await.unwrap();
        c.add(cron("0 * * * * *"), "{}".into()).await.unwrap();
        assert_eq!(c.list().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn maximum_jobs_is_limit_exceeded() {
        let (_d, db) = db();
        let mut notes = ctx(&db, "acme", "notes");
        let mut mail = ctx(&db, "acme", "mail");
        let every = || wit::Schedule::EverySeconds(3600);
        notes.add(every(), "{}".into()).await.unwrap();
        notes.add(every(), "{}".into()).await.unwrap();
        // The skill's maximum is 2.
        assert!(matches!(notes.add(every(), "{}".into()).await, Err(WitError::LimitExceeded(_))));
        mail.add(every(), "{}".into()).await.unwrap();
        // The tenant's maximum is 3.
        assert!(matches!(mail.add(every(), "{}".into()).await, Err(WitError::LimitExceeded(_))));
        // Another tenant has its own.
        ctx(&db, "other", "notes").add(every(), "{}".into()).await.unwrap();
        assert_eq!(db.cron_count(&TenantId::parse("acme").unwrap()).unwrap(), 3);
    }

    #[tokio::test]
    async fn other_tenants_cannot_see_or_remove_a_job() {
        let (_d, db) = db();
        let mut a = ctx(&db, "tenant-a", "notes");
        let id = a.add(wit::Schedule::EverySeconds(3600), "{\"a\":1}".into()).await.unwrap();
        for tenant in ["tenant-b", "tenant"] {
            let mut b = ctx(&db, tenant, "notes");
            assert!(b.list().await.unwrap().is_empty());
            let by_id = b.remove(id.clone()).await;
            let unknown = b.remove("0".repeat(32)).await;
            // The same answer for another tenant's id as for no job at all.
            assert!(matches!(&by_id, Err(WitError::NotFound(_))));
            assert_eq!(format!("{by_id:?}"), format!("{unknown:?}"));
        }
        let jobs = a.list().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].id.as_str(), jobs[0].input.as_str()), (id.as_str(), "{\"a\":1}"));
    }

    #[tokio::test]
    async fn other_skills_of_the_tenant_cannot_see_or_remove_a_job() {
        let (_d, db) = db();
        let mut notes = ctx(&db, "acme", "notes");
        let id = notes.add(wit::Schedule::EverySeconds(3600), "{}".into()).await.unwrap();
        let mut mail = ctx(&db, "acme", "mail");
        assert!(mail.list().await.unwrap().is_empty());
        assert!(matches!(mail.remove(id.clone()).await, Err(WitError::NotFound(_))));
        assert_eq!(notes.list().await.unwrap().len(), 1);
        notes.remove(id).await.unwrap();
    }

    fn scoped(db: &Arc<Db>, user: Option<&str>, in_session: bool) -> CronCtx {
        let scope = JobScope { user: user.map(|u| crate::ids::UserId::parse(u).unwrap()), in_session };
        CronCtx::new(
            db.clone(),
            TenantId::parse("acme").unwrap(),
            "notes".into(),
            scope,
            Some(GRANT),
            Arc::new(ManualClock::new(NOW)),
        )
    }

    #[tokio::test]
    async fn a_job_belongs_to_the_scope_that_added_it() {
        let (_d, db) = db();
        let mut alice = scoped(&db, Some("alice"), false);
        let id = alice.add(wit::Schedule::EverySeconds(3600), "{}".into()).await.unwrap();
        let stored = db.cron_list_tenant(&TenantId::parse("acme").unwrap()).unwrap();
        assert_eq!(stored[0].scope.user.as_ref().map(|u| u.as_str()), Some("alice"));
        assert!(!stored[0].scope.in_session);
        // Another user, alice in a session, and a tenant-wide call of the same
        // skill see nothing and remove nothing: the same answer as no job.
        for (user, in_session) in
            [(Some("mallory"), false), (Some("mallory"), true), (Some("alice"), true), (None, false)]
        {
            let mut other = scoped(&db, user, in_session);
            assert!(other.list().await.unwrap().is_empty(), "{user:?} {in_session}");
            let by_id = other.remove(id.clone()).await;
            assert_eq!(format!("{by_id:?}"), format!("{:?}", other.remove("0".repeat(32)).await));
        }
        assert_eq!(alice.list().await.unwrap().len(), 1, "alice's job is intact");
        alice.remove(id).await.unwrap();
        assert!(alice.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn bad_schedule_or_input_is_invalid() {
        let (_d, db) = db();
        let mut c = ctx(&db, "acme", "notes");
        let invalid = |r: Result<String, WitError>| matches!(r, Err(WitError::Invalid(_)));
        assert!(invalid(c.add(cron("every day"), "{}".into()).await));
        let Err(WitError::Invalid(m)) = c.add(cron("0 0 0 1 13 *"), "{}".into()).await else { panic!() };
        assert!(m.starts_with("invalid cron expression"), "{m}");
        assert!(invalid(c.add(cron("0 0 0 30 2 *"), "{}".into()).await), "never fires");
        assert!(invalid(c.add(cron(&format!("0 0 0 * * *{}", " ".repeat(300))), "{}".into()).await));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(0), "{}".into()).await));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(u64::MAX), "{}".into()).await));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(3600), "not json".into()).await));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(3600), "{} {}".into()).await));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(3600), "".into()).await));
        let big = format!("\"{}\"", "x".repeat(MAX_INPUT_BYTES));
        assert!(invalid(c.add(wit::Schedule::EverySeconds(3600), big).await));
        c.add(wit::Schedule::EverySeconds(3600), format!("\"{}\"", "x".repeat(MAX_INPUT_BYTES - 2)))
            .await
            .unwrap();
        assert_eq!(c.list().await.unwrap().len(), 1);
        // Ids of any shape are not-found, not a trap.
        assert!(matches!(c.remove("".into()).await, Err(WitError::NotFound(_))));
        assert!(matches!(c.remove("\0".repeat(32)).await, Err(WitError::NotFound(_))));
        assert!(matches!(c.remove("z".repeat(100_000)).await, Err(WitError::NotFound(_))));
    }
}
