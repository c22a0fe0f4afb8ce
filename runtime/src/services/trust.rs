//! The trust service: the operator's trusted publisher keys, in the
//! database and held in memory for the check at every call of a signed
//! skill ([`crate::trust`] has the records and the rules).

use crate::clock::SharedClock;
use crate::error::Error;
use crate::records::TrustedKey;
use crate::services::recorder::Recorder;
use crate::signing::PublicKey;
use crate::store::Db;
use crate::sync::{read, write};
use crate::trust::{AffectedSkill, TrustCache, valid_publisher_name};
use std::sync::{Arc, RwLock};

/// The trusted keys, stored and cached.
pub(crate) struct TrustService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    /// Key text → publisher name, as in the database.
    cache: RwLock<TrustCache>,
}

impl TrustService {
    /// Loads the trusted keys into memory.
    pub(crate) fn new(db: Arc<Db>, clock: SharedClock, audit: Recorder) -> Result<Self, Error> {
        let cache = db.trusted_keys()?.into_iter().map(|k| (k.key, k.name)).collect();
        Ok(TrustService { db, clock, audit, cache: RwLock::new(cache) })
    }

    /// Trusts `key` under `name`; returns the installed skills it signed
    /// (enabled again if they were disabled). `Conflict` if the name or the
    /// key is already trusted.
    pub(crate) fn add(&self, actor: &str, name: &str, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        if !valid_publisher_name(name) {
            return Err(Error::InvalidInput(format!(
                "publisher name {name:?}: use 1-64 lower-case letters, digits, '-', '_' or '.'"
            )));
        }
        let key = PublicKey::parse(key).map_err(|e| Error::InvalidInput(e.to_string()))?.to_string();
        let record = TrustedKey { name: name.to_string(), key: key.clone(), added: self.clock.now() };
        if let Err(existing) = self.db.trust_add(&record)? {
            return Err(Error::Conflict(if existing.name == name {
                format!("a publisher named {name} is trusted already (key {})", existing.key)
            } else {
                format!("key {key} is trusted already, as {}", existing.name)
            }));
        }
        self.trust_cache_mut().insert(key.clone(), name.to_string());
        let affected = self.signed_by(&key)?;
        self.audit.record(actor, None, "trust.add", &format!("{name} {key}"), "ok");
        for a in &affected {
            self.audit.record(
                actor,
                Some(&a.tenant),
                "skill.enable",
                &a.skill,
                &format!("publisher {name} trusted"),
            );
        }
        Ok(affected)
    }

    /// The trusted keys, by name.
    pub(crate) fn keys(&self) -> Result<Vec<TrustedKey>, Error> {
        Ok(self.db.trusted_keys()?)
    }

    /// Stops trusting the publisher `name`; returns the installed skills it
    /// signed, which are disabled until its key is trusted again.
    pub(crate) fn remove(&self, actor: &str, name: &str) -> Result<Vec<AffectedSkill>, Error> {
        let removed = self
            .db
            .trust_remove(name)?
            .ok_or_else(|| Error::NotFound(format!("no trusted publisher named {name:?}")))?;
        self.trust_cache_mut().remove(&removed.key);
        let affected = self.signed_by(&removed.key)?;
        self.audit.record(actor, None, "trust.remove", &format!("{name} {}", removed.key), "ok");
        for a in &affected {
            self.audit.record(
                actor,
                Some(&a.tenant),
                "skill.disable",
                &a.skill,
                &format!("publisher {name} untrusted"),
            );
        }
        Ok(affected)
    }

    /// The name `key` is trusted under, if it is trusted.
    pub(crate) fn trusted_as(&self, key: &str) -> Option<String> {
        read(&self.cache).get(key).cloned()
    }

    fn trust_cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, TrustCache> {
        write(&self.cache)
    }

    /// Every installed skill, in every tenant, signed by `key`.
    fn signed_by(&self, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        let mut out = Vec::new();
        for tenant in self.db.tenants()? {
            for skill in self.db.skills(&tenant.id)? {
                if skill.publisher.as_ref().is_some_and(|p| p.key == key) {
                    out.push(AffectedSkill { tenant: tenant.id.clone(), skill: skill.name });
                }
            }
        }
        Ok(out)
    }
}
