//! The cache of tenants' redactors: one [`Redactor`] of all a tenant's
//! secrets, built once per change of them, shared by every call.
//!
//! A build decrypts every secret and compiles the automaton, which can take
//! milliseconds at the caps, so it runs on the blocking pool, never on an
//! async worker, and once (single-flight): calls arriving meanwhile wait
//! for the same build. Each tenant has a generation, bumped by every change
//! of its secrets; a build started before a change is never cached under
//! the new generation. The cache's memory ([`Redactor::memory_bytes`]) is
//! bounded by `secret_limits.redactor_cache_bytes`: past it the least
//! recently used redactors are dropped, to be built again when next needed
//! (a call holding one keeps it until it ends).

use crate::ids::TenantId;
use crate::redact::Redactor;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A tenant's redactor (`None`: the tenant has no secret).
pub(crate) type Built = Option<Arc<Redactor>>;

struct Slot {
    generation: u64,
    cell: Arc<OnceCell<Built>>,
    /// Bytes counted against the budget (0 until built).
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct State {
    slots: HashMap<TenantId, Slot>,
    generations: HashMap<TenantId, u64>,
    used: usize,
    tick: u64,
}

/// The cache (see the module documentation).
pub(crate) struct RedactorCache {
    state: Mutex<State>,
    budget: usize,
}

impl RedactorCache {
    /// A cache whose redactors take at most `budget` bytes together.
    pub(crate) fn new(budget: usize) -> Self {
        RedactorCache { state: Mutex::new(State::default()), budget }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Forgets the tenant's redactor: its secrets changed (or it is gone).
    pub(crate) fn invalidate(&self, tenant: &TenantId) {
        let mut s = self.lock();
        *s.generations.entry(tenant.clone()).or_default() += 1;
        if let Some(old) = s.slots.remove(tenant) {
            s.used -= old.bytes;
        }
    }

    /// The cell of the tenant's current generation, and that generation.
    fn cell(&self, tenant: &TenantId) -> (Arc<OnceCell<Built>>, u64) {
        let mut s = self.lock();
        let generation = s.generations.get(tenant).copied().unwrap_or(0);
        s.tick += 1;
        let tick = s.tick;
        let slot = s.slots.entry(tenant.clone()).or_insert_with(|| Slot {
            generation,
            cell: Arc::new(OnceCell::new()),
            bytes: 0,
            last_used: tick,
        });
        slot.last_used = tick;
        (slot.cell.clone(), generation)
    }

    /// Counts a finished build against the budget and drops the least
    /// recently used redactors past it.
    fn settle(&self, tenant: &TenantId, generation: u64, built: &Built) {
        let bytes = built.as_ref().map_or(0, |r| r.memory_bytes());
        let mut s = self.lock();
        let State { slots, used, .. } = &mut *s;
        match slots.get_mut(tenant) {
            Some(slot) if slot.generation == generation && slot.bytes == 0 && slot.cell.initialized() => {
                slot.bytes = bytes;
                *used += bytes;
            }
            _ => return,
        }
        while *used > self.budget {
            let victim = slots
                .iter()
                .filter(|(t, slot)| *t != tenant && slot.bytes > 0)
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(t, _)| t.clone());
            let Some(victim) = victim else { break };
            if let Some(old) = slots.remove(&victim) {
                *used -= old.bytes;
                tracing::debug!(tenant = %victim, bytes = old.bytes, "redactor evicted from the cache");
            }
        }
    }

    /// The tenant's redactor, built by `build` on the blocking pool if the
    /// cache has none of the current generation; concurrent callers share
    /// one build.
    pub(crate) async fn get(
        &self,
        tenant: &TenantId,
        build: impl FnOnce() -> Built + Send + 'static,
    ) -> Built {
        let (cell, generation) = self.cell(tenant);
        let mut fresh = false;
        let built = cell
            .get_or_init(|| async {
                fresh = true;
                tokio::task::spawn_blocking(build).await.unwrap_or_else(|e| {
                    // A panicking build must not leave outputs unscrubbed:
                    // the caller treats this as no redactor, so log loudly.
                    tracing::error!(error = %e, "the redactor build failed");
                    None
                })
            })
            .await
            .clone();
        if fresh {
            self.settle(tenant, generation, &built);
        }
        built
    }

    /// [`RedactorCache::get`] for a caller that is not async (an API read):
    /// an existing build is used, else `build` runs on this thread.
    pub(crate) fn get_blocking(&self, tenant: &TenantId, build: impl FnOnce() -> Built) -> Built {
        let (cell, generation) = self.cell(tenant);
        if let Some(b) = cell.get() {
            return b.clone();
        }
        let built = build();
        if cell.set(built.clone()).is_ok() {
            self.settle(tenant, generation, &built);
        }
        built
    }

    /// Bytes the cached redactors take.
    pub(crate) fn used_bytes(&self) -> usize {
        self.lock().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use zeroize::Zeroizing;

    fn tenant(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    fn redactor(value: &str) -> Built {
        Some(Arc::new(Redactor::new(&[("K".into(), Zeroizing::new(value.as_bytes().to_vec()))])))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_one_build_and_a_change_rebuilds() {
        let cache = Arc::new(RedactorCache::new(usize::MAX));
        let builds = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, builds) = (cache.clone(), builds.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(&tenant("a"), move || {
                        builds.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        redactor("first-value")
                    })
                    .await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_some());
        }
        assert_eq!(builds.load(Ordering::SeqCst), 1, "one build for sixteen calls");
        assert!(cache.used_bytes() > 0);
        cache.invalidate(&tenant("a"));
        assert_eq!(cache.used_bytes(), 0);
        let r = cache.get(&tenant("a"), || redactor("second-value")).await.unwrap();
        assert_eq!(r.redact("second-value").text, "[redacted:K]");
    }

    #[tokio::test]
    async fn past_the_budget_the_least_recently_used_is_dropped() {
        let one = redactor("a-value-of-some-length").unwrap().memory_bytes();
        let cache = RedactorCache::new(2 * one + one / 2);
        for t in ["a", "b"] {
            cache.get(&tenant(t), || redactor("a-value-of-some-length")).await;
        }
        // A is used again, so B is the least recently used.
        cache.get(&tenant("a"), || panic!("A is cached")).await;
        cache.get(&tenant("c"), || redactor("a-value-of-some-length")).await;
        assert!(cache.used_bytes() <= 2 * one + one / 2, "{} > budget", cache.used_bytes());
        cache.get(&tenant("a"), || panic!("A is still cached")).await;
        let rebuilt = AtomicUsize::new(0);
        cache.get_blocking(&tenant("b"), || {
            rebuilt.fetch_add(1, Ordering::SeqCst);
            redactor("a-value-of-some-length")
        });
        assert_eq!(rebuilt.load(Ordering::SeqCst), 1, "B was evicted and is built again");
    }
}
