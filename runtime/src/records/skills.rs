//! Skill records: an [`InstalledSkill`] as stored and listed, who
//! published it ([`Publisher`]), and the operator's [`TrustedKey`]s.
//! Installing and trusting are [`crate::installed`]'s and [`crate::trust`]'s.

use serde::{Deserialize, Serialize};

/// An installed skill, as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledSkill {
    /// Its name (from the component's `describe`).
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// SHA-256 of the component, hex: pinned at install.
    pub digest: String,
    /// SHA-256 of the manifest's text (of the empty string when it has
    /// none), hex: pinned at install.
    #[serde(default)]
    pub manifest_digest: String,
    /// Whether guest tokens may invoke it.
    pub guest: bool,
    /// When it was installed, seconds since the Unix epoch.
    pub installed: u64,
    /// The manifest's text, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Who signed it (none: installed unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
    /// The interfaces the component imports.
    pub imports: Vec<String>,
    /// The interfaces it exports.
    #[serde(default)]
    pub exports: Vec<String>,
    /// The capabilities its manifest declares (`memory` and `log` are
    /// always available).
    pub capabilities: Vec<String>,
}

/// The publisher of an installed skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publisher {
    /// The name its key was trusted under when the skill was installed.
    pub name: String,
    /// Its key, `ed25519:<base64>`.
    pub key: String,
    /// The package's signature (base64), re-verified at every load.
    pub signature: String,
}

/// A trusted publisher key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustedKey {
    /// The operator's name for the publisher.
    pub name: String,
    /// Its public key, `ed25519:<base64>`.
    pub key: String,
    /// When it was added, seconds since the Unix epoch.
    pub added: u64,
}
