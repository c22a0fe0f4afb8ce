//! The rules of installing over an installed skill: what changes between
//! the two versions' permissions (imports, manifest, guest access,
//! publisher), and when that is refused: the same bytes again, a version
//! that is not higher without `allow_downgrade`, wider permissions without
//! `accept_permissions`.

use crate::error::Error;
use crate::manifest::Manifest;
use crate::permissions::{PermissionChange, PermissionSet};
use crate::records::InstalledSkill;
use crate::skill::Skill;

/// The permission changes from the installed version to the new one,
/// including guest access and the publisher.
pub(crate) fn changes(
    old: &InstalledSkill,
    new: &InstalledSkill,
    skill: &Skill,
) -> Result<Vec<PermissionChange>, Error> {
    let old_manifest = match old.manifest.as_deref() {
        Some(text) => {
            Manifest::parse(text).map_err(|e| Error::InvalidSkill(format!("installed manifest: {e}")))?
        }
        None => Manifest {
            name: old.name.clone(),
            version: old.version.clone(),
            description: String::new(),
            input_schema: serde_json::json!({}),
            permissions: Default::default(),
            limits: Default::default(),
        },
    };
    let mut changes = PermissionSet::of(&old.imports, &old_manifest)
        .diff(&PermissionSet::of(&new.imports, &skill.manifest));
    if old.guest != new.guest {
        changes.push(PermissionChange {
            permission: "guest".into(),
            from: Some(old.guest.to_string()),
            to: Some(new.guest.to_string()),
            widens: new.guest,
        });
    }
    let signer = |s: &InstalledSkill| s.publisher.as_ref().map_or("unsigned".to_string(), |p| p.key.clone());
    if signer(old) != signer(new) {
        changes.push(PermissionChange {
            permission: "publisher".into(),
            from: Some(signer(old)),
            to: Some(signer(new)),
            widens: true,
        });
    }
    Ok(changes)
}

/// What an upgrade accepts beyond a higher version of the same permissions
/// (the install options' `allow_downgrade` and `accept_permissions`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Accept {
    /// A version that is not higher than the installed one.
    pub(crate) downgrade: bool,
    /// Wider permissions than the installed version's.
    pub(crate) wider: bool,
}

/// Refuses an upgrade that is not one (same bytes), a downgrade, or a
/// widening of permissions that `accept` does not accept.
pub(crate) fn check(
    old: &InstalledSkill,
    new: &InstalledSkill,
    changes: &[PermissionChange],
    accept: Accept,
) -> Result<(), Error> {
    let name = &new.name;
    if old.digest == new.digest && old.manifest_digest == new.manifest_digest && changes.is_empty() {
        return Err(Error::Conflict(format!(
            "skill {name} {} is installed already, with these exact bytes",
            old.version
        )));
    }
    let order = match (semver::Version::parse(&old.version), semver::Version::parse(&new.version)) {
        (Ok(a), Ok(b)) => Some(b.cmp(&a)),
        _ => None,
    };
    if order != Some(std::cmp::Ordering::Greater) && !accept.downgrade {
        let why = match order {
            Some(std::cmp::Ordering::Less) => {
                format!("{} is lower than the installed {}", new.version, old.version)
            }
            Some(_) => format!("{} is the installed version, with different bytes", new.version),
            None => {
                format!("{} and the installed {} are not both semantic versions", new.version, old.version)
            }
        };
        return Err(Error::Conflict(format!(
            "skill {name}: downgrade refused: {why}; pass --allow-downgrade to replace it anyway"
        )));
    }
    let wider: Vec<String> = changes.iter().filter(|c| c.widens).map(ToString::to_string).collect();
    if !wider.is_empty() && !accept.wider {
        return Err(Error::PermissionsWiden {
            message: format!(
                "skill {name}: upgrading {} -> {} widens its permissions: {}; pass --accept-permissions to accept",
                old.version,
                new.version,
                wider.join("; ")
            ),
            changes: changes.to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: &str, digest: &str) -> InstalledSkill {
        InstalledSkill {
            name: "s".into(),
            version: version.into(),
            description: String::new(),
            digest: digest.into(),
            manifest_digest: "m".into(),
            guest: false,
            installed: 0,
            manifest: None,
            publisher: None,
            imports: vec![],
            exports: vec![],
            capabilities: vec![],
        }
    }

    fn widening() -> Vec<PermissionChange> {
        vec![PermissionChange { permission: "secret".into(), from: None, to: Some("K".into()), widens: true }]
    }

    #[test]
    fn versions_must_rise_unless_a_downgrade_is_allowed() {
        let none = Accept::default();
        let down = Accept { downgrade: true, ..Default::default() };
        check(&record("1.2.0", "a"), &record("1.10.0", "b"), &[], none).unwrap();
        let e = check(&record("1.10.0", "a"), &record("1.2.0", "b"), &[], none).unwrap_err().to_string();
        assert!(e.contains("1.2.0 is lower than the installed 1.10.0"), "{e}");
        let e = check(&record("1.0.0", "a"), &record("1.0.0", "b"), &[], none).unwrap_err().to_string();
        assert!(e.contains("is the installed version, with different bytes"), "{e}");
        let e = check(&record("one", "a"), &record("two", "b"), &[], none).unwrap_err().to_string();
        assert!(e.contains("not both semantic versions"), "{e}");
        check(&record("2.0.0", "a"), &record("1.0.0", "b"), &[], down).unwrap();
        let e = check(&record("1.0.0", "a"), &record("1.0.0", "a"), &[], down).unwrap_err().to_string();
        assert!(e.contains("with these exact bytes"), "{e}");
    }

    #[test]
    fn widening_needs_acceptance_and_narrowing_does_not() {
        let e = check(&record("1.0.0", "a"), &record("2.0.0", "b"), &widening(), Accept::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("widens its permissions: + secret K; pass --accept-permissions"), "{e}");
        let accept = Accept { wider: true, ..Default::default() };
        check(&record("1.0.0", "a"), &record("2.0.0", "b"), &widening(), accept).unwrap();
        let mut narrowing = widening();
        narrowing[0].widens = false;
        check(&record("1.0.0", "a"), &record("2.0.0", "b"), &narrowing, Accept::default()).unwrap();
    }
}
