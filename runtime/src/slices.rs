//! CPU turns for long calls, so that a tenant burning CPU cannot hold up
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
//! one; coming back, it takes a free slot or queues for its turn at once,
//! so that a tight loop of host calls takes turns like a spin. While a tenant has a long call, its new calls start as long calls
//! (they queue for a slot before they start), so a tenant restarting heavy
//! calls cannot run them a first tick each outside the slots. Short calls
//! of other tenants never queue: with one core always free of long calls,
//! they do not wait behind them.

use crate::sync::lock;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One call's place in the turns; clones share it (the store's hooks hold
/// them, so it ends when the store is dropped).
#[derive(Clone)]
pub(crate) struct Turns(Arc<Inner>);

struct Inner {
    slots: Arc<Semaphore>,
    /// The number of long calls of the call's tenant.
    tenant_long: Arc<AtomicUsize>,
    long: AtomicBool,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if *self.long.get_mut() {
            self.tenant_long.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Turns {
    /// A call's turns in `slots`, counted among its tenant's long calls in
    /// `tenant_long` once it is long.
    pub(crate) fn new(slots: &Arc<Semaphore>, tenant_long: &Arc<AtomicUsize>) -> Self {
        Turns(Arc::new(Inner {
            slots: slots.clone(),
            tenant_long: tenant_long.clone(),
            long: AtomicBool::new(false),
            held: Mutex::new(None),
        }))
    }

    /// Whether the call's tenant has a long call running: then this one
    /// starts as one too.
    pub(crate) fn tenant_has_long_calls(&self) -> bool {
        self.0.tenant_long.load(Ordering::Acquire) > 0
    }

    /// Gives the slot back, if held (at a host call).
    pub(crate) fn release(&self) {
        let held = lock(&self.0.held).take();
        drop(held);
    }

    /// Back from a host call: true if the call may run on (it is short, or
    /// a slot was free and is now held); false if a long call found every
    /// slot taken and must queue for its turn at once (the caller makes the
    /// guest yield). Without this, a long call making host calls in a tight
    /// loop would give its slot back at each one and run on without it.
    pub(crate) fn resume(&self) -> bool {
        if !self.0.long.load(Ordering::Acquire) {
            return true;
        }
        let mut held = lock(&self.0.held);
        if held.is_some() {
            return true;
        }
        match self.0.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                *held = Some(permit);
                true
            }
            Err(_) => false,
        }
    }

    /// Marks the call long, gives its slot back and returns the future it
    /// waits on for its next turn: a slot, waited for no longer than
    /// `deadline` (past it, the next tick ends the call), kept until the
    /// next tick or host call.
    pub(crate) fn next_turn(&self, deadline: Instant) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        if !self.0.long.swap(true, Ordering::AcqRel) {
            self.0.tenant_long.fetch_add(1, Ordering::AcqRel);
        }
        self.release();
        let this = self.clone();
        Box::pin(async move {
            let turn = tokio::time::timeout_at(deadline.into(), this.0.slots.clone().acquire_owned()).await;
            if let Ok(Ok(permit)) = turn {
                *lock(&this.0.held) = Some(permit);
            }
        })
    }

    #[cfg(test)]
    fn held(&self) -> bool {
        self.0.held.lock().unwrap().is_some()
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
        let (ta, tb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, b) = (Turns::new(&slots, &ta), Turns::new(&slots, &tb));
        a.next_turn(far).await;
        assert!(a.held());
        // B waits while A holds the only slot…
        let b_turn = tokio::spawn({
            let b = b.clone();
            async move { b.next_turn(far).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!b_turn.is_finished(), "B must wait for A's slot");
        // …until A enters a host call (or reaches its next tick).
        a.release();
        b_turn.await.unwrap();
        assert!(b.held() && !a.held());
        // A queues behind B; B's next tick hands the slot over.
        let a_turn = tokio::spawn({
            let a = a.clone();
            async move { a.next_turn(far).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!a_turn.is_finished());
        drop(b.next_turn(far)); // B's tick: gives back, queues again
        a_turn.await.unwrap();
        assert!(a.held());
    }

    #[tokio::test]
    async fn back_from_a_host_call_a_long_call_takes_a_free_slot_or_must_queue() {
        let slots = Arc::new(Semaphore::new(1));
        let far = Instant::now() + Duration::from_secs(5);
        let (ta, tb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (a, b, short) = (Turns::new(&slots, &ta), Turns::new(&slots, &tb), Turns::new(&slots, &tb));
        assert!(short.resume() && !short.held(), "a short call runs on without a slot");
        a.next_turn(far).await;
        a.release(); // A calls the host…
        b.next_turn(far).await; // …and B takes the slot meanwhile.
        assert!(!a.resume(), "A, back with no slot free, must queue");
        assert!(!a.held());
        b.release();
        assert!(a.resume() && a.held(), "a free slot is taken at once");
        assert!(a.resume(), "holding one, it runs on");
    }

    #[tokio::test]
    async fn a_tenant_with_a_long_call_has_its_next_calls_start_long_until_it_ends() {
        let slots = Arc::new(Semaphore::new(1));
        let (ta, tb) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let first = Turns::new(&slots, &ta);
        assert!(!Turns::new(&slots, &ta).tenant_has_long_calls());
        first.next_turn(Instant::now() + Duration::from_secs(5)).await;
        first.next_turn(Instant::now() + Duration::from_secs(5)).await; // a second tick counts once
        assert!(Turns::new(&slots, &ta).tenant_has_long_calls());
        assert!(!Turns::new(&slots, &tb).tenant_has_long_calls(), "another tenant is not affected");
        let clone = first.clone();
        drop(first);
        assert!(Turns::new(&slots, &ta).tenant_has_long_calls(), "the store still holds the call");
        drop(clone);
        assert!(!Turns::new(&slots, &ta).tenant_has_long_calls());
        assert_eq!(slots.available_permits(), 1, "the slot went back with the call");
    }

    #[tokio::test]
    async fn a_turn_waits_no_longer_than_the_deadline() {
        let slots = Arc::new(Semaphore::new(0));
        let t = Turns::new(&slots, &Arc::new(AtomicUsize::new(0)));
        let start = Instant::now();
        t.next_turn(start + Duration::from_millis(30)).await;
        assert!(!t.held());
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn slot_count() {
        assert_eq!(slots(3), 3);
        assert!(slots(0) >= 1);
    }
}
