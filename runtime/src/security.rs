//! The findings behind `wasmclaw security audit` and
//! `GET /v1/security/audit`: what in the configuration, the data directory
//! and each tenant's grants, skills and tokens a security reviewer would
//! flag, with a severity.
//!
//! [`file_findings`] reads the file system; [`tenant_findings`] is a pure
//! function over plain facts, so it is tested without a database.

use crate::config::RuntimeConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fix now: `security audit` exits non-zero.
    Critical,
    /// Worth fixing.
    Warning,
    /// For information.
    Info,
}

/// One finding.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// A stable code, e.g. `world-readable-key`.
    pub code: String,
    /// What was found and what to do.
    pub message: String,
}

fn finding(severity: Severity, code: &str, message: String) -> Finding {
    Finding { severity, code: code.to_string(), message }
}

/// Seconds after which a token that was never rotated is flagged.
pub const STALE_TOKEN_SECS: u64 = 90 * 24 * 3600;
/// Seconds after which a token never used is mentioned.
pub const UNUSED_TOKEN_SECS: u64 = 30 * 24 * 3600;
/// More granted origins than this is a broad grant.
pub const BROAD_ORIGINS: usize = 10;

/// The group/other permission bits of `path`, if it exists.
#[cfg(unix)]
fn open_bits(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o077)
}

#[cfg(not(unix))]
fn open_bits(_path: &Path) -> Option<u32> {
    None
}

/// Findings about the data directory's permissions and the configuration.
pub fn file_findings(config: &RuntimeConfig) -> Vec<Finding> {
    let mut out = Vec::new();
    let dir = &config.data_dir;
    if open_bits(dir).is_some_and(|b| b != 0) {
        out.push(finding(
            Severity::Critical,
            "open-data-dir",
            format!("{} is accessible by group or others; chmod 700 it", dir.display()),
        ));
    }
    let mut files = vec![
        ("master.key", "world-readable-key"),
        ("wasmclaw.redb", "world-readable-database"),
        ("audit.log", "world-readable-audit"),
    ];
    let rotated: Vec<String> = (1..=config.audit.keep).map(|n| format!("audit.log.{n}")).collect();
    files.extend(rotated.iter().map(|f| (f.as_str(), "world-readable-audit")));
    for (file, code) in files {
        let path = dir.join(file);
        if open_bits(&path).is_some_and(|b| b != 0) {
            out.push(finding(
                Severity::Critical,
                code,
                format!("{} is readable or writable by group or others; chmod 600 it", path.display()),
            ));
        }
    }
    let cache = dir.join("cache");
    if open_bits(&cache).is_some_and(|b| b != 0) {
        out.push(finding(
            Severity::Warning,
            "open-cache",
            format!(
                "{} (compiled code the gateway runs) is accessible by others; chmod 700 it",
                cache.display()
            ),
        ));
    }
    if !config.listen.ip().is_loopback() {
        out.push(finding(
            Severity::Warning,
            "public-listen",
            format!(
                "the gateway listens on {}, which is not loopback, and has no TLS of its own; \
                 put a TLS-terminating proxy in front",
                config.listen
            ),
        ));
    }
    if std::env::var_os("WASMCLAW_MASTER_KEY").is_some() {
        out.push(finding(
            Severity::Info,
            "master-key-from-env",
            "the master key comes from WASMCLAW_MASTER_KEY".into(),
        ));
    }
    out
}

/// What [`tenant_findings`] looks at for one tenant.
#[derive(Debug, Clone, Default)]
pub struct TenantFacts {
    /// The tenant.
    pub tenant: String,
    /// The origins its policy grants.
    pub http_origins: Vec<String>,
    /// Its installed skills.
    pub skills: Vec<SkillFacts>,
    /// Its tokens.
    pub tokens: Vec<TokenFacts>,
}

/// One installed skill.
#[derive(Debug, Clone, Default)]
pub struct SkillFacts {
    /// Its name.
    pub name: String,
    /// The capabilities its manifest declares (`http`, `secrets`, …).
    pub declared: Vec<String>,
    /// The interfaces it imports (`wasmclaw:skill/http@0.1.0`, …).
    pub imported: Vec<String>,
}

/// One token.
#[derive(Debug, Clone, Default)]
pub struct TokenFacts {
    /// Its id.
    pub id: String,
    /// Its role.
    pub role: String,
    /// When it was minted (or rotated into being).
    pub created: u64,
    /// When it was last used.
    pub last_used: Option<u64>,
}

/// The interface name of an import: `wasmclaw:skill/http@0.1.0` → `http`.
fn interface(import: &str) -> Option<&str> {
    let (package, rest) = import.split_once('/')?;
    (package == "wasmclaw:skill").then(|| rest.split('@').next().unwrap_or(rest))
}

/// Whether `origin` names its host by IP address.
fn ip_literal(origin: &str) -> bool {
    url::Url::parse(origin)
        .ok()
        .is_some_and(|u| matches!(u.host(), Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_))))
}

/// Findings about one tenant: broad HTTP grants, skills declaring
/// permissions they do not import, tokens never rotated or never used.
pub fn tenant_findings(now: u64, facts: &TenantFacts) -> Vec<Finding> {
    let t = &facts.tenant;
    let mut out = Vec::new();
    if facts.http_origins.len() > BROAD_ORIGINS {
        out.push(finding(
            Severity::Warning,
            "broad-http-grant",
            format!(
                "tenant {t} grants {} HTTP origins; grant only what its skills need",
                facts.http_origins.len()
            ),
        ));
    }
    for o in &facts.http_origins {
        if o.starts_with("http://") {
            out.push(finding(
                Severity::Warning,
                "broad-http-grant",
                format!(
                    "tenant {t} grants {o} in plain HTTP: requests (and secrets in them) travel unencrypted"
                ),
            ));
        } else if ip_literal(o) {
            out.push(finding(
                Severity::Warning,
                "broad-http-grant",
                format!("tenant {t} grants the IP-literal origin {o}; prefer a DNS name"),
            ));
        }
    }
    for s in &facts.skills {
        let imported: Vec<&str> = s.imported.iter().filter_map(|i| interface(i)).collect();
        for cap in &s.declared {
            if !imported.contains(&cap.as_str()) {
                out.push(finding(
                    Severity::Warning,
                    "unused-permission",
                    format!("skill {} of tenant {t} declares {cap} but does not import it; drop it", s.name),
                ));
            }
        }
    }
    for tok in &facts.tokens {
        let age = now.saturating_sub(tok.created);
        if age > STALE_TOKEN_SECS {
            out.push(finding(
                Severity::Warning,
                "stale-token",
                format!(
                    "{} token {} of tenant {t} was minted {} days ago and never rotated",
                    tok.role,
                    tok.id,
                    age / 86400
                ),
            ));
        } else if tok.last_used.is_none() && age > UNUSED_TOKEN_SECS {
            out.push(finding(
                Severity::Info,
                "unused-token",
                format!("token {} of tenant {t} has never been used; revoke it if it is not needed", tok.id),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86400;

    fn codes(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn a_clean_tenant_has_no_findings() {
        let facts = TenantFacts {
            tenant: "acme".into(),
            http_origins: vec!["https://api.example.com".into()],
            skills: vec![SkillFacts {
                name: "weather".into(),
                declared: vec!["http".into(), "secrets".into()],
                imported: vec!["wasmclaw:skill/http@0.1.0".into(), "wasmclaw:skill/secrets@0.1.0".into()],
            }],
            tokens: vec![TokenFacts {
                id: "a".into(),
                role: "admin".into(),
                created: 0,
                last_used: Some(DAY),
            }],
        };
        assert!(tenant_findings(10 * DAY, &facts).is_empty());
    }

    #[test]
    fn broad_grants_unused_permissions_and_old_tokens_are_flagged() {
        let mut origins: Vec<String> = (0..11).map(|i| format!("https://h{i}.example.com")).collect();
        origins.push("http://plain.example.com".into());
        origins.push("https://10.0.0.1".into());
        let facts = TenantFacts {
            tenant: "acme".into(),
            http_origins: origins,
            skills: vec![SkillFacts {
                name: "greedy".into(),
                declared: vec!["http".into(), "cron".into()],
                imported: vec!["wasmclaw:skill/http@0.1.0".into(), "wasi:cli/stdout@0.2.0".into()],
            }],
            tokens: vec![
                TokenFacts { id: "old".into(), role: "admin".into(), created: 0, last_used: Some(1) },
                TokenFacts { id: "idle".into(), role: "member".into(), created: 50 * DAY, last_used: None },
            ],
        };
        let f = tenant_findings(100 * DAY, &facts);
        assert_eq!(
            codes(&f),
            [
                "broad-http-grant",
                "broad-http-grant",
                "broad-http-grant",
                "unused-permission",
                "stale-token",
                "unused-token"
            ]
        );
        assert!(f[3].message.contains("cron"), "{}", f[3].message);
        assert!(f.iter().all(|f| f.severity != Severity::Critical));
    }

    #[cfg(unix)]
    #[test]
    fn open_files_are_critical_and_private_ones_are_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        for f in ["master.key", "wasmclaw.redb", "audit.log"] {
            std::fs::write(data.join(f), "x").unwrap();
            std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let config = RuntimeConfig::with_data_dir(&data);
        let clean: Vec<_> =
            file_findings(&config).into_iter().filter(|f| f.severity != Severity::Info).collect();
        assert!(clean.is_empty(), "{clean:?}");

        std::fs::set_permissions(data.join("master.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = file_findings(&config);
        let critical: Vec<&str> =
            f.iter().filter(|f| f.severity == Severity::Critical).map(|f| f.code.as_str()).collect();
        assert_eq!(critical, ["open-data-dir", "world-readable-key"]);
    }

    #[test]
    fn a_public_listen_address_is_a_warning() {
        let mut config = RuntimeConfig::with_data_dir("/nonexistent-wasmclaw-dir");
        assert!(!codes(&file_findings(&config)).contains(&"public-listen"));
        config.listen = "0.0.0.0:8420".parse().unwrap();
        assert!(codes(&file_findings(&config)).contains(&"public-listen"));
    }
}
