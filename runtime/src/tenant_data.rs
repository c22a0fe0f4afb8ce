//! What a tenant's own people may see and manage of what its skills keep:
//! memory entries, cron jobs, contacts. Every read and write is scoped to
//! the tenant given, which the gateway takes from the credential.

use crate::caps::memory::{MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_LIST_ENTRIES};
use crate::cron::Job;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::runtime::Runtime;
use crate::store::{MemoryEntry, Scope};

impl Runtime {
    /// Memory entries of `tenant` (of `user` within it, or the tenant-wide
    /// scope) whose key starts with `prefix`, up to the capability's list
    /// limits.
    pub fn memory_entries(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        prefix: &str,
    ) -> Result<Vec<MemoryEntry>, Error> {
        self.tenant(tenant)?;
        if prefix.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidInput(format!("the prefix is longer than {MAX_KEY_BYTES} bytes")));
        }
        let scope = Scope { tenant, user };
        Ok(self.inner.db.memory_list(scope, prefix, MAX_LIST_ENTRIES, MAX_LIST_BYTES)?)
    }

    /// Deletes one memory entry; `NotFound` if there is none.
    pub fn delete_memory(
        &self,
        actor: &str,
        tenant: &TenantId,
        user: Option<&UserId>,
        key: &str,
    ) -> Result<(), Error> {
        self.tenant(tenant)?;
        let missing =
            || Error::NotFound(format!("no memory entry {:?}", key.chars().take(80).collect::<String>()));
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(missing());
        }
        if !self.inner.db.memory_delete(Scope { tenant, user }, key)? {
            return Err(missing());
        }
        self.record(actor, Some(tenant), "memory.delete", key, "ok");
        Ok(())
    }

    /// The tenant's cron jobs.
    pub fn cron_jobs(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.cron_list_tenant(tenant)?)
    }

    /// Removes one of the tenant's cron jobs; `NotFound` if it has none of
    /// that id (another tenant's job is not found either).
    pub fn remove_cron_job(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        let missing =
            || Error::NotFound(format!("no cron job {:?}", id.chars().take(80).collect::<String>()));
        let job = self.cron_jobs(tenant)?.into_iter().find(|j| j.id == id).ok_or_else(missing)?;
        if !self.inner.db.cron_remove(tenant, &job.skill, id)? {
            return Err(missing());
        }
        self.record(actor, Some(tenant), "cron.remove", id, "ok");
        Ok(())
    }

    /// The tenant's contacts, by name and channel (never their URLs' secrets:
    /// the URL is the operator's or tenant admin's to see in the policy).
    pub fn contacts(&self, tenant: &TenantId) -> Result<Vec<crate::policy::Contact>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.policy(tenant)?.contacts)
    }
}
