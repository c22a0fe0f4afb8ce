//! One call's state, assembled: [`HostState::for_call`] from the
//! runtime-wide [`HostEnv`], the tenant's [`TenantSlot`] and the call's
//! [`CallSpec`] (its [`Binding`], caller, limits and redactor), every
//! capability scoped to the binding's tenant, skill and grant; and
//! [`HostState::for_describe`], with every capability denied.

use super::env::{HostEnv, TenantSlot};
use super::{Call, CallLimiter, HostState, LOG_LINES_PER_MINUTE, STDERR_TAIL};
use crate::caps::http::HttpCtx;
use crate::caps::log::LogCtx;
use crate::caps::memory::MemoryCtx;
use crate::caps::secrets::SecretsCtx;
use crate::caps::{CallAudit, FuelDebt};
use crate::config::Limits;
use crate::cron::cap::CronCtx;
use crate::disk_quota::DiskCtx;
use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::messaging::cap::MessagingCtx;
use crate::policy::{Contact, Grant};
use crate::redact::{Redactor, Scrub};
use crate::slices::Turns;
use crate::wasi::{self, BoundedPipe};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::ResourceTable;

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
