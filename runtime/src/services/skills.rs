//! The skills service: installs (the trust decision made once and
//! re-checked at every load, [`crate::installed`]), the skills bound to
//! their tenants (each with its grant, computed once per policy), and the
//! loaded skills shared by every tenant that installed the same bytes.

use crate::clock::SharedClock;
use crate::config::{Limits, RuntimeConfig};
use crate::error::Error;
use crate::ids::TenantId;
use crate::installed::{Candidate, InstallOptions, InstallOutcome, SkillSource};
use crate::loader::SkillLoader;
use crate::manifest::{Manifest, valid_skill_name};
use crate::package::MAX_COMPONENT_BYTES;
use crate::package::{Package, PackageError};
use crate::permissions;
use crate::policy::{Grant, TenantPolicy};
use crate::records::{InstalledSkill, Publisher};
use crate::services::recorder::Recorder;
use crate::services::trust::TrustService;
use crate::skill::{BoundSkill, SharedSkills, Skill};
use crate::store::Db;
use crate::sync::lock;
use crate::upgrade;
use base64::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Installed and bound skills.
pub(crate) struct SkillService {
    db: Arc<Db>,
    clock: SharedClock,
    audit: Recorder,
    loader: Arc<SkillLoader>,
    trust: Arc<TrustService>,
    /// `[trust] require_signed`.
    require_signed: bool,
    /// `[trust] allow_imports`.
    allow_imports: Vec<String>,
    /// The operator's defaults and caps, which every grant is computed with.
    defaults: Limits,
    caps: Limits,
    bound: Mutex<HashMap<(TenantId, String), Arc<BoundSkill>>>,
    /// Installed skills loaded once for every tenant with the same bytes.
    shared: SharedSkills,
}

impl SkillService {
    pub(crate) fn new(
        db: Arc<Db>,
        clock: SharedClock,
        audit: Recorder,
        loader: Arc<SkillLoader>,
        trust: Arc<TrustService>,
        config: &RuntimeConfig,
    ) -> Self {
        SkillService {
            db,
            clock,
            audit,
            loader,
            trust,
            require_signed: config.trust.require_signed,
            allow_imports: config.trust.allow_imports.clone(),
            defaults: config.defaults.clone(),
            caps: config.caps.clone(),
            bound: Mutex::new(HashMap::new()),
            shared: SharedSkills::default(),
        }
    }

    /// Binds `skill` to `tenant` (`guest`: as installed for guests):
    /// computes its grant from its manifest and the tenant's stored policy,
    /// and registers it so scheduled jobs of that tenant can fire it.
    pub(crate) fn bind(
        &self,
        skill: &Arc<Skill>,
        tenant: &TenantId,
        guest: bool,
    ) -> Result<Arc<BoundSkill>, Error> {
        let policy = self.db.policy(tenant)?;
        let grant = self.grant(skill, &policy);
        let bound = Arc::new(BoundSkill::new(skill.clone(), tenant.clone(), grant, guest));
        let mut map = lock(&self.bound);
        map.insert((tenant.clone(), skill.info.name.clone()), bound.clone());
        Ok(bound)
    }

    fn grant(&self, skill: &Skill, policy: &TenantPolicy) -> Grant {
        Grant::compute(&skill.manifest, policy, &self.defaults, &self.caps)
    }

    /// The skill named `name` as bound to `tenant`, if it was bound.
    pub(crate) fn bound(&self, tenant: &TenantId, name: &str) -> Option<Arc<BoundSkill>> {
        let map = lock(&self.bound);
        map.get(&(tenant.clone(), name.to_string())).cloned()
    }

    /// Forgets the skill `name` bound to `tenant` (it was uninstalled).
    fn unbind(&self, tenant: &TenantId, name: &str) {
        let mut map = lock(&self.bound);
        map.remove(&(tenant.clone(), name.to_string()));
    }

    /// Recomputes the grants of the tenant's bound skills under its new
    /// `policy` (calls already running keep the grant they started with).
    pub(crate) fn rebind(&self, tenant: &TenantId, policy: &TenantPolicy) {
        let mut map = lock(&self.bound);
        for ((t, _), bound) in map.iter_mut().filter(|((t, _), _)| t == tenant) {
            let grant = self.grant(&bound.skill, policy);
            *bound = Arc::new(BoundSkill::new(bound.skill.clone(), t.clone(), grant, bound.guest));
        }
    }

    /// Forgets the bindings of a tenant (deleted, or restored and to be
    /// loaded again).
    pub(crate) fn forget(&self, tenant: &TenantId) {
        lock(&self.bound).retain(|(t, _), _| t != tenant);
    }

    /// Installs (or upgrades) a skill for an existing tenant; see the module
    /// documentation for the checks. Refusals are audited and change nothing.
    pub(crate) async fn install(
        &self,
        actor: &str,
        tenant: &TenantId,
        source: SkillSource,
        options: InstallOptions,
    ) -> Result<InstallOutcome, Error> {
        crate::tenants::existing(&self.db, tenant)?;
        let mut target = String::from("-");
        let mut action = "skill.install";
        let dry_run = options.dry_run;
        let result = self.try_install(tenant, source, options, &mut target, &mut action).await;
        // A dry run changes nothing; its record says so.
        let (action, target) =
            if dry_run { ("skill.check", format!("{target} (dry run)")) } else { (action, target) };
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
                self.audit.record(
                    actor,
                    Some(tenant),
                    action,
                    &format!("{target} {what} {signer}"),
                    &outcome,
                );
            }
            Err(e) => self.audit.record(actor, Some(tenant), action, &target, &format!("refused: {e}")),
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
        let skill = match self.shared.get(&share) {
            Some(skill) => skill,
            None => self.loader.load(candidate.component.clone(), manifest, key).await?,
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
            installed: self.clock.now(),
            manifest: candidate.manifest,
            publisher: candidate.publisher,
            imports: skill.imports.clone(),
            exports: skill.exports.clone(),
            capabilities: permissions::declared(&skill.manifest),
        };
        let existing = self.db.skill(tenant, &record.name)?.map(|(s, _)| s);
        let mut changes = Vec::new();
        if let Some(old) = &existing {
            *action = "skill.upgrade";
            changes = upgrade::changes(old, &record, &skill)?;
            let accept =
                upgrade::Accept { downgrade: options.allow_downgrade, wider: options.accept_permissions };
            upgrade::check(old, &record, &changes, accept)?;
            record.installed = self.clock.now();
        }
        if options.expect_changes.as_ref().is_some_and(|expected| *expected != changes) {
            return Err(Error::Conflict(format!(
                "skill {}: its permission changes are not the ones checked (what is installed changed \
                 since); check again",
                record.name
            )));
        }
        if options.dry_run {
            let replaced = existing.map(|s| s.version);
            return Ok(InstallOutcome { replaced, skill: record, changes, warnings, dry_run: true });
        }
        let expected = existing.as_ref().map(|s| s.digest.as_str());
        if !self.db.skill_put(tenant, &record, &candidate.component, expected)? {
            return Err(Error::Conflict(format!(
                "skill {} of tenant {tenant} changed while this install ran; try again",
                record.name
            )));
        }
        self.bind(&skill, tenant, record.guest)?;
        self.shared.put(share, &skill);
        Ok(InstallOutcome {
            replaced: existing.map(|s| s.version),
            skill: record,
            changes,
            warnings,
            dry_run: false,
        })
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
                let name = self.trust.trusted_as(&key)?.ok_or_else(|| {
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
                if self.require_signed {
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
        permissions::check(&skill.imports, &skill.exports, &skill.manifest, &self.allow_imports)
            .map_err(Error::InvalidSkill)
    }

    /// The skills installed for a tenant.
    pub(crate) fn installed_skills(&self, tenant: &TenantId) -> Result<Vec<InstalledSkill>, Error> {
        crate::tenants::existing(&self.db, tenant)?;
        Ok(self.db.skills(tenant)?)
    }

    /// One installed skill's record; `NotFound` if there is none.
    pub(crate) fn installed_skill(&self, tenant: &TenantId, name: &str) -> Result<InstalledSkill, Error> {
        let missing = || Error::NotFound(format!("no skill {name:?} in tenant {tenant}"));
        if !valid_skill_name(name) {
            return Err(missing());
        }
        self.db.skill(tenant, name)?.map(|(s, _)| s).ok_or_else(missing)
    }

    /// Why an installed skill cannot run now, if it cannot: its publisher's
    /// key is no longer trusted, or it is unsigned and signatures are
    /// required. `Err` only when the store cannot say whether the key is
    /// trusted.
    pub(crate) fn skill_disabled(&self, skill: &InstalledSkill) -> Result<Option<String>, Error> {
        Ok(match &skill.publisher {
            Some(p) => self.publisher_untrusted(&skill.name, &p.key)?,
            None if self.require_signed => Some(format!(
                "skill {} was installed unsigned and this gateway runs only signed skills; install a \
                 signed package of it",
                skill.name
            )),
            None => None,
        })
    }

    fn publisher_untrusted(&self, name: &str, key: &str) -> Result<Option<String>, Error> {
        Ok(self.trust.trusted_as(key)?.is_none().then(|| {
            format!(
                "skill {name} is disabled: its publisher key {key} is no longer trusted \
                 (`wasmclaw trust add NAME {key}` re-enables it)"
            )
        }))
    }

    /// Refuses a call of a skill whose publisher is no longer trusted.
    pub(crate) fn check_publisher(&self, bound: &BoundSkill) -> Result<(), Error> {
        match &bound.skill.publisher {
            Some(key) => match self.publisher_untrusted(&bound.skill.info.name, key)? {
                Some(why) => Err(Error::Untrusted(why)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Uninstalls a skill; calls already running finish with it.
    pub(crate) fn remove(&self, actor: &str, tenant: &TenantId, name: &str) -> Result<(), Error> {
        self.installed_skill(tenant, name)?;
        self.db.skill_remove(tenant, name)?;
        self.unbind(tenant, name);
        self.audit.record(actor, Some(tenant), "skill.remove", name, "ok");
        Ok(())
    }

    /// The installed skill `name` of `tenant`, bound and ready to invoke.
    /// On first use after a start it is loaded from the database and
    /// verified: pinned digests, signature, publisher trust, imports. A
    /// failure is audited.
    pub(crate) async fn installed(&self, tenant: &TenantId, name: &str) -> Result<Arc<BoundSkill>, Error> {
        if let Some(bound) = self.bound(tenant, name) {
            return Ok(bound);
        }
        let missing = || Error::NotFound(format!("no skill {name:?} in tenant {tenant}"));
        if !valid_skill_name(name) {
            return Err(missing());
        }
        let (record, component) = self.db.skill(tenant, name)?.ok_or_else(missing)?;
        let result = async {
            crate::installed::verify_stored(&record, &component)?;
            if let Some(why) = self.skill_disabled(&record)? {
                return Err(Error::Untrusted(why));
            }
            let manifest = record
                .manifest
                .as_deref()
                .map(|m| Manifest::parse(m).map_err(|e| Error::InvalidSkill(format!("stored manifest: {e}"))))
                .transpose()?;
            let key = record.publisher.as_ref().map(|p| p.key.clone());
            let share = (record.digest.clone(), record.manifest_digest.clone(), key.clone());
            if let Some(skill) = self.shared.get(&share) {
                return Ok(skill);
            }
            let skill = self.loader.load(component, manifest, key).await?;
            self.check_permissions(&skill)?;
            self.shared.put(share, &skill);
            Ok(skill)
        }
        .await;
        match result {
            Ok(skill) => self.bind(&skill, tenant, record.guest),
            Err(e) => {
                self.audit.record("gateway", Some(tenant), "skill.load", name, &format!("refused: {e}"));
                Err(e)
            }
        }
    }

    /// Loads and binds every installed skill of every tenant (so scheduled
    /// jobs can fire them); returns how many, logging the ones that fail.
    pub(crate) async fn load_installed(&self) -> Result<usize, Error> {
        let mut loaded = 0;
        for tenant in self.db.tenants()? {
            for skill in self.db.skills(&tenant.id)? {
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
