//! One invocation of a bound skill.
//!
//! Check the input → take one of the tenant's concurrency slots (bounded
//! wait, then `busy`) → a fresh `Store` holding a flat [`HostState`] built
//! from the binding's grant (the tenant's directory, memory scope, granted
//! origins, secrets, contacts and schedule) → instantiate from the skill's
//! `InstancePre` → `invoke` → scrub every secret value of the tenant from
//! what leaves the call (output, stdout, log lines, messages, error texts) →
//! [`Outcome`] or [`Error`]. Nothing of the instance survives the call.

use crate::bindings::WitError;
use crate::caps;
use crate::caps::log::LogLine;
use crate::config::Limits;
use crate::error::Error;
use crate::host::{CallLimiter, HostState};
use crate::redact::{Redactor, Scrub};
use crate::runtime::{Call, Runtime};
use crate::skill::BoundSkill;
use crate::slices::Turns;
use crate::wasi::{self, BoundedPipe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime::component::ResourceTable;
use wasmtime::{CallHook, Engine, Store, StoreContextMut, Trap, UpdateDeadline};

/// Longest tail of the guest's stderr kept in a trap's message.
pub(crate) const STDERR_TAIL: usize = 2048;

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

/// Marker error raised by the epoch callback when a call passes its
/// deadline.
#[derive(Debug)]
struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the call passed its wall-clock deadline")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// A store with the call's fuel, limiter and deadline, whose guest runs
/// past its first epoch tick only in `turns` (see [`crate::slices`]), and
/// whose host calls are paid for in fuel: [`caps::HOST_CALL_FUEL`] each,
/// plus what the host functions charged to `debt` for their work, taken
/// when the host returns to the guest (past the fuel left: `out of fuel`).
pub(crate) fn new_store(
    engine: &Engine,
    state: HostState,
    limits: &Limits,
    turns: Turns,
    debt: caps::FuelDebt,
) -> Store<HostState> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limiter);
    // Fuel is enabled on the engine, so setting it cannot fail.
    let _ = store.set_fuel(limits.fuel);
    {
        let turns = turns.clone();
        // Host calls nest: lowering a result may call the guest's
        // allocator, whose own libcalls (`memory.grow`) are host calls too,
        // and that guest code keeps its fuel in a register across them, so
        // fuel set in a nested one is lost. The debt is paid only on
        // returning from the outermost.
        let mut depth = 0u32;
        store.call_hook(move |mut ctx, hook| {
            match hook {
                CallHook::CallingHost => {
                    turns.release();
                    if depth == 0 {
                        debt.set_left(ctx.get_fuel()?);
                    }
                    depth += 1;
                }
                CallHook::ReturningFromHost => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        pay_debt(&mut ctx, &debt)?;
                    }
                    // No slot free for a long call: a deadline already
                    // passed makes the guest yield at its next check, to
                    // queue.
                    if !turns.resume() {
                        ctx.set_epoch_deadline(0);
                    }
                }
                _ => {}
            }
            Ok(())
        });
    }
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |ctx| {
        let deadline = ctx.data().deadline;
        if Instant::now() >= deadline {
            Err(wasmtime::Error::new(DeadlineExceeded))
        } else {
            Ok(UpdateDeadline::YieldCustom(1, turns.next_turn(deadline)))
        }
    });
    store
}

/// Takes one host call's cost and its debt from the call's fuel; a cost
/// past the fuel left empties it and ends the call as `out of fuel`.
fn pay_debt(ctx: &mut StoreContextMut<'_, HostState>, debt: &caps::FuelDebt) -> wasmtime::Result<()> {
    let owed = debt.take().saturating_add(caps::HOST_CALL_FUEL);
    let fuel = ctx.get_fuel()?;
    if owed > fuel {
        ctx.set_fuel(0)?;
        return Err(Trap::OutOfFuel.into());
    }
    ctx.set_fuel(fuel - owed)
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
        self.inner.meter.add(&bound.tenant, &bound.skill.info.name, delta);
        result
    }

    async fn run_call(&self, bound: &BoundSkill, call: &Call, input: &str) -> Result<Outcome, Error> {
        self.check_publisher(bound)?;
        let limits = self.call_limits(&bound.grant, &call.overrides);
        check_input(input, &limits)?;
        let tenant = &bound.tenant;
        let skill = &bound.skill;
        let slot = self.tenant_slot(tenant, limits.concurrency)?;
        let _permits = self.acquire(bound, &slot.slots, &limits).await?;
        let _memory = self.acquire_memory(tenant, &slot, &limits).await?;

        let redactor = self.tenant_redactor_async(tenant).await;
        let scrub: Option<Scrub> = redactor.clone().map(Redactor::scrub);
        // Opened only when a request fills a placeholder (the http context
        // checks the grant first), so calls that never do pay nothing.
        let lookup: caps::http::SecretLookup = {
            let (vault, tenant) = (self.inner.vault.clone(), tenant.clone());
            Arc::new(move |name: &str| {
                vault.get(&tenant, name).unwrap_or_else(|e| {
                    tracing::error!(%tenant, secret = %name, error = %e, "cannot open a secret");
                    None
                })
            })
        };

        let stdout = BoundedPipe::new(limits.max_stdio_bytes as usize);
        let stderr = BoundedPipe::new(limits.max_stdio_bytes as usize);
        // Held open until the context has its own handle on it.
        let user_root = call.user.as_ref().map(|u| user_dir(&slot.files, u, &[])).transpose()?;
        let root = user_root.as_ref().map_or_else(|| slot.files.clone(), wasi::HeldDir::path);
        let wasi = wasi::context(&root, stdout.clone(), stderr.clone())
            .map_err(|e| Error::io(format!("tenant {tenant}'s directory"), e))?;
        drop(user_root);
        let call_id: Arc<str> = format!("{:016x}", rand::random::<u64>()).into();
        let start = Instant::now();
        let deadline = start + limits.timeout();
        let grant = &bound.grant;
        let contacts = session_contacts(grant, call);
        let inner = &self.inner;
        let audit = caps::CallAudit::default();
        let debt = caps::FuelDebt::default();
        let turns = Turns::new(&inner.long_calls, &slot.long_calls);
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
            memory: caps::memory::MemoryCtx::new(
                inner.db.clone(),
                tenant.clone(),
                call.user.clone(),
                inner.config.memory_quota,
            )
            .with_debt(debt.clone())
            .with_turns(turns.clone(), deadline),
            log: caps::log::LogCtx::new(
                tenant.as_str().into(),
                skill.info.name.as_str().into(),
                limits.max_log_lines,
            )
            .with_call(call_id)
            .with_debt(debt.clone())
            .with_scrub(scrub.clone())
            .with_rate(
                inner.log_rate.clone(),
                tenant.clone(),
                crate::runtime::LOG_LINES_PER_MINUTE,
            ),
            secrets: caps::secrets::SecretsCtx::new(grant.secrets.clone())
                .with_audit(audit.clone())
                .with_debt(debt.clone()),
            http: caps::http::HttpCtx::new(inner.http.clone(), grant.http.clone(), lookup, deadline)
                .with_redactor(redactor.clone())
                .with_audit(audit.clone()),
            messaging: if grant.contacts.is_empty() {
                caps::messaging::MessagingCtx::denied("no contact is granted to this skill for this tenant")
            } else if contacts.is_empty() {
                caps::messaging::MessagingCtx::denied(
                    "in an agent's session, only the peer's own contacts may be messaged",
                )
            } else {
                caps::messaging::MessagingCtx::new(
                    inner.db.clone(),
                    tenant.clone(),
                    skill.info.name.clone(),
                    contacts,
                    grant.messaging.clone(),
                    inner.message_rate.clone(),
                    inner.clock.clone(),
                    scrub.clone(),
                )
            }
            .with_audit(audit.clone())
            .with_debt(debt.clone()),
            cron: caps::cron::CronCtx::new(
                inner.db.clone(),
                tenant.clone(),
                skill.info.name.clone(),
                crate::records::JobScope { user: call.user.clone(), in_session: call.in_session },
                grant.cron,
                inner.clock.clone(),
            )
            .with_audit(audit.clone())
            .with_debt(debt.clone()),
            disk: crate::disk_quota::DiskCtx::new(
                slot.disk.clone(),
                inner.config.files_quota,
                slot.files.clone(),
            )
            .with_audit(audit.clone()),
            stderr,
            deadline,
        };
        if turns.tenant_has_long_calls() {
            turns.next_turn(deadline).await;
        }
        let mut store = new_store(&inner.engine, state, &limits, turns, debt);
        let store = &mut store;
        let run = async {
            let instance = skill.pre.instantiate_async(&mut *store).await?;
            instance.wasmclaw_skill_handler().call_invoke(&mut *store, input).await
        };
        // The epoch callback enforces the deadline inside the guest, and
        // host calls bound themselves by it; this is a backstop.
        let backstop = limits.timeout() + Duration::from_secs(1);
        let result = match tokio::time::timeout(backstop, run).await {
            Ok(r) => r,
            Err(_) => return Err(Error::Timeout { limit_ms: limits.timeout_ms }),
        };
        let state = store.data();
        let usage = Usage {
            fuel: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            wall_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            memory_peak_bytes: state.limiter.memory_peak as u64,
            log_lines: state.log.written,
            log_dropped: state.log.dropped,
        };
        let clean = |text: &str| -> (String, Vec<String>) {
            match &redactor {
                Some(r) => {
                    let red = r.redact(text);
                    (red.text, red.hits)
                }
                None => (text.to_string(), Vec::new()),
            }
        };
        // Values an origin reflected, scrubbed before the guest saw them.
        let reflected = state.http.secrets_redacted().to_vec();
        let with_reflected = |mut hits: Vec<String>| {
            hits.extend(reflected.iter().cloned());
            hits.sort();
            hits.dedup();
            hits
        };
        let actor = format!("skill:{}", skill.info.name);
        for note in audit.take() {
            let (target, _) = clean(&note.target);
            self.record(&actor, Some(tenant), note.action, &target, note.outcome);
        }
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(skill_error)) => {
                let (e, hits) = scrub_wit(skill_error, &clean);
                self.audit_redaction(bound, &with_reflected(hits));
                return Err(Error::Skill(e));
            }
            Err(e) => {
                let (err, hits) = scrub_trap(classify(e, store, &limits), &clean);
                self.audit_redaction(bound, &with_reflected(hits));
                return Err(err);
            }
        };
        if let Err(e) = check_output(&output, &limits) {
            self.audit_redaction(bound, &reflected);
            return Err(e);
        }
        let (output, mut redacted) = clean_off_worker(&redactor, output).await?;
        let (stdout, hits) = clean_off_worker(&redactor, stdout.text()).await?;
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

/// The contacts a call may message: all the granted ones, or in an agent's
/// session (unless the tenant allows more) those of the session's peer.
fn session_contacts(grant: &crate::policy::Grant, call: &Call) -> Vec<crate::policy::Contact> {
    if !call.in_session || grant.messaging.sessions_message_any {
        return grant.contacts.clone();
    }
    let peer = call.user.as_ref().map(crate::ids::UserId::as_str);
    grant.contacts.iter().filter(|c| c.peer.is_some() && c.peer.as_deref() == peer).cloned().collect()
}

/// The directory of a call made for one user of a tenant,
/// `<tenant>/users/<hex of the user id>/` (and `below` it), created on
/// first use and opened without following a symlink the tenant's skills may
/// have planted. Hex keeps any user id (even `..`) one inert path
/// component, distinct by case.
pub(crate) fn user_dir(
    tenant_files: &std::path::Path,
    user: &crate::ids::UserId,
    below: &[&str],
) -> Result<wasi::HeldDir, Error> {
    std::fs::create_dir_all(tenant_files).map_err(|e| Error::io(format!("{}", tenant_files.display()), e))?;
    let hex = hex::encode(user.as_str());
    let components: Vec<&str> = ["users", hex.as_str()].into_iter().chain(below.iter().copied()).collect();
    wasi::HeldDir::open(tenant_files, &components)
        .map_err(|e| Error::io(format!("user {user}'s directory"), e))
}

/// Turns a failed instantiation or call into the runtime's error.
pub(crate) fn classify(e: wasmtime::Error, store: &Store<HostState>, limits: &Limits) -> Error {
    let state = store.data();
    if state.limiter.hit {
        return Error::MemoryLimit { limit_bytes: limits.memory_bytes };
    }
    if state.limiter.table_hit {
        return Error::Trap {
            message: format!(
                "table limit: the call tried to grow its tables past its limit of {} elements",
                limits.table_elements
            ),
            stderr: tail(&state.stderr.text(), STDERR_TAIL),
        };
    }
    if e.is::<DeadlineExceeded>() {
        return Error::Timeout { limit_ms: limits.timeout_ms };
    }
    if e.is::<wasmtime::PoolConcurrencyLimitError>() {
        return Error::Busy("the gateway has no free instance slot; retry later".into());
    }
    let stderr = tail(&state.stderr.text(), STDERR_TAIL);
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Error::OutOfFuel { limit: limits.fuel },
        Some(Trap::StackOverflow) => Error::Trap { message: "stack overflow".into(), stderr },
        Some(trap) => Error::Trap { message: trap.to_string(), stderr },
        // A host error (an unimplemented import, …): its root cause, not
        // the wasm backtrace around it.
        None => Error::Trap { message: e.root_cause().to_string(), stderr },
    }
}

fn tail(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
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
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("abc", 5), "abc");
        assert_eq!(tail("aébc", 3), "bc");
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
