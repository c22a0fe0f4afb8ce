//! The runtime: loads skills once, binds them to tenants (computing each
//! pair's grant once), and owns what calls share: the engine and linker,
//! the database and the encrypted vault, the HTTP client, the per-tenant
//! concurrency slots and rate limiters, the clock and the audit log.
//! [`crate::call`] runs one invocation.

use crate::audit::AuditLog;
use crate::bindings;
use crate::cache::{self, CompiledCache};
use crate::caps;
use crate::clock::{SharedClock, SystemClock};
use crate::config::RuntimeConfig;
use crate::cron::{JobRunner, Scheduler};
use crate::engine::{self, EpochTicker};
use crate::error::Error;
use crate::host::{HostEnv, HostState};
use crate::ids::TenantId;
use crate::manifest::Manifest;
use crate::messaging::{Deliverer, KeyLookup};
use crate::permissions::{self, ImportStatus};
use crate::policy::{Grant, TenantPolicy};
use crate::records::Job;
use crate::services::metering::MeteringService;
use crate::services::recorder::Recorder;
use crate::services::secrets::SecretService;
use crate::services::tenants::TenantService;
use crate::services::tokens::TokenService;
use crate::services::trust::TrustService;
use crate::skill::{BoundSkill, Skill, SkillInfo, check_info, implicit_manifest};
use crate::store::Db;
use crate::store_location::StoreLocation;
use crate::vault::{MasterKey, Vault};
use crate::wasi;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

mod api;

pub use crate::host::{Call, LOG_LINES_PER_MINUTE};

/// The runtime. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) cache: CompiledCache,
    pub(crate) db: Arc<Db>,
    /// The tenants' secrets and the redactors of their values.
    pub(crate) secrets: SecretService,
    /// What every call's host capabilities share.
    pub(crate) host: HostEnv,
    pub(crate) config: RuntimeConfig,
    pub(crate) clock: SharedClock,
    /// The audit trail every service writes.
    pub(crate) audit: Recorder,
    /// The tenants: their records and, in memory, their slots.
    pub(crate) tenants: TenantService,
    bound: Mutex<HashMap<(TenantId, String), Arc<BoundSkill>>>,
    /// Installed skills loaded once for every tenant with the same bytes.
    pub(crate) shared_skills: crate::skill::SharedSkills,
    /// The admin key and tenant tokens.
    pub(crate) tokens: TokenService,
    /// The trusted publisher keys.
    pub(crate) trust: Arc<TrustService>,
    pub(crate) capacity: Arc<Semaphore>,
    /// The per-call tally and the stored usage.
    pub(crate) metering: MeteringService,
    pub(crate) agents: crate::agents::AgentState,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Opens the data directory (database, vault, cache, tenants) and starts
    /// the engine, on the system clock.
    pub fn new(config: RuntimeConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`Runtime::new`] with an injected clock (tests move it).
    pub fn with_clock(config: RuntimeConfig, clock: SharedClock) -> Result<Self, Error> {
        for (name, p) in &config.providers {
            p.validate(name).map_err(Error::Config)?;
        }
        let dir = &config.data_dir;
        crate::services::tenants::create_private_dir(dir)?;
        crate::services::tenants::create_private_dir(&dir.join("tenants"))?;
        let engine = engine::build(&config.pool)?;
        let cache = CompiledCache::new(&dir.join("cache"), &engine)?;
        let db = Arc::new(match &config.store {
            StoreLocation::Embedded => {
                let db_path = dir.join("wasmclaw.redb");
                let db = Db::open(&db_path)?;
                make_private(&db_path)?;
                db
            }
            StoreLocation::Postgres(url) => Db::open_postgres(url.expose())?,
        });
        let master = MasterKey::load_or_create(dir).map_err(|e| Error::Config(e.to_string()))?;
        let vault = Arc::new(Vault::new(db.clone(), master));
        let log = AuditLog::open(&dir.join("audit.log"), &config.audit)
            .map_err(|e| Error::io(format!("cannot open {}", dir.join("audit.log").display()), e))?;
        let audit = Recorder::new(log, clock.clone());
        let tokens = TokenService::new(db.clone(), clock.clone(), audit.clone());
        let trust = Arc::new(TrustService::new(db.clone(), clock.clone(), audit.clone())?);
        let secrets = SecretService::new(vault.clone(), config.secret_limits.clone(), audit.clone());
        let tenants = TenantService::new(db.clone(), clock.clone(), audit.clone(), &config);
        let metering = MeteringService::new(db.clone(), config.rate_card.clone());
        let host = HostEnv::new(db.clone(), vault.clone(), clock.clone(), &config)?;

        let mut linker: Linker<HostState> = Linker::new(&engine);
        let link = |r: wasmtime::Result<()>| r.map_err(|e| Error::Internal(format!("linker: {e}")));
        link(wasi::add_to_linker(&mut linker))?;
        link(bindings::wasmclaw::skill::types::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s))?;
        link(caps::memory::add_to_linker(&mut linker, |s| &mut s.memory))?;
        link(caps::log::add_to_linker(&mut linker, |s| &mut s.log))?;
        link(caps::secrets::add_to_linker(&mut linker, |s| &mut s.secrets))?;
        link(caps::http::add_to_linker(&mut linker, |s| &mut s.http))?;
        link(caps::messaging::add_to_linker(&mut linker, |s| &mut s.messaging))?;
        link(caps::cron::add_to_linker(&mut linker, |s| &mut s.cron))?;

        let ticker = EpochTicker::start(&engine, Duration::from_millis(config.pool.epoch_tick_ms))?;
        let capacity = Arc::new(Semaphore::new(config.pool.max_instances as usize));
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                db,
                secrets,
                host,
                config,
                agents: crate::agents::AgentState::new(clock.clone()),
                clock,
                audit,
                tenants,
                bound: Mutex::new(HashMap::new()),
                shared_skills: Default::default(),
                tokens,
                trust,
                capacity,
                metering,
                _ticker: ticker,
            }),
        })
    }

    /// The configuration the runtime runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The database behind the runtime, for tests and benchmarks that
    /// check or seed what is stored (not API: only with the `testing`
    /// feature).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn db_for_tests(&self) -> &Arc<Db> {
        &self.inner.db
    }

    /// Now on the runtime's clock, seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        self.inner.audit.log()
    }

    /// Loads a skill from a component file, with the manifest found beside
    /// it (`<name>.toml` next to `<name>.wasm`), if any.
    pub async fn load_skill_file(&self, path: &Path) -> Result<Arc<Skill>, Error> {
        let beside = path.with_extension("toml");
        let manifest = if beside.is_file() { Some(beside) } else { None };
        self.load_skill_files(path, manifest.as_deref()).await
    }

    /// Loads a skill from a component file and an optional manifest file.
    pub async fn load_skill_files(&self, path: &Path, manifest: Option<&Path>) -> Result<Arc<Skill>, Error> {
        let manifest = manifest
            .map(|m| Manifest::load(m).map_err(|e| Error::InvalidSkill(format!("manifest {e}"))))
            .transpose()?;
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| Error::io(format!("cannot read the skill {}", path.display()), e))?;
        self.load_skill(bytes, manifest).await
    }

    /// Loads a skill from component bytes: compiles it (or takes it from the
    /// cache), refuses imports no skill may have and a component that does
    /// not export the skill world, resolves its imports once, asks it to
    /// describe itself and checks that against the manifest. Whether the
    /// manifest declares its capabilities is the installer's check
    /// ([`crate::permissions::check`]).
    pub async fn load_skill(&self, bytes: Vec<u8>, manifest: Option<Manifest>) -> Result<Arc<Skill>, Error> {
        self.load_signed_skill(bytes, manifest, None).await
    }

    /// [`Runtime::load_skill`] for a skill signed by `publisher`.
    pub(crate) async fn load_signed_skill(
        &self,
        bytes: Vec<u8>,
        manifest: Option<Manifest>,
        publisher: Option<String>,
    ) -> Result<Arc<Skill>, Error> {
        let inner = self.inner.clone();
        let (component, digest, outcome) = tokio::task::spawn_blocking(move || {
            cache::check_component_header(&bytes)?;
            let digest = cache::digest(&bytes);
            let (component, outcome) = inner.cache.load(&inner.engine, &bytes, &digest)?;
            Ok::<_, Error>((component, digest, outcome))
        })
        .await
        .map_err(|e| Error::Internal(format!("compile task: {e}")))??;

        let (imports, exports) = interfaces(&self.inner.engine, &component);
        let allow = &self.inner.config.trust.allow_imports;
        let mut stub_unknown = false;
        for import in &imports {
            match permissions::classify(import, None, allow) {
                ImportStatus::Forbidden => {
                    return Err(Error::InvalidSkill(format!(
                        "it imports {import}, which skills may not import (the operator's [trust] \
                         allow_imports does not allow it)"
                    )));
                }
                ImportStatus::AllowedByOperator => stub_unknown = true,
                _ => {}
            }
        }
        if !exports.iter().any(|e| e == permissions::HANDLER_EXPORT) {
            return Err(Error::InvalidSkill(format!(
                "it does not export {} (the wasmclaw:skill/skill world); it exports: {}",
                permissions::HANDLER_EXPORT,
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
            )));
        }
        let instance_pre = if stub_unknown {
            // Imports the operator allows but the gateway does not implement
            // trap when called.
            let mut linker = self.inner.linker.clone();
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(|e| Error::InvalidSkill(format!("cannot stub its allowed imports: {e}")))?;
            linker.instantiate_pre(&component)
        } else {
            self.inner.linker.instantiate_pre(&component)
        }
        .map_err(|e| {
            Error::InvalidSkill(format!("it imports something the gateway does not provide: {e}"))
        })?;
        let pre = bindings::SkillPre::new(instance_pre).map_err(|e| {
            Error::InvalidSkill(format!("it does not export the wasmclaw:skill/handler@0.1.0 interface: {e}"))
        })?;
        let info = self.describe(&pre).await?;
        let manifest = match manifest {
            None => implicit_manifest(&info),
            Some(m) if m.name != info.name || m.version != info.version => {
                return Err(Error::InvalidSkill(format!(
                    "the manifest says {} {} but the component says {} {}",
                    m.name, m.version, info.name, info.version
                )));
            }
            Some(m) => m,
        };
        Ok(Arc::new(Skill { info, digest, imports, exports, cache: outcome, manifest, publisher, pre }))
    }

    /// Runs `describe` in a throwaway instance with no capabilities.
    async fn describe(&self, pre: &bindings::SkillPre<HostState>) -> Result<SkillInfo, Error> {
        let limits = self.inner.config.defaults.clamped(&self.inner.config.caps);
        let (state, handles) = HostState::for_describe(&self.inner.host, &limits);
        let mut store =
            crate::call::new_store(&self.inner.engine, state, &limits, handles.turns, handles.debt);
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmclaw_skill_handler().call_describe(&mut store).await
        }
        .await;
        let raw = result.map_err(|e| {
            let err = crate::call::classify(e, &store, &limits);
            Error::InvalidSkill(format!("its describe failed: {err}"))
        })?;
        check_info(raw).map_err(Error::InvalidSkill)
    }

    /// Binds `skill` to `tenant`: computes its grant from its manifest and
    /// the tenant's stored policy, and registers it so scheduled jobs of
    /// that tenant can fire it.
    pub fn bind(&self, skill: &Arc<Skill>, tenant: &TenantId) -> Result<Arc<BoundSkill>, Error> {
        self.bind_as(skill, tenant, false)
    }

    /// [`Runtime::bind`] for an installed skill, `guest` as installed.
    pub(crate) fn bind_as(
        &self,
        skill: &Arc<Skill>,
        tenant: &TenantId,
        guest: bool,
    ) -> Result<Arc<BoundSkill>, Error> {
        let policy = self.inner.db.policy(tenant)?;
        let grant = self.grant(skill, &policy);
        let bound = Arc::new(BoundSkill::new(skill.clone(), tenant.clone(), grant, guest));
        let mut map = self.inner.bound.lock().unwrap_or_else(|e| e.into_inner());
        map.insert((tenant.clone(), skill.info.name.clone()), bound.clone());
        Ok(bound)
    }

    fn grant(&self, skill: &Skill, policy: &TenantPolicy) -> Grant {
        let c = &self.inner.config;
        Grant::compute(&skill.manifest, policy, &c.defaults, &c.caps)
    }

    /// The skill named `name` as bound to `tenant`, if it was bound.
    pub fn bound(&self, tenant: &TenantId, name: &str) -> Option<Arc<BoundSkill>> {
        let map = self.inner.bound.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&(tenant.clone(), name.to_string())).cloned()
    }

    /// Forgets the skill `name` bound to `tenant` (it was uninstalled).
    pub(crate) fn unbind(&self, tenant: &TenantId, name: &str) {
        let mut map = self.inner.bound.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&(tenant.clone(), name.to_string()));
    }

    /// Deletes a tenant and everything it owns: its files, then memory,
    /// policy, secrets, cron jobs, messages, tokens, skills, usage (one
    /// transaction). The audit log keeps its records. Interrupted (a crash),
    /// it leaves the tenant suspended, and deleting it again completes.
    ///
    /// Calls in flight finish first, so none writes after the purge: the
    /// tenant is suspended (no new token, no cron run), every one of its
    /// concurrency slots is taken (waiting at most the operator's timeout
    /// cap, plus a second), and calls still queued for a slot are refused.
    pub async fn delete_tenant(&self, actor: &str, id: &TenantId) -> Result<(), Error> {
        let _quiet = self.inner.tenants.stop(id).await?;
        let this = self.clone();
        let (actor, id) = (actor.to_string(), id.clone());
        tokio::task::spawn_blocking(move || this.inner.tenants.purge(&actor, &id, || this.forget_tenant(&id)))
            .await
            .map_err(|e| Error::Internal(format!("delete task: {e}")))?
    }

    /// Forgets everything held in memory for a deleted tenant.
    pub(crate) fn forget_tenant(&self, tenant: &TenantId) {
        self.inner.tenants.forget(tenant);
        self.inner.bound.lock().unwrap_or_else(|e| e.into_inner()).retain(|(t, _), _| t != tenant);
        self.inner.secrets.forget(tenant);
        self.inner.metering.forget(tenant);
    }

    /// A tenant's policy (the default one when none was set).
    pub fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, Error> {
        Ok(self.inner.db.policy(tenant)?)
    }

    /// Replaces a tenant's policy and recomputes the grants of its bound
    /// skills (calls already running keep the grant they started with).
    pub fn set_policy(&self, actor: &str, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), Error> {
        policy.validate().map_err(Error::InvalidInput)?;
        self.check_memory_budget(policy)?;
        self.inner.db.set_policy(tenant, policy)?;
        let mut map = self.inner.bound.lock().unwrap_or_else(|e| e.into_inner());
        for ((t, _), bound) in map.iter_mut().filter(|((t, _), _)| t == tenant) {
            let grant = self.grant(&bound.skill, policy);
            *bound = Arc::new(BoundSkill::new(bound.skill.clone(), t.clone(), grant, bound.guest));
        }
        drop(map);
        self.record(actor, Some(tenant), "policy.set", tenant.as_str(), "ok");
        Ok(())
    }

    /// The scheduler of cron jobs, on the runtime's clock.
    pub fn scheduler(&self) -> Scheduler {
        Scheduler::new(self.inner.db.clone(), self.inner.clock.clone())
    }

    /// The message delivery worker, on the runtime's clock, signing with
    /// the tenants' secrets.
    pub fn deliverer(&self) -> Deliverer {
        let vault = self.inner.secrets.vault().clone();
        let keys: KeyLookup = Arc::new(move |tenant: &TenantId, name: &str| {
            vault.get(tenant, name).ok().flatten().map(|v| v.to_vec())
        });
        Deliverer::new(self.inner.db.clone(), keys, self.inner.clock.clone())
    }

    /// Refuses a policy whose calls could together hold more memory than
    /// the operator's `caps.tenant_memory_bytes`: `concurrency` calls of
    /// `memory_bytes` each, as the policy sets them (or the defaults).
    fn check_memory_budget(&self, policy: &TenantPolicy) -> Result<(), Error> {
        let c = &self.inner.config;
        let tl = &policy.limits;
        let concurrency = u64::from(tl.concurrency.unwrap_or(c.defaults.concurrency));
        let memory = tl.memory_bytes.unwrap_or(c.defaults.memory_bytes).min(c.caps.memory_bytes);
        let budget = c.caps.tenant_memory_bytes;
        let asked = concurrency.saturating_mul(memory);
        if concurrency > u64::from(c.caps.concurrency) || asked > budget {
            return Err(Error::InvalidInput(format!(
                "the policy lets {concurrency} calls of {memory} bytes of memory run at once ({asked} bytes); \
                 the operator allows a tenant {budget} bytes in all and {} calls at once: lower \
                 [limits] concurrency or memory_bytes",
                c.caps.concurrency
            )));
        }
        Ok(())
    }
}

/// Scheduled jobs fire through the runtime: the job's skill, bound to the
/// job's tenant with its current grant, invoked with the job's input in the
/// job's scope (the user and session flag of the call that added it). A job whose cron grant was revoked since it was added does not run,
/// nor does any job of a suspended tenant (its fire times pass unused).
impl JobRunner for Runtime {
    fn run_job<'a>(
        &'a self,
        job: &'a Job,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            if self.inner.db.tenant_suspended(&job.tenant).map_err(|e| e.to_string())? {
                return Err(format!("tenant {} is suspended; this run is skipped", job.tenant));
            }
            let bound = self
                .bound(&job.tenant, &job.skill)
                .ok_or_else(|| format!("skill {} is not loaded for tenant {}", job.skill, job.tenant))?;
            if bound.grant.cron.is_none() {
                return Err(format!("tenant {} no longer grants cron to skill {}", job.tenant, job.skill));
            }
            let call =
                Call { user: job.scope.user.clone(), in_session: job.scope.in_session, ..Call::default() };
            self.invoke(&bound, &call, &job.input).await.map(drop).map_err(|e| e.to_string())
        })
    }
}

/// Makes `file` readable and writable by the gateway's user only.
fn make_private(file: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("cannot restrict {}", file.display()), e))?;
    }
    Ok(())
}

/// A component's imported and exported interface names, read from its
/// type (nothing is instantiated).
pub fn interfaces(engine: &Engine, component: &wasmtime::component::Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    (imports, exports)
}

/// The imported and exported interface names of component `bytes`, read
/// from its type after compiling it on a plain engine (for `skill inspect`:
/// nothing is instantiated, no data directory is needed).
pub fn component_interfaces(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), Error> {
    cache::check_component_header(bytes)?;
    let engine =
        Engine::new(&wasmtime::Config::new()).map_err(|e| Error::Internal(format!("engine: {e}")))?;
    let component = wasmtime::component::Component::new(&engine, bytes)
        .map_err(|e| Error::InvalidSkill(format!("it does not compile: {e}")))?;
    Ok(interfaces(&engine, &component))
}

/// `types` defines no functions; its (empty) host trait lives on the state.
impl bindings::wasmclaw::skill::types::Host for HostState {}
