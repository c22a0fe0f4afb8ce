//! What calls share: the runtime-wide [`HostEnv`] (the database, the vault,
//! the outbound client, the clock, the quotas, the tenants' log and message
//! rates, the long calls' slots), built once, and a tenant's
//! [`TenantSlot`] (its concurrency, files, disk usage and memory budget),
//! made on its first call.

use crate::caps;
use crate::clock::SharedClock;
use crate::config::{FilesQuota, MemoryQuota};
use crate::error::Error;
use crate::ids::TenantId;
use crate::ratelimit::RateLimiter;
use crate::store::Db;
use crate::vault::Vault;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// What the host capabilities of every call share, built once by the
/// runtime: the database and the vault, the outbound HTTP client, the
/// clock, the quotas, the tenants' log and message rates and the slots
/// long calls take turns in ([`crate::slices`]).
pub(crate) struct HostEnv {
    pub(super) db: Arc<Db>,
    pub(super) vault: Arc<Vault>,
    pub(super) http: reqwest::Client,
    pub(super) clock: SharedClock,
    pub(super) memory_quota: MemoryQuota,
    pub(super) files_quota: FilesQuota,
    pub(super) log_rate: Arc<RateLimiter>,
    pub(super) message_rate: Arc<RateLimiter>,
    pub(super) long_calls: Arc<Semaphore>,
}

impl HostEnv {
    /// The handles of a runtime on `db`, `vault` and `clock`; `long_call_slots`
    /// as configured ([`crate::slices::slots`]).
    pub(crate) fn new(
        db: Arc<Db>,
        vault: Arc<Vault>,
        clock: SharedClock,
        config: &crate::config::RuntimeConfig,
    ) -> Result<Self, Error> {
        let http = caps::http::client().map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(HostEnv {
            db,
            vault,
            http,
            memory_quota: config.memory_quota,
            files_quota: config.files_quota,
            log_rate: Arc::new(RateLimiter::new(clock.clone())),
            message_rate: Arc::new(RateLimiter::new(clock.clone())),
            clock,
            long_calls: Arc::new(Semaphore::new(crate::slices::slots(config.pool.long_call_slots))),
        })
    }

    /// The tenant's secrets by name, opened only when a request fills a
    /// placeholder (the http context checks the grant first), so calls that
    /// never do pay nothing.
    pub(super) fn secret_lookup(&self, tenant: &TenantId) -> caps::http::SecretLookup {
        let (vault, tenant) = (self.vault.clone(), tenant.clone());
        Arc::new(move |name: &str| {
            vault.get(&tenant, name).unwrap_or_else(|e| {
                tracing::error!(%tenant, secret = %name, error = %e, "cannot open a secret");
                None
            })
        })
    }
}

/// What the calls of one tenant share, made on its first call
/// ([`crate::services::tenants`]): a concurrency semaphore, its files
/// directory, its long calls, its disk usage and its memory budget.
pub(crate) struct TenantSlot {
    pub(crate) slots: Arc<Semaphore>,
    /// How many permits `slots` was created with.
    pub(crate) permits: u32,
    pub(crate) files: PathBuf,
    /// How many of the tenant's calls are long ([`crate::slices`]).
    pub(crate) long_calls: Arc<std::sync::atomic::AtomicUsize>,
    /// The tenant's disk usage ([`crate::disk_quota`]).
    pub(crate) disk: Arc<crate::disk_quota::DiskUsage>,
    /// The tenant's memory budget, one permit per MiB
    /// ([`crate::config::Limits::tenant_memory_bytes`]).
    pub(crate) memory: Arc<Semaphore>,
}

/// The unit of a tenant's memory budget permits.
pub(crate) const MEMORY_PERMIT_BYTES: u64 = 1024 * 1024;

/// Permits of `bytes` of memory budget, rounded up.
pub(crate) fn memory_permits(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(MEMORY_PERMIT_BYTES)).unwrap_or(u32::MAX)
}
