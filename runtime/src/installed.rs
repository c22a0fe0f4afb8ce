//! Skills installed per tenant through the gateway: the component and its
//! manifest are stored in the database, so a restart reloads them; each is
//! bound to its tenant once (its grant computed then) and reused by every
//! call.

use crate::error::Error;
use crate::ids::TenantId;
use crate::manifest::{Manifest, valid_skill_name};
use crate::runtime::Runtime;
use crate::skill::BoundSkill;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An installed skill, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledSkill {
    /// Its name (from the component's `describe`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// SHA-256 of the component, hex.
    pub digest: String,
    /// Whether guest tokens may invoke it.
    pub guest: bool,
    /// When it was installed, seconds since the Unix epoch.
    pub installed: u64,
    /// The manifest's text, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
    /// The capabilities its manifest declares (`memory` and `log` are
    /// always available).
    pub capabilities: Vec<String>,
}

/// The capabilities a manifest asks for, by interface name.
fn declared(m: &Manifest) -> Vec<String> {
    let p = &m.permissions;
    let mut out = Vec::new();
    if !p.http.is_empty() {
        out.push("http".to_string());
    }
    if !p.secrets.is_empty() {
        out.push("secrets".to_string());
    }
    if p.messaging {
        out.push("messaging".to_string());
    }
    if p.cron.is_some() {
        out.push("cron".to_string());
    }
    out
}

/// The largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 32 * 1024 * 1024;

impl Runtime {
    /// Installs a skill for an existing tenant: validates and compiles the
    /// component, checks it against its manifest, stores both and binds it.
    /// `Conflict` if a skill of that name is installed.
    pub async fn install_skill(
        &self,
        actor: &str,
        tenant: &TenantId,
        component: Vec<u8>,
        manifest: Option<&str>,
        guest: bool,
    ) -> Result<InstalledSkill, Error> {
        self.tenant(tenant)?;
        if component.len() > MAX_COMPONENT_BYTES {
            return Err(Error::InvalidInput(format!(
                "the component is larger than {MAX_COMPONENT_BYTES} bytes"
            )));
        }
        let parsed = manifest
            .map(|m| Manifest::parse(m).map_err(|e| Error::InvalidSkill(format!("manifest: {e}"))))
            .transpose()?;
        let skill = self.load_skill(component.clone(), parsed).await?;
        let record = InstalledSkill {
            name: skill.info.name.clone(),
            version: skill.info.version.clone(),
            description: skill.info.description.clone(),
            digest: skill.digest.clone(),
            guest,
            installed: self.inner.clock.now(),
            manifest: manifest.map(str::to_string),
            imports: skill.imports.clone(),
            capabilities: declared(&skill.manifest),
        };
        if !self.inner.db.skill_install(tenant, &record, &component)? {
            return Err(Error::Conflict(format!(
                "skill {} is installed for tenant {tenant}; remove it first",
                record.name
            )));
        }
        self.bind(&skill, tenant)?;
        self.record(
            actor,
            Some(tenant),
            "skill.install",
            &format!("{}@{}", record.name, record.digest),
            "ok",
        );
        Ok(record)
    }

    /// The skills installed for a tenant.
    pub fn installed_skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, Error> {
        self.tenant(tenant)?;
        Ok(self.inner.db.skills(tenant)?)
    }

    /// One installed skill's record; `NotFound` if there is none.
    pub fn installed_skill(&self, tenant: &TenantId, name: &str) -> Result<InstalledSkill, Error> {
        let missing = || Error::NotFound(format!("no skill {name:?} in tenant {tenant}"));
        if !valid_skill_name(name) {
            return Err(missing());
        }
        self.inner.db.skill(tenant, name)?.map(|(s, _)| s).ok_or_else(missing)
    }

    /// Uninstalls a skill; calls already running finish with it.
    pub fn remove_skill(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.installed_skill(tenant, name)?;
        self.inner.db.skill_remove(tenant, name)?;
        self.unbind(tenant, name);
        self.record(actor, Some(tenant), "skill.remove", name, "ok");
        Ok(())
    }

    /// The installed skill `name` of `tenant`, bound and ready to invoke
    /// (loaded from the database on first use after a start).
    pub async fn installed(&self, tenant: &TenantId, name: &str) -> Result<Arc<BoundSkill>, Error> {
        if let Some(bound) = self.bound(tenant, name) {
            return Ok(bound);
        }
        let missing = || Error::NotFound(format!("no skill {name:?} in tenant {tenant}"));
        if !valid_skill_name(name) {
            return Err(missing());
        }
        let (record, component) = self.inner.db.skill(tenant, name)?.ok_or_else(missing)?;
        let manifest = record
            .manifest
            .as_deref()
            .map(|m| Manifest::parse(m).map_err(|e| Error::InvalidSkill(format!("stored manifest: {e}"))))
            .transpose()?;
        let skill = self.load_skill(component, manifest).await?;
        self.bind(&skill, tenant)
    }

    /// Loads and binds every installed skill of every tenant (so scheduled
    /// jobs can fire them); returns how many, logging the ones that fail.
    pub async fn load_installed(&self) -> Result<usize, Error> {
        let mut loaded = 0;
        for tenant in self.tenants()? {
            for skill in self.inner.db.skills(&tenant.id)? {
                match self.installed(&tenant.id, &skill.name).await {
                    Ok(_) => loaded += 1,
                    Err(e) => tracing::error!(tenant = %tenant.id, skill = %skill.name, error = %e,
                        "cannot load an installed skill"),
                }
            }
        }
        Ok(loaded)
    }
}
