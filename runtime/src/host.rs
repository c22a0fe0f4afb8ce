//! The flat per-call host state that lives in each call's `Store`, how it
//! is built ([`HostState::for_call`] from the runtime-wide [`HostEnv`] and
//! one call's [`CallSpec`]; [`HostState::for_describe`] with every
//! capability denied), and the resource limiter that caps the call's
//! memory, tables and instances.
//!
//! A capability's context is built here and nowhere else: adding one is its
//! `caps/X.rs`, a field and a line below, and its grant in the policy.

use crate::caps::cron::CronCtx;
use crate::caps::http::HttpCtx;
use crate::caps::log::LogCtx;
use crate::caps::memory::MemoryCtx;
use crate::caps::messaging::MessagingCtx;
use crate::caps::secrets::SecretsCtx;
use crate::caps::{self, CallAudit, FuelDebt};
use crate::clock::SharedClock;
use crate::config::FilesQuota;
use crate::config::{Limits, MemoryQuota};
use crate::disk_quota::{DiskCtx, QuotaFsView, QuotaView};
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::policy::{Contact, Grant};
use crate::ratelimit::RateLimiter;
use crate::redact::{Redactor, Scrub};
use crate::slices::Turns;
use crate::store::Db;
use crate::vault::Vault;
use crate::wasi::{self, BoundedPipe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::filesystem::WasiFilesystemCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Everything one call's guest can reach through the host, and what the
/// host measures about it. Built fresh for every call.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: CallLimiter,
    pub(crate) memory: MemoryCtx,
    pub(crate) log: LogCtx,
    pub(crate) secrets: SecretsCtx,
    pub(crate) http: HttpCtx,
    pub(crate) messaging: MessagingCtx,
    pub(crate) cron: CronCtx,
    pub(crate) disk: DiskCtx,
    pub(crate) stderr: BoundedPipe,
    /// When the call must stop.
    pub(crate) deadline: Instant,
}

/// Who a call runs for within its tenant, and what it asks of the limits.
/// The tenant itself comes from the skill's binding ([`crate::BoundSkill`]).
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// The user within the tenant, when there is one.
    pub user: Option<UserId>,
    /// Requested limits; clamped to the operator's caps.
    pub overrides: crate::config::LimitOverrides,
    /// Made in an agent's session for `user`: messaging reaches only that
    /// peer's contacts, unless the tenant's policy says otherwise.
    pub in_session: bool,
}

/// Log lines a tenant may write per minute, over all its calls.
pub const LOG_LINES_PER_MINUTE: u32 = 1200;

/// Longest tail of the guest's stderr kept in a trap's message.
pub(crate) const STDERR_TAIL: usize = 2048;

/// What the host capabilities of every call share, built once by the
/// runtime: the database and the vault, the outbound HTTP client, the
/// clock, the quotas, the tenants' log and message rates and the slots
/// long calls take turns in ([`crate::slices`]).
pub(crate) struct HostEnv {
    db: Arc<Db>,
    vault: Arc<Vault>,
    http: reqwest::Client,
    clock: SharedClock,
    memory_quota: MemoryQuota,
    files_quota: FilesQuota,
    log_rate: Arc<RateLimiter>,
    message_rate: Arc<RateLimiter>,
    long_calls: Arc<Semaphore>,
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
    fn secret_lookup(&self, tenant: &TenantId) -> caps::http::SecretLookup {
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

/// The binding a call runs under, as its host state needs it: the tenant,
/// the skill's name and the grant computed for that pair. A skill bound to
/// its tenant ([`crate::BoundSkill`]) is one. The host names only this
/// trait, so it does not depend on the loaded skill, which depends on it
/// (a skill's `InstancePre` is over [`HostState`]).
pub(crate) trait Binding {
    /// The tenant the call runs for.
    fn tenant(&self) -> &TenantId;
    /// The skill's name.
    fn skill_name(&self) -> &str;
    /// What the skill may do for that tenant.
    fn grant(&self) -> &Grant;
}

/// One call, as [`HostState::for_call`] needs it: its binding, its
/// caller's scope, its limits, its tenant's slot and the redactor of the
/// tenant's secrets (`None`: it has none).
pub(crate) struct CallSpec<'a> {
    pub(crate) bound: &'a dyn Binding,
    pub(crate) call: &'a Call,
    pub(crate) limits: &'a Limits,
    pub(crate) slot: &'a TenantSlot,
    pub(crate) redactor: Option<Arc<Redactor>>,
}

/// What the runner of a call keeps beside its state: the handles its
/// capabilities share with the store ([`crate::call::new_store`]) and with
/// the end of the call (the audit notes, the guest's stdout).
pub(crate) struct CallHandles {
    pub(crate) turns: Turns,
    pub(crate) debt: FuelDebt,
    pub(crate) audit: CallAudit,
    pub(crate) stdout: BoundedPipe,
    /// When the call's clock started (its deadline counts from it).
    pub(crate) start: Instant,
}

impl HostState {
    /// The state of one invocation: the tenant's directory (the user's,
    /// for a call made for one) as the guest's only filesystem, and every
    /// capability scoped to the binding's tenant, skill and grant, bounded
    /// by the call's limits and deadline.
    pub(crate) fn for_call(env: &HostEnv, spec: CallSpec<'_>) -> Result<(HostState, CallHandles), Error> {
        let CallSpec { bound, call, limits, slot, redactor } = spec;
        let (tenant, skill, grant) = (bound.tenant(), bound.skill_name(), bound.grant());
        let scrub: Option<Scrub> = redactor.clone().map(Redactor::scrub);
        let stdout = BoundedPipe::new(limits.max_stdio_bytes as usize);
        let stderr = BoundedPipe::new(limits.max_stdio_bytes as usize);
        // Held open until the context has its own handle on it.
        let user_root = call.user.as_ref().map(|u| wasi::user_dir(&slot.files, u, &[])).transpose()?;
        let root = user_root.as_ref().map_or_else(|| slot.files.clone(), wasi::HeldDir::path);
        let wasi = wasi::context(&root, stdout.clone(), stderr.clone())
            .map_err(|e| Error::io(format!("tenant {tenant}'s directory"), e))?;
        drop(user_root);
        let call_id: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        let start = Instant::now();
        let deadline = start + limits.timeout();
        let audit = CallAudit::default();
        let debt = FuelDebt::default();
        let turns = Turns::new(&env.long_calls, &slot.long_calls);
        let contacts = session_contacts(grant, call);
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
            memory: MemoryCtx::new(env.db.clone(), tenant.clone(), call.user.clone(), env.memory_quota)
                .with_debt(debt.clone())
                .with_turns(turns.clone(), deadline),
            log: LogCtx::new(tenant.as_str().into(), skill.into(), limits.max_log_lines)
                .with_call(call_id)
                .with_debt(debt.clone())
                .with_scrub(scrub.clone())
                .with_rate(env.log_rate.clone(), tenant.clone(), LOG_LINES_PER_MINUTE),
            secrets: SecretsCtx::new(grant.secrets.clone()).with_audit(audit.clone()).with_debt(debt.clone()),
            http: HttpCtx::new(env.http.clone(), grant.http.clone(), env.secret_lookup(tenant), deadline)
                .with_redactor(redactor)
                .with_audit(audit.clone()),
            messaging: if grant.contacts.is_empty() {
                MessagingCtx::denied("no contact is granted to this skill for this tenant")
            } else if contacts.is_empty() {
                MessagingCtx::denied("in an agent's session, only the peer's own contacts may be messaged")
            } else {
                MessagingCtx::new(
                    env.db.clone(),
                    tenant.clone(),
                    skill.to_string(),
                    contacts,
                    grant.messaging.clone(),
                    env.message_rate.clone(),
                    env.clock.clone(),
                    scrub,
                )
            }
            .with_audit(audit.clone())
            .with_debt(debt.clone()),
            cron: CronCtx::new(
                env.db.clone(),
                tenant.clone(),
                skill.to_string(),
                crate::records::JobScope { user: call.user.clone(), in_session: call.in_session },
                grant.cron,
                env.clock.clone(),
            )
            .with_audit(audit.clone())
            .with_debt(debt.clone()),
            disk: DiskCtx::new(slot.disk.clone(), env.files_quota, slot.files.clone())
                .with_audit(audit.clone()),
            stderr,
            deadline,
        };
        Ok((state, CallHandles { turns, debt, audit, stdout, start }))
    }

    /// The state of a skill's `describe` at load: no filesystem, every
    /// capability denied, the default limits (clamped to the caps) and no
    /// tenant's slot.
    pub(crate) fn for_describe(env: &HostEnv, limits: &Limits) -> (HostState, CallHandles) {
        let reason = "describe may not use host capabilities";
        let start = Instant::now();
        let state = HostState {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
            memory: MemoryCtx::denied(reason),
            log: LogCtx::new("-".into(), "describe".into(), 0),
            secrets: SecretsCtx::denied(reason),
            http: HttpCtx::denied(reason),
            messaging: MessagingCtx::denied(reason),
            cron: CronCtx::denied(reason),
            disk: DiskCtx::denied(),
            stderr: BoundedPipe::new(STDERR_TAIL),
            deadline: start + limits.timeout(),
        };
        let handles = CallHandles {
            turns: Turns::new(&env.long_calls, &Default::default()),
            debt: FuelDebt::default(),
            audit: CallAudit::default(),
            stdout: BoundedPipe::new(0),
            start,
        };
        (state, handles)
    }
}

/// The contacts a call may message: all the granted ones, or in an agent's
/// session (unless the tenant allows more) those of the session's peer.
fn session_contacts(grant: &Grant, call: &Call) -> Vec<Contact> {
    if !call.in_session || grant.messaging.sessions_message_any {
        return grant.contacts.clone();
    }
    let peer = call.user.as_ref().map(UserId::as_str);
    grant.contacts.iter().filter(|c| c.peer.is_some() && c.peer.as_deref() == peer).cloned().collect()
}

impl HostState {
    /// Adds WASI and every host capability to `linker`, each reached from
    /// its context in the state.
    pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
        wasi::add_to_linker(linker)?;
        crate::bindings::wasmclaw::skill::types::add_to_linker::<_, HasSelf<HostState>>(linker, |s| s)?;
        caps::memory::add_to_linker(linker, |s| &mut s.memory)?;
        caps::log::add_to_linker(linker, |s| &mut s.log)?;
        caps::secrets::add_to_linker(linker, |s| &mut s.secrets)?;
        caps::http::add_to_linker(linker, |s| &mut s.http)?;
        caps::messaging::add_to_linker(linker, |s| &mut s.messaging)?;
        caps::cron::add_to_linker(linker, |s| &mut s.cron)?;
        Ok(())
    }
}

/// `types` defines no functions; its (empty) host trait lives on the state.
impl crate::bindings::wasmclaw::skill::types::Host for HostState {}

impl QuotaView for HostState {
    fn quota_fs(&mut self) -> QuotaFsView<'_> {
        let fs = WasiFilesystemCtxView { ctx: self.wasi.filesystem(), table: &mut self.table };
        QuotaFsView { fs, disk: &mut self.disk }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Caps a call's linear memory (all memories together), table elements and
/// instance counts, and remembers which limit was hit so a resulting trap
/// can be reported as `memory limit` or as a table-limit trap.
pub struct CallLimiter {
    memory_limit: usize,
    memory_used: usize,
    /// The most linear memory the call held at once.
    pub(crate) memory_peak: usize,
    table_limit: usize,
    table_used: usize,
    /// The counts before the last growth this limiter allowed, put back if
    /// the engine then fails that growth (e.g. past a pool slot's size).
    memory_before: usize,
    table_before: usize,
    /// Set when a memory growth was refused.
    pub(crate) hit: bool,
    /// Set when a table growth was refused.
    pub(crate) table_hit: bool,
}

/// Most component/core instances, tables and memories one call may create.
const MAX_INSTANCES: usize = 16;
const MAX_TABLES: usize = 16;
const MAX_MEMORIES: usize = 2;

impl CallLimiter {
    /// A limiter allowing `memory_limit` bytes and `table_limit` elements.
    pub fn new(memory_limit: u64, table_limit: u64) -> Self {
        CallLimiter {
            memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            memory_used: 0,
            memory_peak: 0,
            table_limit: usize::try_from(table_limit).unwrap_or(usize::MAX),
            table_used: 0,
            memory_before: 0,
            table_before: 0,
            hit: false,
            table_hit: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_limit {
            self.hit = true;
            return Ok(false);
        }
        self.memory_before = self.memory_used;
        self.memory_used = total;
        self.memory_peak = self.memory_peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> Result<()> {
        self.memory_used = self.memory_before;
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> Result<bool> {
        let total = self.table_used - current.min(self.table_used) + desired;
        if total > self.table_limit {
            self.table_hit = true;
            return Ok(false);
        }
        self.table_before = self.table_used;
        self.table_used = total;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> Result<()> {
        self.table_used = self.table_before;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growth_the_engine_fails_is_not_counted() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.table_growing(0, 8, None).unwrap());
        l.table_grow_failed(wasmtime::Error::msg("past the pool slot")).unwrap();
        assert!(l.table_growing(0, 9, None).unwrap(), "the failed 8 still counted");
        assert!(l.memory_growing(0, 90, None).unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("no room")).unwrap();
        assert!(l.memory_growing(0, 95, None).unwrap(), "the failed 90 still counted");
    }

    #[test]
    fn memory_is_capped_over_all_memories() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(!l.memory_growing(0, 60, None).unwrap(), "a second memory counts too");
        assert!(l.hit);
        assert!(l.memory_growing(60, 100, None).unwrap());
        assert!(!l.memory_growing(100, 101, None).unwrap());
        assert_eq!(l.memory_peak, 100);
    }

    #[test]
    fn tables_are_capped() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.table_growing(0, 10, None).unwrap());
        assert!(!l.table_hit);
        assert!(!l.table_growing(10, 11, None).unwrap());
        assert!(l.table_hit);
        assert!(!l.hit, "a table refusal is not a memory refusal");
    }
}
