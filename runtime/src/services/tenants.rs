//! The tenants service: tenants as the operator manages them (created,
//! listed, suspended and resumed, deleted with everything they own), and
//! what the runtime holds in memory for each: its slot ([`TenantSlot`]: the
//! concurrency semaphore, the files directory, the disk count, the memory
//! budget), and whether it was deleted since the start.

use crate::clock::SharedClock;
use crate::config::Limits;
use crate::error::Error;
use crate::host::{TenantSlot, memory_permits};
use crate::ids::TenantId;
use crate::policy::TenantPolicy;
use crate::records::Tenant;
use crate::services::recorder::Recorder;
use crate::store::Db;
use crate::sync::lock;
use crate::tenants::{existing, not_found};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The tenants, stored, and their slots in memory.
pub(crate) struct TenantService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    /// `<data dir>/tenants`: one directory per tenant.
    root: PathBuf,
    /// How long a delete or a backup waits for a tenant's calls: the
    /// operator's timeout cap, plus a second.
    quiet_wait: Duration,
    /// The operator's defaults and caps, which a policy is checked against.
    defaults: Limits,
    caps: Limits,
    slots: Mutex<HashMap<TenantId, Arc<TenantSlot>>>,
    /// Tenants deleted since the start (until created again): a call bound
    /// before the delete may not run as them.
    deleted: Mutex<HashSet<TenantId>>,
}

impl TenantService {
    pub(crate) fn new(
        db: Arc<Db>,
        clock: SharedClock,
        audit: Recorder,
        config: &crate::config::RuntimeConfig,
    ) -> Self {
        TenantService {
            db,
            clock,
            audit,
            root: config.tenants_root(),
            quiet_wait: Duration::from_millis(config.caps.timeout_ms) + Duration::from_secs(1),
            defaults: config.defaults.clone(),
            caps: config.caps.clone(),
            slots: Mutex::new(HashMap::new()),
            deleted: Mutex::new(HashSet::new()),
        }
    }

    /// Creates a tenant; `Conflict` if it exists. Calls may run as it again.
    pub(crate) fn create(&self, actor: &str, id: &TenantId) -> Result<Tenant, Error> {
        let tenant = Tenant { id: id.clone(), created: self.clock.now(), suspended: false };
        if !self.db.tenant_create(&tenant)? {
            return Err(Error::Conflict(format!("tenant {id} exists")));
        }
        self.revive(id);
        self.audit.record(actor, Some(id), "tenant.create", id.as_str(), "ok");
        Ok(tenant)
    }

    /// Every tenant.
    pub(crate) fn list(&self) -> Result<Vec<Tenant>, Error> {
        Ok(self.db.tenants()?)
    }

    /// One tenant; `NotFound` if there is none.
    pub(crate) fn get(&self, id: &TenantId) -> Result<Tenant, Error> {
        existing(&self.db, id)
    }

    /// Suspends (`true`) or resumes a tenant, audited as `action`.
    pub(crate) fn set_suspended(&self, actor: &str, id: &TenantId, suspended: bool) -> Result<Tenant, Error> {
        let t = self.db.tenant_set_suspended(id, suspended)?.ok_or_else(|| not_found(id))?;
        let action = if suspended { "tenant.suspend" } else { "tenant.resume" };
        self.audit.record(actor, Some(id), action, id.as_str(), "ok");
        Ok(t)
    }

    /// A tenant's policy (the default one when none was set).
    pub(crate) fn policy(&self, tenant: &TenantId) -> Result<TenantPolicy, Error> {
        Ok(self.db.policy(tenant)?)
    }

    /// Stores a tenant's policy, once valid and within the operator's
    /// memory budget ([`Self::check_memory_budget`]).
    pub(crate) fn set_policy(&self, tenant: &TenantId, policy: &TenantPolicy) -> Result<(), Error> {
        policy.validate().map_err(Error::InvalidInput)?;
        self.check_memory_budget(policy)?;
        Ok(self.db.set_policy(tenant, policy)?)
    }

    /// Refuses a policy whose calls could together hold more memory than
    /// the operator's `caps.tenant_memory_bytes`: `concurrency` calls of
    /// `memory_bytes` each, as the policy sets them (or the defaults).
    fn check_memory_budget(&self, policy: &TenantPolicy) -> Result<(), Error> {
        let tl = &policy.limits;
        let concurrency = u64::from(tl.concurrency.unwrap_or(self.defaults.concurrency));
        let memory = tl.memory_bytes.unwrap_or(self.defaults.memory_bytes).min(self.caps.memory_bytes);
        let budget = self.caps.tenant_memory_bytes;
        let asked = concurrency.saturating_mul(memory);
        if concurrency > u64::from(self.caps.concurrency) || asked > budget {
            return Err(Error::InvalidInput(format!(
                "the policy lets {concurrency} calls of {memory} bytes of memory run at once ({asked} bytes); \
                 the operator allows a tenant {budget} bytes in all and {} calls at once: lower \
                 [limits] concurrency or memory_bytes",
                self.caps.concurrency
            )));
        }
        Ok(())
    }

    /// The first half of a delete: the tenant is suspended (no new token, no
    /// cron run), its calls in flight are let finish ([`Self::quiesce`]) and
    /// its slots closed, so calls still queued are refused. Hold what it
    /// returns until [`Self::purge`] is done.
    pub(crate) async fn stop(&self, id: &TenantId) -> Result<Vec<OwnedSemaphorePermit>, Error> {
        self.db.tenant_set_suspended(id, true)?.ok_or_else(|| not_found(id))?;
        let quiet = self.quiesce(std::slice::from_ref(id)).await;
        if let Some(slot) = self.existing_slot(id) {
            slot.slots.close();
        }
        Ok(quiet)
    }

    /// The second half of a delete (blocking): the tenant's files, then
    /// its rows in one transaction, then `forget` (what the runtime's
    /// services hold of it, [`Self::forget`] included). The files go first, while the (suspended) tenant is
    /// still recorded: a crash in between leaves it listed and suspended,
    /// and deleting it again finishes. The other order could leave a
    /// deleted tenant's files on disk, out of the API's reach and
    /// inherited by a tenant created later with the same id (the crash test
    /// found it).
    pub(crate) fn purge(&self, actor: &str, id: &TenantId, forget: impl FnOnce()) -> Result<(), Error> {
        let dir = self.dir(id);
        if let Err(e) = crate::tree::remove_tree(&dir) {
            self.audit.record(actor, Some(id), "tenant.delete", id.as_str(), "files-left");
            return Err(Error::io(format!("cannot remove {}", dir.display()), e));
        }
        if !self.db.tenant_delete(id)? {
            return Err(not_found(id));
        }
        forget();
        self.audit.record(actor, Some(id), "tenant.delete", id.as_str(), "ok");
        Ok(())
    }

    /// Lets the calls of `tenants` finish and holds their slots, waiting at
    /// most the timeout cap plus a second for each (then goes on, logged).
    pub(crate) async fn quiesce(&self, tenants: &[TenantId]) -> Vec<OwnedSemaphorePermit> {
        let mut held = Vec::new();
        for t in tenants {
            let Some(slot) = self.existing_slot(t) else { continue };
            let all = slot.slots.clone().acquire_many_owned(slot.permits);
            match tokio::time::timeout(self.quiet_wait, all).await {
                Ok(Ok(permits)) => held.push(permits),
                _ => tracing::warn!(
                    tenant = t.as_str(),
                    "its calls did not finish in time; going on meanwhile"
                ),
            }
        }
        held
    }

    /// The directory every tenant's directory is in.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of everything a tenant keeps on disk.
    pub(crate) fn dir(&self, tenant: &TenantId) -> PathBuf {
        self.root.join(tenant.as_str())
    }

    /// The directory a tenant's skills see as their filesystem root.
    pub(crate) fn files_dir(&self, tenant: &TenantId) -> PathBuf {
        self.dir(tenant).join("files")
    }

    /// The tenant's slot, made (with `concurrency` permits and its files
    /// directory) on its first call; `NotFound` for a tenant deleted since.
    pub(crate) fn slot(&self, tenant: &TenantId, concurrency: u32) -> Result<Arc<TenantSlot>, Error> {
        let mut map = lock(&self.slots);
        if let Some(slot) = map.get(tenant) {
            return Ok(slot.clone());
        }
        if lock(&self.deleted).contains(tenant) {
            return Err(Error::NotFound(format!("tenant {tenant} was deleted")));
        }
        let files = self.files_dir(tenant);
        create_private_dir(&files)?;
        let slot = Arc::new(TenantSlot {
            slots: Arc::new(Semaphore::new(concurrency as usize)),
            permits: concurrency,
            files,
            long_calls: Default::default(),
            disk: Default::default(),
            memory: Arc::new(Semaphore::new(memory_permits(self.caps.tenant_memory_bytes) as usize)),
        });
        map.insert(tenant.clone(), slot.clone());
        Ok(slot)
    }

    /// The tenant's slot, if a call of it ever ran.
    pub(crate) fn existing_slot(&self, tenant: &TenantId) -> Option<Arc<TenantSlot>> {
        lock(&self.slots).get(tenant).cloned()
    }

    /// A tenant created (again): calls may run as it.
    pub(crate) fn revive(&self, tenant: &TenantId) {
        lock(&self.deleted).remove(tenant);
    }

    /// Drops the tenant's slot (its disk count is measured again on the
    /// next call): its lease was taken here anew, and another replica may
    /// have written its files meanwhile. Calls running keep theirs.
    pub(crate) fn refresh(&self, tenant: &TenantId) {
        lock(&self.slots).remove(tenant);
    }

    /// A tenant deleted: its slot goes, and no call may run as it until it
    /// is created again.
    pub(crate) fn forget(&self, tenant: &TenantId) {
        lock(&self.deleted).insert(tenant.clone());
        lock(&self.slots).remove(tenant);
    }
}

/// Creates `dir` (and parents) readable by the gateway's user only.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}
