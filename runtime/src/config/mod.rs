//! The operator's configuration (`wasmclaw.toml`): where the gateway
//! listens, the data directory, pool sizing, per-call limits (defaults and
//! the operator's caps), the memory quota, the audit log's rotation, the
//! rate card and what skills are trusted with. Every field has a safe default,
//! so an empty configuration runs. A tenant's policy is an overlay on it
//! that may not set any of these keys ([`OPERATOR_KEYS`]).
//!
//! This file holds the whole file's shape ([`RuntimeConfig`]) and its small
//! sections (`[trust]`, `[channels]`); the larger ones have their own:
//! `limits` (`[pool]`, `[defaults]` and `[caps]`: what one call may use),
//! `quotas` (what one tenant may hold: `[memory_quota]`, `[files_quota]`,
//! `[secret_limits]`, `[quotas]`) and `rate_card` (`[rate_card]`).

mod cluster;
mod dashboard;
mod effective;
mod limits;
mod quotas;
mod rate_card;

pub use cluster::{ClusterConfig, NodeIdentity};
pub use dashboard::{
    BrandConfig, DashboardConfig, MIN_CONTRAST, contrast, parse_colour, public_host, strip_port,
};
pub use effective::dotted;
pub use limits::{LimitOverrides, Limits, PoolConfig};
pub use quotas::{FilesQuota, MemoryQuota, Quota, QuotaConfig, SecretLimits};
pub use rate_card::{ModelPrice, RateCard};

use crate::audit::AuditConfig;
use crate::llm::ProviderConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The gateway's default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8420";

/// Keys that belong to the operator: a tenant policy naming one of them is
/// refused, naming the key.
pub const OPERATOR_KEYS: &[&str] = &[
    "admin_key",
    "master_key",
    "listen",
    "data_dir",
    "pool",
    "defaults",
    "caps",
    "memory_quota",
    "files_quota",
    "audit",
    "rate_card",
    "trust",
    "shutdown_grace_secs",
    "request_timeout_secs",
    "header_read_timeout_secs",
    "max_connections",
    "providers",
    "quotas",
    "channels",
    "secret_limits",
    "cluster",
    "tenants_dir",
    "cache_dir",
    "dashboard",
];

const MIB: u64 = 1024 * 1024;

/// Everything the runtime needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Where `wasmclaw serve` listens.
    pub listen: SocketAddr,
    /// Where the database, the compiled cache and the tenants' files live.
    pub data_dir: PathBuf,
    /// Sizing of the engine's pooling allocator.
    pub pool: PoolConfig,
    /// Limits a call gets when nothing asks for others.
    pub defaults: Limits,
    /// The operator's caps: no call gets more than this, whatever it asks.
    pub caps: Limits,
    /// Per-tenant quota of the `memory` capability.
    pub memory_quota: MemoryQuota,
    /// Per-tenant quota of the files directory, as skills write to it.
    pub files_quota: FilesQuota,
    /// Rotation of the audit log.
    pub audit: AuditConfig,
    /// Prices applied to the metered usage.
    pub rate_card: RateCard,
    /// Signed installs and allowed imports.
    pub trust: TrustConfig,
    /// On shutdown, how long in-flight requests may finish, in seconds.
    pub shutdown_grace_secs: u64,
    /// Longest a request may take, in seconds (408 after that).
    pub request_timeout_secs: u64,
    /// Longest a client may take to send a request's headers, in seconds;
    /// the connection is closed after that (against slow clients).
    pub header_read_timeout_secs: u64,
    /// Connections open at once; past it, new ones are closed at once.
    pub max_connections: u32,
    /// The language-model providers agents may use, by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Per-tenant quotas of agent use.
    pub quotas: QuotaConfig,
    /// Inbound channels: the Telegram API base, media and signature bounds.
    pub channels: ChannelsConfig,
    /// How many secrets a tenant may hold and how large, and the memory the
    /// redactors built from them may take.
    pub secret_limits: SecretLimits,
    /// Where the database is: set by `--store` or `WASMCLAW_STORE`, never
    /// by the file (a store URL may hold a password).
    #[serde(skip)]
    pub store: crate::store_location::StoreLocation,
    /// Membership timings of a cluster of replicas (`[cluster]`).
    pub cluster: ClusterConfig,
    /// Where the tenants' files are (default `<data_dir>/tenants`): in a
    /// cluster, a volume every replica mounts.
    pub tenants_dir: Option<PathBuf>,
    /// Where compiled components are cached (default `<data_dir>/cache`):
    /// per node.
    pub cache_dir: Option<PathBuf>,
    /// The web dashboard at `/ui` (`[dashboard]`).
    pub dashboard: DashboardConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8420)),
            data_dir: PathBuf::from("wasmclaw-data"),
            pool: PoolConfig::default(),
            defaults: Limits::default(),
            caps: Limits::caps(),
            memory_quota: MemoryQuota::default(),
            files_quota: Default::default(),
            audit: AuditConfig::default(),
            rate_card: RateCard::default(),
            trust: TrustConfig::default(),
            shutdown_grace_secs: 30,
            request_timeout_secs: 120,
            header_read_timeout_secs: 10,
            max_connections: 10_000,
            providers: BTreeMap::new(),
            quotas: QuotaConfig::default(),
            channels: ChannelsConfig::default(),
            secret_limits: SecretLimits::default(),
            store: Default::default(),
            cluster: ClusterConfig::default(),
            tenants_dir: None,
            cache_dir: None,
            dashboard: DashboardConfig::default(),
        }
    }
}

impl RuntimeConfig {
    /// The defaults with `data_dir` set.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig { data_dir: data_dir.into(), ..Default::default() }
    }

    /// The tenants' files: [`RuntimeConfig::tenants_dir`], else
    /// `<data_dir>/tenants`.
    pub fn tenants_root(&self) -> PathBuf {
        self.tenants_dir.clone().unwrap_or_else(|| self.data_dir.join("tenants"))
    }

    /// The compiled cache: [`RuntimeConfig::cache_dir`], else
    /// `<data_dir>/cache`.
    pub fn cache_root(&self) -> PathBuf {
        self.cache_dir.clone().unwrap_or_else(|| self.data_dir.join("cache"))
    }

    /// SHA-256 (hex) of the settings every replica of a cluster must share:
    /// the whole configuration but where this one listens and keeps its
    /// files, and its store URL.
    pub fn shared_digest(&self) -> String {
        let shared = RuntimeConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            data_dir: PathBuf::new(),
            store: Default::default(),
            tenants_dir: None,
            cache_dir: None,
            ..self.clone()
        };
        crate::cache::digest(format!("{shared:?}").as_bytes())
    }
}

/// What the gateway trusts skills with: whether installs must be signed
/// packages, and which imports beyond the skill interfaces and the linked
/// WASI set a component may have. Trusted publisher keys are state, kept in
/// the database (`wasmclaw trust add`), not configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustConfig {
    /// Install only packages signed by a trusted key, and load only skills
    /// installed that way (default true; `serve --allow-unsigned` turns it
    /// off for development, and `security audit` flags that).
    pub require_signed: bool,
    /// Further interfaces a component may import, by name without version:
    /// a package (`wasi:sockets`) or one interface (`wasi:sockets/tcp`).
    /// The gateway does not implement them: such a component loads, and any
    /// call into them traps (useful for components whose standard library
    /// pulls in `wasi:sockets` it never calls). See [`crate::permissions`].
    pub allow_imports: Vec<String>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        TrustConfig { require_signed: true, allow_imports: Vec::new() }
    }
}

/// The operator's channel settings (`[channels]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// The Telegram Bot API base.
    pub telegram_api_base: String,
    /// Largest inbound media file, bytes.
    pub max_media_bytes: u64,
    /// How far a signed webhook's timestamp may be from now, seconds.
    pub max_skew_secs: u64,
    /// Most live replay records one tenant holds ([`crate::store::Db::replay_first`]):
    /// past it, new inbound requests to the tenant are refused (429) until
    /// some expire, and no other tenant's records are touched.
    pub max_replays_per_tenant: usize,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        ChannelsConfig {
            telegram_api_base: "https://api.telegram.org".into(),
            max_media_bytes: 10 * 1024 * 1024,
            max_skew_secs: 300,
            max_replays_per_tenant: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_config_keys_are_refused() {
        let e = toml::from_str::<RuntimeConfig>("[defaults]\nfuell = 3\n").unwrap_err();
        assert!(e.to_string().contains("fuell"), "{e}");
    }

    #[test]
    fn empty_config_is_the_default() {
        let c: RuntimeConfig = toml::from_str("").unwrap();
        assert_eq!(c.defaults, Limits::default());
        assert_eq!(c.caps, Limits::caps());
    }
}

#[cfg(test)]
mod default_listen_tests {
    use super::*;

    #[test]
    fn the_default_listen_is_default_listen() {
        assert_eq!(RuntimeConfig::default().listen, DEFAULT_LISTEN.parse::<SocketAddr>().unwrap());
    }
}
