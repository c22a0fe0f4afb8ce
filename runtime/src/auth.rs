//! Credentials: the operator's admin key and tenant tokens.
//!
//! - An admin key is `wca_` + 32 hex digits. It comes from
//!   `WASMCLAW_ADMIN_KEY` or is generated once; only its SHA-256 is stored.
//! - A tenant token is `wct_<tenant>_<id>_<secret>`: `id` is 12 hex digits,
//!   `secret` 32 hex digits (128 bits of OS randomness). Only its SHA-256 is
//!   stored, and compared in constant time. The tenant named in the token
//!   must be the tenant of the stored record.
//!
//! The two classes have different prefixes, so neither can be taken for the
//! other.

use crate::error::Error;
use crate::ids::TenantId;
use crate::records::{ADMIN_PREFIX, Role, TOKEN_PREFIX, TokenInfo, short};
use crate::runtime::Runtime;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How often `last_used` is written for one token, at most (seconds).
pub(crate) const LAST_USED_RESOLUTION: u64 = 60;

/// Who presented a valid credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator (admin key).
    Operator,
    /// A tenant token.
    Token(TokenInfo),
}

impl Principal {
    /// The actor named in audit records: `operator` or `token:<id>`.
    pub fn actor(&self) -> String {
        match self {
            Principal::Operator => "operator".into(),
            Principal::Token(t) => format!("token:{}", t.id),
        }
    }
}

pub(crate) fn hash(credential: &str) -> [u8; 32] {
    Sha256::digest(credential.as_bytes()).into()
}

/// Equality that takes the same time wherever the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `bytes` bytes of OS randomness, as hex.
fn random_hex(bytes: usize) -> Result<String, Error> {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .map_err(|e| Error::Internal(format!("the operating system's random generator failed: {e}")))?;
    Ok(hex::encode(buf))
}

/// A fresh admin key.
pub fn generate_admin_key() -> Result<String, Error> {
    Ok(format!("{ADMIN_PREFIX}{}", random_hex(16)?))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `key` has the admin key's form.
pub fn is_admin_key(key: &str) -> bool {
    key.strip_prefix(ADMIN_PREFIX).is_some_and(|rest| is_hex(rest, 32))
}

/// Splits a token into its tenant, id and secret, if it has the form.
pub fn parse_token(token: &str) -> Option<(TenantId, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let mut parts = rest.split('_');
    let (tenant, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_hex(id, 12) || !is_hex(secret, 32) {
        return None;
    }
    Some((TenantId::parse(tenant).ok()?, id))
}

impl Runtime {
    /// Makes sure an admin key is configured. With `from_env` (the value of
    /// `WASMCLAW_ADMIN_KEY`), its hash replaces the stored one; without it,
    /// a stored hash is kept, or a key is generated, stored as a hash and
    /// returned — the only time it is ever shown.
    pub fn ensure_admin_key(&self, from_env: Option<&str>) -> Result<Option<String>, Error> {
        let db = &self.inner.db;
        if let Some(key) = from_env {
            if !is_admin_key(key) {
                return Err(Error::Config(format!(
                    "WASMCLAW_ADMIN_KEY must be {ADMIN_PREFIX} followed by 32 lower-case hex digits"
                )));
            }
            if db.admin_key_hash()? != Some(hash(key)) {
                db.set_admin_key_hash(&hash(key))?;
                self.record("operator", None, "admin-key.set", "environment", "ok");
            }
            return Ok(None);
        }
        if db.admin_key_hash()?.is_some() {
            return Ok(None);
        }
        let key = generate_admin_key()?;
        db.set_admin_key_hash(&hash(&key))?;
        self.record("operator", None, "admin-key.generate", "admin-key", "ok");
        Ok(Some(key))
    }

    /// Checks a presented credential (the bearer value). Unknown, revoked,
    /// expired and malformed credentials are all `Unauthorized` with the
    /// same message; a valid token of a suspended tenant is `Suspended`.
    /// Every refusal is audited, rate-limited ([`crate::refusals`]): a
    /// credential that does not authenticate is filed under no tenant (the
    /// tenant it names is only a claim; the target says what it claimed).
    pub fn authenticate(&self, credential: &str) -> Result<Principal, Error> {
        let refused = |this: &Self, claimed: Option<&TenantId>, target: &str| {
            let target = match claimed {
                Some(t) => format!("{t}/{target}"),
                None => target.to_string(),
            };
            this.record_refusal("anonymous", None, "auth", &target, "denied");
            Error::Unauthorized("unknown, revoked or malformed credential".into())
        };
        if credential.starts_with(ADMIN_PREFIX) {
            return match self.inner.db.admin_key_hash()? {
                Some(stored) if is_admin_key(credential) && constant_time_eq(&stored, &hash(credential)) => {
                    Ok(Principal::Operator)
                }
                _ => Err(refused(self, None, "admin-key")),
            };
        }
        let Some((tenant, id)) = parse_token(credential) else {
            return Err(refused(self, None, "malformed"));
        };
        let now = self.inner.clock.now();
        // Taken before the reads: a change committed after it makes what
        // they return stale for the cache.
        let generation = self.inner.db.credentials_generation();
        let Some((info, stored)) = self.inner.db.token(id)? else {
            return Err(refused(self, Some(&tenant), id));
        };
        if info.tenant != tenant || !constant_time_eq(&stored, &hash(credential)) {
            return Err(refused(self, Some(&tenant), id));
        }
        if info.expires.is_some_and(|e| now >= e) {
            return Err(refused(self, Some(&tenant), id));
        }
        match self.inner.db.tenant(&tenant)? {
            None => return Err(refused(self, Some(&tenant), id)),
            Some(t) if t.suspended => {
                self.record_refusal(&format!("token:{id}"), Some(&tenant), "auth", id, "suspended");
                return Err(Error::Suspended(tenant.to_string()));
            }
            Some(_) => {}
        }
        let mut info = info;
        if info.last_used.is_none_or(|t| now.saturating_sub(t) >= LAST_USED_RESOLUTION) {
            match self.inner.db.token_touch(&tenant, id, now) {
                Ok(Some(touched)) => info = touched,
                Ok(None) => return Err(refused(self, Some(&tenant), id)),
                Err(e) => tracing::warn!(error = %e, "cannot record a token's last use"),
            }
        }
        self.inner.auth_cache.put(generation, stored, info.clone());
        Ok(Principal::Token(info))
    }

    /// Mints a token for an existing tenant; returns its record and the
    /// token itself (shown once).
    pub fn mint_token(
        &self,
        actor: &str,
        tenant: &TenantId,
        role: Role,
        name: &str,
    ) -> Result<(TokenInfo, String), Error> {
        self.tenant(tenant)?;
        if name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput("a token name is at most 64 printable characters".into()));
        }
        let (info, token) = self.new_token(tenant, role, name)?;
        self.record(actor, Some(tenant), "token.mint", &info.id, "ok");
        Ok((info, token))
    }

    fn new_token(&self, tenant: &TenantId, role: Role, name: &str) -> Result<(TokenInfo, String), Error> {
        loop {
            let id = random_hex(6)?;
            let token = format!("{TOKEN_PREFIX}{tenant}_{id}_{}", random_hex(16)?);
            let info = TokenInfo {
                id,
                tenant: tenant.clone(),
                role,
                name: name.to_string(),
                created: self.inner.clock.now(),
                last_used: None,
                expires: None,
            };
            if self.inner.db.token_insert(&info, &hash(&token))? {
                return Ok((info, token));
            }
        }
    }

    /// A tenant's tokens (records only).
    pub fn tokens(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.tokens(tenant)?)
    }

    /// Replaces token `id` with a new one of the same role and name. The old
    /// one stops working after `grace` (at once when it is zero).
    pub fn rotate_token(
        &self,
        actor: &str,
        tenant: &TenantId,
        id: &str,
        grace: Duration,
    ) -> Result<(TokenInfo, String), Error> {
        let old = self.token_of(tenant, id)?;
        let (info, token) = self.new_token(tenant, old.role, &old.name)?;
        if grace.is_zero() {
            self.inner.db.token_remove(tenant, id)?;
        } else {
            let until = self.inner.clock.now().saturating_add(grace.as_secs().max(1));
            self.inner.db.token_update(tenant, id, |i| i.expires = Some(until))?;
        }
        self.record(actor, Some(tenant), "token.rotate", &format!("{id} -> {}", info.id), "ok");
        Ok((info, token))
    }

    /// Revokes token `id` of `tenant`.
    pub fn revoke_token(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        self.token_of(tenant, id)?;
        self.inner.db.token_remove(tenant, id)?;
        self.record(actor, Some(tenant), "token.revoke", id, "ok");
        Ok(())
    }

    fn token_of(&self, tenant: &TenantId, id: &str) -> Result<TokenInfo, Error> {
        let missing = || Error::NotFound(format!("no token {:?} in tenant {tenant}", short(id)));
        if !is_hex(id, 12) {
            return Err(missing());
        }
        match self.inner.db.token(id)? {
            Some((info, _)) if &info.tenant == tenant => Ok(info),
            _ => Err(missing()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_forms_are_strict() {
        let ok = format!("wct_acme_{}_{}", "a".repeat(12), "b".repeat(32));
        assert_eq!(parse_token(&ok).unwrap().0.as_str(), "acme");
        for bad in [
            format!("wct_acme_{}_{}", "a".repeat(11), "b".repeat(32)),
            format!("wct_Acme_{}_{}", "a".repeat(12), "b".repeat(32)),
            format!("wct_acme_{}_{}_x", "a".repeat(12), "b".repeat(32)),
            format!("wca_acme_{}_{}", "a".repeat(12), "b".repeat(32)),
            format!("wct_acme_{}_{}", "a".repeat(12), "B".repeat(32)),
        ] {
            assert!(parse_token(&bad).is_none(), "{bad}");
        }
        assert!(is_admin_key(&generate_admin_key().unwrap()));
        assert!(!is_admin_key(&ok), "a token is not an admin key");
        assert!(!is_admin_key("wca_short"));
    }
}
