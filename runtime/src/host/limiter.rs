//! The resource limiter of one call's store: its linear memory (all
//! memories together), table elements and instance counts, and which limit
//! a refused growth hit.

use wasmtime::{ResourceLimiter, Result};

/// Caps a call's linear memory (all memories together), table elements and
/// instance counts, and remembers which limit was hit so a resulting trap
/// can be reported as `memory limit` or as a table-limit trap.
pub struct CallLimiter {
    memory_limit: usize,
    memory_used: usize,
    /// The most linear memory the call held at once.
    pub(crate) memory_peak: usize,
    table_limit: usize,
    table_used: usize,
    /// The counts before the last growth this limiter allowed, put back if
    /// the engine then fails that growth (e.g. past a pool slot's size).
    memory_before: usize,
    table_before: usize,
    /// Set when a memory growth was refused.
    pub(crate) hit: bool,
    /// Set when a table growth was refused.
    pub(crate) table_hit: bool,
}

/// Most component/core instances, tables and memories one call may create.
const MAX_INSTANCES: usize = 16;
const MAX_TABLES: usize = 16;
const MAX_MEMORIES: usize = 2;

impl CallLimiter {
    /// A limiter allowing `memory_limit` bytes and `table_limit` elements.
    pub fn new(memory_limit: u64, table_limit: u64) -> Self {
        CallLimiter {
            memory_limit: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            memory_used: 0,
            memory_peak: 0,
            table_limit: usize::try_from(table_limit).unwrap_or(usize::MAX),
            table_used: 0,
            memory_before: 0,
            table_before: 0,
            hit: false,
            table_hit: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_limit {
            self.hit = true;
            return Ok(false);
        }
        self.memory_before = self.memory_used;
        self.memory_used = total;
        self.memory_peak = self.memory_peak.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> Result<()> {
        self.memory_used = self.memory_before;
        Ok(())
    }

    fn table_growing(&mut self, current: usize, desired: usize, _max: Option<usize>) -> Result<bool> {
        let total = self.table_used - current.min(self.table_used) + desired;
        if total > self.table_limit {
            self.table_hit = true;
            return Ok(false);
        }
        self.table_before = self.table_used;
        self.table_used = total;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> Result<()> {
        self.table_used = self.table_before;
        Ok(())
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_growth_the_engine_fails_is_not_counted() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.table_growing(0, 8, None).unwrap());
        l.table_grow_failed(wasmtime::Error::msg("past the pool slot")).unwrap();
        assert!(l.table_growing(0, 9, None).unwrap(), "the failed 8 still counted");
        assert!(l.memory_growing(0, 90, None).unwrap());
        l.memory_grow_failed(wasmtime::Error::msg("no room")).unwrap();
        assert!(l.memory_growing(0, 95, None).unwrap(), "the failed 90 still counted");
    }

    #[test]
    fn memory_is_capped_over_all_memories() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(!l.memory_growing(0, 60, None).unwrap(), "a second memory counts too");
        assert!(l.hit);
        assert!(l.memory_growing(60, 100, None).unwrap());
        assert!(!l.memory_growing(100, 101, None).unwrap());
        assert_eq!(l.memory_peak, 100);
    }

    #[test]
    fn tables_are_capped() {
        let mut l = CallLimiter::new(100, 10);
        assert!(l.table_growing(0, 10, None).unwrap());
        assert!(!l.table_hit);
        assert!(!l.table_growing(10, 11, None).unwrap());
        assert!(l.table_hit);
        assert!(!l.hit, "a table refusal is not a memory refusal");
    }
}
