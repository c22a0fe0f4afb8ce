//! The trust service: the operator's trusted publisher keys, in the
//! database and held in memory for the check at every call of a signed
//! skill ([`crate::trust`] has the records and the rules). What is held is
//! trusted only while the store's credential generation is the one it was
//! read at: a change through this process or (on PostgreSQL, through the
//! generation row) through another replica makes the next check read the
//! keys again.

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
    /// Key text → publisher name, as in the database at a generation.
    cache: RwLock<Held>,
}

/// The keys as read, and the credential generation taken before the read.
struct Held {
    generation: u64,
    keys: TrustCache,
}

impl TrustService {
    /// Loads the trusted keys into memory.
    pub(crate) fn new(db: Arc<Db>, clock: SharedClock, audit: Recorder) -> Result<Self, Error> {
        let held = read_keys(&db)?;
        Ok(TrustService { db, clock, audit, cache: RwLock::new(held) })
    }

    /// Trusts `key` under `name`; returns the installed skills it signed
    /// (enabled again if they were disabled). `Conflict` if the name or the
    /// key is already trusted.
    pub(crate) fn add(&self, actor: &str, name: &str, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        if !valid_publisher_name(name) {
            return Err(Error::InvalidInput(format!(
                "publisher name {name:?}: use 1-64 lower-case letters, digits, '-', '_' or '.', \
                 starting with a letter or digit"
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

    /// The trusted key `name` and every installed skill it signed (what
    /// removing it would disable); `NotFound` if no key has that name.
    pub(crate) fn signed(&self, name: &str) -> Result<(TrustedKey, Vec<AffectedSkill>), Error> {
        let key = self
            .keys()?
            .into_iter()
            .find(|k| k.name == name)
            .ok_or_else(|| Error::NotFound(format!("no trusted publisher named {name:?}")))?;
        let signed = self.signed_by(&key.key)?;
        Ok((key, signed))
    }

    /// Stops trusting the publisher `name`; returns the installed skills it
    /// signed, which are disabled until its key is trusted again.
    pub(crate) fn remove(&self, actor: &str, name: &str) -> Result<Vec<AffectedSkill>, Error> {
        let removed = self
            .db
            .trust_remove(name)?
            .ok_or_else(|| Error::NotFound(format!("no trusted publisher named {name:?}")))?;
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

    /// The name `key` is trusted under, if it is trusted. The keys are
    /// read again first if a credential changed since they were read; a
    /// store that cannot answer then is an error, never an old answer.
    pub(crate) fn trusted_as(&self, key: &str) -> Result<Option<String>, Error> {
        let generation = self.db.credentials_generation();
        {
            let held = read(&self.cache);
            if held.generation == generation {
                return Ok(held.keys.get(key).cloned());
            }
        }
        let fresh = read_keys(&self.db)?;
        let name = fresh.keys.get(key).cloned();
        // A reader that raced this one with an older generation is read
        // again at its next check.
        *write(&self.cache) = fresh;
        Ok(name)
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

/// Reads every trusted key, with the generation taken before the read (a
/// change committed after it moves the generation past what was read).
fn read_keys(db: &Db) -> Result<Held, Error> {
    let generation = db.credentials_generation();
    let keys = db.trusted_keys()?.into_iter().map(|k| (k.key, k.name)).collect();
    Ok(Held { generation, keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditConfig, AuditLog};
    use crate::clock::ManualClock;
    use crate::signing::PublisherKey;
    use crate::store::testing;
    use std::time::{Duration, Instant};

    /// A trust service over `db`, as one gateway (or replica) holds it.
    fn service(db: &Arc<Db>, dir: &std::path::Path, name: &str) -> TrustService {
        let clock: SharedClock = Arc::new(ManualClock::new(1));
        let log = AuditLog::open(&dir.join(format!("{name}.log")), &AuditConfig::default()).unwrap();
        TrustService::new(db.clone(), clock.clone(), Recorder::new(log, clock)).unwrap()
    }

    fn key() -> String {
        PublisherKey::generate().public().to_string()
    }

    #[test]
    fn a_key_changed_through_another_service_on_the_same_store_is_seen_at_the_next_check() {
        let (dir, db) = testing::db();
        let db = Arc::new(db);
        let (a, b) = (service(&db, dir.path(), "a"), service(&db, dir.path(), "b"));
        let k = key();
        assert_eq!(b.trusted_as(&k).unwrap(), None);
        a.add("operator", "acme", &k).unwrap();
        assert_eq!(b.trusted_as(&k).unwrap().as_deref(), Some("acme"), "b read the keys again");
        a.remove("operator", "acme").unwrap();
        assert_eq!(b.trusted_as(&k).unwrap(), None, "b no longer trusts a removed key");
    }

    #[test]
    fn a_key_untrusted_through_one_replica_is_refused_by_another_within_a_poll() {
        let Some((_guard, db_a, db_b)) = testing::postgres_pair() else { return };
        let (db_a, db_b) = (Arc::new(db_a), Arc::new(db_b));
        db_b.cluster().unwrap().watch_credentials(Duration::from_millis(50));
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (service(&db_a, dir.path(), "a"), service(&db_b, dir.path(), "b"));
        let k = key();
        a.add("operator", "acme", &k).unwrap();
        let wait_for = |want: Option<&str>| {
            let started = Instant::now();
            while b.trusted_as(&k).unwrap().as_deref() != want {
                assert!(started.elapsed() < Duration::from_secs(5), "b never saw {want:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            started.elapsed()
        };
        wait_for(Some("acme"));
        a.remove("operator", "acme").unwrap();
        eprintln!("the other replica refused the key after {:?}", wait_for(None));
    }
}
