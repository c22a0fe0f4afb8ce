//! What a tenant's own people may see and manage of what its skills keep:
//! memory entries, cron jobs, the outbox (`outbox`), contacts. Every read
//! and write is scoped to
//! the tenant given, which the gateway takes from the credential.
//!
//! Whatever a skill wrote comes back scrubbed of every secret of its tenant
//! ([`crate::Runtime::scrub_text`], [`crate::Runtime::scrub_json`]), for every reader,
//! the operator included: a value a skill got reflected by an origin and
//! stored must not leave through the API when it cannot leave through the
//! skill's own output. Secret values are write-only for everyone; only the
//! operator's backup file keeps the exact bytes.

use crate::caps::memory::{MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_LIST_ENTRIES};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::records::Job;
use crate::services::recorder::Recorder;
use crate::services::secrets::SecretService;
use crate::store::{Db, MemoryEntry, Scope};
use crate::tenants::existing;
use std::sync::Arc;

mod outbox;

pub use outbox::{MAX_OUTBOX_PAGE, OUTBOX_PAGE_BYTES, OUTBOX_SCAN, OUTBOX_SCAN_BYTES, OutboxPage};

/// The tenants' data as their people see it: memory, cron jobs, the
/// outbox, contacts.
pub(crate) struct TenantData {
    db: Arc<Db>,
    audit: Recorder,
    secrets: Arc<SecretService>,
}

impl TenantData {
    pub(crate) fn new(db: Arc<Db>, audit: Recorder, secrets: Arc<SecretService>) -> Self {
        TenantData { db, audit, secrets }
    }

    /// Memory entries of `tenant` (of `user` within it, or the tenant-wide
    /// scope) whose key starts with `prefix`, up to the capability's list
    /// limits.
    pub(crate) fn memory_entries(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        prefix: &str,
    ) -> Result<Vec<MemoryEntry>, Error> {
        existing(&self.db, tenant)?;
        if prefix.len() > MAX_KEY_BYTES {
            return Err(Error::InvalidInput(format!("the prefix is longer than {MAX_KEY_BYTES} bytes")));
        }
        let scope = Scope { tenant, user };
        let mut entries = self.db.memory_list(scope, prefix, MAX_LIST_ENTRIES, MAX_LIST_BYTES)?;
        if let Some(r) = self.secrets.redactor(tenant) {
            for e in &mut entries {
                e.key = r.redact(&e.key).text;
                e.value = r.redact(&e.value).text;
            }
            // The prefix applies to what the caller sees: filtering on the
            // raw key would let prefixes spell out a secret inside a key
            // one character at a time.
            entries.retain(|e| e.key.starts_with(prefix));
        }
        Ok(entries)
    }

    /// Deletes one memory entry; `NotFound` if there is none.
    pub(crate) fn delete_memory(
        &self,
        actor: &str,
        tenant: &TenantId,
        user: Option<&UserId>,
        key: &str,
    ) -> Result<(), Error> {
        existing(&self.db, tenant)?;
        let missing =
            || Error::NotFound(format!("no memory entry {:?}", key.chars().take(80).collect::<String>()));
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(missing());
        }
        if !self.db.memory_delete(Scope { tenant, user }, key)? {
            return Err(missing());
        }
        self.audit.record(actor, Some(tenant), "memory.delete", key, "ok");
        Ok(())
    }

    /// The tenant's cron jobs, their inputs and last errors scrubbed.
    pub(crate) fn cron_jobs(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        let mut jobs = self.cron_jobs_exact(tenant)?;
        if let Some(r) = self.secrets.redactor(tenant) {
            for j in &mut jobs {
                j.input = r.redact(&j.input).text;
                if let Some(e) = j.last.as_mut().and_then(|l| l.error.as_mut()) {
                    *e = r.redact(e).text;
                }
            }
        }
        Ok(jobs)
    }

    fn cron_jobs_exact(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        existing(&self.db, tenant)?;
        Ok(self.db.cron_list_tenant(tenant)?)
    }

    /// Removes one of the tenant's cron jobs; `NotFound` if it has none of
    /// that id (another tenant's job is not found either).
    pub(crate) fn remove_cron_job(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        let missing =
            || Error::NotFound(format!("no cron job {:?}", id.chars().take(80).collect::<String>()));
        let job = self.cron_jobs_exact(tenant)?.into_iter().find(|j| j.id == id).ok_or_else(missing)?;
        if !self.db.cron_remove(tenant, &job.skill, id)? {
            return Err(missing());
        }
        self.audit.record(actor, Some(tenant), "cron.remove", id, "ok");
        Ok(())
    }

    /// The tenant's contacts, by name and channel (never their URLs' secrets:
    /// the URL is the operator's or tenant admin's to see in the policy).
    pub(crate) fn contacts(&self, tenant: &TenantId) -> Result<Vec<crate::policy::Contact>, Error> {
        existing(&self.db, tenant)?;
        Ok(self.db.policy(tenant)?.contacts)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Scope;
    use crate::{Runtime, RuntimeConfig, TenantId};

    #[test]
    fn a_cron_jobs_last_error_is_scrubbed() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
        let t = TenantId::parse("acme").unwrap();
        rt.create_tenant("operator", &t).unwrap();
        let job = crate::records::Job {
            id: "j1".into(),
            tenant: t.clone(),
            skill: "notes".into(),
            scope: Default::default(),
            schedule: crate::records::Schedule::EverySeconds(60),
            input: "{}".into(),
            next_run: 100,
            created: 1,
            last: Some(crate::records::LastRun {
                at: 50,
                error: Some("got sk-cron-0123456789abcdef".into()),
            }),
        };
        rt.db_for_tests().cron_add(&job, 10, 10).unwrap();
        rt.put_secret("operator", &t, "CRON_KEY", b"sk-cron-0123456789abcdef").unwrap();
        let jobs = rt.cron_jobs(&t).unwrap();
        let error = jobs[0].last.as_ref().unwrap().error.as_deref().unwrap();
        assert!(error.starts_with("got ") && !error.contains("sk-cron"), "{error}");
    }

    #[test]
    fn a_prefix_cannot_spell_out_a_secret_hidden_in_a_memory_key() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
        let t = TenantId::parse("acme").unwrap();
        rt.create_tenant("operator", &t).unwrap();
        rt.put_secret("operator", &t, "API_KEY", b"sk-live-0123456789abcdef").unwrap();
        let scope = Scope { tenant: &t, user: None };
        rt.db_for_tests().memory_set(scope, "k:sk-live-0123456789abcdef", "v", &Default::default()).unwrap();
        rt.db_for_tests().memory_set(scope, "k:plain", "v", &Default::default()).unwrap();
        // Allowed: a prefix of what the caller sees.
        let all = rt.memory_entries(&t, None, "k:").unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|e| !e.key.contains("sk-live")), "{all:?}");
        // Denied: a prefix of the raw secret finds nothing, right or wrong.
        assert!(rt.memory_entries(&t, None, "k:sk-live-0").unwrap().is_empty());
        assert!(rt.memory_entries(&t, None, "k:sk-live-1").unwrap().is_empty());
    }
}
