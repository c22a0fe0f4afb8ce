//! Cron records: a scheduled [`Job`], the call scope it fires in
//! ([`JobScope`]) and when it fires ([`Schedule`]), with the job's stored
//! form. Computing fire times is [`crate::cron`]'s.

use crate::ids::{TenantId, UserId};
use serde::{Deserialize, Serialize};

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
    /// The scope of the call that added it, in which it fires.
    pub scope: JobScope,
    /// When it fires.
    pub schedule: Schedule,
    /// The input (JSON) the skill is invoked with.
    pub input: String,
    /// When it fires next, unix seconds.
    pub next_run: u64,
    /// When it was added, unix seconds.
    pub created: u64,
    /// Its latest run, if it has run.
    pub last: Option<LastRun>,
}

/// A job's latest run: when it started and, when it failed, why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LastRun {
    /// When it started, unix seconds.
    pub at: u64,
    /// Why it failed (at most [`MAX_LAST_ERROR`] bytes), or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The longest reason for a failed run a job keeps, in bytes; the rest is
/// cut at a character boundary.
pub const MAX_LAST_ERROR: usize = 1024;

impl LastRun {
    /// A run started `at` with `result`, its error cut to [`MAX_LAST_ERROR`].
    pub fn of(at: u64, result: &Result<(), String>) -> LastRun {
        let error = result.as_ref().err().map(|e| {
            let mut end = e.len().min(MAX_LAST_ERROR);
            while !e.is_char_boundary(end) {
                end -= 1;
            }
            e[..end].to_string()
        });
        LastRun { at, error }
    }
}

/// The call scope a job was added in and fires in: the call's user, and
/// whether the call ran in an agent's session for that user (whose skills
/// may message only the peer's own contacts). A call with no user is
/// tenant-wide.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobScope {
    /// The user within the tenant, when the call had one.
    pub user: Option<UserId>,
    /// Whether the call was made in an agent's session.
    pub in_session: bool,
}

/// A job as stored: the tenant and user as text, validated again when read.
/// Jobs stored before scopes existed have neither `user` nor `in_session`
/// and read as tenant-wide, which is what they were.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    id: String,
    tenant: String,
    skill: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    in_session: bool,
    schedule: Schedule,
    input: String,
    next_run: u64,
    created: u64,
    /// Jobs stored before runs were recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<LastRun>,
}

impl From<Job> for RawJob {
    fn from(j: Job) -> Self {
        RawJob {
            id: j.id,
            tenant: j.tenant.as_str().to_string(),
            skill: j.skill,
            user: j.scope.user.map(|u| u.as_str().to_string()),
            in_session: j.scope.in_session,
            schedule: j.schedule,
            input: j.input,
            next_run: j.next_run,
            created: j.created,
            last: j.last,
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
            scope: JobScope {
                user: r.user.as_deref().map(UserId::parse).transpose().map_err(|e| e.to_string())?,
                in_session: r.in_session,
            },
            schedule: r.schedule,
            input: r.input,
            next_run: r.next_run,
            created: r.created,
            last: r.last,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_last_error_is_cut_at_a_character_boundary() {
        assert_eq!(LastRun::of(1, &Ok(())), LastRun { at: 1, error: None });
        let long = format!("a{}", "é".repeat(MAX_LAST_ERROR));
        let cut = LastRun::of(1, &Err(long)).error.unwrap();
        assert!(cut.len() <= MAX_LAST_ERROR && cut.len() >= MAX_LAST_ERROR - 1, "{}", cut.len());
    }

    #[test]
    fn job_serde_keeps_the_tenant_validated() {
        let job = Job {
            id: "j".into(),
            tenant: TenantId::parse("acme").unwrap(),
            skill: "notes".into(),
            scope: JobScope::default(),
            schedule: Schedule::Cron("0 * * * * *".into()),
            input: "{}".into(),
            next_run: 5,
            created: 1,
            last: None,
        };
        let json = serde_json::to_string(&job).unwrap();
        assert!(
            !json.contains("user") && !json.contains("in_session"),
            "a tenant-wide job reads as before: {json}"
        );
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        let bad = json.replace("\"acme\"", "\"../etc\"");
        assert!(serde_json::from_str::<Job>(&bad).unwrap_err().to_string().contains("invalid tenant id"));
        let every = Job { schedule: Schedule::EverySeconds(60), ..job.clone() };
        let ran = Job { last: Some(LastRun::of(9, &Err("boom".into()))), ..job };
        assert_eq!(serde_json::from_str::<Job>(&serde_json::to_string(&ran).unwrap()).unwrap(), ran);
        assert_eq!(serde_json::from_str::<Job>(&serde_json::to_string(&every).unwrap()).unwrap(), every);
    }

    #[test]
    fn a_job_keeps_its_scope_and_an_old_job_reads_as_tenant_wide() {
        let scope = JobScope { user: Some(UserId::parse("mallory").unwrap()), in_session: true };
        let job = Job {
            id: "j".into(),
            tenant: TenantId::parse("acme").unwrap(),
            skill: "notes".into(),
            scope,
            schedule: Schedule::EverySeconds(60),
            input: "{}".into(),
            next_run: 5,
            created: 1,
            last: None,
        };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        // As stored before jobs had a scope.
        let old = r#"{"id":"j","tenant":"acme","skill":"notes","schedule":{"every_seconds":60},"input":"{}","next_run":5,"created":1}"#;
        let old: Job = serde_json::from_str(old).unwrap();
        assert_eq!(old.scope, JobScope::default());
        assert!(old.last.is_none(), "an old job has not run as far as anyone knows");
        let bad = json.replace("\"mallory\"", "\"\"");
        assert!(serde_json::from_str::<Job>(&bad).is_err(), "the user is validated");
    }
}
