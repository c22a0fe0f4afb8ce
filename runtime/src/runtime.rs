//! The runtime: loads skills once, and runs each call in a fresh, limited
//! instance that belongs to exactly one tenant.
//!
//! One call: check the input → take one of the tenant's concurrency slots
//! (bounded wait, then `busy`) → a fresh `Store` holding a flat
//! [`HostState`] (the tenant's WASI directory, its memory scope, limits) →
//! instantiate from the skill's `InstancePre` → `invoke` → map the result
//! or the trap to [`Outcome`] or [`Error`]. Nothing of the instance
//! survives the call.

use crate::bindings;
use crate::cache::{self, CompiledCache};
use crate::caps;
use crate::config::{LimitOverrides, Limits, RuntimeConfig};
use crate::engine::{self, EpochTicker};
use crate::error::Error;
use crate::host::{CallLimiter, HostState};
use crate::ids::{TenantId, UserId};
use crate::skill::{Skill, check_info};
use crate::store::Db;
use crate::wasi::{self, BoundedPipe};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

/// Who a call runs for, and what it asks of the limits.
#[derive(Debug, Clone)]
pub struct Call {
    /// The tenant the call belongs to (from the authenticated request).
    pub tenant: TenantId,
    /// The user within the tenant, when there is one.
    pub user: Option<UserId>,
    /// Requested limits; clamped to the operator's caps.
    pub overrides: LimitOverrides,
}

impl Call {
    /// A call for `tenant` with default limits and no user.
    pub fn new(tenant: TenantId) -> Self {
        Call { tenant, user: None, overrides: LimitOverrides::default() }
    }
}

/// What a call measured.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Fuel consumed.
    pub fuel: u64,
    /// Wall-clock time of instantiation and the call.
    pub wall_us: u64,
    /// Most linear memory held at once, in bytes.
    pub memory_peak_bytes: u64,
    /// Log lines written and dropped.
    pub log_lines: u32,
    /// Log lines dropped past the limit.
    pub log_dropped: u32,
}

/// A successful call.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The skill's output, JSON text.
    pub output: String,
    /// What the call measured.
    pub usage: Usage,
    /// What the guest wrote on stdout (bounded).
    pub stdout: String,
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

/// The per-tenant state the runtime keeps: a concurrency semaphore and the
/// tenant's files directory (created once).
struct TenantSlot {
    slots: Arc<Semaphore>,
    files: PathBuf,
}

/// The runtime. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: CompiledCache,
    db: Arc<Db>,
    config: RuntimeConfig,
    tenants: Mutex<HashMap<TenantId, Arc<TenantSlot>>>,
    capacity: Arc<Semaphore>,
    _ticker: EpochTicker,
}

/// Longest tail of the guest's stderr kept in a trap's message.
const STDERR_TAIL: usize = 2048;

impl Runtime {
    /// Opens the data directory (database, cache, tenants) and starts the
    /// engine.
    pub fn new(config: RuntimeConfig) -> Result<Self, Error> {
        let dir = &config.data_dir;
        create_private_dir(dir)?;
        create_private_dir(&dir.join("tenants"))?;
        let engine = engine::build(&config.pool)?;
        let cache = CompiledCache::new(&dir.join("cache"), &engine)?;
        let db = Arc::new(Db::open(&dir.join("wasmclaw.redb"))?);
        let mut linker: Linker<HostState> = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| r.map_err(|e| Error::Internal(format!("linker: {e}")));
        link(wasi::add_to_linker(&mut linker))?;
        link(bindings::wasmclaw::skill::types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s))?;
        link(caps::memory::add_to_linker(&mut linker, |s| &mut s.memory))?;
        link(caps::log::add_to_linker(&mut linker, |s| &mut s.log))?;
        let ticker = EpochTicker::start(&engine, Duration::from_millis(config.pool.epoch_tick_ms))?;
        let capacity = Arc::new(Semaphore::new(config.pool.max_instances as usize));
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                db,
                config,
                tenants: Mutex::new(HashMap::new()),
                capacity,
                _ticker: ticker,
            }),
        })
    }

    /// The configuration the runtime runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The database (for tenant-scoped reads by the layers above).
    pub fn db(&self) -> &Arc<Db> {
        &self.inner.db
    }

    /// The limits a call gets: defaults, then its overrides, clamped to the
    /// caps (and to the pool's largest memory).
    pub fn limits_for(&self, call: &Call) -> Limits {
        let c = &self.inner.config;
        let mut l = c.defaults.with(&call.overrides).clamped(&c.caps);
        l.memory_bytes = l.memory_bytes.min(c.pool.max_memory_bytes);
        l
    }

    /// The directory a tenant's skills see as their filesystem root.
    pub fn tenant_files_dir(&self, tenant: &TenantId) -> PathBuf {
        self.inner.config.data_dir.join("tenants").join(tenant.as_str()).join("files")
    }

    /// Loads a skill from a component file.
    pub async fn load_skill_file(&self, path: &Path) -> Result<Arc<Skill>, Error> {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::io(format!("cannot read the skill {}", path.display()), e))?;
        self.load_skill(bytes).await
    }

    /// Loads a skill from component bytes: compiles it (or takes it from the
    /// cache), resolves its imports once, checks that it exports the skill
    /// world, and asks it to describe itself.
    pub async fn load_skill(&self, bytes: Vec<u8>) -> Result<Arc<Skill>, Error> {
        let inner = self.inner.clone();
        let (component, digest, outcome) = tokio::task::spawn_blocking(move || {
            cache::check_component_header(&bytes)?;
            let digest = cache::digest(&bytes);
            let (component, outcome) = inner.cache.load(&inner.engine, &bytes, &digest)?;
            Ok::<_, Error>((component, digest, outcome))
        })
        .await
        .map_err(|e| Error::Internal(format!("compile task: {e}")))??;

        let engine = &self.inner.engine;
        let imports: Vec<String> =
            component.component_type().imports(engine).map(|(name, _)| name.to_string()).collect();
        let instance_pre = self.inner.linker.instantiate_pre(&component).map_err(|e| {
            Error::InvalidSkill(format!("it imports something the gateway does not provide: {e}"))
        })?;
        let pre = bindings::SkillPre::new(instance_pre).map_err(|e| {
            Error::InvalidSkill(format!("it does not export the wasmclaw:skill/handler@0.1.0 interface: {e}"))
        })?;
        let info = self.describe(&pre).await?;
        Ok(Arc::new(Skill { info, digest, imports, cache: outcome, pre }))
    }

    /// Runs `describe` in a throwaway instance with no capabilities.
    async fn describe(&self, pre: &bindings::SkillPre<HostState>) -> Result<crate::skill::SkillInfo, Error> {
        let limits = self.inner.config.defaults.clamped(&self.inner.config.caps);
        let state = HostState {
            wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
            memory: caps::memory::MemoryCtx::denied("describe may not use host capabilities"),
            log: caps::log::LogCtx::new("-".into(), "describe".into(), 0),
            stderr: BoundedPipe::new(STDERR_TAIL),
            deadline: Instant::now() + limits.timeout(),
        };
        let mut store = self.new_store(state, &limits);
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmclaw_skill_handler().call_describe(&mut store).await
        }
        .await;
        let raw = result.map_err(|e| {
            let err = classify(e, &store, &limits);
            Error::InvalidSkill(format!("its describe failed: {err}"))
        })?;
        check_info(raw).map_err(Error::InvalidSkill)
    }

    fn new_store(&self, state: HostState, limits: &Limits) -> Store<HostState> {
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        // Fuel is enabled on the engine, so setting it cannot fail.
        let _ = store.set_fuel(limits.fuel);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(wasmtime::Error::new(DeadlineExceeded))
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    fn tenant_slot(&self, tenant: &TenantId, concurrency: u32) -> Result<Arc<TenantSlot>, Error> {
        let mut map = self.inner.tenants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = map.get(tenant) {
            return Ok(slot.clone());
        }
        let files = self.tenant_files_dir(tenant);
        create_private_dir(&files)?;
        let slot = Arc::new(TenantSlot { slots: Arc::new(Semaphore::new(concurrency as usize)), files });
        map.insert(tenant.clone(), slot.clone());
        Ok(slot)
    }

    async fn acquire(
        &self,
        tenant: &TenantId,
        slot: &TenantSlot,
        limits: &Limits,
    ) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), Error> {
        let wait = Duration::from_millis(limits.queue_wait_ms);
        let tenant_permit = tokio::time::timeout(wait, slot.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                Error::Busy(format!(
                    "tenant {tenant} already has {} calls running; retry later",
                    limits.concurrency
                ))
            })?
            .map_err(|_| Error::Internal("tenant semaphore closed".into()))?;
        let global = tokio::time::timeout(wait, self.inner.capacity.clone().acquire_owned())
            .await
            .map_err(|_| Error::Busy("the gateway is at capacity; retry later".into()))?
            .map_err(|_| Error::Internal("capacity semaphore closed".into()))?;
        Ok((tenant_permit, global))
    }

    /// Runs one call of `skill` for `call`'s tenant with `input` (JSON).
    pub async fn invoke(&self, skill: &Skill, call: &Call, input: &str) -> Result<Outcome, Error> {
        let limits = self.limits_for(call);
        check_input(input, &limits)?;
        let slot = self.tenant_slot(&call.tenant, limits.concurrency)?;
        let _permits = self.acquire(&call.tenant, &slot, &limits).await?;

        let stdout = BoundedPipe::new(limits.max_stdio_bytes as usize);
        let stderr = BoundedPipe::new(limits.max_stdio_bytes as usize);
        let wasi = wasi::context(&slot.files, stdout.clone(), stderr.clone())
            .map_err(|e| Error::io(format!("tenant {}'s directory", call.tenant), e))?;
        let tenant_tag: Arc<str> = call.tenant.as_str().into();
        let skill_tag: Arc<str> = skill.info.name.as_str().into();
        let start = Instant::now();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: CallLimiter::new(limits.memory_bytes, limits.table_elements),
            memory: caps::memory::MemoryCtx::new(
                self.inner.db.clone(),
                call.tenant.clone(),
                call.user.clone(),
                self.inner.config.memory_quota,
            ),
            log: caps::log::LogCtx::new(tenant_tag, skill_tag, limits.max_log_lines),
            stderr,
            deadline: start + limits.timeout(),
        };
        let mut store = self.new_store(state, &limits);
        let run = async {
            let instance = skill.pre.instantiate_async(&mut store).await?;
            instance.wasmclaw_skill_handler().call_invoke(&mut store, input).await
        };
        // The epoch callback enforces the deadline inside the guest; this
        // outer timeout is a backstop for time spent outside it.
        let backstop = limits.timeout() + Duration::from_secs(1);
        let result = match tokio::time::timeout(backstop, run).await {
            Ok(r) => r,
            Err(_) => return Err(Error::Timeout { limit_ms: limits.timeout_ms }),
        };
        let usage = Usage {
            fuel: limits.fuel.saturating_sub(store.get_fuel().unwrap_or(0)),
            wall_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            memory_peak_bytes: store.data().limiter.memory_peak as u64,
            log_lines: store.data().log.written,
            log_dropped: store.data().log.dropped,
        };
        let output = match result {
            Ok(Ok(output)) => output,
            Ok(Err(skill_error)) => return Err(Error::Skill(skill_error)),
            Err(e) => return Err(classify(e, &store, &limits)),
        };
        check_output(&output, &limits)?;
        Ok(Outcome { output, usage, stdout: stdout.text() })
    }
}

/// `types` defines no functions; its (empty) host trait lives on the state.
impl bindings::wasmclaw::skill::types::Host for HostState {}

/// Refuses an input that is too large or not JSON before any guest runs.
fn check_input(input: &str, limits: &Limits) -> Result<(), Error> {
    if input.len() as u64 > limits.max_input_bytes {
        return Err(Error::InvalidInput(format!(
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

/// Turns a failed instantiation or call into the runtime's error.
fn classify(e: wasmtime::Error, store: &Store<HostState>, limits: &Limits) -> Error {
    let state = store.data();
    if state.limiter.hit {
        return Error::MemoryLimit { limit_bytes: limits.memory_bytes };
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
        None => Error::Trap { message: format!("{e}"), stderr },
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

/// Creates `dir` (and parents) readable by the gateway's user only.
fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked_before_the_guest() {
        let l = Limits { max_input_bytes: 10, ..Limits::default() };
        assert!(check_input("{}", &l).is_ok());
        assert!(matches!(check_input("{", &l), Err(Error::InvalidInput(m)) if m.contains("not JSON")));
        assert!(
            matches!(check_input("[1,2,3,4,5,6]", &l), Err(Error::InvalidInput(m)) if m.contains("bytes"))
        );
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
}
