//! The runtime's public face for skills (loaded, bound, installed) and for
//! what a tenant's skills keep (memory, cron jobs, the outbox, contacts).

use crate::error::Error;
use crate::ids::{TenantId, UserId};
use crate::installed::{InstallOptions, InstallOutcome, SkillSource};
use crate::manifest::Manifest;
use crate::records::InstalledSkill;
use crate::records::{Job, MessageState};
use crate::runtime::Runtime;
use crate::skill::{BoundSkill, Skill};
use crate::store::MemoryEntry;
use crate::tenant_data::OutboxPage;
use std::path::Path;
use std::sync::Arc;

impl Runtime {
    // Skills.

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
        self.inner.loader.load(bytes, manifest, None).await
    }

    /// Loads a skill from component bytes: compiles it (or takes it from the
    /// cache), refuses imports no skill may have and a component that does
    /// not export the skill world, resolves its imports once, asks it to
    /// describe itself and checks that against the manifest. Whether the
    /// manifest declares its capabilities is the installer's check
    /// ([`crate::permissions::check`]).
    pub async fn load_skill(&self, bytes: Vec<u8>, manifest: Option<Manifest>) -> Result<Arc<Skill>, Error> {
        self.inner.loader.load(bytes, manifest, None).await
    }

    /// Binds `skill` to `tenant`: computes its grant from its manifest and
    /// the tenant's stored policy, and registers it so scheduled jobs of
    /// that tenant can fire it.
    pub fn bind(&self, skill: &Arc<Skill>, tenant: &TenantId) -> Result<Arc<BoundSkill>, Error> {
        self.inner.skills.bind(skill, tenant, false)
    }

    /// Installs (or upgrades) a skill for an existing tenant; see the module
    /// documentation for the checks. Refusals are audited and change nothing.
    pub async fn install_skill(
        &self,
        actor: &str,
        tenant: &TenantId,
        source: SkillSource,
        options: InstallOptions,
    ) -> Result<InstallOutcome, Error> {
        self.inner.skills.install(actor, tenant, source, options).await
    }

    /// The skills installed for a tenant.
    pub fn installed_skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, Error> {
        self.inner.skills.installed_skills(tenant)
    }

    /// One installed skill's record; `NotFound` if there is none.
    pub fn installed_skill(&self, tenant: &TenantId, name: &str) -> Result<InstalledSkill, Error> {
        self.inner.skills.installed_skill(tenant, name)
    }

    /// Why an installed skill cannot run now, if it cannot: its publisher's
    /// key is no longer trusted, or it is unsigned and signatures are
    /// required. `Err` only when the store cannot say whether the key is
    /// trusted.
    pub fn skill_disabled(&self, skill: &InstalledSkill) -> Result<Option<String>, Error> {
        self.inner.skills.skill_disabled(skill)
    }

    /// Uninstalls a skill; calls already running finish with it.
    pub fn remove_skill(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.inner.skills.remove(actor, tenant, name)
    }

    /// The installed skill `name` of `tenant`, bound and ready to invoke.
    /// On first use after a start it is loaded from the database and
    /// verified: pinned digests, signature, publisher trust, imports. A
    /// failure is audited.
    pub async fn installed(&self, tenant: &TenantId, name: &str) -> Result<Arc<BoundSkill>, Error> {
        self.inner.skills.installed(tenant, name).await
    }

    /// Loads and binds every installed skill of every tenant (so scheduled
    /// jobs can fire them); returns how many, logging the ones that fail.
    pub async fn load_installed(&self) -> Result<usize, Error> {
        self.inner.skills.load_installed().await
    }

    /// The skill named `name` as bound to `tenant`, if it was bound.
    pub fn bound(&self, tenant: &TenantId, name: &str) -> Option<Arc<BoundSkill>> {
        self.inner.skills.bound(tenant, name)
    }

    // What a tenant's skills keep.

    /// Memory entries of `tenant` (of `user` within it, or the tenant-wide
    /// scope) whose key starts with `prefix`, up to the capability's list
    /// limits.
    pub fn memory_entries(
        &self,
        tenant: &TenantId,
        user: Option<&UserId>,
        prefix: &str,
    ) -> Result<Vec<MemoryEntry>, Error> {
        self.inner.data.memory_entries(tenant, user, prefix)
    }

    /// Deletes one memory entry; `NotFound` if there is none.
    pub fn delete_memory(
        &self,
        actor: &str,
        tenant: &TenantId,
        user: Option<&UserId>,
        key: &str,
    ) -> Result<(), Error> {
        self.inner.data.delete_memory(actor, tenant, user, key)
    }

    /// The tenant's cron jobs, their inputs scrubbed.
    pub fn cron_jobs(&self, tenant: &TenantId) -> Result<Vec<Job>, Error> {
        self.inner.data.cron_jobs(tenant)
    }

    /// Removes one of the tenant's cron jobs; `NotFound` if it has none of
    /// that id (another tenant's job is not found either).
    pub fn remove_cron_job(&self, actor: &str, tenant: &TenantId, id: &str) -> Result<(), Error> {
        self.inner.data.remove_cron_job(actor, tenant, id)
    }

    /// A page of the tenant's outbox: the messages after `after` (id order)
    /// in `state` (any: `None`), at most `limit`, scrubbed; see
    /// [`crate::tenant_data::OutboxPage`].
    pub fn outbox(
        &self,
        tenant: &TenantId,
        state: Option<&MessageState>,
        after: &str,
        limit: usize,
    ) -> Result<OutboxPage, Error> {
        self.inner.data.outbox(tenant, state, after, limit)
    }

    /// The tenant's contacts, by name and channel (never their URLs' secrets:
    /// the URL is the operator's or tenant admin's to see in the policy).
    pub fn contacts(&self, tenant: &TenantId) -> Result<Vec<crate::policy::Contact>, Error> {
        self.inner.data.contacts(tenant)
    }
}
