//! Scheduled jobs (`cron` capability and the scheduler):
//! `cron_jobs(id, tenant, skill, next_run, job)`, the job as JSON and the
//! columns taken from it when it is written. Two indexes stand for redb's
//! two index tables: `cron_due (next_run, id)`, the scheduler's firing
//! order, and `cron_owner (tenant, skill, id)`, the owner's range (list,
//! remove, the quota counts). Being derived from the row in the same
//! statement, they cannot disagree with it.
//!
//! Every job a read returns is still checked against the owner it was
//! asked for, as in redb.

use super::{LockSpace, PgBackend, StoreError, lock, ordered};
use crate::ids::TenantId;
use crate::records::{Job, LastRun};

fn decode(id: &[u8], json: &str) -> Result<Job, StoreError> {
    serde_json::from_str(json).map_err(|e| {
        StoreError::Backend(format!("stored cron job {} is corrupt: {e}", String::from_utf8_lossy(id)))
    })
}

fn encode(job: &Job) -> Result<String, StoreError> {
    super::codec::encode(job)
}

/// The `LIMIT` of at most `limit` rows.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PgBackend {
    /// Adds `job`, durably, unless its tenant already holds
    /// `tenant_max_jobs` jobs or its skill (within the tenant)
    /// `skill_max_jobs`: then [`StoreError::QuotaExceeded`]. The counts are
    /// read in the same transaction as the insert, under the tenant's cron
    /// lock, so concurrent adds cannot overshoot the quota.
    pub fn cron_add(&self, job: &Job, tenant_max_jobs: u32, skill_max_jobs: u32) -> Result<(), StoreError> {
        let fence = self.fence_for(job.tenant.as_str())?;
        if job.skill.is_empty() || job.skill.contains('\0') || job.id.is_empty() || job.id.contains('\0') {
            return Err(StoreError::Backend(
                "a cron job's skill and id must be non-empty, without NUL".into(),
            ));
        }
        let json = encode(job)?;
        let (id, tenant, skill) = (job.id.clone(), job.tenant.to_string(), job.skill.as_bytes().to_vec());
        let next_run = ordered(job.next_run);
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                lock(tx, LockSpace::Cron, &tenant).await?;
                let exists = tx.prepare_cached("SELECT 1 FROM cron_jobs WHERE id = $1").await?;
                if tx.query_opt(&exists, &[&id.as_bytes()]).await?.is_some() {
                    return Err(StoreError::Backend(format!("a cron job with id {id} already exists")));
                }
                let stmt = tx
                    .prepare_cached(
                        "SELECT count(*), count(*) FILTER (WHERE skill = $2) FROM cron_jobs WHERE tenant = $1",
                    )
                    .await?;
                let row = tx.query_one(&stmt, &[&tenant, &skill]).await?;
                let (held, by_skill): (i64, i64) = (row.get(0), row.get(1));
                if held >= i64::from(tenant_max_jobs) {
                    return Err(StoreError::QuotaExceeded(format!(
                        "the tenant holds {held} scheduled jobs, its maximum is {tenant_max_jobs}"
                    )));
                }
                if by_skill >= i64::from(skill_max_jobs) {
                    return Err(StoreError::QuotaExceeded(format!(
                        "this skill holds {by_skill} scheduled jobs for the tenant, its maximum is {skill_max_jobs}"
                    )));
                }
                let stmt = tx
                    .prepare_cached(
                        "INSERT INTO cron_jobs (id, tenant, skill, next_run, job) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (id) DO NOTHING",
                    )
                    .await?;
                // Another tenant's add of the same id committed meanwhile.
                if tx.execute(&stmt, &[&id.as_bytes(), &tenant, &skill, &next_run, &json]).await? == 0 {
                    return Err(StoreError::Backend(format!("a cron job with id {id} already exists")));
                }
                Ok(())
            })
        })
    }

    /// The jobs of `tenant` (and `skill`, if given), in owner order, kept
    /// if `belongs`, then ordered by creation time then id.
    fn cron_list_owned(
        &self,
        tenant: &TenantId,
        skill: Option<&str>,
        belongs: impl Fn(&Job) -> bool,
    ) -> Result<Vec<Job>, StoreError> {
        let (t, skill) = (tenant.to_string(), skill.map(|s| s.as_bytes().to_vec()));
        let rows = self.with_client(move |c| {
            Box::pin(async move {
                Ok(match &skill {
                    Some(skill) => {
                        let stmt = c
                            .prepare_cached(
                                "SELECT id, job FROM cron_jobs WHERE tenant = $1 AND skill = $2 ORDER BY id",
                            )
                            .await?;
                        c.query(&stmt, &[&t, skill]).await?
                    }
                    None => {
                        let stmt = c
                            .prepare_cached(
                                "SELECT id, job FROM cron_jobs WHERE tenant = $1 ORDER BY skill, id",
                            )
                            .await?;
                        c.query(&stmt, &[&t]).await?
                    }
                })
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            let job = decode(row.get(0), row.get(1))?;
            if belongs(&job) {
                out.push(job);
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
        self.cron_list_owned(tenant, Some(skill), |j| &j.tenant == tenant && j.skill == skill)
    }

    /// Every job of `tenant`, over all its skills, oldest first.
    pub fn cron_list_tenant(&self, tenant: &TenantId) -> Result<Vec<Job>, StoreError> {
        self.cron_list_owned(tenant, None, |j| &j.tenant == tenant)
    }

    /// Removes job `id`, durably, if it exists and belongs to `tenant` and
    /// `skill`; `false` otherwise (whether the id is unknown or another
    /// owner's: the caller cannot tell which).
    pub fn cron_remove(&self, tenant: &TenantId, skill: &str, id: &str) -> Result<bool, StoreError> {
        self.cron_remove_if(tenant, skill, id, &|_| true)
    }

    /// [`PgBackend::cron_remove`], and only if `also` accepts the job (its
    /// scope, say); a job it refuses is left exactly as it was, and is
    /// `false` like an unknown id. `also` runs on the caller's thread while
    /// the job's row is locked.
    pub fn cron_remove_if(
        &self,
        tenant: &TenantId,
        skill: &str,
        id: &str,
        also: &dyn Fn(&Job) -> bool,
    ) -> Result<bool, StoreError> {
        if skill.contains('\0') || id.contains('\0') {
            return Ok(false);
        }
        let fence = self.fence_for(tenant.as_str())?;
        let owner = (tenant.clone(), skill.to_string());
        let (t, s, key) = (tenant.to_string(), skill.as_bytes().to_vec(), id.as_bytes().to_vec());
        self.transact_with(
            move |tx| {
                Box::pin(async move {
                    fence.check(tx).await?;
                    let stmt = tx
                        .prepare_cached(
                            "SELECT job FROM cron_jobs WHERE id = $1 AND tenant = $2 AND skill = $3 FOR UPDATE",
                        )
                        .await?;
                    let row = tx.query_opt(&stmt, &[&key, &t, &s]).await?;
                    let job = row.map(|r| decode(&key, r.get(0))).transpose()?;
                    Ok((key, job))
                })
            },
            move |(key, job)| {
                let remove = job.is_some_and(|j| j.tenant == owner.0 && j.skill == owner.1 && also(&j));
                remove.then_some(key)
            },
            move |tx, key| {
                Box::pin(async move {
                    let Some(key) = key else { return Ok(false) };
                    let stmt = tx.prepare_cached("DELETE FROM cron_jobs WHERE id = $1").await?;
                    Ok(tx.execute(&stmt, &[&key]).await? > 0)
                })
            },
        )
    }

    /// Up to `limit` jobs whose next run is at or before `now`, earliest
    /// first (then by id).
    pub fn cron_due(&self, now: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (now, limit) = (ordered(now), sql_limit(limit));
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT id, job FROM cron_jobs WHERE next_run <= $1 ORDER BY next_run, id LIMIT $2",
                    )
                    .await?;
                c.query(&stmt, &[&now, &limit]).await?.iter().map(|r| decode(r.get(0), r.get(1))).collect()
            })
        })
    }

    /// Claims one fire time: moves the job's next run from `from` to `to`
    /// if it is still `from`, in a transaction fenced by the tenant's lease.
    pub fn cron_reschedule(
        &self,
        tenant: &TenantId,
        id: &str,
        from: u64,
        to: u64,
    ) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (key, owner) = (id.as_bytes().to_vec(), tenant.clone());
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                // Locked: of two schedulers reading the same due job, the
                // second finds it moved and claims nothing.
                let stmt = tx.prepare_cached("SELECT job FROM cron_jobs WHERE id = $1 FOR UPDATE").await?;
                let Some(row) = tx.query_opt(&stmt, &[&key]).await? else { return Ok(false) };
                let mut job = decode(&key, row.get(0))?;
                if job.tenant != owner || job.next_run != from {
                    return Ok(false);
                }
                job.next_run = to;
                let stmt =
                    tx.prepare_cached("UPDATE cron_jobs SET next_run = $2, job = $3 WHERE id = $1").await?;
                tx.execute(&stmt, &[&key, &ordered(to), &encode(&job)?]).await?;
                Ok(true)
            })
        })
    }

    /// Records `tenant`'s job `id`'s latest run; `false` when it is gone or
    /// another tenant's.
    pub fn cron_record_run(&self, tenant: &TenantId, id: &str, last: &LastRun) -> Result<bool, StoreError> {
        let fence = self.fence_for(tenant.as_str())?;
        let (key, owner, last) = (id.as_bytes().to_vec(), tenant.clone(), last.clone());
        self.transact_fenced(fence, move |tx| {
            Box::pin(async move {
                let stmt = tx.prepare_cached("SELECT job FROM cron_jobs WHERE id = $1 FOR UPDATE").await?;
                let Some(row) = tx.query_opt(&stmt, &[&key]).await? else { return Ok(false) };
                let mut job = decode(&key, row.get(0))?;
                if job.tenant != owner {
                    return Ok(false);
                }
                job.last = Some(last);
                let stmt = tx.prepare_cached("UPDATE cron_jobs SET job = $2 WHERE id = $1").await?;
                tx.execute(&stmt, &[&key, &encode(&job)?]).await?;
                Ok(true)
            })
        })
    }

    /// How many jobs `tenant` holds, over all its skills.
    pub fn cron_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant.to_string();
        self.with_client(move |c| {
            Box::pin(async move {
                let stmt = c.prepare_cached("SELECT count(*) FROM cron_jobs WHERE tenant = $1").await?;
                super::from_i64(c.query_one(&stmt, &[&tenant]).await?.get(0), "cron count")
            })
        })
    }
}
