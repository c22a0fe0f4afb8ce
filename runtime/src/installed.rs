//! Skills installed per tenant through the gateway. Installing is a trust
//! decision, made once and re-checked at every load:
//!
//! - a package must carry a valid signature by a trusted publisher key
//!   (unsigned components only when `[trust] require_signed` is off);
//! - the component's imports are its permissions: each must be allowed and
//!   declared by the manifest ([`crate::permissions`]);
//! - the digests of the component and the manifest are pinned at install
//!   and checked, with the signature and the publisher's trust, whenever the
//!   stored skill is loaded;
//! - installing over an installed skill is an upgrade: a lower version is
//!   refused without `allow_downgrade`, wider permissions without
//!   `accept_permissions`.
//!
//! Each decision, accepted or refused, is audited. Refusals change nothing.

use crate::error::Error;
use crate::ids::TenantId;
use crate::manifest::{Manifest, valid_skill_name};
use crate::package::{MAX_COMPONENT_BYTES, Package, PackageError};
use crate::permissions::{self, PermissionChange};
use crate::records::{InstalledSkill, Publisher};
use crate::runtime::Runtime;
use crate::skill::{BoundSkill, Skill};
use crate::upgrade;
use base64::Engine;
use serde::Serialize;
use std::sync::Arc;

/// What to install.
#[derive(Debug, Clone)]
pub enum SkillSource {
    /// A signed package (`.wcpkg` bytes).
    Package(Vec<u8>),
    /// A bare component and optional manifest: refused unless
    /// `[trust] require_signed` is off.
    Unsigned {
        /// The component's bytes.
        component: Vec<u8>,
        /// The manifest's text.
        manifest: Option<String>,
    },
}

/// How to install.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Let the tenant's guest tokens list and invoke it.
    pub guest: bool,
    /// Accept an upgrade that widens the skill's permissions.
    pub accept_permissions: bool,
    /// Accept a version lower than (or equal to) the installed one.
    pub allow_downgrade: bool,
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    /// The installed skill.
    pub skill: InstalledSkill,
    /// The version it replaced, for an upgrade.
    pub replaced: Option<String>,
    /// The permission changes from the version it replaced.
    pub changes: Vec<PermissionChange>,
    /// Warnings: permissions declared but not imported.
    pub warnings: Vec<String>,
}

/// A verified install request, before the upgrade checks.
struct Candidate {
    component: Vec<u8>,
    manifest: Option<String>,
    publisher: Option<Publisher>,
}

impl Runtime {
    /// Installs (or upgrades) a skill for an existing tenant; see the module
    /// documentation for the checks. Refusals are audited and change nothing.
    pub async fn install_skill(
        &self,
        actor: &str,
        tenant: &TenantId,
        source: SkillSource,
        options: InstallOptions,
    ) -> Result<InstallOutcome, Error> {
        self.tenant(tenant)?;
        let mut target = String::from("-");
        let mut action = "skill.install";
        let result = self.try_install(tenant, source, options, &mut target, &mut action).await;
        match &result {
            Ok(o) => {
                let what = match &o.replaced {
                    Some(from) => format!("{from} -> {}", o.skill.version),
                    None => o.skill.version.clone(),
                };
                let signer =
                    o.skill.publisher.as_ref().map_or("unsigned".to_string(), |p| format!("by {}", p.name));
                let accepted = o.changes.iter().filter(|c| c.widens).count();
                let outcome = if accepted > 0 {
                    format!("ok ({accepted} wider permissions accepted)")
                } else {
                    "ok".into()
                };
                self.record(actor, Some(tenant), action, &format!("{target} {what} {signer}"), &outcome);
            }
            Err(e) => self.record(actor, Some(tenant), action, &target, &format!("refused: {e}")),
        }
        result
    }

    async fn try_install(
        &self,
        tenant: &TenantId,
        source: SkillSource,
        options: InstallOptions,
        target: &mut String,
        action: &mut &'static str,
    ) -> Result<InstallOutcome, Error> {
        let candidate = self.admit(source, target)?;
        let manifest = candidate
            .manifest
            .as_deref()
            .map(|m| Manifest::parse(m).map_err(|e| Error::InvalidSkill(format!("manifest: {e}"))))
            .transpose()?;
        let key = candidate.publisher.as_ref().map(|p| p.key.clone());
        let manifest_digest = crate::cache::digest(candidate.manifest.as_deref().unwrap_or("").as_bytes());
        let share = (crate::cache::digest(&candidate.component), manifest_digest.clone(), key.clone());
        let skill = match self.inner.shared_skills.get(&share) {
            Some(skill) => skill,
            None => self.inner.loader.load(candidate.component.clone(), manifest, key).await?,
        };
        *target = skill.info.name.clone();
        let warnings = self.check_permissions(&skill)?;
        let mut record = InstalledSkill {
            name: skill.info.name.clone(),
            version: skill.info.version.clone(),
            description: skill.info.description.clone(),
            digest: skill.digest.clone(),
            manifest_digest,
            guest: options.guest,
            installed: self.inner.clock.now(),
            manifest: candidate.manifest,
            publisher: candidate.publisher,
            imports: skill.imports.clone(),
            exports: skill.exports.clone(),
            capabilities: permissions::declared(&skill.manifest),
        };
        let existing = self.inner.db.skill(tenant, &record.name)?.map(|(s, _)| s);
        let mut changes = Vec::new();
        if let Some(old) = &existing {
            *action = "skill.upgrade";
            changes = upgrade::changes(old, &record, &skill)?;
            let accept =
                upgrade::Accept { downgrade: options.allow_downgrade, wider: options.accept_permissions };
            upgrade::check(old, &record, &changes, accept)?;
            record.installed = self.inner.clock.now();
        }
        let expected = existing.as_ref().map(|s| s.digest.as_str());
        if !self.inner.db.skill_put(tenant, &record, &candidate.component, expected)? {
            return Err(Error::Conflict(format!(
                "skill {} of tenant {tenant} changed while this install ran; try again",
                record.name
            )));
        }
        self.bind_as(&skill, tenant, record.guest)?;
        self.inner.shared_skills.put(share, &skill);
        Ok(InstallOutcome { replaced: existing.map(|s| s.version), skill: record, changes, warnings })
    }

    /// Checks where the bytes come from: a package's signature and the
    /// trust of its key, or whether unsigned installs are allowed.
    fn admit(&self, source: SkillSource, target: &mut String) -> Result<Candidate, Error> {
        match source {
            SkillSource::Package(bytes) => {
                let package = Package::parse(&bytes).map_err(|e| match e {
                    PackageError::Malformed(_) => Error::InvalidSkill(e.to_string()),
                    PackageError::Signature(s) => Error::Untrusted(s.to_string()),
                })?;
                let key = package.publisher.to_string();
                *target = format!("package signed by {key}");
                package
                    .verify()
                    .map_err(|e| Error::Untrusted(format!("the package's signature is invalid: {e}")))?;
                let name = self.trusted_as(&key).ok_or_else(|| {
                    Error::Untrusted(format!(
                        "the package is signed by {key}, which is not a trusted publisher key \
                         (`wasmclaw trust add NAME {key}` trusts it)"
                    ))
                })?;
                let signature = base64::engine::general_purpose::STANDARD.encode(package.signature);
                Ok(Candidate {
                    component: package.component,
                    manifest: Some(package.manifest),
                    publisher: Some(Publisher { name, key, signature }),
                })
            }
            SkillSource::Unsigned { component, manifest } => {
                *target = format!("unsigned component {}", crate::cache::digest(&component));
                if self.inner.config.trust.require_signed {
                    return Err(Error::Untrusted(
                        "unsigned skills are refused: this gateway installs only packages signed by a \
                         trusted publisher (`wasmclaw skill pack`); `serve --allow-unsigned` lifts this \
                         for development"
                            .into(),
                    ));
                }
                if component.len() > MAX_COMPONENT_BYTES {
                    return Err(Error::TooLarge(format!(
                        "the component is larger than {MAX_COMPONENT_BYTES} bytes"
                    )));
                }
                Ok(Candidate { component, manifest, publisher: None })
            }
        }
    }

    /// The component's imports against its manifest and the operator's
    /// allowed imports; the warnings when they pass.
    fn check_permissions(&self, skill: &Skill) -> Result<Vec<String>, Error> {
        permissions::check(
            &skill.imports,
            &skill.exports,
            &skill.manifest,
            &self.inner.config.trust.allow_imports,
        )
        .map_err(Error::InvalidSkill)
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

    /// Why an installed skill cannot run now, if it cannot: its publisher's
    /// key is no longer trusted, or it is unsigned and signatures are
    /// required.
    pub fn skill_disabled(&self, skill: &InstalledSkill) -> Option<String> {
        match &skill.publisher {
            Some(p) => self.publisher_untrusted(&skill.name, &p.key),
            None if self.inner.config.trust.require_signed => Some(format!(
                "skill {} was installed unsigned and this gateway runs only signed skills; install a \
                 signed package of it",
                skill.name
            )),
            None => None,
        }
    }

    fn publisher_untrusted(&self, name: &str, key: &str) -> Option<String> {
        self.trusted_as(key).is_none().then(|| {
            format!(
                "skill {name} is disabled: its publisher key {key} is no longer trusted \
                 (`wasmclaw trust add NAME {key}` re-enables it)"
            )
        })
    }

    /// Refuses a call of a skill whose publisher is no longer trusted.
    pub(crate) fn check_publisher(&self, bound: &BoundSkill) -> Result<(), Error> {
        match &bound.skill.publisher {
            Some(key) => match self.publisher_untrusted(&bound.skill.info.name, key) {
                Some(why) => Err(Error::Untrusted(why)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Uninstalls a skill; calls already running finish with it.
    pub fn remove_skill(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.installed_skill(tenant, name)?;
        self.inner.db.skill_remove(tenant, name)?;
        self.unbind(tenant, name);
        self.record(actor, Some(tenant), "skill.remove", name, "ok");
        Ok(())
    }

    /// The installed skill `name` of `tenant`, bound and ready to invoke.
    /// On first use after a start it is loaded from the database and
    /// verified: pinned digests, signature, publisher trust, imports. A
    /// failure is audited.
    pub async fn installed(&self, tenant: &TenantId, name: &str) -> Result<Arc<BoundSkill>, Error> {
        if let Some(bound) = self.bound(tenant, name) {
            return Ok(bound);
        }
        let missing = || Error::NotFound(format!("no skill {name:?} in tenant {tenant}"));
        if !valid_skill_name(name) {
            return Err(missing());
        }
        let (record, component) = self.inner.db.skill(tenant, name)?.ok_or_else(missing)?;
        let result = async {
            verify_stored(&record, &component)?;
            if let Some(why) = self.skill_disabled(&record) {
                return Err(Error::Untrusted(why));
            }
            let manifest = record
                .manifest
                .as_deref()
                .map(|m| Manifest::parse(m).map_err(|e| Error::InvalidSkill(format!("stored manifest: {e}"))))
                .transpose()?;
            let key = record.publisher.as_ref().map(|p| p.key.clone());
            let share = (record.digest.clone(), record.manifest_digest.clone(), key.clone());
            if let Some(skill) = self.inner.shared_skills.get(&share) {
                return Ok(skill);
            }
            let skill = self.inner.loader.load(component, manifest, key).await?;
            self.check_permissions(&skill)?;
            self.inner.shared_skills.put(share, &skill);
            Ok(skill)
        }
        .await;
        match result {
            Ok(skill) => self.bind_as(&skill, tenant, record.guest),
            Err(e) => {
                self.record("gateway", Some(tenant), "skill.load", name, &format!("refused: {e}"));
                Err(e)
            }
        }
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

/// Checks stored bytes against the digests pinned at install, and a signed
/// skill's signature.
fn verify_stored(record: &InstalledSkill, component: &[u8]) -> Result<(), Error> {
    let name = &record.name;
    let digest = crate::cache::digest(component);
    if digest != record.digest {
        return Err(Error::Untrusted(format!(
            "skill {name}'s stored component has SHA-256 {digest}, not the {} pinned at install; \
             it was changed after install and is refused (reinstall it)",
            record.digest
        )));
    }
    let manifest = record.manifest.as_deref().unwrap_or("");
    let manifest_digest = crate::cache::digest(manifest.as_bytes());
    if manifest_digest != record.manifest_digest {
        return Err(Error::Untrusted(format!(
            "skill {name}'s stored manifest has SHA-256 {manifest_digest}, not the {} pinned at \
             install; it was changed after install and is refused (reinstall it)",
            if record.manifest_digest.is_empty() { "(none)" } else { &record.manifest_digest }
        )));
    }
    if let Some(p) = &record.publisher {
        let bad = |why: String| Error::Untrusted(format!("skill {name}'s stored signature: {why}"));
        let key = crate::signing::PublicKey::parse(&p.key).map_err(|e| bad(e.to_string()))?;
        let sig: [u8; 64] = base64::engine::general_purpose::STANDARD
            .decode(&p.signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("not a 64-byte base64 signature".into()))?;
        key.verify(component, manifest.as_bytes(), &sig).map_err(|e| bad(e.to_string()))?;
    }
    Ok(())
}
