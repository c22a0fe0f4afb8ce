//! The findings behind `wasmclaw security audit` and
//! `GET /v1/security/audit`: what in the configuration, the data directory
//! and each tenant's grants, skills and tokens a security reviewer would
//! flag, with a severity.
//!
//! [`file_findings`] reads the file system; [`tenant_findings`] is a pure
//! function over plain facts, so it is tested without a database.

use crate::config::RuntimeConfig;
use crate::store::cluster::NodeRow;
use crate::vault::{MASTER_KEY_ENV, MASTER_KEY_FILE};
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
    /// The tenant it is about (none for the gateway's own files,
    /// configuration and cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

fn finding(severity: Severity, code: &str, message: String) -> Finding {
    Finding { severity, code: code.to_string(), message, tenant: None }
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

/// Findings about the data directory's permissions and the configuration:
/// a data directory, key, database or audit file open to group or others
/// (critical), a compiled cache open to them and a listen address that is
/// not loopback and unsigned skills allowed (warnings), extra imports
/// allowed and a master key taken from the environment (info).
/// Files that do not exist yet are not findings.
pub fn file_findings(config: &RuntimeConfig) -> Vec<Finding> {
    file_findings_with(config, std::env::var_os(MASTER_KEY_ENV).is_some())
}

/// [`file_findings`] with the environment read by the caller.
fn file_findings_with(config: &RuntimeConfig, key_from_env: bool) -> Vec<Finding> {
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
        (MASTER_KEY_FILE.to_string(), "world-readable-key"),
        ("wasmclaw.redb".to_string(), "world-readable-database"),
        ("audit.log".to_string(), "world-readable-audit"),
    ];
    files.extend(rotated_audit_files(dir).into_iter().map(|f| (f, "world-readable-audit")));
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
    let cache = config.cache_root();
    if open_bits(&cache).is_some_and(|b| b != 0) {
        out.push(finding(
            Severity::Warning,
            "open-cache",
            format!(
                "{} (compiled code the gateway runs) is accessible by group or others; chmod 700 it",
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
    if !config.trust.require_signed {
        out.push(finding(
            Severity::Warning,
            "unsigned-skills-allowed",
            "the gateway installs and runs unsigned skills (`serve --allow-unsigned` or [trust] \
             require_signed = false); for development only"
                .into(),
        ));
    }
    if !config.trust.allow_imports.is_empty() {
        out.push(finding(
            Severity::Info,
            "extra-imports-allowed",
            format!(
                "skills may import {} beyond the skill interfaces and the linked WASI set (calls into them trap)",
                config.trust.allow_imports.join(", ")
            ),
        ));
    }
    // API keys and bot tokens travel in these requests: in clear text only
    // to this machine.
    let mut plain: Vec<String> = config
        .providers
        .iter()
        .filter(|(_, p)| plain_http_off_host(p.base()))
        .map(|(name, p)| format!("provider {name} ({})", p.base()))
        .collect();
    if plain_http_off_host(&config.channels.telegram_api_base) {
        plain.push(format!("the Telegram API ({})", config.channels.telegram_api_base));
    }
    if !plain.is_empty() {
        out.push(finding(
            Severity::Warning,
            "plain-http-credentials",
            format!("API keys or bot tokens go over plain HTTP to {}; use https", plain.join(", ")),
        ));
    }
    if key_from_env {
        out.push(finding(
            Severity::Info,
            "master-key-from-env",
            format!("the master key comes from {MASTER_KEY_ENV}, not from a file in the data directory"),
        ));
    }
    out
}

/// Whether `base` is a plain-HTTP URL to a host other than loopback.
fn plain_http_off_host(base: &str) -> bool {
    let Ok(url) = url::Url::parse(base) else { return false };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    url.scheme() == "http" && !loopback
}

/// The rotated audit files in `dir` (`audit.log.1`, …), whatever `keep`
/// is now, sorted by number.
fn rotated_audit_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut numbered: Vec<(u64, String)> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.strip_prefix("audit.log.")?.parse().ok()?, name)))
        .collect();
    numbered.sort();
    numbered.into_iter().map(|(_, name)| name).collect()
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
    /// Whether it was installed from a signed package.
    pub signed: bool,
    /// Why it cannot run now, if it cannot (its publisher is untrusted).
    pub disabled: Option<String>,
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

/// What is broad about a granted origin: plain HTTP, an IP-literal host.
fn origin_problem(origin: &str) -> Option<&'static str> {
    let url = url::Url::parse(origin).ok()?;
    if url.scheme() == "http" {
        Some("in plain HTTP: requests (and secrets in them) travel unencrypted")
    } else if matches!(url.host(), Some(url::Host::Ipv4(_) | url::Host::Ipv6(_))) {
        Some("by IP address; grant the DNS name of the service instead")
    } else {
        None
    }
}

/// Findings about the cluster this gateway is a replica of, from its
/// membership rows: live replicas with another configuration digest
/// (`cluster-config-mismatch`, a warning) or version
/// (`cluster-mixed-versions`, info). Expired rows say nothing.
pub fn cluster_findings(node_id: &str, config_digest: &str, nodes: &[NodeRow]) -> Vec<Finding> {
    let others = || nodes.iter().filter(|n| n.live && n.node_id != node_id);
    let mut out = Vec::new();
    let differ: Vec<&str> =
        others().filter(|n| n.config_digest != config_digest).map(|n| n.node_id.as_str()).collect();
    if !differ.is_empty() {
        out.push(finding(
            Severity::Warning,
            "cluster-config-mismatch",
            format!(
                "replica(s) {} run a configuration other than this one's ({node_id}): limits, quotas and \
                 trust differ by the replica a request lands on; give every replica the same file",
                differ.join(", ")
            ),
        ));
    }
    let mine = env!("CARGO_PKG_VERSION");
    let versions: Vec<String> =
        others().filter(|n| n.version != mine).map(|n| format!("{} ({})", n.node_id, n.version)).collect();
    if !versions.is_empty() {
        out.push(finding(
            Severity::Info,
            "cluster-mixed-versions",
            format!("replica(s) {} run another version than this one's {mine}", versions.join(", ")),
        ));
    }
    out
}

/// Findings about one tenant, all warnings but `unused-token` (info):
/// broad HTTP grants (more than [`BROAD_ORIGINS`] origins, a plain `http://`
/// or an IP-literal origin), skills declaring capabilities they do not
/// import, unsigned skills, skills disabled by an untrusted publisher (info), tokens (admin ones included) minted more than
/// [`STALE_TOKEN_SECS`] before `now`, tokens never used and older than
/// [`UNUSED_TOKEN_SECS`].
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
        if let Some(problem) = origin_problem(o) {
            out.push(finding(
                Severity::Warning,
                "broad-http-grant",
                format!("tenant {t} grants {o} {problem}"),
            ));
        }
    }
    for s in &facts.skills {
        if !s.signed {
            out.push(finding(
                Severity::Warning,
                "unsigned-skill",
                format!(
                    "skill {} of tenant {t} was installed unsigned; install a signed package of it",
                    s.name
                ),
            ));
        }
        if let Some(why) = &s.disabled {
            out.push(finding(Severity::Info, "disabled-skill", format!("tenant {t}: {why}")));
        }
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
        }
        if tok.last_used.is_none() && age > UNUSED_TOKEN_SECS {
            out.push(finding(
                Severity::Info,
                "unused-token",
                format!("token {} of tenant {t} has never been used; revoke it if it is not needed", tok.id),
            ));
        }
    }
    for f in &mut out {
        f.tenant = Some(t.clone());
    }
    out
}

#[cfg(test)]
mod tests;
