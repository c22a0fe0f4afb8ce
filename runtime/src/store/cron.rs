//! Scheduled jobs (`cron` capability and the scheduler).
//!
//! Three tables, always written together in one transaction:
//!
//! - `cron_jobs`: job id → the job (JSON). The record of truth.
//! - `cron_due`: (next run, job id) → (). The scheduler's index: the due
//!   jobs are the range up to now, in firing order.
//! - `cron_owner`: `tenant \0 skill \0 id` → (). The owner's index: `list`,
//!   `remove` and the quota counts read only the range of one tenant (and
//!   skill). Tenant ids cannot contain `\0` and skill names containing one
//!   are refused, so tenant `a` never reaches the range of tenant `ab`, nor a
//!   skill the range of another.
//!
//! Every job a read returns is also checked against the owner it was asked
//! for, so even a damaged index cannot hand one tenant's job to another.

use super::{Db, StoreError};
use crate::cron::Job;
use crate::ids::TenantId;
use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

/// Jobs: id → job (JSON).
const JOBS: TableDefinition<&str, &str> = TableDefinition::new("cron_jobs");
/// Due index: (next run, id) → ().
const DUE: TableDefinition<(u64, &str), ()> = TableDefinition::new("cron_due");
/// Owner index: `tenant \0 skill \0 id` → ().
const OWNER: TableDefinition<&[u8], ()> = TableDefinition::new("cron_owner");

pub(super) fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(JOBS)?;
    txn.open_table(DUE)?;
    txn.open_table(OWNER)?;
    Ok(())
}

pub(super) fn purge(txn: &WriteTransaction, tenant: &TenantId) -> Result<(), StoreError> {
    let mut jobs = txn.open_table(JOBS)?;
    let mut due = txn.open_table(DUE)?;
    for key in super::remove_prefixed(&mut txn.open_table(OWNER)?, &owner_prefix(tenant, None))? {
        // `tenant \0 skill \0 id`: the id follows the last separator.
        let Some(sep) = key.iter().rposition(|b| *b == 0) else { continue };
        let Ok(id) = std::str::from_utf8(&key[sep + 1..]) else { continue };
        let job = jobs.get(id)?.map(|v| decode(id, v.value())).transpose()?;
        if let Some(job) = job.filter(|j| &j.tenant == tenant) {
            jobs.remove(id)?;
            due.remove((job.next_run, id))?;
        }
    }
    Ok(())
}

/// `tenant \0` or `tenant \0 skill \0`: the start of an owner's range.
fn owner_prefix(tenant: &TenantId, skill: Option<&str>) -> Vec<u8> {
    let mut p = Vec::with_capacity(tenant.as_str().len() + skill.map_or(0, str::len) + 2);
    p.extend_from_slice(tenant.as_str().as_bytes());
    p.push(0);
    if let Some(skill) = skill {
        p.extend_from_slice(skill.as_bytes());
        p.push(0);
    }
    p
}

fn owner_key(tenant: &TenantId, skill: &str, id: &str) -> Vec<u8> {
    let mut k = owner_prefix(tenant, Some(skill));
    k.extend_from_slice(id.as_bytes());
    k
}

fn decode(id: &str, json: &str) -> Result<Job, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Backend(format!("stored cron job {id} is corrupt: {e}")))
}

fn encode(job: &Job) -> Result<String, StoreError> {
    serde_json::to_string(job).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The ids in the owner range starting with `prefix`.
fn owned_ids(
    table: &impl ReadableTable<&'static [u8], ()>,
    prefix: &[u8],
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::new();
    for item in table.range(prefix..)? {
        let (k, _) = item?;
        let k = k.value();
        if !k.starts_with(prefix) {
            break;
        }
        // The id is what follows the last separator (ids never hold one).
        let tail = k.rsplit(|&b| b == 0).next().unwrap_or_default();
        ids.push(String::from_utf8_lossy(tail).into_owned());
    }
    Ok(ids)
}

/// How many keys of the owner range start with `prefix`.
fn count_owned(table: &impl ReadableTable<&'static [u8], ()>, prefix: &[u8]) -> Result<u64, StoreError> {
    let mut n = 0;
    for item in table.range(prefix..)? {
        let (k, _) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        n += 1;
    }
    Ok(n)
}

impl Db {
    /// Adds `job`, durably, unless its tenant already holds
    /// `tenant_max_jobs` jobs or its skill (within the tenant)
    /// `skill_max_jobs`: then [`StoreError::QuotaExceeded`]. The counts are
    /// read in the same write transaction as the insert, so concurrent adds
    /// cannot overshoot the quota.
    pub fn cron_add(&self, job: &Job, tenant_max_jobs: u32, skill_max_jobs: u32) -> Result<(), StoreError> {
        if job.skill.is_empty() || job.skill.contains('\0') || job.id.is_empty() || job.id.contains('\0') {
            return Err(StoreError::Backend(
                "a cron job's skill and id must be non-empty, without NUL".into(),
            ));
        }
        let json = encode(job)?;
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut due = txn.open_table(DUE)?;
            let mut owner = txn.open_table(OWNER)?;
            if jobs.get(job.id.as_str())?.is_some() {
                return Err(StoreError::Backend(format!("a cron job with id {} already exists", job.id)));
            }
            let held = count_owned(&owner, &owner_prefix(&job.tenant, None))?;
            if held >= u64::from(tenant_max_jobs) {
                return Err(StoreError::QuotaExceeded(format!(
                    "the tenant holds {held} scheduled jobs, its maximum is {tenant_max_jobs}"
                )));
            }
            let held = count_owned(&owner, &owner_prefix(&job.tenant, Some(&job.skill)))?;
            if held >= u64::from(skill_max_jobs) {
                return Err(StoreError::QuotaExceeded(format!(
                    "this skill holds {held} scheduled jobs for the tenant, its maximum is {skill_max_jobs}"
                )));
            }
            jobs.insert(job.id.as_str(), json.as_str())?;
            due.insert((job.next_run, job.id.as_str()), ())?;
            owner.insert(owner_key(&job.tenant, &job.skill, &job.id).as_slice(), ())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Reads the jobs of the owner range starting with `prefix`, keeping
    /// only those `belongs` accepts, ordered by creation time then id.
    fn cron_list_owned(&self, prefix: &[u8], belongs: impl Fn(&Job) -> bool) -> Result<Vec<Job>, StoreError> {
        let txn = self.db.begin_read()?;
        let owner = txn.open_table(OWNER)?;
        let jobs = txn.open_table(JOBS)?;
        let mut out = Vec::new();
        for id in owned_ids(&owner, prefix)? {
            if let Some(json) = jobs.get(id.as_str())? {
                let job = decode(&id, json.value())?;
                if belongs(&job) {
                    out.push(job);
                }
            }
        }
        out.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(out)
    }

    /// The jobs `skill` holds for `tenant`, oldest first.
    pub fn cron_list(&self, tenant: &TenantId, skill: &str) -> Result<Vec<Job>, StoreError> {
        if skill.contains('\0') {
            return Ok(Vec::new());
        }
        self.cron_list_owned(&owner_prefix(tenant, Some(skill)), |j| &j.tenant == tenant && j.skill == skill)
    }

    /// Every job of `tenant`, over all its skills, oldest first.
    pub fn cron_list_tenant(&self, tenant: &TenantId) -> Result<Vec<Job>, StoreError> {
        self.cron_list_owned(&owner_prefix(tenant, None), |j| &j.tenant == tenant)
    }

    /// Removes job `id`, durably, if it exists and belongs to `tenant` and
    /// `skill`; `false` otherwise (whether the id is unknown or another
    /// owner's: the caller cannot tell which).
    pub fn cron_remove(&self, tenant: &TenantId, skill: &str, id: &str) -> Result<bool, StoreError> {
        self.cron_remove_if(tenant, skill, id, |_| true)
    }

    /// [`Db::cron_remove`], and only if `also` accepts the job (its scope,
    /// say); a job it refuses is left exactly as it was, and is `false`
    /// like an unknown id.
    pub fn cron_remove_if(
        &self,
        tenant: &TenantId,
        skill: &str,
        id: &str,
        also: impl Fn(&Job) -> bool,
    ) -> Result<bool, StoreError> {
        if skill.contains('\0') || id.contains('\0') {
            return Ok(false);
        }
        let key = owner_key(tenant, skill, id);
        let txn = self.db.begin_write()?;
        let removed = {
            let mut owner = txn.open_table(OWNER)?;
            let mut jobs = txn.open_table(JOBS)?;
            let mut due = txn.open_table(DUE)?;
            if owner.get(key.as_slice())?.is_none() {
                false
            } else {
                let job = match jobs.get(id)? {
                    Some(json) => Some(decode(id, json.value())?),
                    None => None,
                };
                match job {
                    Some(job) if &job.tenant == tenant && job.skill == skill && !also(&job) => false,
                    Some(job) if &job.tenant == tenant && job.skill == skill => {
                        jobs.remove(id)?;
                        due.remove((job.next_run, id))?;
                        owner.remove(key.as_slice())?;
                        true
                    }
                    // The index names this owner but the job is gone or
                    // someone else's: drop the stale index entry only.
                    _ => {
                        owner.remove(key.as_slice())?;
                        false
                    }
                }
            }
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Up to `limit` jobs whose next run is at or before `now`, earliest
    /// first (then by id).
    pub fn cron_due(&self, now: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let txn = self.db.begin_read()?;
        let due = txn.open_table(DUE)?;
        let jobs = txn.open_table(JOBS)?;
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        for item in due.range((0u64, "")..)? {
            let (k, _) = item?;
            let (next_run, id) = k.value();
            if next_run > now {
                break;
            }
            // A due entry without its job cannot be written (every write
            // touches both in one transaction); skip rather than fail.
            if let Some(json) = jobs.get(id)? {
                out.push(decode(id, json.value())?);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Moves job `id`'s next run to `next_run`, durably. Nothing happens when
    /// the job no longer exists (it may have been removed meanwhile).
    pub fn cron_reschedule(&self, id: &str, next_run: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut due = txn.open_table(DUE)?;
            let job = match jobs.get(id)? {
                Some(json) => Some(decode(id, json.value())?),
                None => None,
            };
            if let Some(mut job) = job {
                due.remove((job.next_run, id))?;
                job.next_run = next_run;
                let json = encode(&job)?;
                jobs.insert(id, json.as_str())?;
                due.insert((next_run, id), ())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// How many jobs `tenant` holds, over all its skills.
    pub fn cron_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let owner = txn.open_table(OWNER)?;
        count_owned(&owner, &owner_prefix(tenant, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cron::Schedule;

    use crate::store::testing::{db, t};

    fn job(id: &str, tenant: &str, skill: &str, next_run: u64) -> Job {
        Job {
            id: id.into(),
            tenant: t(tenant),
            skill: skill.into(),
            scope: Default::default(),
            schedule: Schedule::EverySeconds(60),
            input: format!("{{\"job\":\"{id}\"}}"),
            next_run,
            created: next_run,
        }
    }

    fn ids(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|j| j.id.as_str()).collect()
    }

    #[test]
    fn add_list_round_trip() {
        let (_d, db) = db();
        let j = job("j1", "acme", "notes", 100);
        db.cron_add(&j, 10, 10).unwrap();
        assert_eq!(db.cron_list(&t("acme"), "notes").unwrap(), vec![j.clone()]);
        assert_eq!(db.cron_list_tenant(&t("acme")).unwrap(), vec![j]);
        assert_eq!(db.cron_count(&t("acme")).unwrap(), 1);
        // The same id cannot be added twice.
        assert!(db.cron_add(&job("j1", "other", "notes", 5), 10, 10).is_err());
        assert_eq!(db.cron_count(&t("other")).unwrap(), 0);
    }

    #[test]
    fn owners_do_not_see_each_other() {
        let (_d, db) = db();
        db.cron_add(&job("ab1", "ab", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("b1", "b", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("a-notes", "a", "notes", 1), 10, 10).unwrap();
        db.cron_add(&job("a-mail", "a", "mail", 1), 10, 10).unwrap();
        // Tenant "a" is a string prefix of tenant "ab": the separator keeps them apart.
        assert_eq!(ids(&db.cron_list_tenant(&t("a")).unwrap()), vec!["a-mail", "a-notes"]);
        assert_eq!(db.cron_count(&t("a")).unwrap(), 2);
        assert_eq!(ids(&db.cron_list(&t("a"), "notes").unwrap()), vec!["a-notes"]);
        assert_eq!(ids(&db.cron_list(&t("a"), "mail").unwrap()), vec!["a-mail"]);
        assert_eq!(ids(&db.cron_list(&t("ab"), "notes").unwrap()), vec!["ab1"]);
        assert_eq!(ids(&db.cron_list(&t("b"), "notes").unwrap()), vec!["b1"]);
        assert!(db.cron_list(&t("a"), "note").unwrap().is_empty());
        assert!(db.cron_list(&t("a"), "notes\0a-notes").unwrap().is_empty());
        // Removing needs the right tenant and the right skill.
        assert!(!db.cron_remove(&t("a"), "notes", "ab1").unwrap());
        assert!(!db.cron_remove(&t("b"), "notes", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "mail", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "notes", "missing").unwrap());
        assert_eq!(db.cron_count(&t("ab")).unwrap(), 1);
        assert_eq!(db.cron_count(&t("b")).unwrap(), 1);
        assert_eq!(db.cron_count(&t("a")).unwrap(), 2);
        assert_eq!(db.cron_due(u64::MAX, 100).unwrap().len(), 4);
        // The owner can.
        assert!(db.cron_remove(&t("a"), "notes", "a-notes").unwrap());
        assert!(!db.cron_remove(&t("a"), "notes", "a-notes").unwrap());
        assert_eq!(ids(&db.cron_list_tenant(&t("a")).unwrap()), vec!["a-mail"]);
        assert_eq!(db.cron_due(u64::MAX, 100).unwrap().len(), 3);
    }

    #[test]
    fn quota_counts_tenant_and_skill() {
        let (_d, db) = db();
        db.cron_add(&job("1", "a", "s1", 1), 3, 2).unwrap();
        db.cron_add(&job("2", "a", "s1", 1), 3, 2).unwrap();
        // The skill is at its maximum.
        let e = db.cron_add(&job("3", "a", "s1", 1), 3, 2).unwrap_err();
        assert!(matches!(&e, StoreError::QuotaExceeded(m) if m.contains("skill")), "{e}");
        db.cron_add(&job("4", "a", "s2", 1), 3, 2).unwrap();
        // The tenant is at its maximum, whatever the skill.
        let e = db.cron_add(&job("5", "a", "s3", 1), 3, 2).unwrap_err();
        assert!(matches!(&e, StoreError::QuotaExceeded(m) if m.contains("tenant")), "{e}");
        // The refused adds changed nothing; other tenants have their own quota.
        assert_eq!(db.cron_count(&t("a")).unwrap(), 3);
        assert!(db.cron_due(u64::MAX, 100).unwrap().iter().all(|j| j.id != "3" && j.id != "5"));
        db.cron_add(&job("6", "ab", "s1", 1), 3, 2).unwrap();
        // Removing frees a place.
        assert!(db.cron_remove(&t("a"), "s1", "1").unwrap());
        db.cron_add(&job("7", "a", "s1", 1), 3, 2).unwrap();
    }

    #[test]
    fn due_in_order_up_to_now_and_limit() {
        let (_d, db) = db();
        db.cron_add(&job("late", "a", "s", 300), 10, 10).unwrap();
        db.cron_add(&job("b-early", "b", "s", 100), 10, 10).unwrap();
        db.cron_add(&job("a-early", "a", "s", 100), 10, 10).unwrap();
        db.cron_add(&job("mid", "c", "s", 200), 10, 10).unwrap();
        assert!(db.cron_due(99, 10).unwrap().is_empty());
        assert_eq!(ids(&db.cron_due(100, 10).unwrap()), vec!["a-early", "b-early"]);
        assert_eq!(ids(&db.cron_due(250, 10).unwrap()), vec!["a-early", "b-early", "mid"]);
        assert_eq!(ids(&db.cron_due(250, 2).unwrap()), vec!["a-early", "b-early"]);
        assert!(db.cron_due(1000, 0).unwrap().is_empty());
        assert_eq!(ids(&db.cron_due(u64::MAX, 10).unwrap()), vec!["a-early", "b-early", "mid", "late"]);
    }

    #[test]
    fn reschedule_moves_the_job() {
        let (_d, db) = db();
        db.cron_add(&job("j", "a", "s", 100), 10, 10).unwrap();
        db.cron_reschedule("j", 500).unwrap();
        assert!(db.cron_due(499, 10).unwrap().is_empty());
        let due = db.cron_due(500, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].next_run, 500);
        assert_eq!(db.cron_list(&t("a"), "s").unwrap()[0].next_run, 500);
        // Unknown ids are a no-op; removal cleans the due index.
        db.cron_reschedule("missing", 1).unwrap();
        assert!(db.cron_remove(&t("a"), "s", "j").unwrap());
        assert!(db.cron_due(u64::MAX, 10).unwrap().is_empty());
    }

    #[test]
    fn refuses_separator_in_skill_or_id() {
        let (_d, db) = db();
        assert!(db.cron_add(&job("j", "a", "s\0x", 1), 10, 10).is_err());
        assert!(db.cron_add(&job("j\0", "a", "s", 1), 10, 10).is_err());
        assert!(db.cron_add(&job("j", "a", "", 1), 10, 10).is_err());
        assert_eq!(db.cron_count(&t("a")).unwrap(), 0);
    }

    #[test]
    fn jobs_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let j = job("j", "a", "s", 42);
        Db::open(&path).unwrap().cron_add(&j, 10, 10).unwrap();
        let db = Db::open(&path).unwrap();
        assert_eq!(db.cron_list(&t("a"), "s").unwrap(), vec![j.clone()]);
        assert_eq!(db.cron_due(42, 10).unwrap(), vec![j]);
    }
}
