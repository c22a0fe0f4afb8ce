//! One invocation of a bound skill.
//!
//! Check the input → take one of the tenant's concurrency slots (bounded
//! wait, then `busy`) → a fresh `Store` holding a flat [`HostState`] built
//! by [`HostState::for_call`] from the binding's grant (the tenant's
//! directory, memory scope, granted origins, secrets, contacts and
//! schedule) → instantiate from the skill's `InstancePre` in the call's
//! store ([`store`]) → `invoke` → scrub every secret value of the tenant
//! from what leaves the call (output, stdout, log lines, messages, error
//! texts) → [`Outcome`] or [`Error`]. Nothing of the instance survives the
//! call.

use crate::bindings::WitError;
use crate::caps;
use crate::caps::log::LogLine;
use crate::config::{LimitOverrides, Limits};
use crate::error::Error;
use crate::host::memory_permits;
use crate::host::{CallHandles, CallSpec, HostState};
use crate::ids::TenantId;
use crate::policy::Grant;
use crate::redact::Redactor;
use crate::runtime::{Call, Runtime};
use crate::skill::BoundSkill;
use crate::wasi::BoundedPipe;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::Store;

mod store;

pub(crate) use store::{classify, new_store};

/// What a call measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time of instantiation and the call.
    pub wall_us: u64,
    /// Most linear memory held at once, in bytes.
    pub memory_peak_bytes: u64,
    /// Log lines written.
    pub log_lines: u32,
    /// Log lines dropped past the limits.
    pub log_dropped: u32,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The skill's output, JSON text (scrubbed of secret values).
    pub output: String,
    /// What the call measured.
    pub usage: Usage,
    /// What the guest wrote on stdout (bounded, scrubbed).
    pub stdout: String,
    /// The guest's log lines (bounded, scrubbed).
    pub logs: Vec<LogLine>,
    /// Names of the secrets whose values were found and redacted in what
    /// left the call (the event is audited).
    pub redacted: Vec<String>,
}

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
        slot: &crate::host::TenantSlot,
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
        self.check_publisher(bound)?;
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

/// Scrubs the text of a skill's own error.
fn scrub_wit(e: WitError, clean: &dyn Fn(&str) -> (String, Vec<String>)) -> (WitError, Vec<String>) {
    let mut hits = Vec::new();
    let e = e.map_message(|text| {
        let (text, found) = clean(&text);
        hits = found;
        text
    });
    (e, hits)
}

/// Texts longer than this are scrubbed on the blocking pool, not on the
/// async worker that other tenants' calls share.
const SCRUB_INLINE_BYTES: usize = 64 * 1024;

/// `text` scrubbed by `redactor`, and the names found; a large text on the
/// blocking pool.
async fn clean_off_worker(
    redactor: &Option<Arc<Redactor>>,
    text: String,
) -> Result<(String, Vec<String>), Error> {
    let Some(r) = redactor else {
        return Ok((text, Vec::new()));
    };
    if text.len() <= SCRUB_INLINE_BYTES {
        let red = r.redact(&text);
        return Ok((red.text, red.hits));
    }
    let r = r.clone();
    let red = tokio::task::spawn_blocking(move || r.redact(&text))
        .await
        .map_err(|e| Error::Internal(format!("scrubbing the output failed: {e}")))?;
    Ok((red.text, red.hits))
}

/// Scrubs the texts of a trap: its message (a host error's root cause can
/// carry text the guest chose) and the guest's stderr.
fn scrub_trap(e: Error, clean: &dyn Fn(&str) -> (String, Vec<String>)) -> (Error, Vec<String>) {
    match e {
        Error::Trap { message, stderr } => {
            let (message, mut hits) = clean(&message);
            let (stderr, more) = clean(&stderr);
            hits.extend(more);
            hits.sort();
            hits.dedup();
            (Error::Trap { message, stderr }, hits)
        }
        other => (other, Vec::new()),
    }
}

/// Refuses an input that is too large or not JSON before any guest runs.
pub(crate) fn check_input(input: &str, limits: &Limits) -> Result<(), Error> {
    if input.len() as u64 > limits.max_input_bytes {
        return Err(Error::TooLarge(format!(
            "the input is {} bytes, the most is {}",
            input.len(),
            limits.max_input_bytes
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(input)
        .map_err(|e| Error::InvalidInput(format!("the input is not JSON: {e}")))?;
    Ok(())
}

/// Refuses an output that is too large or not JSON.
fn check_output(output: &str, limits: &Limits) -> Result<(), Error> {
    if output.len() as u64 > limits.max_output_bytes {
        return Err(Error::InvalidOutput(format!(
            "the skill returned {} bytes, the most is {}",
            output.len(),
            limits.max_output_bytes
        )));
    }
    serde_json::from_str::<serde::de::IgnoredAny>(output)
        .map_err(|e| Error::InvalidOutput(format!("the skill's output is not JSON: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked_before_the_guest() {
        let l = Limits { max_input_bytes: 10, ..Limits::default() };
        assert!(check_input("{}", &l).is_ok());
        assert!(matches!(check_input("{", &l), Err(Error::InvalidInput(m)) if m.contains("not JSON")));
        assert!(matches!(check_input("[1,2,3,4,5,6]", &l), Err(Error::TooLarge(m)) if m.contains("bytes")));
        // The check is iterative: deep nesting cannot overflow the host's
        // stack (the guest's own parser bounds the depth it accepts).
        let deep = format!("{}{}", "[".repeat(500_000), "]".repeat(500_000));
        let big = Limits::default();
        assert!(check_input(&deep, &big).is_ok());
        assert!(check_input(&deep[..deep.len() - 1], &big).is_err());
    }

    #[test]
    fn output_is_checked() {
        let l = Limits { max_output_bytes: 4, ..Limits::default() };
        assert!(check_output("[1]", &l).is_ok());
        assert!(matches!(check_output("nope", &l), Err(Error::InvalidOutput(_))));
        assert!(matches!(check_output("[1,2,3]", &l), Err(Error::InvalidOutput(_))));
    }

    #[test]
    fn a_trap_message_and_its_stderr_are_scrubbed() {
        let clean = |t: &str| (t.replace("s3cret", "[redacted:K]"), vec!["K".to_string()]);
        let trap = Error::Trap { message: "host error: s3cret".into(), stderr: "said s3cret".into() };
        let (e, hits) = scrub_trap(trap, &clean);
        assert!(
            matches!(&e, Error::Trap { message, stderr }
                if message == "host error: [redacted:K]" && stderr == "said [redacted:K]"),
            "{e:?}"
        );
        assert_eq!(hits, vec!["K".to_string()]);
    }

    #[test]
    fn a_skill_error_text_is_scrubbed() {
        let clean = |t: &str| (t.replace("s3cret", "[redacted:K]"), vec!["K".to_string()]);
        let (e, hits) = scrub_wit(WitError::Failed("leak s3cret".into()), &clean);
        assert!(matches!(e, WitError::Failed(m) if m == "leak [redacted:K]"));
        assert_eq!(hits, vec!["K".to_string()]);
    }
}
