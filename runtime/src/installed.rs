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
//! This module holds the records and the check of stored bytes;
//! [`crate::services::skills`] installs, loads and binds.

use crate::error::Error;
use crate::permissions::PermissionChange;
use crate::records::{InstalledSkill, Publisher};
use base64::Engine;
use serde::Serialize;

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
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Let the tenant's guest tokens list and invoke it.
    pub guest: bool,
    /// Accept an upgrade that widens the skill's permissions.
    pub accept_permissions: bool,
    /// Accept a version lower than (or equal to) the installed one.
    pub allow_downgrade: bool,
    /// Check only: make every decision of an install (trust, imports,
    /// version, permission changes) and write nothing.
    pub dry_run: bool,
    /// Install only if the permission changes are exactly these (what a
    /// dry run showed): a compare-and-set against what is installed now.
    pub expect_changes: Option<Vec<crate::permissions::PermissionChange>>,
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
    /// Whether it was a dry run (nothing was written).
    pub dry_run: bool,
}

/// A verified install request, before the upgrade checks.
pub(crate) struct Candidate {
    pub(crate) component: Vec<u8>,
    pub(crate) manifest: Option<String>,
    pub(crate) publisher: Option<Publisher>,
}

/// Checks stored bytes against the digests pinned at install, and a signed
/// skill's signature.
pub(crate) fn verify_stored(record: &InstalledSkill, component: &[u8]) -> Result<(), Error> {
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
