//! What one tenant may hold and use, over all its users and calls: its
//! `memory` entries (`[memory_quota]`), its files (`[files_quota]`), its
//! secrets (`[secret_limits]`) and its agents' tokens, cost and requests
//! (`[quotas]`).

use super::MIB;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-tenant quota of the `memory` capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Quotas of agent use: `[quotas.default]` for every tenant, and
/// `[quotas.tenants.NAME]` replacing it for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
