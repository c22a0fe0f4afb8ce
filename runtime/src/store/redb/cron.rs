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

use super::RedbBackend;
use crate::ids::TenantId;
use crate::records::{Job, LastRun};
use crate::store::StoreError;
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

impl RedbBackend {
    /// Adds `job`, durably, unless its tenant already holds
    /// `tenant_max_jobs` jobs or its skill (within the tenant)
    /// `skill_max_jobs`: then [`StoreError::QuotaExceeded`]. The counts are
    /// read in the same write transaction as the insert, so concurrent adds
    /// cannot overshoot the quota.
    pub(super) fn cron_add(
        &self,
        job: &Job,
        tenant_max_jobs: u32,
        skill_max_jobs: u32,
    ) -> Result<(), StoreError> {
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
    pub(super) fn cron_list(&self, tenant: &TenantId, skill: &str) -> Result<Vec<Job>, StoreError> {
        if skill.contains('\0') {
            return Ok(Vec::new());
        }
        self.cron_list_owned(&owner_prefix(tenant, Some(skill)), |j| &j.tenant == tenant && j.skill == skill)
    }

    /// Every job of `tenant`, over all its skills, oldest first.
    pub(super) fn cron_list_tenant(&self, tenant: &TenantId) -> Result<Vec<Job>, StoreError> {
        self.cron_list_owned(&owner_prefix(tenant, None), |j| &j.tenant == tenant)
    }

    /// Removes job `id`, durably, if it exists and belongs to `tenant` and
    /// `skill`; `false` otherwise (whether the id is unknown or another
    /// owner's: the caller cannot tell which).
    pub(super) fn cron_remove(&self, tenant: &TenantId, skill: &str, id: &str) -> Result<bool, StoreError> {
        self.cron_remove_if(tenant, skill, id, &|_| true)
    }

    /// [`Db::cron_remove`], and only if `also` accepts the job (its scope,
    /// say); a job it refuses is left exactly as it was, and is `false`
    /// like an unknown id.
    pub(super) fn cron_remove_if(
        &self,
        tenant: &TenantId,
        skill: &str,
        id: &str,
        also: &dyn Fn(&Job) -> bool,
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
    pub(super) fn cron_due(&self, now: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
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
    pub(super) fn cron_reschedule(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        to: u64,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let mut due = txn.open_table(DUE)?;
            let job = match jobs.get(id)? {
                Some(json) => Some(decode(id, json.value())?),
                None => None,
            };
            let Some(mut job) = job.filter(|j| &j.tenant == tenant && j.next_run == from) else {
                return Ok(false);
            };
            due.remove((job.next_run, id))?;
            job.next_run = to;
            let json = encode(&job)?;
            jobs.insert(id, json.as_str())?;
            due.insert((to, id), ())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// Records `tenant`'s job `id`'s latest run; `false` when it is gone or
    /// another tenant's.
    pub(super) fn cron_record_run(
        &self,
        tenant: &TenantId,
        id: &str,
        last: &LastRun,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut jobs = txn.open_table(JOBS)?;
            let job = match jobs.get(id)? {
                Some(json) => Some(decode(id, json.value())?),
                None => None,
            };
            let Some(mut job) = job.filter(|j| &j.tenant == tenant) else {
                return Ok(false);
            };
            job.last = Some(last.clone());
            let json = encode(&job)?;
            jobs.insert(id, json.as_str())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// How many jobs `tenant` holds, over all its skills.
    pub(super) fn cron_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let owner = txn.open_table(OWNER)?;
        count_owned(&owner, &owner_prefix(tenant, None))
    }
}
