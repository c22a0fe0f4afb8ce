//! [`Runtime::invoke`]: the steps of one call, which the runtime's parts
//! take together — the binding's publisher still trusted (skills), the
//! tenant's slot and memory budget (tenants), the redactor of its secrets
//! (secrets), the state ([`HostState::for_call`]) and the store on the
//! loader's engine, the guest's run, what leaves it scrubbed
//! ([`crate::call`]), the audit notes and the metering.

use super::Runtime;
use crate::bindings::WitError;
use crate::call::{
    Outcome, Usage, check_input, check_output, classify, clean_off_worker, new_store, scrub_trap, scrub_wit,
};
use crate::caps;
use crate::config::{LimitOverrides, Limits};
use crate::error::Error;
use crate::host::{Call, CallHandles, CallSpec, HostState, TenantSlot, memory_permits};
use crate::ids::TenantId;
use crate::policy::Grant;
use crate::redact::Redactor;
use crate::skill::BoundSkill;
use crate::wasi::BoundedPipe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

/// What [`Runtime::finish`] takes of a call that ran.
struct Ended<'a> {
    bound: &'a BoundSkill,
    limits: &'a Limits,
    redactor: &'a Option<Arc<Redactor>>,
    audit: caps::CallAudit,
    stdout: BoundedPipe,
}

impl Runtime {
    async fn acquire(
        &self,
        bound: &BoundSkill,
        slots: &Arc<tokio::sync::Semaphore>,
        limits: &Limits,
    ) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), Error> {
        let wait = Duration::from_millis(limits.queue_wait_ms);
        let tenant_permit = tokio::time::timeout(wait, slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                Error::Busy(format!(
                    "tenant {} already has {} calls running; retry later",
                    bound.tenant, limits.concurrency
                ))
            })?
            // Closed: the tenant was deleted while this call waited.
            .map_err(|_| Error::NotFound(format!("tenant {} was deleted", bound.tenant)))?;
        let global = tokio::time::timeout(wait, self.inner.capacity.clone().acquire_owned())
            .await
            .map_err(|_| Error::Busy("the gateway is at capacity; retry later".into()))?
            .map_err(|_| Error::Internal("capacity semaphore closed".into()))?;
        Ok((tenant_permit, global))
    }

    /// The limits one call gets: its grant, its overrides, clamped to the
    /// caps and to the pool's largest memory.
    pub(crate) fn call_limits(&self, grant: &Grant, overrides: &LimitOverrides) -> Limits {
        let c = &self.inner.config;
        let mut l = grant.limits.with(overrides).clamped(&c.caps);
        l.concurrency = grant.limits.concurrency;
        l.memory_bytes = l.memory_bytes.min(c.pool.max_memory_bytes).min(c.caps.tenant_memory_bytes);
        l
    }

    /// Takes `limits.memory_bytes` of the tenant's memory budget for one
    /// call, waiting at most `queue_wait_ms` for running calls to give it
    /// back (then `busy`).
    pub(crate) async fn acquire_memory(
        &self,
        tenant: &TenantId,
        slot: &TenantSlot,
        limits: &Limits,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        let wait = std::time::Duration::from_millis(limits.queue_wait_ms);
        let want = memory_permits(limits.memory_bytes);
        let budget = self.inner.config.caps.tenant_memory_bytes;
        tokio::time::timeout(wait, slot.memory.clone().acquire_many_owned(want))
            .await
            .map_err(|_| {
                Error::Busy(format!(
                    "tenant {tenant}'s running calls hold its memory budget of {budget} bytes; \
                     this call needs {} more; retry later",
                    limits.memory_bytes
                ))
            })?
            .map_err(|_| Error::NotFound(format!("tenant {tenant} was deleted")))
    }

    /// Runs one call of `bound` (a skill bound to its tenant) with `input`
    /// (JSON), and meters it for the tenant and skill (calls, errors by
    /// kind, fuel, wall time, peak memory).
    pub async fn invoke(&self, bound: &BoundSkill, call: &Call, input: &str) -> Result<Outcome, Error> {
        let start = Instant::now();
        let result = self.run_call(bound, call, input).await;
        let mut delta = crate::records::UsageTotals { calls: 1, ..Default::default() };
        match &result {
            Ok(outcome) => {
                delta.fuel = outcome.usage.fuel;
                delta.wall_us = outcome.usage.wall_us;
                delta.memory_peak_bytes = outcome.usage.memory_peak_bytes;
            }
            Err(e) => {
                delta.wall_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Error::OutOfFuel { limit } = e {
                    delta.fuel = *limit;
                }
                delta.errors.insert(e.kind().to_string(), 1);
            }
        }
        self.inner.metering.add(&bound.tenant, &bound.skill.info.name, delta);
        result
    }

    /// The steps of one call: the grant still holds, the input is sound,
    /// the tenant has a slot and memory for it; then its state, its turn
    /// (for a tenant with long calls), its run, and what leaves it scrubbed.
    async fn run_call(&self, bound: &BoundSkill, call: &Call, input: &str) -> Result<Outcome, Error> {
        self.inner.skills.check_publisher(bound)?;
        let limits = self.call_limits(&bound.grant, &call.overrides);
        check_input(input, &limits)?;
        let slot = self.inner.tenants.slot(&bound.tenant, limits.concurrency)?;
        let _permits = self.acquire(bound, &slot.slots, &limits).await?;
        let _memory = self.acquire_memory(&bound.tenant, &slot, &limits).await?;
        let redactor = self.inner.secrets.redactor_async(&bound.tenant).await;
        let spec = CallSpec { bound, call, limits: &limits, slot: &slot, redactor: redactor.clone() };
        let (state, handles) = HostState::for_call(&self.inner.host, spec)?;
        if handles.turns.tenant_has_long_calls() {
            handles.turns.next_turn(state.deadline).await;
        }
        let CallHandles { turns, debt, audit, stdout, start } = handles;
        let mut store = new_store(self.inner.loader.engine(), state, &limits, turns, debt);
        let run = async {
            let instance = bound.skill.pre.instantiate_async(&mut store).await?;
            instance.wasmclaw_skill_handler().call_invoke(&mut store, input).await
        };
        // The epoch callback enforces the deadline inside the guest, and
        // host calls bound themselves by it; this is a backstop.
        let backstop = limits.timeout() + Duration::from_secs(1);
        let Ok(result) = tokio::time::timeout(backstop, run).await else {
            return Err(Error::Timeout { limit_ms: limits.timeout_ms });
        };
        let usage = Usage {
            fuel: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            wall_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            memory_peak_bytes: store.data().limiter.memory_peak as u64,
            log_lines: store.data().log.written,
            log_dropped: store.data().log.dropped,
        };
        let ended = Ended { bound, limits: &limits, redactor: &redactor, audit, stdout };
        self.finish(ended, &mut store, result, usage).await
    }

    /// What leaves a call that ran, scrubbed of every secret value of the
    /// tenant: the capabilities' audit notes, the error or the output, the
    /// guest's stdout and log lines; the names found are audited.
    async fn finish(
        &self,
        ended: Ended<'_>,
        store: &mut Store<HostState>,
        result: wasmtime::Result<Result<String, WitError>>,
        usage: Usage,
    ) -> Result<Outcome, Error> {
        let Ended { bound, limits, redactor, audit, stdout } = ended;
        let clean = |text: &str| -> (String, Vec<String>) {
            match redactor {
                Some(r) => {
                    let red = r.redact(text);
                    (red.text, red.hits)
                }
                None => (text.to_string(), Vec::new()),
            }
        };
        // Values an origin reflected, scrubbed before the guest saw them.
        let reflected = store.data().http.secrets_redacted().to_vec();
        let with_reflected = |mut hits: Vec<String>| {
            hits.extend(reflected.iter().cloned());
            hits.sort();
            hits.dedup();
            hits
        };
        let actor = format!("skill:{}", bound.skill.info.name);
        for note in audit.take() {
            let (target, _) = clean(&note.target);
            self.record(&actor, Some(&bound.tenant), note.action, &target, note.outcome);
        }
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(skill_error)) => {
                let (e, hits) = scrub_wit(skill_error, &clean);
                self.audit_redaction(bound, &with_reflected(hits));
                return Err(Error::Skill(e));
            }
            Err(e) => {
                let (err, hits) = scrub_trap(classify(e, store, limits), &clean);
                self.audit_redaction(bound, &with_reflected(hits));
                return Err(err);
            }
        };
        if let Err(e) = check_output(&output, limits) {
            self.audit_redaction(bound, &reflected);
            return Err(e);
        }
        let (output, mut redacted) = clean_off_worker(redactor, output).await?;
        let (stdout, hits) = clean_off_worker(redactor, stdout.text()).await?;
        redacted.extend(hits);
        let redacted = with_reflected(redacted);
        self.audit_redaction(bound, &redacted);
        let logs = std::mem::take(&mut store.data_mut().log.lines);
        Ok(Outcome { output, usage, stdout, logs, redacted })
    }

    fn audit_redaction(&self, bound: &BoundSkill, names: &[String]) {
        if !names.is_empty() {
            let actor = format!("skill:{}", bound.skill.info.name);
            self.record(&actor, Some(&bound.tenant), "secret.redacted", &names.join(","), "redacted");
        }
    }
}
