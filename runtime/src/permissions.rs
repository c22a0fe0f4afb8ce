//! A component's imports are its permissions. This module decides, from the
//! component's own type, what it may import and whether its manifest
//! declares it, and computes what an upgrade adds or removes.
//!
//! - `wasmclaw:skill/types`, `log` and `memory` need no declaration: every
//!   skill may log and keep memory in its own tenant's namespace.
//! - `wasmclaw:skill/http`, `secrets`, `messaging` and `cron` must be
//!   declared in the manifest (`[permissions]`).
//! - The WASI interfaces the gateway links ([`ALLOWED_WASI`]: cli, clocks,
//!   filesystem, io, random) are allowed; any other import (`wasi:sockets`,
//!   `wasi:http`, another package) is refused unless the operator's
//!   `[trust] allow_imports` names it.

use crate::manifest::{CronWants, Manifest, WantedLimits};
use serde::Serialize;
use std::collections::BTreeSet;

/// The interface every skill must export.
pub const HANDLER_EXPORT: &str = "wasmclaw:skill/handler@0.1.0";

/// The WASI interfaces (without version) a skill may import.
pub const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The `wasmclaw:skill` interfaces that need no declaration.
const BASELINE: &[&str] = &["types", "log", "memory"];

/// The package of the skill interfaces.
const SKILL_PACKAGE: &str = "wasmclaw:skill";

/// An import or export name without its version:
/// `wasi:io/streams@0.2.6` → `wasi:io/streams`.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// What an import is, for `skill inspect` and for the install check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportStatus {
    /// A skill interface every skill may use.
    Baseline,
    /// A skill capability the manifest declares.
    Declared,
    /// A skill capability the manifest does not declare: refused.
    Undeclared,
    /// A WASI interface the gateway provides.
    Wasi,
    /// An interface the operator's `allow_imports` allows.
    AllowedByOperator,
    /// Anything else: refused.
    Forbidden,
}

impl ImportStatus {
    /// Whether install refuses a component with this import.
    pub fn refused(&self) -> bool {
        matches!(self, ImportStatus::Undeclared | ImportStatus::Forbidden)
    }
}

/// The capabilities a manifest declares, by interface name.
pub fn declared(m: &Manifest) -> Vec<String> {
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

/// Classifies one import against the manifest (`None`: no manifest, so
/// nothing is declared) and the operator's allowed extra imports.
pub fn classify(import: &str, manifest: Option<&Manifest>, allow: &[String]) -> ImportStatus {
    let name = unversioned(import);
    if let Some(cap) = name.strip_prefix(SKILL_PACKAGE).and_then(|r| r.strip_prefix('/')) {
        if BASELINE.contains(&cap) {
            return ImportStatus::Baseline;
        }
        let declared = manifest.map(declared).unwrap_or_default();
        return if declared.iter().any(|d| d == cap) {
            ImportStatus::Declared
        } else if ["http", "secrets", "messaging", "cron"].contains(&cap) {
            ImportStatus::Undeclared
        } else {
            ImportStatus::Forbidden
        };
    }
    if ALLOWED_WASI.contains(&name) {
        return ImportStatus::Wasi;
    }
    let allowed = allow.iter().any(|a| {
        let a = unversioned(a);
        name == a || name.strip_prefix(a).is_some_and(|r| r.starts_with('/'))
    });
    if allowed { ImportStatus::AllowedByOperator } else { ImportStatus::Forbidden }
}

/// Checks a component's imports and exports against its manifest: `Err`
/// names the first refused interface; `Ok` carries warnings (permissions
/// declared but not imported).
pub fn check(
    imports: &[String],
    exports: &[String],
    manifest: &Manifest,
    allow: &[String],
) -> Result<Vec<String>, String> {
    if !exports.iter().any(|e| e == HANDLER_EXPORT) {
        return Err(format!(
            "it does not export {HANDLER_EXPORT} (the wasmclaw:skill/skill world); it exports: {}",
            list_or_nothing(exports)
        ));
    }
    for import in imports {
        match classify(import, Some(manifest), allow) {
            ImportStatus::Undeclared => {
                let cap = unversioned(import).rsplit('/').next().unwrap_or_default();
                return Err(format!(
                    "it imports {import}, which its manifest does not declare: add `{cap}` to [permissions] in skill.toml"
                ));
            }
            ImportStatus::Forbidden => {
                return Err(format!(
                    "it imports {import}, which skills may not import (the operator's [trust] allow_imports \
                     does not allow it)"
                ));
            }
            _ => {}
        }
    }
    Ok(unused(imports, manifest))
}

/// Warnings for capabilities the manifest declares but the component does
/// not import.
pub fn unused(imports: &[String], manifest: &Manifest) -> Vec<String> {
    declared(manifest)
        .into_iter()
        .filter(|cap| {
            let want = format!("{SKILL_PACKAGE}/{cap}");
            !imports.iter().any(|i| unversioned(i) == want)
        })
        .map(|cap| {
            format!("the manifest declares {cap} but the component does not import {SKILL_PACKAGE}/{cap}")
        })
        .collect()
}

fn list_or_nothing(names: &[String]) -> String {
    if names.is_empty() { "nothing".into() } else { names.join(", ") }
}

/// Everything a skill version may do, as compared across an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionSet {
    imports: BTreeSet<String>,
    http: BTreeSet<String>,
    secrets: BTreeSet<String>,
    messaging: bool,
    cron: Option<CronWants>,
    limits: WantedLimits,
}

impl PermissionSet {
    /// The permissions of a component (its imports) with its manifest.
    pub fn of(imports: &[String], manifest: &Manifest) -> Self {
        let p = &manifest.permissions;
        PermissionSet {
            imports: imports.iter().map(|i| unversioned(i).to_string()).collect(),
            http: p.http.iter().map(ToString::to_string).collect(),
            secrets: p.secrets.iter().cloned().collect(),
            messaging: p.messaging,
            cron: p.cron,
            limits: manifest.limits,
        }
    }

    /// What changes from `self` to `new`, widening changes flagged.
    pub fn diff(&self, new: &PermissionSet) -> Vec<PermissionChange> {
        let mut out = Vec::new();
        set_diff(&mut out, "import", &self.imports, &new.imports);
        set_diff(&mut out, "http", &self.http, &new.http);
        set_diff(&mut out, "secret", &self.secrets, &new.secrets);
        if self.messaging != new.messaging {
            out.push(PermissionChange::changed(
                "messaging",
                self.messaging.to_string(),
                new.messaging.to_string(),
                new.messaging,
            ));
        }
        match (self.cron, new.cron) {
            (None, None) => {}
            (None, Some(c)) => out.push(PermissionChange::added("cron", cron_text(c))),
            (Some(c), None) => out.push(PermissionChange::removed("cron", cron_text(c))),
            (Some(a), Some(b)) => {
                if a.max_jobs != b.max_jobs {
                    let widens = b.max_jobs > a.max_jobs;
                    out.push(PermissionChange::changed(
                        "cron.max_jobs",
                        a.max_jobs.to_string(),
                        b.max_jobs.to_string(),
                        widens,
                    ));
                }
                if a.min_interval_secs != b.min_interval_secs {
                    let widens = b.min_interval_secs < a.min_interval_secs;
                    out.push(PermissionChange::changed(
                        "cron.min_interval_secs",
                        a.min_interval_secs.to_string(),
                        b.min_interval_secs.to_string(),
                        widens,
                    ));
                }
            }
        }
        let (a, b) = (&self.limits, &new.limits);
        limit_diff(&mut out, "limits.fuel", a.fuel, b.fuel);
        limit_diff(&mut out, "limits.memory_bytes", a.memory_bytes, b.memory_bytes);
        limit_diff(&mut out, "limits.timeout_ms", a.timeout_ms, b.timeout_ms);
        out
    }
}

fn cron_text(c: CronWants) -> String {
    format!("max_jobs {}, min_interval_secs {}", c.max_jobs, c.min_interval_secs)
}

fn set_diff(out: &mut Vec<PermissionChange>, what: &str, old: &BTreeSet<String>, new: &BTreeSet<String>) {
    for added in new.difference(old) {
        out.push(PermissionChange::added(what, added.clone()));
    }
    for removed in old.difference(new) {
        out.push(PermissionChange::removed(what, removed.clone()));
    }
}

/// A limit the manifest leaves out takes the tenant's default, which may be
/// larger than any explicit value: only an explicit, not larger value is
/// known not to widen.
fn limit_diff(out: &mut Vec<PermissionChange>, what: &str, old: Option<u64>, new: Option<u64>) {
    if old == new {
        return;
    }
    let text = |v: Option<u64>| v.map_or_else(|| "the tenant's default".to_string(), |v| v.to_string());
    let widens = match (old, new) {
        (Some(a), Some(b)) => b > a,
        _ => true,
    };
    out.push(PermissionChange::changed(what, text(old), text(new), widens));
}

/// One difference between two versions' permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionChange {
    /// `import`, `http`, `secret`, `messaging`, `cron`, `cron.max_jobs`,
    /// `limits.fuel`, …
    pub permission: String,
    /// The old value (`None`: added).
    pub from: Option<String>,
    /// The new value (`None`: removed).
    pub to: Option<String>,
    /// Whether the change gives the skill more than it had.
    pub widens: bool,
}

impl PermissionChange {
    fn added(what: &str, value: String) -> Self {
        PermissionChange { permission: what.into(), from: None, to: Some(value), widens: true }
    }

    fn removed(what: &str, value: String) -> Self {
        PermissionChange { permission: what.into(), from: Some(value), to: None, widens: false }
    }

    fn changed(what: &str, from: String, to: String, widens: bool) -> Self {
        PermissionChange { permission: what.into(), from: Some(from), to: Some(to), widens }
    }
}

impl std::fmt::Display for PermissionChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.from, &self.to) {
            (None, Some(to)) => write!(f, "+ {} {to}", self.permission),
            (Some(from), None) => write!(f, "- {} {from}", self.permission),
            (Some(from), Some(to)) => {
                let how = if self.widens { "wider" } else { "narrower" };
                write!(f, "~ {} {from} -> {to} ({how})", self.permission)
            }
            (None, None) => write!(f, "{}", self.permission),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(perms: &str) -> Manifest {
        Manifest::parse(&format!("name = \"x\"\nversion = \"1.0.0\"\n{perms}")).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const HANDLER: &[&str] = &[HANDLER_EXPORT];

    #[test]
    fn imports_are_classified() {
        let m = manifest("[permissions]\nhttp = [\"https://a.example\"]\n");
        let none: &[String] = &[];
        assert_eq!(classify("wasmclaw:skill/memory@0.1.0", Some(&m), none), ImportStatus::Baseline);
        assert_eq!(classify("wasmclaw:skill/http@0.1.0", Some(&m), none), ImportStatus::Declared);
        assert_eq!(classify("wasmclaw:skill/http@0.1.0", None, none), ImportStatus::Undeclared);
        assert_eq!(classify("wasmclaw:skill/cron@0.1.0", Some(&m), none), ImportStatus::Undeclared);
        assert_eq!(classify("wasmclaw:skill/nope@0.1.0", Some(&m), none), ImportStatus::Forbidden);
        assert_eq!(classify("wasi:io/streams@0.2.6", Some(&m), none), ImportStatus::Wasi);
        assert_eq!(classify("wasi:sockets/tcp@0.2.6", Some(&m), none), ImportStatus::Forbidden);
        let allow = strings(&["wasi:sockets"]);
        assert_eq!(classify("wasi:sockets/tcp@0.2.6", Some(&m), &allow), ImportStatus::AllowedByOperator);
        assert_eq!(classify("wasi:socketsx/tcp@0.2.6", Some(&m), &allow), ImportStatus::Forbidden);
        let allow = strings(&["wasi:sockets/tcp"]);
        assert_eq!(classify("wasi:sockets/udp@0.2.6", Some(&m), &allow), ImportStatus::Forbidden);
    }

    #[test]
    fn check_names_the_refused_interface() {
        let m = manifest("");
        let e = check(&strings(&["wasmclaw:skill/http@0.1.0"]), &strings(HANDLER), &m, &[]).unwrap_err();
        assert!(e.contains("wasmclaw:skill/http@0.1.0") && e.contains("does not declare"), "{e}");
        let e = check(&strings(&["wasi:sockets/tcp@0.2.6"]), &strings(HANDLER), &m, &[]).unwrap_err();
        assert!(e.contains("wasi:sockets/tcp@0.2.6") && e.contains("may not import"), "{e}");
        let e = check(&[], &strings(&["wasi:cli/run@0.2.6"]), &m, &[]).unwrap_err();
        assert!(e.contains(HANDLER_EXPORT) && e.contains("wasi:cli/run@0.2.6"), "{e}");
        let ok = check(
            &strings(&["wasmclaw:skill/log@0.1.0", "wasi:io/streams@0.2.6"]),
            &strings(HANDLER),
            &m,
            &[],
        );
        assert_eq!(ok.unwrap(), Vec::<String>::new());
    }

    #[test]
    fn declared_but_not_imported_is_a_warning() {
        let m = manifest("[permissions]\nmessaging = true\nsecrets = [\"K\"]\n");
        let w = check(&strings(&["wasmclaw:skill/secrets@0.1.0"]), &strings(HANDLER), &m, &[]).unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("declares messaging"), "{w:?}");
    }

    #[test]
    fn a_diff_flags_what_widens() {
        let old = PermissionSet::of(
            &strings(&["wasmclaw:skill/http@0.1.0"]),
            &manifest(
                "[permissions]\nhttp = [\"https://a.example\"]\ncron = { max_jobs = 2, min_interval_secs = 60 }\n[limits]\nfuel = 100\n",
            ),
        );
        assert!(old.diff(&old).is_empty());
        let new = PermissionSet::of(
            &strings(&["wasmclaw:skill/http@0.2.0", "wasmclaw:skill/secrets@0.1.0"]),
            &manifest(
                "[permissions]\nhttp = [\"https://b.example\"]\nsecrets = [\"K\"]\ncron = { max_jobs = 1, min_interval_secs = 30 }\n[limits]\nfuel = 50\ntimeout_ms = 10\n",
            ),
        );
        let d: Vec<String> = old.diff(&new).iter().map(ToString::to_string).collect();
        assert_eq!(
            d,
            [
                "+ import wasmclaw:skill/secrets",
                "+ http https://b.example:443",
                "- http https://a.example:443",
                "+ secret K",
                "~ cron.max_jobs 2 -> 1 (narrower)",
                "~ cron.min_interval_secs 60 -> 30 (wider)",
                "~ limits.fuel 100 -> 50 (narrower)",
                "~ limits.timeout_ms the tenant's default -> 10 (wider)",
            ]
        );
        let narrowing =
            new.diff(&PermissionSet::of(&[], &manifest("[limits]\nfuel = 50\ntimeout_ms = 10\n")));
        assert!(narrowing.iter().all(|c| !c.widens), "{narrowing:?}");
    }
}
