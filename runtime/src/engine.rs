//! The process's one `Engine`: component model, pooling allocator sized from
//! configuration, copy-on-write memory images reset in place between calls
//! (`keep_resident_bytes`, `PAGEMAP_SCAN`), fuel, and epoch interruption
//! driven by one ticker thread.

use crate::config::PoolConfig;
use crate::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Core instances, memories and tables a skill component may hold. A Rust
/// `wasm32-wasip2` component has one memory and a few small shim instances.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 4;
const MEMORIES_PER_COMPONENT: u32 = 1;

/// Builds the engine.
pub fn build(pool: &PoolConfig) -> Result<Engine, Error> {
    if pool.max_instances == 0 {
        return Err(Error::Config("pool.max_instances must be at least 1".into()));
    }
    if pool.epoch_tick_ms == 0 {
        return Err(Error::Config("pool.epoch_tick_ms must be at least 1".into()));
    }
    let n = pool.max_instances;
    let mut p = PoolingAllocationConfig::default();
    p.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
        .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(n)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(usize::try_from(pool.max_memory_bytes).unwrap_or(usize::MAX))
        .linear_memory_keep_resident(usize::try_from(pool.keep_resident_bytes).unwrap_or(usize::MAX))
        .table_keep_resident(usize::try_from(pool.keep_resident_bytes / 16).unwrap_or(usize::MAX))
        .pagemap_scan(if pool.pagemap_scan { Enabled::Auto } else { Enabled::No });

    let mut cfg = Config::new();
    cfg.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    Engine::new(&cfg).map_err(|e| Error::Config(format!("cannot build the engine: {e}")))
}

/// The thread that advances the engine's epoch every tick; stops when
/// dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub fn start(engine: &Engine, tick: Duration) -> Result<Self, Error> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.weak(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("wasmclaw-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the epoch thread", e))?;
        Ok(EpochTicker { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
