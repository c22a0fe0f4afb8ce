//! The runtime: loads skills once, binds them to tenants (computing each
//! pair's grant once), and owns what calls share: the engine and linker,
//! the database and the encrypted vault, the HTTP client, the per-tenant
//! concurrency slots and rate limiters, the clock and the audit log.
//! [`crate::call`] runs one invocation.

use crate::agents::{AgentService, Tools};
use crate::audit::AuditLog;
use crate::backup::BackupService;
use crate::channels::ChannelService;
use crate::clock::{OffsetClock, SharedClock, SystemClock};
use crate::config::RuntimeConfig;
use crate::cron::{JobRunner, Scheduler};
use crate::error::Error;
use crate::host::HostEnv;
use crate::ids::TenantId;
use crate::loader::SkillLoader;
use crate::messaging::{Deliverer, KeyLookup};
use crate::policy::TenantPolicy;
use crate::records::Job;
use crate::services::metering::MeteringService;
use crate::services::recorder::Recorder;
use crate::services::secrets::SecretService;
use crate::services::skills::SkillService;
use crate::services::tenants::TenantService;
use crate::services::tokens::TokenService;
use crate::services::trust::TrustService;
use crate::store::Db;
use crate::store_location::StoreLocation;
use crate::tenant_data::TenantData;
use crate::vault::{MasterKey, Vault};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::Semaphore;

mod api;

pub use api::series::{Series, SeriesRow, Step};
pub use api::summary::{AgentUse, Counts, Files, TenantSummary, Used};
mod calls;

pub use crate::host::{Call, LOG_LINES_PER_MINUTE};
pub use crate::loader::{component_interfaces, interfaces};

/// The runtime. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    /// The engine, the linker of every capability, the compiled cache.
    loader: Arc<SkillLoader>,
    db: Arc<Db>,
    /// The tenants' secrets and the redactors of their values.
    secrets: Arc<SecretService>,
    /// What every call's host capabilities share.
    host: Arc<HostEnv>,
    config: RuntimeConfig,
    clock: SharedClock,
    /// The same clock, kept to the database's in a cluster.
    time: Arc<OffsetClock>,
    /// The master key's fingerprint (what replicas of a cluster compare).
    master_fingerprint: String,
    /// What the hops between replicas are signed with.
    hop_key: crate::cluster::HopKey,
    /// This replica's membership, once [`Runtime::join_cluster`] joined.
    membership: std::sync::OnceLock<Arc<crate::cluster::Membership>>,
    /// The audit trail every service writes.
    audit: Recorder,
    /// The tenants: their records and, in memory, their slots.
    tenants: Arc<TenantService>,
    /// Installed and bound skills.
    skills: Arc<SkillService>,
    /// The admin key and tenant tokens.
    tokens: TokenService,
    /// The trusted publisher keys.
    trust: Arc<TrustService>,
    capacity: Arc<Semaphore>,
    /// The per-call tally and the stored usage.
    metering: MeteringService,
    /// The tenants' agents and their sessions.
    agents: Arc<AgentService>,
    /// The tenants' inbound channels.
    channels: ChannelService,
    /// Backups and restores of tenants.
    backups: BackupService,
    /// The tenants' memory, cron jobs and contacts as their people see them.
    data: TenantData,
}

impl Runtime {
    /// Opens the data directory (database, vault, cache, tenants) and starts
    /// the engine, on the system clock.
    pub fn new(config: RuntimeConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// Like [`Runtime::new`] with an injected clock (tests move it).
    pub fn with_clock(config: RuntimeConfig, clock: SharedClock) -> Result<Self, Error> {
        // Every service reads this one clock; a cluster keeps it to the
        // database's ([`OffsetClock`]).
        let time = Arc::new(OffsetClock::new(clock));
        let clock: SharedClock = time.clone();
        for (name, p) in &config.providers {
            p.validate(name).map_err(Error::Config)?;
        }
        let dir = &config.data_dir;
        crate::services::tenants::create_private_dir(dir)?;
        crate::services::tenants::create_private_dir(&config.tenants_root())?;
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
        let master_fingerprint = master.fingerprint();
        let hop_key = crate::cluster::HopKey::new(master.derive("cluster-hop"));
        let vault = Arc::new(Vault::new(db.clone(), master));
        let log = AuditLog::open(&dir.join("audit.log"), &config.audit)
            .map_err(|e| Error::io(format!("cannot open {}", dir.join("audit.log").display()), e))?;
        let audit = Recorder::new(log, clock.clone());
        let tokens = TokenService::new(db.clone(), clock.clone(), audit.clone());
        let trust = Arc::new(TrustService::new(db.clone(), clock.clone(), audit.clone())?);
        let secrets = Arc::new(SecretService::new(vault.clone(), config.secret_limits, audit.clone()));
        let tenants = Arc::new(TenantService::new(db.clone(), clock.clone(), audit.clone(), &config));
        let metering = MeteringService::new(db.clone(), config.rate_card.clone(), clock.clone());
        let host = Arc::new(HostEnv::new(db.clone(), vault.clone(), clock.clone(), &config)?);
        let loader = Arc::new(SkillLoader::new(&config, host.clone())?);
        let skills = Arc::new(SkillService::new(
            db.clone(),
            clock.clone(),
            audit.clone(),
            loader.clone(),
            trust.clone(),
            &config,
        ));
        let agents = AgentService::new(
            db.clone(),
            clock.clone(),
            audit.clone(),
            secrets.clone(),
            skills.clone(),
            &config,
        );
        let agents = Arc::new(agents);
        let channels = ChannelService::new(
            db.clone(),
            clock.clone(),
            audit.clone(),
            secrets.clone(),
            agents.clone(),
            tenants.clone(),
            &config.channels,
        );
        let backups = BackupService::new(
            db.clone(),
            clock.clone(),
            audit.clone(),
            vault.clone(),
            tenants.clone(),
            skills.clone(),
            &config.data_dir,
        );
        let data = TenantData::new(db.clone(), audit.clone(), secrets.clone());
        let capacity = Arc::new(Semaphore::new(config.pool.max_instances as usize));
        Ok(Runtime {
            inner: Arc::new(Inner {
                loader,
                db,
                secrets,
                host,
                config,
                agents,
                channels,
                backups,
                data,
                clock,
                time,
                master_fingerprint,
                hop_key,
                membership: std::sync::OnceLock::new(),
                audit,
                tenants,
                skills,
                tokens,
                trust,
                capacity,
                metering,
            }),
        })
    }

    /// The configuration the runtime runs with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// The database behind the runtime, for tests and benchmarks that
    /// check or seed what is stored (not API: only in the runtime's own
    /// tests and with the `testing` feature).
    #[cfg(any(test, feature = "testing"))]
    #[doc(hidden)]
    pub fn db_for_tests(&self) -> &Arc<Db> {
        &self.inner.db
    }

    /// The tenants' data service (its tests).
    #[cfg(test)]
    pub(crate) fn data_for_tests(&self) -> &TenantData {
        &self.inner.data
    }

    /// How many valid tokens the credential cache holds (its tests).
    #[cfg(test)]
    pub(crate) fn token_cache_len(&self) -> usize {
        self.inner.tokens.cache_len()
    }

    /// Now on the runtime's clock, seconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        self.inner.audit.log()
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
        self.inner.skills.forget(tenant);
        self.inner.secrets.forget(tenant);
        self.inner.metering.forget(tenant);
    }

    /// A tenant's policy (the default one when none was set).
    pub fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, Error> {
        self.inner.tenants.policy(tenant)
    }

    /// Replaces a tenant's policy and recomputes the grants of its bound
    /// skills (calls already running keep the grant they started with).
    pub fn set_policy(&self, actor: &str, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), Error> {
        self.inner.tenants.set_policy(tenant, policy)?;
        self.inner.skills.rebind(tenant, policy);
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
}

impl Runtime {
    /// One run of a job that fell due (see [`JobRunner::run_job`]).
    async fn run_job_now(&self, job: &Job) -> Result<(), String> {
        if self.inner.db.tenant_suspended(&job.tenant).map_err(|e| e.to_string())? {
            return Err(format!("tenant {} is suspended; this run is skipped", job.tenant));
        }
        // Loaded again if this replica forgot it (a lease taken anew).
        let bound = self.inner.skills.installed(&job.tenant, &job.skill).await.map_err(|e| e.to_string())?;
        if bound.grant.cron.is_none() {
            return Err(format!("tenant {} no longer grants cron to skill {}", job.tenant, job.skill));
        }
        let call = Call { user: job.scope.user.clone(), in_session: job.scope.in_session, ..Call::default() };
        self.invoke(&bound, &call, &job.input).await.map(drop).map_err(|e| e.to_string())
    }
}

/// Scheduled jobs fire through the runtime: the job's skill, bound to the
/// job's tenant with its current grant, invoked with the job's input in the
/// job's scope (the user and session flag of the call that added it). A
/// job whose cron grant was revoked since it was added does not run, nor
/// does any job of a suspended tenant (its fire times pass unused). Every
/// run is audited (`cron.run`, with its job and fire time).
impl JobRunner for Runtime {
    fn run_job<'a>(
        &'a self,
        job: &'a Job,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>> {
        Box::pin(async move {
            let result = self.run_job_now(job).await;
            // Each run, with the fire time it claimed (one run per job and
            // fire time, across replicas too); the reason stays in the log.
            let outcome = if result.is_ok() { "ok" } else { "failed" };
            let target = format!("{} {} due {}", job.skill, job.id, job.next_run);
            self.inner.audit.record("cron", Some(&job.tenant), "cron.run", &target, outcome);
            result
        })
    }

    /// In a cluster, a tenant's jobs run at its owner: this replica claims
    /// them when it holds the tenant's lease or can take it (no live
    /// owner), and holds the lease while the job runs.
    fn claim<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<crate::cron::Claim>> + Send + 'a>> {
        Box::pin(async move {
            match self.route(tenant.as_str()).await {
                Ok(None) => Some(Box::new(()) as crate::cron::Claim),
                Ok(Some(crate::cluster::Route::Serve(lease))) => Some(Box::new(lease) as crate::cron::Claim),
                Ok(Some(_)) => None,
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "cron: cannot tell who runs this tenant's jobs");
                    None
                }
            }
        })
    }
}

/// An agent's turn runs its tools as calls of the runtime.
impl Tools for Runtime {
    fn invoke(
        &self,
        bound: &crate::skill::BoundSkill,
        call: &Call,
        input: &str,
    ) -> impl std::future::Future<Output = Result<crate::call::Outcome, Error>> + Send {
        Runtime::invoke(self, bound, call, input)
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
