//! Per-tenant rate limits: a token bucket per key, refilled continuously.
//!
//! A key (a tenant) may take `per_minute` tokens at once (the burst), and
//! gets them back at `per_minute` per 60 seconds. The rate is passed on each
//! call, so a policy change applies at the next call without rebuilding the
//! limiter; a lower rate clamps the bucket at once.
//!
//! The limiter reads the injected [`SharedClock`] (seconds); tokens are kept
//! fractional (in exact sixtieths), so a rate of 5 per minute gives one token back every 12 s.
//! A clock that goes backwards refills nothing (it cannot be used to mint
//! tokens).
//!
//! Memory: one small bucket per key seen. Keys are validated tenant ids, so
//! the map is bounded by the number of tenants; in addition, once it holds
//! more than [`PRUNE_ABOVE`] buckets, buckets idle for a minute or more (which
//! are full again, hence equivalent to no bucket) are dropped, at most once a
//! minute so the sweep's cost stays amortised.
//!
//! Why not `governor`: its quota is fixed when a limiter is built (no
//! setter), so a rate passed per call needs one limiter per rate, and a rate
//! change then meets a fresh full bucket (an exhausted tenant whose rate is
//! lowered or raised could send at once, and cycling rates adds the bursts
//! up), and every rate ever seen keeps a limiter. Its GCRA also keeps the
//! debt in time, not tokens, so even a state shared across rates would not
//! clamp as described above. The rate-change tests below pin this.

use crate::clock::SharedClock;
use crate::ids::TenantId;
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

/// Bucket count above which idle (full) buckets are dropped.
pub const PRUNE_ABOVE: usize = 10_000;

/// One token, in the units buckets count.
const UNITS: u64 = 60;

/// A per-tenant token-bucket rate limiter; thread-safe.
pub struct RateLimiter {
    clock: SharedClock,
    state: Mutex<State>,
}

struct State {
    buckets: HashMap<TenantId, Bucket>,
    /// When idle buckets were last dropped (at most once a minute).
    pruned_at: u64,
}

/// One key's bucket. Tokens are counted in sixtieths, so a refill of
/// `per_minute` tokens per 60 s is exactly `per_minute` units per second and
/// fractions never round.
struct Bucket {
    /// Tokens available, in sixtieths of a token.
    units: u64,
    /// When `units` was last brought up to date (seconds).
    last: u64,
}

impl RateLimiter {
    /// An empty limiter on `clock`: every key starts with a full bucket.
    pub fn new(clock: SharedClock) -> Self {
        RateLimiter { clock, state: Mutex::new(State { buckets: HashMap::new(), pruned_at: 0 }) }
    }

    /// Takes one token from `key`'s bucket (burst `per_minute`, refilled at
    /// `per_minute` per 60 s); `false`, taking nothing, when the bucket is
    /// empty. A rate of 0 denies every call.
    pub fn try_take(&self, key: &TenantId, per_minute: u32) -> bool {
        if per_minute == 0 {
            return false;
        }
        let now = self.clock.now();
        let burst = u64::from(per_minute) * UNITS;
        // A poisoned lock only means another thread panicked mid-update of a
        // few numbers; the map is still usable.
        let mut state = lock(&self.state);
        if state.buckets.len() > PRUNE_ABOVE && now.saturating_sub(state.pruned_at) >= 60 {
            state.buckets.retain(|_, b| now.saturating_sub(b.last) < 60);
            state.pruned_at = now;
        }
        let bucket = state.buckets.entry(key.clone()).or_insert(Bucket { units: burst, last: now });
        if now > bucket.last {
            let refill = (now - bucket.last).saturating_mul(u64::from(per_minute));
            bucket.units = bucket.units.saturating_add(refill);
            bucket.last = now;
        }
        bucket.units = bucket.units.min(burst);
        if bucket.units >= UNITS {
            bucket.units -= UNITS;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    fn limiter() -> (ManualClock, RateLimiter) {
        let clock = ManualClock::new(1_700_000_000);
        (clock.clone(), RateLimiter::new(Arc::new(clock)))
    }

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn burst_is_per_minute() {
        let (_c, l) = limiter();
        let a = t("a");
        for i in 0..5 {
            assert!(l.try_take(&a, 5), "token {i}");
        }
        assert!(!l.try_take(&a, 5));
        assert!(!l.try_take(&a, 5));
    }

    #[test]
    fn refill_is_continuous_and_capped_at_the_burst() {
        let (c, l) = limiter();
        let a = t("a");
        for _ in 0..5 {
            assert!(l.try_take(&a, 5));
        }
        // 5 per minute: one token every 12 s.
        c.advance(11);
        assert!(!l.try_take(&a, 5));
        c.advance(1);
        assert!(l.try_take(&a, 5));
        assert!(!l.try_take(&a, 5));
        // Fractions are kept: 6 s + 6 s make one token.
        c.advance(6);
        assert!(!l.try_take(&a, 5));
        c.advance(6);
        assert!(l.try_take(&a, 5));
        // A long pause refills the burst, no more.
        c.advance(3600);
        for _ in 0..5 {
            assert!(l.try_take(&a, 5));
        }
        assert!(!l.try_take(&a, 5));
    }

    #[test]
    fn tenants_are_independent() {
        let (_c, l) = limiter();
        let (a, b) = (t("a"), t("b"));
        for _ in 0..3 {
            assert!(l.try_take(&a, 3));
        }
        assert!(!l.try_take(&a, 3));
        for _ in 0..3 {
            assert!(l.try_take(&b, 3));
        }
        assert!(!l.try_take(&b, 3));
    }

    #[test]
    fn zero_per_minute_denies_everything() {
        let (c, l) = limiter();
        let a = t("a");
        assert!(!l.try_take(&a, 0));
        c.advance(3600);
        assert!(!l.try_take(&a, 0));
    }

    #[test]
    fn a_lower_rate_clamps_and_a_backwards_clock_mints_nothing() {
        let (c, l) = limiter();
        let a = t("a");
        assert!(l.try_take(&a, 100));
        // The policy drops to 2 per minute: the bucket holds 2 at most.
        assert!(l.try_take(&a, 2));
        assert!(l.try_take(&a, 2));
        assert!(!l.try_take(&a, 2));
        c.set(1_600_000_000);
        assert!(!l.try_take(&a, 2));
        c.set(1_700_000_000);
        assert!(!l.try_take(&a, 2));
        c.advance(30);
        assert!(l.try_take(&a, 2));
    }

    #[test]
    fn an_exhausted_bucket_stays_empty_whatever_the_new_rate() {
        let (c, l) = limiter();
        let a = t("a");
        for _ in 0..100 {
            assert!(l.try_take(&a, 100));
        }
        // Lowered or raised, the rate starts from the tokens left (none), not
        // from a fresh burst; cycling rates adds nothing up.
        for per_minute in [2, 100, 200, 5, 6, 5, 6, 7] {
            assert!(!l.try_take(&a, per_minute), "{per_minute} per minute");
        }
        // The new rate refills: 7 per minute is a token in 60/7 s.
        c.advance(9);
        assert!(l.try_take(&a, 7));
        assert!(!l.try_take(&a, 7));
    }

    #[test]
    fn many_rates_keep_one_bucket_per_key() {
        let (_c, l) = limiter();
        let a = t("a");
        for per_minute in 1..=1000 {
            l.try_take(&a, per_minute);
        }
        assert_eq!(l.state.lock().unwrap().buckets.len(), 1);
    }

    #[test]
    fn idle_buckets_are_pruned_when_many() {
        let (c, l) = limiter();
        for i in 0..=PRUNE_ABOVE {
            assert!(l.try_take(&t(&format!("t{i}")), 1));
        }
        c.advance(60);
        assert!(l.try_take(&t("fresh"), 1));
        assert_eq!(l.state.lock().unwrap().buckets.len(), 1);
    }
}
