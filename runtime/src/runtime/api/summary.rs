//! A tenant's summary (`GET …/summary`, the dashboard's tenant overview):
//! what it holds, and its use of each quota. Every figure is read from
//! what is already counted (stored rows, the tenant's disk count, this
//! month's model usage), so a summary costs a few reads, never a walk of
//! the tenant's files.

use crate::agents::MonthSpend;
use crate::error::Error;
use crate::ids::TenantId;
use crate::runtime::Runtime;
use serde::Serialize;

/// What a tenant holds and how much of each quota it uses.
#[derive(Debug, Clone, Serialize)]
pub struct TenantSummary {
    /// The tenant's id.
    pub tenant: String,
    /// `active` or `suspended`.
    pub status: &'static str,
    /// When it was created, seconds since the Unix epoch.
    pub created: u64,
    /// What it holds.
    pub counts: Counts,
    /// Memory entries and bytes (keys plus values) against the quota.
    pub memory: Used,
    /// The files directory against its quota. `bytes` and `entries` are
    /// `null` until a call of the tenant has counted them since the
    /// gateway started (counting walks the directory; a summary does not).
    pub files: Files,
    /// Model use by its agents this calendar month (UTC) against its quota
    /// (0: no limit).
    pub agents_this_month: AgentUse,
}

/// How many of each thing a tenant holds.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    /// Installed skills.
    pub skills: usize,
    /// Installed skills that do not run (their publisher is not trusted).
    pub skills_disabled: usize,
    /// Agents.
    pub agents: usize,
    /// Cron jobs, over all its skills.
    pub cron_jobs: u64,
    /// Inbound channels.
    pub channels: usize,
}

/// Used against a quota of bytes and entries.
#[derive(Debug, Clone, Serialize)]
pub struct Used {
    /// Bytes held.
    pub bytes: u64,
    /// Entries held.
    pub entries: u64,
    /// The quota's bytes.
    pub max_bytes: u64,
    /// The quota's entries.
    pub max_entries: u64,
}

/// The files directory against its quota.
#[derive(Debug, Clone, Serialize)]
pub struct Files {
    /// Bytes of regular files, as last counted.
    pub bytes: Option<u64>,
    /// Entries (files, directories, links), as last counted.
    pub entries: Option<u64>,
    /// The quota's bytes.
    pub max_bytes: u64,
    /// The quota's entries.
    pub max_entries: u64,
}

/// Model use against the month's quota.
#[derive(Debug, Clone, Serialize)]
pub struct AgentUse {
    /// Model tokens, input plus output.
    pub tokens: u64,
    /// Their cost by the rate card (tool calls' fuel included).
    pub cost: f64,
    /// The month's token quota (0: no limit).
    pub tokens_quota: u64,
    /// The month's cost quota (0: no limit).
    pub cost_quota: f64,
}

impl Runtime {
    /// The summary of `tenant`; `NotFound` if there is none.
    pub fn tenant_summary(&self, tenant: &TenantId) -> Result<TenantSummary, Error> {
        let record = self.tenant(tenant)?;
        let skills = self.installed_skills(tenant)?;
        let mut disabled = 0;
        for skill in &skills {
            disabled += usize::from(self.skill_disabled(skill)?.is_some());
        }
        let memory = self.inner.db.memory_usage(tenant)?;
        let (mq, fq) = (self.config().memory_quota, self.config().files_quota);
        let counted = self.inner.tenants.existing_slot(tenant).and_then(|s| s.disk.counted());
        let MonthSpend { tokens, cost } = self.inner.agents.month_spend(tenant)?;
        let quota = self.inner.agents.quota(tenant);
        Ok(TenantSummary {
            tenant: tenant.to_string(),
            status: if record.suspended { "suspended" } else { "active" },
            created: record.created,
            counts: Counts {
                skills: skills.len(),
                skills_disabled: disabled,
                agents: self.agents(tenant)?.len(),
                cron_jobs: self.inner.db.cron_count(tenant)?,
                channels: self.channels(tenant)?.len(),
            },
            memory: Used {
                bytes: memory.bytes,
                entries: memory.entries,
                max_bytes: mq.max_bytes,
                max_entries: mq.max_entries,
            },
            files: Files {
                bytes: counted.map(|c| c.0),
                entries: counted.map(|c| c.1),
                max_bytes: fq.max_bytes,
                max_entries: fq.max_files,
            },
            agents_this_month: AgentUse {
                tokens,
                cost,
                tokens_quota: quota.tokens_per_month,
                cost_quota: quota.cost_per_month,
            },
        })
    }
}
