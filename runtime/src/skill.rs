//! A loaded skill (its compiled component, its one `InstancePre` with
//! imports resolved once, its description, manifest and real imports) and a
//! skill bound to a tenant (with the grant computed once for that pair),
//! and the loaded skills shared by every tenant that installed the same
//! bytes.

use crate::bindings;
use crate::cache::CacheOutcome;
use crate::host::{Binding, HostState};
use crate::ids::TenantId;
use crate::manifest::Manifest;
use crate::policy::Grant;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

/// What a skill says about itself (the WIT `handler.info`), checked at load.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkillInfo {
    /// Machine name.
    pub name: String,
    /// Version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its input, as JSON.
    pub input_schema: serde_json::Value,
}

/// A skill ready to be called: instantiating it per call costs microseconds.
pub struct Skill {
    /// Its self-description.
    pub info: SkillInfo,
    /// SHA-256 (hex) of the component's bytes.
    pub digest: String,
    /// The interfaces the component imports: its real permissions.
    pub imports: Vec<String>,
    /// The interfaces it exports.
    pub exports: Vec<String>,
    /// Whether the compiled artifact came from the cache.
    pub cache: CacheOutcome,
    /// Its manifest (an empty one, asking for nothing, when it has none).
    pub manifest: Manifest,
    /// The key (`ed25519:…`) that signed it, when it was installed from a
    /// signed package: its calls are refused while that key is not trusted.
    pub publisher: Option<String>,
    pub(crate) pre: bindings::SkillPre<HostState>,
}

/// A skill bound to one tenant: what it may do there was computed once,
/// from its manifest and the tenant's policy, and is checked by every host
/// call of every invocation.
#[derive(Debug)]
pub struct BoundSkill {
    /// The skill.
    pub skill: Arc<Skill>,
    /// The tenant it runs for.
    pub tenant: TenantId,
    /// What it may do for that tenant.
    pub grant: Arc<Grant>,
    /// Whether the tenant's guest tokens may invoke it: installed for
    /// guests ([`crate::installed::InstallOptions::guest`]); false for a
    /// skill bound directly.
    pub guest: bool,
}

impl BoundSkill {
    pub(crate) fn new(skill: Arc<Skill>, tenant: TenantId, grant: Grant, guest: bool) -> Self {
        BoundSkill { skill, tenant, grant: Arc::new(grant), guest }
    }
}

impl Binding for BoundSkill {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    fn skill_name(&self) -> &str {
        &self.skill.info.name
    }
    fn grant(&self) -> &Grant {
        &self.grant
    }
}

/// What makes two installed skills one loaded skill: the component's
/// digest, the manifest's digest and the publisher's key.
pub(crate) type ShareKey = (String, String, Option<String>);

/// The loaded skills of installed skills, by [`ShareKey`], held weakly:
/// 1,000 tenants that installed the same package share one compiled
/// component and one `InstancePre` (its code is mapped once), and each
/// still gets its own binding and grant. A skill is shared only while some
/// binding holds it.
#[derive(Default)]
pub(crate) struct SharedSkills(Mutex<HashMap<ShareKey, Weak<Skill>>>);

impl SharedSkills {
    /// The loaded skill for `key`, if one is alive.
    pub(crate) fn get(&self, key: &ShareKey) -> Option<Arc<Skill>> {
        lock(&self.0).get(key).and_then(Weak::upgrade)
    }

    /// Remembers `skill` as the one for `key`, dropping entries no binding
    /// holds any more.
    pub(crate) fn put(&self, key: ShareKey, skill: &Arc<Skill>) {
        let mut map = lock(&self.0);
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(key, Arc::downgrade(skill));
    }
}

/// The manifest of a skill that has none: its own description, no
/// permissions beyond memory and log.
pub(crate) fn implicit_manifest(info: &SkillInfo) -> Manifest {
    Manifest {
        name: info.name.clone(),
        version: info.version.clone(),
        description: info.description.clone(),
        input_schema: info.input_schema.clone(),
        permissions: Default::default(),
        limits: Default::default(),
    }
}

impl std::fmt::Debug for Skill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Skill")
            .field("info", &self.info)
            .field("digest", &self.digest)
            .field("imports", &self.imports)
            .finish_non_exhaustive()
    }
}

/// Checks what `describe` returned; the message says what is wrong.
pub(crate) fn check_info(
    raw: bindings::exports::wasmclaw::skill::handler::Info,
) -> Result<SkillInfo, String> {
    let name_ok = !raw.name.is_empty()
        && raw.name.len() <= 64
        && raw.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !name_ok {
        return Err(format!(
            "its name {:?} is not 1-64 lower-case letters, digits or dashes",
            raw.name.chars().take(80).collect::<String>()
        ));
    }
    if raw.version.is_empty() || raw.version.len() > 64 {
        return Err("its version is empty or longer than 64 bytes".into());
    }
    if raw.description.len() > 4096 {
        return Err("its description is longer than 4096 bytes".into());
    }
    if raw.input_schema.len() > 64 * 1024 {
        return Err("its input schema is longer than 64 KiB".into());
    }
    let input_schema =
        serde_json::from_str(&raw.input_schema).map_err(|e| format!("its input schema is not JSON: {e}"))?;
    Ok(SkillInfo { name: raw.name, version: raw.version, description: raw.description, input_schema })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindings::exports::wasmclaw::skill::handler::Info;

    fn info(name: &str, schema: &str) -> Info {
        Info {
            name: name.into(),
            version: "1.0.0".into(),
            description: "d".into(),
            input_schema: schema.into(),
        }
    }

    #[test]
    fn good_info_is_accepted() {
        let i = check_info(info("notes-2", r#"{"type":"object"}"#)).unwrap();
        assert_eq!(i.input_schema["type"], "object");
    }

    #[test]
    fn bad_info_is_refused() {
        assert!(check_info(info("Notes", "{}")).unwrap_err().contains("name"));
        assert!(check_info(info("", "{}")).unwrap_err().contains("name"));
        assert!(check_info(info("../x", "{}")).unwrap_err().contains("name"));
        assert!(check_info(info("ok", "{not json")).unwrap_err().contains("schema"));
        let mut i = info("ok", "{}");
        i.version = String::new();
        assert!(check_info(i).unwrap_err().contains("version"));
    }
}
