//! Trusted publishers: the operator's list of keys whose signed packages
//! may be installed. Removing a key disables every skill it signed, in every
//! tenant, at their next call; adding it back re-enables them. Both are
//! audited with the skills they affect.

use crate::error::Error;
use crate::ids::TenantId;
use crate::records::TrustedKey;
use crate::runtime::Runtime;
use crate::signing::PublicKey;
use serde::Serialize;
use std::collections::HashMap;

/// An installed skill a trust change affects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AffectedSkill {
    /// Its tenant.
    #[serde(serialize_with = "as_str")]
    pub tenant: TenantId,
    /// Its name.
    pub skill: String,
}

fn as_str<S: serde::Serializer>(t: &TenantId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

/// Whether `name` is a valid publisher name: 1–64 of `a-z`, `0-9`, `-`, `_`, `.`.
pub fn valid_publisher_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

/// The trusted keys as held in memory: key text → publisher name.
pub(crate) type TrustCache = HashMap<String, String>;

impl Runtime {
    /// Trusts `key` under `name`; returns the installed skills it signed
    /// (enabled again if they were disabled). `Conflict` if the name or the
    /// key is already trusted.
    pub fn trust_add(&self, actor: &str, name: &str, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        if !valid_publisher_name(name) {
            return Err(Error::InvalidInput(format!(
                "publisher name {name:?}: use 1-64 lower-case letters, digits, '-', '_' or '.'"
            )));
        }
        let key = PublicKey::parse(key).map_err(|e| Error::InvalidInput(e.to_string()))?.to_string();
        let record = TrustedKey { name: name.to_string(), key: key.clone(), added: self.inner.clock.now() };
        if let Err(existing) = self.inner.db.trust_add(&record)? {
            return Err(Error::Conflict(if existing.name == name {
                format!("a publisher named {name} is trusted already (key {})", existing.key)
            } else {
                format!("key {key} is trusted already, as {}", existing.name)
            }));
        }
        self.trust_cache_mut().insert(key.clone(), name.to_string());
        let affected = self.signed_by(&key)?;
        self.record(actor, None, "trust.add", &format!("{name} {key}"), "ok");
        for a in &affected {
            self.record(
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
    pub fn trusted_keys(&self) -> Result<Vec<TrustedKey>, Error> {
        Ok(self.inner.db.trusted_keys()?)
    }

    /// Stops trusting the publisher `name`; returns the installed skills it
    /// signed, which are disabled until its key is trusted again.
    pub fn trust_remove(&self, actor: &str, name: &str) -> Result<Vec<AffectedSkill>, Error> {
        let removed = self
            .inner
            .db
            .trust_remove(name)?
            .ok_or_else(|| Error::NotFound(format!("no trusted publisher named {name:?}")))?;
        self.trust_cache_mut().remove(&removed.key);
        let affected = self.signed_by(&removed.key)?;
        self.record(actor, None, "trust.remove", &format!("{name} {}", removed.key), "ok");
        for a in &affected {
            self.record(
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
    pub fn trusted_as(&self, key: &str) -> Option<String> {
        self.inner.trusted.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    fn trust_cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, TrustCache> {
        self.inner.trusted.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Every installed skill, in every tenant, signed by `key`.
    fn signed_by(&self, key: &str) -> Result<Vec<AffectedSkill>, Error> {
        let mut out = Vec::new();
        for tenant in self.tenants()? {
            for skill in self.inner.db.skills(&tenant.id)? {
                if skill.publisher.as_ref().is_some_and(|p| p.key == key) {
                    out.push(AffectedSkill { tenant: tenant.id.clone(), skill: skill.name });
                }
            }
        }
        Ok(out)
    }
}

/// Loads the trusted keys into memory (at start).
pub(crate) fn load_cache(db: &crate::store::Db) -> Result<TrustCache, Error> {
    Ok(db.trusted_keys()?.into_iter().map(|k| (k.key, k.name)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_names() {
        assert!(valid_publisher_name("acme-labs_2.io"));
        for bad in ["", "Acme", "a b", "a/b", &"a".repeat(65)] {
            assert!(!valid_publisher_name(bad), "{bad:?}");
        }
    }
}
