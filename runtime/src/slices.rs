//! CPU slices for long calls, so that a tenant burning CPU cannot hold up
//! other tenants' short calls.
//!
//! Guest code runs on the async workers that also serve requests. A call
//! that is still running at an epoch tick (every `pool.epoch_tick_ms`) is a
//! *long* call: from then on it runs only while it holds one of
//! `pool.long_call_slots` slots (default: one fewer than the cores, at least
//! one). At every tick it gives its slot back and queues for one again
//! (first come, first served), so long calls take turns a tick at a time,
//! and a call entering a host function (an HTTP request, a sleep, a
//! database read) gives its slot back at once, so that waiting never holds
//! one. Short calls, which end before a tick, never queue: with one core
//! always free of long calls, they do not wait behind them.

use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The slot a call holds, if any; shared by its store's hooks.
#[derive(Clone, Default)]
pub(crate) struct Slice(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Slice {
    /// Gives the slot back, if held.
    pub(crate) fn release(&self) {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(held);
    }

    /// The future a long call yields on at a tick: it waits for a slot from
    /// `slots` (no longer than `deadline`; past it, the next tick ends the
    /// call) and keeps it until the next tick or host call.
    pub(crate) fn next_turn(
        &self,
        slots: &Arc<Semaphore>,
        deadline: Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        self.release();
        let (slots, slice) = (slots.clone(), self.clone());
        Box::pin(async move {
            let turn = tokio::time::timeout_at(deadline.into(), slots.acquire_owned()).await;
            if let Ok(Ok(permit)) = turn {
                *slice.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(permit);
            }
        })
    }

    #[cfg(test)]
    fn held(&self) -> bool {
        self.0.lock().unwrap().is_some()
    }
}

/// The number of long-call slots for `configured` (0: one fewer than the
/// cores, at least one).
pub(crate) fn slots(configured: u32) -> usize {
    if configured > 0 {
        return configured as usize;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn long_calls_take_turns_and_a_host_call_gives_the_slot_back() {
        let slots = Arc::new(Semaphore::new(1));
        let far = Instant::now() + Duration::from_secs(5);
        let (a, b) = (Slice::default(), Slice::default());
        a.next_turn(&slots, far).await;
        assert!(a.held());
        // B waits while A holds the only slot…
        let b_turn = tokio::spawn({
            let (b, slots) = (b.clone(), slots.clone());
            async move { b.next_turn(&slots, far).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!b_turn.is_finished(), "B must wait for A's slot");
        // …until A enters a host call (or reaches its next tick).
        a.release();
        b_turn.await.unwrap();
        assert!(b.held() && !a.held());
        // A queues behind B; B's next tick hands the slot over.
        let a_turn = tokio::spawn({
            let (a, slots) = (a.clone(), slots.clone());
            async move { a.next_turn(&slots, far).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!a_turn.is_finished());
        drop(b.next_turn(&slots, far)); // B's tick: gives back, queues again
        a_turn.await.unwrap();
        assert!(a.held());
    }

    #[tokio::test]
    async fn a_turn_waits_no_longer_than_the_deadline() {
        let slots = Arc::new(Semaphore::new(0));
        let s = Slice::default();
        let start = Instant::now();
        s.next_turn(&slots, start + Duration::from_millis(30)).await;
        assert!(!s.held());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn slot_count() {
        assert_eq!(slots(3), 3);
        assert!(slots(0) >= 1);
    }
}
