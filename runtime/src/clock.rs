//! Time, injectable: the scheduler and the delivery worker take a [`Clock`]
//! so tests move time forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Now, in seconds since the Unix epoch.
    fn now(&self) -> u64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
    }
}

/// A clock that moves only when told to (for tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock reading `now`.
    pub fn new(now: u64) -> Self {
        ManualClock(Arc::new(AtomicU64::new(now)))
    }
    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Moves the time forward by `secs`.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// A clock kept to another's time: `base` plus an offset in seconds. In a
/// cluster the offset is the database server's clock against this
/// replica's, set at the join and at every heartbeat, so every replica
/// reads the same time whatever its own clock says: cron's fire times, the
/// outbox's leases and backoffs, token expiry and audit stamps all agree.
/// With no cluster the offset stays 0.
pub struct OffsetClock {
    base: SharedClock,
    offset: AtomicI64,
}

impl OffsetClock {
    /// `base`, not yet offset.
    pub fn new(base: SharedClock) -> Self {
        OffsetClock { base, offset: AtomicI64::new(0) }
    }

    /// The base clock's time, not offset.
    pub fn base_now(&self) -> u64 {
        self.base.now()
    }

    /// Keeps the clock to `reference` (seconds since the epoch, read just
    /// now): the offset moves only when it is off by 2 s or more, so a
    /// reading's rounding does not make the time step back and forth.
    pub fn keep_to(&self, reference: u64) {
        let wanted = (reference as i64).saturating_sub(self.base.now() as i64);
        let current = self.offset.load(Ordering::Acquire);
        if wanted.abs_diff(current) >= 2 {
            self.offset.store(wanted, Ordering::Release);
        }
    }

    /// The offset now, seconds.
    pub fn offset(&self) -> i64 {
        self.offset.load(Ordering::Acquire)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> u64 {
        let t = (self.base.now() as i64).saturating_add(self.offset.load(Ordering::Acquire));
        u64::try_from(t).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_follows_its_reference_and_ignores_a_second_of_rounding() {
        let base = ManualClock::new(1_000);
        let c = OffsetClock::new(Arc::new(base.clone()));
        assert_eq!(c.now(), 1_000);
        c.keep_to(1_000 + 3_600);
        assert_eq!((c.now(), c.offset()), (4_600, 3_600), "an hour behind the reference");
        c.keep_to(4_601);
        assert_eq!(c.now(), 4_600, "one second of rounding is no step");
        base.advance(10);
        assert_eq!(c.now(), 4_610);
        c.keep_to(10);
        assert_eq!(c.now(), 10, "an hour ahead");
        c.keep_to(9);
        assert_eq!(c.now(), 10, "within a second");
        assert_eq!(c.base_now(), 1_010);
    }
}
