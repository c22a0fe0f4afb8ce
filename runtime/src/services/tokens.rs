//! The credentials service: the operator's admin key and the tenants'
//! tokens (minted, listed, rotated, revoked, checked), and the cache of
//! tokens recently found valid ([`crate::auth_cache`]). The forms and
//! hashing of credentials are [`crate::auth`]'s.

use crate::auth::{
    LAST_USED_RESOLUTION, Principal, constant_time_eq, generate_admin_key, hash, is_admin_key, is_hex,
    parse_token, random_hex,
};
use crate::auth_cache::AuthCache;
use crate::clock::SharedClock;
use crate::error::Error;
use crate::ids::TenantId;
use crate::records::{ADMIN_PREFIX, Role, TOKEN_PREFIX, TokenInfo, short};
use crate::services::recorder::Recorder;
use crate::store::Db;
use std::sync::Arc;
use std::time::Duration;

/// Tenant tokens and the admin key, on the database and the runtime's clock.
pub(crate) struct TokenService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    cache: AuthCache,
}

impl TokenService {
    pub(crate) fn new(db: Arc<Db>, clock: SharedClock, audit: Recorder) -> Self {
        TokenService { db, clock, audit, cache: AuthCache::default() }
    }

    #[cfg(test)]
    pub(crate) fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Makes sure an admin key is configured. With `from_env` (the value of
    /// `WASMCLAW_ADMIN_KEY`), its hash replaces the stored one; without it,
    /// a stored hash is kept, or a key is generated, stored as a hash and
    /// returned — the only time it is ever shown.
    pub(crate) fn ensure_admin_key(&self, from_env: Option<&str>) -> Result<Option<String>, Error> {
        let db = &self.db;
        if let Some(key) = from_env {
            if !is_admin_key(key) {
                return Err(Error::Config(format!(
                    "WASMCLAW_ADMIN_KEY must be {ADMIN_PREFIX} followed by 32 lower-case hex digits"
                )));
            }
            if db.admin_key_hash()? != Some(hash(key)) {
                db.set_admin_key_hash(&hash(key))?;
                self.audit.record("operator", None, "admin-key.set", "environment", "ok");
            }
            return Ok(None);
        }
        if db.admin_key_hash()?.is_some() {
            return Ok(None);
        }
        let key = generate_admin_key()?;
        db.set_admin_key_hash(&hash(&key))?;
        self.audit.record("operator", None, "admin-key.generate", "admin-key", "ok");
        Ok(Some(key))
    }

    /// Checks a presented credential (the bearer value). Unknown, revoked,
    /// expired and malformed credentials are all `Unauthorized` with the
    /// same message; a valid token of a suspended tenant is `Suspended`.
    /// Every refusal is audited, rate-limited ([`crate::refusals`]): a
    /// credential that does not authenticate is filed under no tenant (the
    /// tenant it names is only a claim; the target says what it claimed).
    pub(crate) fn authenticate(&self, credential: &str) -> Result<Principal, Error> {
        let refused = |this: &Self, claimed: Option<&TenantId>, target: &str| {
            let target = match claimed {
                Some(t) => format!("{t}/{target}"),
                None => target.to_string(),
            };
            this.audit.refusal("anonymous", None, "auth", &target, "denied");
            Error::Unauthorized("unknown, revoked or malformed credential".into())
        };
        if credential.starts_with(ADMIN_PREFIX) {
            return match self.db.admin_key_hash()? {
                Some(stored) if is_admin_key(credential) && constant_time_eq(&stored, &hash(credential)) => {
                    Ok(Principal::Operator)
                }
                _ => Err(refused(self, None, "admin-key")),
            };
        }
        let Some((tenant, id)) = parse_token(credential) else {
            return Err(refused(self, None, "malformed"));
        };
        let now = self.clock.now();
        // Taken before the reads: a change committed after it makes what
        // they return stale for the cache.
        let generation = self.db.credentials_generation();
        let Some((info, stored)) = self.db.token(id)? else {
            return Err(refused(self, Some(&tenant), id));
        };
        if info.tenant != tenant || !constant_time_eq(&stored, &hash(credential)) {
            return Err(refused(self, Some(&tenant), id));
        }
        if info.expires.is_some_and(|e| now >= e) {
            return Err(refused(self, Some(&tenant), id));
        }
        match self.db.tenant(&tenant)? {
            None => return Err(refused(self, Some(&tenant), id)),
            Some(t) if t.suspended => {
                self.audit.refusal(&format!("token:{id}"), Some(&tenant), "auth", id, "suspended");
                return Err(Error::Suspended(tenant.to_string()));
            }
            Some(_) => {}
        }
        let mut info = info;
        if info.last_used.is_none_or(|t| now.saturating_sub(t) >= LAST_USED_RESOLUTION) {
            match self.db.token_touch(&tenant, id, now) {
                Ok(Some(touched)) => info = touched,
                Ok(None) => return Err(refused(self, Some(&tenant), id)),
                Err(e) => tracing::warn!(error = %e, "cannot record a token's last use"),
            }
        }
        self.cache.put(generation, stored, info.clone());
        Ok(Principal::Token(info))
    }

    /// Mints a token for an existing tenant; returns its record and the
    /// token itself (shown once).
    pub(crate) fn mint(
        &self,
        actor: &str,
        tenant: &TenantId,
        role: Role,
        name: &str,
    ) -> Result<(TokenInfo, String), Error> {
        crate::tenants::existing(&self.db, tenant)?;
        if name.len() > 64 || name.chars().any(char::is_control) {
            return Err(Error::InvalidInput("a token name is at most 64 printable characters".into()));
        }
        let (info, token) = self.new_token(tenant, role, name)?;
        self.audit.record(actor, Some(tenant), "token.mint", &info.id, "ok");
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
                created: self.clock.now(),
                last_used: None,
                expires: None,
            };
            if self.db.token_insert(&info, &hash(&token))? {
                return Ok((info, token));
            }
        }
    }

    /// A tenant's tokens (records only).
    pub(crate) fn list(&self, tenant: &TenantId) -> Result<Vec<TokenInfo>, Error> {
        crate::tenants::existing(&self.db, tenant)?;
        Ok(self.db.tokens(tenant)?)
    }

    /// Replaces token `id` with a new one of the same role and name. The old
    /// one stops working after `grace` (at once when it is zero).
    pub(crate) fn rotate(
        &self,
        actor: &str,
        tenant: &TenantId,
        id: &str,
        grace: Duration,
    ) -> Result<(TokenInfo, String), Error> {
        let old = self.token_of(tenant, id)?;
        let (info, token) = self.new_token(tenant, old.role, &old.name)?;
        if grace.is_zero() {
            self.db.token_remove(tenant, id)?;
        } else {
            let until = self.clock.now().saturating_add(grace.as_secs().max(1));
            self.db.token_update(tenant, id, |i| i.expires = Some(until))?;
        }
        self.audit.record(actor, Some(tenant), "token.rotate", &format!("{id} -> {}", info.id), "ok");
        Ok((info, token))
    }

    /// Revokes token `id` of `tenant`.
    pub(crate) fn revoke(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        self.token_of(tenant, id)?;
        self.db.token_remove(tenant, id)?;
        self.audit.record(actor, Some(tenant), "token.revoke", id, "ok");
        Ok(())
    }

    fn token_of(&self, tenant: &TenantId, id: &str) -> Result<TokenInfo, Error> {
        let missing = || Error::NotFound(format!("no token {:?} in tenant {tenant}", short(id)));
        if !is_hex(id, 12) {
            return Err(missing());
        }
        match self.db.token(id)? {
            Some((info, _)) if &info.tenant == tenant => Ok(info),
            _ => Err(missing()),
        }
    }

    /// The principal of a tenant token, without touching the database, when
    /// the cache proves it valid; `None` otherwise (then call
    /// [`TokenService::authenticate`], which decides and audits).
    pub(crate) fn authenticate_cached(&self, credential: &str) -> Option<Principal> {
        let (tenant, id) = parse_token(credential)?;
        let generation = self.db.credentials_generation();
        let info = self.cache.get(id, generation, &hash(credential))?;
        let now = self.clock.now();
        let fresh = info.last_used.is_some_and(|t| now.saturating_sub(t) < LAST_USED_RESOLUTION);
        let valid = info.tenant == tenant && info.expires.is_none_or(|e| now < e);
        (fresh && valid).then_some(Principal::Token(info))
    }
}
