//! What a tenant's own people may see and manage of what its skills keep:
//! memory entries, cron jobs, contacts. Every read and write is scoped to
//! the tenant given, which the gateway takes from the credential.
//!
//! Whatever a skill wrote comes back scrubbed of every secret of its tenant
//! ([`Runtime::scrub_text`], [`Runtime::scrub_json`]), for every reader,
//! the operator included: a value a skill got reflected by an origin and
//! stored must not leave through the API when it cannot leave through the
//! skill's own output. Secret values are write-only for everyone; only the
//! operator's backup file keeps the exact bytes.

use crate::caps::memory::{MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_LIST_ENTRIES};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::records::Job;
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
        let mut entries = self.inner.db.memory_list(scope, prefix, MAX_LIST_ENTRIES, MAX_LIST_BYTES)?;
        if let Some(r) = self.inner.secrets.redactor(tenant) {
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

    /// The tenant's cron jobs, their inputs scrubbed.
    pub fn cron_jobs(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        let mut jobs = self.cron_jobs_exact(tenant)?;
        if let Some(r) = self.inner.secrets.redactor(tenant) {
            for j in &mut jobs {
                j.input = r.redact(&j.input).text;
            }
        }
        Ok(jobs)
    }

    fn cron_jobs_exact(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.cron_list_tenant(tenant)?)
    }

    /// Removes one of the tenant's cron jobs; `NotFound` if it has none of
    /// that id (another tenant's job is not found either).
    pub fn remove_cron_job(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        let missing =
            || Error::NotFound(format!("no cron job {:?}", id.chars().take(80).collect::<String>()));
        let job = self.cron_jobs_exact(tenant)?.into_iter().find(|j| j.id == id).ok_or_else(missing)?;
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

impl Runtime {
    /// `text` with every secret value of `tenant` (in clear and in every
    /// encoding the redactor knows) replaced by `[redacted:NAME]`.
    pub fn scrub_text(&self, tenant: &TenantId, text: &str) -> String {
        match self.inner.secrets.redactor(tenant) {
            Some(r) => r.redact(text).text,
            None => text.to_string(),
        }
    }

    /// Scrubs every string of `value` (object keys included) as
    /// [`Runtime::scrub_text`] does, for a JSON answer of the API holding
    /// what skills or models wrote.
    pub fn scrub_json(&self, tenant: &TenantId, value: &mut serde_json::Value) {
        if let Some(r) = self.inner.secrets.redactor(tenant) {
            scrub_value(&r, value);
        }
    }
}

fn scrub_value(r: &crate::redact::Redactor, value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::String(s) => *s = r.redact(s).text,
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(r, v)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                scrub_value(r, &mut v);
                map.insert(r.redact(&k).text, v);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Scope;
    use crate::{Runtime, RuntimeConfig, TenantId};

    #[test]
    fn a_prefix_cannot_spell_out_a_secret_hidden_in_a_memory_key() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Runtime::new(RuntimeConfig::with_data_dir(dir.path().join("data"))).unwrap();
        let t = TenantId::parse("acme").unwrap();
        rt.create_tenant("operator", &t).unwrap();
        rt.put_secret("operator", &t, "API_KEY", b"sk-live-0123456789abcdef").unwrap();
        let scope = Scope { tenant: &t, user: None };
        rt.inner.db.memory_set(scope, "k:sk-live-0123456789abcdef", "v", &Default::default()).unwrap();
        rt.inner.db.memory_set(scope, "k:plain", "v", &Default::default()).unwrap();
        // Allowed: a prefix of what the caller sees.
        let all = rt.memory_entries(&t, None, "k:").unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|e| !e.key.contains("sk-live")), "{all:?}");
        // Denied: a prefix of the raw secret finds nothing, right or wrong.
        assert!(rt.memory_entries(&t, None, "k:sk-live-0").unwrap().is_empty());
        assert!(rt.memory_entries(&t, None, "k:sk-live-1").unwrap().is_empty());
    }
}
