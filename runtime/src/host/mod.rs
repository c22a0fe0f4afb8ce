//! The flat per-call host state that lives in each call's `Store`, how it
//! is built ([`HostState::for_call`] from the runtime-wide [`HostEnv`] and
//! one call's [`CallSpec`]; [`HostState::for_describe`] with every
//! capability denied), and the resource limiter that caps the call's
//! memory, tables and instances.
//!
//! Here: the state ([`HostState`]), who a call runs for ([`Call`]), and how
//! the state lends each capability its context (the linker, the WASI and
//! quota views). The parts: `env` (what every call, and every call of one
//! tenant, shares), `assemble` (one call's state built from those and its
//! spec) and `limiter` (the [`CallLimiter`]).
//!
//! A capability's context is built in `assemble` and nowhere else: adding
//! one is its `caps/X.rs`, a field of [`HostState`], a line in each of
//! `for_call`, `for_describe` and `add_to_linker`, and its grant in the
//! policy.

mod assemble;
mod env;
mod limiter;

pub(crate) use assemble::{Binding, CallHandles, CallSpec};
pub(crate) use env::{HostEnv, TenantSlot, memory_permits};
pub use limiter::CallLimiter;

use crate::caps;
use crate::caps::http::HttpCtx;
use crate::caps::log::LogCtx;
use crate::caps::memory::MemoryCtx;
use crate::caps::secrets::SecretsCtx;
use crate::cron::cap::CronCtx;
use crate::disk_quota::{DiskCtx, QuotaFsView, QuotaView};
use crate::ids::UserId;
use crate::messaging::cap::MessagingCtx;
use crate::wasi::{self, BoundedPipe};
use std::time::Instant;
use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
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
        crate::messaging::cap::add_to_linker(linker, |s| &mut s.messaging)?;
        crate::cron::cap::add_to_linker(linker, |s| &mut s.cron)?;
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
