//! The secrets service: a tenant's secrets, sealed in the vault
//! ([`crate::vault`]), within the operator's limits
//! ([`crate::config::SecretLimits`]), and the per-tenant redactors of their
//! values ([`crate::redactors`]), rebuilt after a change. Values are
//! write-only through the API: the runtime opens them only to inject them
//! (an outbound request, a model's key, a channel's signature) or to
//! scrub them.

use crate::config::SecretLimits;
use crate::error::Error;
use crate::ids::TenantId;
use crate::redact::Redactor;
use crate::redactors::RedactorCache;
use crate::services::recorder::Recorder;
use crate::vault::{SecretValue, Vault, VaultError};
use std::sync::Arc;

/// The vault, the limits and the redactors.
pub(crate) struct SecretService {
    vault: Arc<Vault>,
    limits: SecretLimits,
    redactors: RedactorCache,
    audit: Recorder,
}

impl SecretService {
    pub(crate) fn new(vault: Arc<Vault>, limits: SecretLimits, audit: Recorder) -> Self {
        let redactors = RedactorCache::new(limits.redactor_cache_bytes);
        SecretService { vault, limits, redactors, audit }
    }

    /// The vault (for the backup's keys and the capabilities' lookups).
    pub(crate) fn vault(&self) -> &Arc<Vault> {
        &self.vault
    }

    /// The value of the tenant's secret `name`, for the runtime to inject
    /// (never to return through the API).
    pub(crate) fn value(&self, tenant: &TenantId, name: &str) -> Result<Option<SecretValue>, Error> {
        self.vault.get(tenant, name).map_err(vault_error)
    }

    /// Drops the tenant's redactor (its secrets changed, or it is gone).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        self.redactors.invalidate(tenant);
    }

    /// Stores a tenant's secret (encrypted). Values are write-only: nothing
    /// in the runtime's API returns them.
    pub(crate) fn put(&self, actor: &str, tenant: &TenantId, name: &str, value: &[u8]) -> Result<(), Error> {
        crate::vault::check_name(name).map_err(vault_error)?;
        self.check_secret_limits(tenant, name, value.len())?;
        self.redactors.invalidate(tenant);
        let put = self.vault.put(tenant, name, value).map_err(vault_error);
        // After the write too: a build that read the old secrets meanwhile
        // is not kept.
        self.redactors.invalidate(tenant);
        put?;
        self.audit.record(actor, Some(tenant), "secret.write", name, "ok");
        Ok(())
    }

    /// Refuses a value of `size` bytes for the tenant's secret `name` past
    /// the operator's [`crate::config::SecretLimits`]: the value's size, the
    /// number of secrets and their total size (a replaced value counts as
    /// its new size).
    fn check_secret_limits(&self, tenant: &TenantId, name: &str, size: usize) -> Result<(), Error> {
        let l = &self.limits;
        let max_value = l.max_value_bytes.min(crate::vault::MAX_SECRET_BYTES);
        if size > max_value {
            return Err(Error::TooLarge(format!(
                "the secret value is {size} bytes, the most is {max_value}"
            )));
        }
        let others: Vec<(String, usize)> =
            self.vault.sizes(tenant).map_err(vault_error)?.into_iter().filter(|(n, _)| n != name).collect();
        if others.len() >= l.max_count {
            return Err(Error::QuotaExceeded(format!(
                "tenant {tenant} holds {} secrets, the most is {}; delete one first",
                others.len(),
                l.max_count
            )));
        }
        let total = others.iter().map(|(_, s)| s).sum::<usize>() + size;
        if total > l.max_total_bytes {
            return Err(Error::QuotaExceeded(format!(
                "tenant {tenant}'s secrets would take {total} bytes, the most is {}",
                l.max_total_bytes
            )));
        }
        Ok(())
    }

    /// A redactor of every secret of `tenant`, whatever the call's grant: a
    /// value one call obtained (reflected by a granted origin) and stored in
    /// memory or a file must not leave in clear through a later call of
    /// another skill. Cached per tenant ([`crate::redactors`]); `None` when
    /// the tenant has none. For callers that are not async.
    pub(crate) fn redactor(&self, tenant: &TenantId) -> Option<Arc<Redactor>> {
        let (vault, t) = (self.vault.clone(), tenant.clone());
        self.redactors.get_blocking(tenant, move || build_redactor(&vault, &t))
    }

    /// [`SecretService::redactor`] for a call: built on the blocking pool,
    /// once for all the calls waiting for it.
    pub(crate) async fn redactor_async(&self, tenant: &TenantId) -> Option<Arc<Redactor>> {
        let (vault, t) = (self.vault.clone(), tenant.clone());
        self.redactors.get(tenant, move || build_redactor(&vault, &t)).await
    }

    /// Bytes the cached redactors take (at most
    /// `secret_limits.redactor_cache_bytes`).
    pub(crate) fn redactor_cache_bytes(&self) -> usize {
        self.redactors.used_bytes()
    }

    /// The names of a tenant's secrets.
    pub(crate) fn names(&self, tenant: &TenantId) -> Result<Vec<String>, Error> {
        self.vault.names(tenant).map_err(vault_error)
    }

    /// `text` with every secret value of `tenant` (in clear and in every
    /// encoding the redactor knows) replaced by `[redacted:NAME]`.
    pub(crate) fn scrub_text(&self, tenant: &TenantId, text: &str) -> String {
        match self.redactor(tenant) {
            Some(r) => r.redact(text).text,
            None => text.to_string(),
        }
    }

    /// Scrubs every string of `value` (object keys included) as
    /// [`Self::scrub_text`] does, for a JSON answer of the API holding
    /// what skills or models wrote.
    pub(crate) fn scrub_json(&self, tenant: &TenantId, value: &mut serde_json::Value) {
        if let Some(r) = self.redactor(tenant) {
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

/// The caller's mistakes are invalid input; the rest is the gateway's.
pub(crate) fn vault_error(e: VaultError) -> Error {
    match e {
        VaultError::InvalidName(_) | VaultError::TooLarge { .. } => Error::InvalidInput(e.to_string()),
        VaultError::Store(s) => Error::Store(s),
        VaultError::MasterKey(_) => Error::Config(e.to_string()),
        VaultError::Corrupt(_) => Error::Internal(e.to_string()),
    }
}

/// A redactor of every secret of `tenant` (`None`: it has none).
fn build_redactor(vault: &Vault, tenant: &TenantId) -> Option<Arc<Redactor>> {
    let mut pairs = Vec::new();
    for name in vault.names(tenant).unwrap_or_else(|e| {
        tracing::error!(%tenant, error = %e, "cannot list the tenant's secrets");
        Vec::new()
    }) {
        match vault.get(tenant, &name) {
            Ok(Some(v)) => pairs.push((name, v)),
            Ok(None) => {}
            Err(e) => tracing::error!(%tenant, secret = %name, error = %e, "cannot open a secret"),
        }
    }
    (!pairs.is_empty()).then(|| Arc::new(Redactor::new(&pairs)))
}
