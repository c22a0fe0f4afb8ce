//! The operator's configuration (`wasmclaw.toml`): where the gateway
//! listens, the data directory, pool sizing, per-call limits (defaults and
//! the operator's caps), the memory quota, the audit log's rotation, the
//! rate card and what skills are trusted with. Every field has a safe default,
//! so an empty configuration runs. A tenant's policy is an overlay on it
//! that may not set any of these keys ([`OPERATOR_KEYS`]).

use crate::audit::AuditConfig;
use crate::llm::ProviderConfig;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
];

const MIB: u64 = 1024 * 1024;

/// Everything the runtime needs to start.
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

/// Prices per unit of metered usage, in the operator's currency (all zero
/// by default). A skill usage row's `cost` is `calls × per_call + fuel /
/// 10⁶ × per_million_fuel + wall seconds × per_second`; a model usage row's
/// is its tokens priced by `models."NAME"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateCard {
    /// Price of one call.
    pub per_call: f64,
    /// Price of 10⁶ units of fuel.
    pub per_million_fuel: f64,
    /// Price of one second of wall-clock time.
    pub per_second: f64,
    /// Price of each model's tokens, by model name.
    pub models: BTreeMap<String, ModelPrice>,
}

/// The price of a model's tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelPrice {
    /// Price of 1,000 input (prompt) tokens.
    pub input_per_1k: f64,
    /// Price of 1,000 output (completion) tokens.
    pub output_per_1k: f64,
}

impl RateCard {
    /// The price of this much usage.
    pub fn cost(&self, calls: u64, fuel: u64, wall_us: u64) -> f64 {
        calls as f64 * self.per_call
            + fuel as f64 / 1e6 * self.per_million_fuel
            + wall_us as f64 / 1e6 * self.per_second
    }

    /// The price of a model's tokens (zero for a model without a price).
    pub fn token_cost(&self, model: &str, input: u64, output: u64) -> f64 {
        let p = self.models.get(model).copied().unwrap_or_default();
        input as f64 / 1e3 * p.input_per_1k + output as f64 / 1e3 * p.output_per_1k
    }
}

/// Quotas of agent use: `[quotas.default]` for every tenant, and
/// `[quotas.tenants.NAME]` replacing it for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// The quota of every tenant without its own.
    pub default: Quota,
    /// Quotas of single tenants, by tenant id.
    pub tenants: BTreeMap<String, Quota>,
}

impl QuotaConfig {
    /// The quota of `tenant`.
    pub fn of(&self, tenant: &str) -> &Quota {
        self.tenants.get(tenant).unwrap_or(&self.default)
    }
}

/// One tenant's quota; zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quota {
    /// Model tokens (input plus output) per calendar month (UTC).
    pub tokens_per_month: u64,
    /// Model cost per calendar month, by the rate card.
    pub cost_per_month: f64,
    /// Agent messages per minute.
    pub requests_per_minute: u32,
}

impl Default for Quota {
    fn default() -> Self {
        Quota { tokens_per_month: 0, cost_per_month: 0.0, requests_per_minute: 60 }
    }
}

/// What the gateway trusts skills with: whether installs must be signed
/// packages, and which imports beyond the skill interfaces and the linked
/// WASI set a component may have. Trusted publisher keys are state, kept in
/// the database (`wasmclaw trust add`), not configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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

impl RuntimeConfig {
    /// The defaults with `data_dir` set.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        RuntimeConfig { data_dir: data_dir.into(), ..Default::default() }
    }
}

/// Sizing of the pooling instance allocator. Every live call holds one
/// component instance, its memories, tables and one fiber stack; these bound
/// how many calls can be in flight in the whole process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// Calls that may be in flight at once across all tenants.
    pub max_instances: u32,
    /// The largest linear memory any instance may have, in bytes; caps
    /// `memory` limits.
    pub max_memory_bytes: u64,
    /// Period of the epoch ticker that enforces wall-clock deadlines and lets
    /// long calls yield, in milliseconds.
    pub epoch_tick_ms: u64,
    /// Bytes of each linear memory (and, scaled down 16×, each table) kept
    /// resident when a call ends: the pages a call touched below this are
    /// reset to the skill's initial image with `memset` instead of being
    /// handed back to the kernel with `madvise`, which costs a TLB
    /// shootdown per call and a page fault per page on the next one. 0 uses
    /// `madvise` for everything.
    pub keep_resident_bytes: u64,
    /// Find the pages a call touched with Linux's `PAGEMAP_SCAN` (kernel
    /// 6.7+) and reset only those, instead of `memset` over all of
    /// `keep_resident_bytes`. Ignored where the kernel lacks it.
    pub pagemap_scan: bool,
    /// Calls past their first epoch tick that may run guest code at once
    /// (they take turns a tick at a time); 0 means one fewer than the
    /// cores, at least one, so short calls always have a core.
    pub long_call_slots: u32,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_instances: 1000,
            max_memory_bytes: 256 * MIB,
            epoch_tick_ms: 5,
            keep_resident_bytes: MIB,
            pagemap_scan: true,
            long_call_slots: 0,
        }
    }
}

/// Limits of one call, and the per-tenant concurrency around calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly, WebAssembly instructions) a call may consume.
    pub fuel: u64,
    /// Linear memory a call may grow to, in bytes (all its memories together).
    pub memory_bytes: u64,
    /// Table elements a call may have, in all its tables together.
    pub table_elements: u64,
    /// Wall-clock time a call may run, in milliseconds.
    pub timeout_ms: u64,
    /// Largest input accepted, in bytes of JSON.
    pub max_input_bytes: u64,
    /// Largest output accepted from a skill, in bytes of JSON.
    pub max_output_bytes: u64,
    /// Bytes of stdout and of stderr kept from a call (the rest is dropped).
    pub max_stdio_bytes: u64,
    /// Log lines a call may write through `log` (the rest is dropped).
    pub max_log_lines: u32,
    /// Calls of one tenant that may run at once.
    pub concurrency: u32,
    /// How long a call waits for one of its tenant's slots before `busy`, in
    /// milliseconds.
    pub queue_wait_ms: u64,
    /// A tenant's memory budget: the linear memory (`memory_bytes`) of all
    /// its calls running at once, in bytes. As a cap, a tenant policy whose
    /// `concurrency × memory_bytes` passes it is refused, and at call time
    /// a call waits (then `busy`) until its `memory_bytes` fits in what the
    /// tenant's running calls leave of it.
    pub tenant_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            memory_bytes: 64 * MIB,
            table_elements: 100_000,
            timeout_ms: 10_000,
            max_input_bytes: MIB,
            max_output_bytes: MIB,
            max_stdio_bytes: 64 * 1024,
            max_log_lines: 100,
            concurrency: 4,
            queue_wait_ms: 2_000,
            tenant_memory_bytes: 256 * MIB,
        }
    }
}

impl Limits {
    /// The default operator caps.
    pub fn caps() -> Self {
        Limits {
            fuel: 20_000_000_000,
            memory_bytes: 256 * MIB,
            table_elements: 1_000_000,
            timeout_ms: 60_000,
            max_input_bytes: 8 * MIB,
            max_output_bytes: 8 * MIB,
            max_stdio_bytes: MIB,
            max_log_lines: 10_000,
            concurrency: 64,
            queue_wait_ms: 30_000,
            tenant_memory_bytes: 256 * MIB,
        }
    }

    /// These limits, each lowered to the cap where it exceeds it.
    pub fn clamped(&self, caps: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(caps.fuel),
            memory_bytes: self.memory_bytes.min(caps.memory_bytes),
            table_elements: self.table_elements.min(caps.table_elements),
            timeout_ms: self.timeout_ms.min(caps.timeout_ms),
            max_input_bytes: self.max_input_bytes.min(caps.max_input_bytes),
            max_output_bytes: self.max_output_bytes.min(caps.max_output_bytes),
            max_stdio_bytes: self.max_stdio_bytes.min(caps.max_stdio_bytes),
            max_log_lines: self.max_log_lines.min(caps.max_log_lines),
            concurrency: self.concurrency.clamp(1, caps.concurrency.max(1)),
            queue_wait_ms: self.queue_wait_ms.min(caps.queue_wait_ms),
            tenant_memory_bytes: self.tenant_memory_bytes.min(caps.tenant_memory_bytes),
        }
    }

    /// These limits with the overrides applied (not yet clamped).
    pub fn with(&self, o: &LimitOverrides) -> Limits {
        let mut l = self.clone();
        if let Some(f) = o.fuel {
            l.fuel = f;
        }
        if let Some(m) = o.memory_bytes {
            l.memory_bytes = m;
        }
        if let Some(t) = o.timeout {
            l.timeout_ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
        }
        l
    }

    /// The wall-clock limit as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// Per-call requests to change the defaults (from the CLI or, later, the
/// tenant's policy); they are always clamped to the operator's caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOverrides {
    /// Fuel wanted.
    pub fuel: Option<u64>,
    /// Memory wanted, in bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time wanted.
    pub timeout: Option<Duration>,
}

/// Per-tenant quota of the `memory` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryQuota {
    /// Entries a tenant may hold, over all its users.
    pub max_entries: u64,
    /// Bytes (keys plus values) a tenant may hold, over all its users.
    pub max_bytes: u64,
}

impl Default for MemoryQuota {
    fn default() -> Self {
        MemoryQuota { max_entries: 100_000, max_bytes: 64 * MIB }
    }
}

/// Per-tenant quota of the files directory (`[files_quota]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesQuota {
    /// Bytes (apparent size) of regular files a tenant may hold, over all
    /// its users.
    pub max_bytes: u64,
    /// Entries (files, directories, links) a tenant may hold.
    pub max_files: u64,
    /// How deep directories may nest below the tenant's files directory.
    pub max_depth: u32,
}

impl Default for FilesQuota {
    fn default() -> Self {
        FilesQuota { max_bytes: 1 << 30, max_files: 100_000, max_depth: 64 }
    }
}

/// Bounds on a tenant's secrets. Every secret is matched in every output of
/// the tenant's calls (in about 30 encodings), so their number and size are
/// what scrubbing costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretLimits {
    /// Secrets a tenant may hold.
    pub max_count: usize,
    /// Bytes of all of a tenant's secret values together.
    pub max_total_bytes: usize,
    /// Bytes of one value (at most the vault's own
    /// [`crate::vault::MAX_SECRET_BYTES`]).
    pub max_value_bytes: usize,
    /// Memory all tenants' cached redactors may take together, in bytes;
    /// past it the least recently used are dropped (and rebuilt when next
    /// needed).
    pub redactor_cache_bytes: usize,
}

impl Default for SecretLimits {
    fn default() -> Self {
        SecretLimits {
            max_count: 100,
            max_total_bytes: 256 * 1024,
            max_value_bytes: 8 * 1024,
            redactor_cache_bytes: 64 * MIB as usize,
        }
    }
}

/// The operator's channel settings (`[channels]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    fn overrides_are_clamped_to_caps() {
        let caps = Limits::caps();
        let wanted = LimitOverrides {
            fuel: Some(u64::MAX),
            memory_bytes: Some(1),
            timeout: Some(Duration::from_secs(3600)),
        };
        let l = Limits::default().with(&wanted).clamped(&caps);
        assert_eq!(l.fuel, caps.fuel);
        assert_eq!(l.memory_bytes, 1);
        assert_eq!(l.timeout_ms, caps.timeout_ms);
    }

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
