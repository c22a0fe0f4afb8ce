//! What calls may use: the engine's pool (`[pool]`: how many calls can be
//! in flight in the whole process), the limits of one call (`[defaults]`,
//! and `[caps]` that no call passes whatever it asks), and the per-call
//! overrides, always clamped to the caps.

use super::MIB;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Sizing of the pooling instance allocator. Every live call holds one
/// component instance, its memories, tables and one fiber stack; these bound
/// how many calls can be in flight in the whole process.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
