//! Which tenants this replica owns: each tenant is served by one replica at
//! a time, the holder of its lease (`tenant_leases`, epoch-fenced by the
//! store). A request for a tenant is served here when this replica holds
//! the lease or can take it (no live owner); otherwise it goes to the
//! owner ([`Route::Forward`]).
//!
//! What this replica remembers of a tenant (bound skills, redactors, the
//! disk count) is trusted only while it holds the lease *certainly*: from
//! the send time of its last heartbeat that found its row still live, for
//! one TTL. Past that (the process stalled, the database away) every lease
//! is forgotten here and taken again at the database on the next request,
//! which drops what was remembered of a tenant whose lease had to be taken
//! again. A lease is given up after an idle period, and with the whole
//! membership on a graceful stop.

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a request for a tenant is served.
#[derive(Debug)]
pub enum Route {
    /// Here: this replica holds the tenant's lease while the guard lives.
    Serve(LeaseGuard),
    /// Here, without a lease: no such tenant (the request's own checks
    /// answer it).
    NoTenant,
    /// At the live owner.
    Forward {
        /// Its node id.
        node_id: String,
        /// Its base URL.
        addr: String,
        /// How long to wait before retrying should it not answer: its row's
        /// time left, in whole seconds (at least 1).
        retry_after_secs: u64,
    },
}

/// One lease held here.
#[derive(Debug)]
struct Held {
    /// Requests and calls of the tenant running now.
    in_flight: usize,
    /// When the last of them ended (or began).
    last_used: Instant,
}

/// The leases held here and how long they are certainly held.
pub(crate) struct Leases {
    held: Mutex<HashMap<String, Held>>,
    /// Until when this replica's membership is certainly live.
    certain_until: Mutex<Instant>,
    /// Drops what the runtime remembers of a tenant.
    forget: Box<dyn Fn(&str) + Send + Sync>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases").field("held", &lock(&self.held).len()).finish_non_exhaustive()
    }
}

/// Holds a tenant's lease here while a request or call of it runs.
pub struct LeaseGuard {
    leases: Arc<Leases>,
    tenant: String,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard").field("tenant", &self.tenant).finish()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if let Some(h) = lock(&self.leases.held).get_mut(&self.tenant) {
            h.in_flight = h.in_flight.saturating_sub(1);
            h.last_used = Instant::now();
        }
    }
}

impl Leases {
    pub(crate) fn new(certain_until: Instant, forget: Box<dyn Fn(&str) + Send + Sync>) -> Leases {
        Leases { held: Mutex::new(HashMap::new()), certain_until: Mutex::new(certain_until), forget }
    }

    /// Whether the membership is certainly live now.
    pub(crate) fn certain(&self) -> bool {
        Instant::now() < *lock(&self.certain_until)
    }

    /// A heartbeat sent at `sent` renewed a row that had not lapsed.
    pub(crate) fn renewed(&self, sent: Instant, ttl: Duration) {
        let mut until = lock(&self.certain_until);
        *until = (*until).max(sent + ttl);
    }

    /// A guard on `tenant` if it is held here (and `store_holds`, the
    /// writes' fence, still holds it).
    pub(crate) fn enter(self: &Arc<Self>, tenant: &str, store_holds: bool) -> Option<LeaseGuard> {
        let mut held = lock(&self.held);
        if !store_holds {
            if held.remove(tenant).is_some() {
                (self.forget)(tenant);
            }
            return None;
        }
        let h = held.get_mut(tenant)?;
        h.in_flight += 1;
        h.last_used = Instant::now();
        Some(LeaseGuard { leases: self.clone(), tenant: tenant.to_string() })
    }

    /// The store says this process holds `tenant`'s lease: a guard on it.
    /// Newly held here, whatever was remembered of the tenant is dropped
    /// first (another replica may have changed it meanwhile).
    pub(crate) fn taken(self: &Arc<Self>, tenant: &str) -> LeaseGuard {
        let mut held = lock(&self.held);
        let h = held.entry(tenant.to_string()).or_insert_with(|| {
            (self.forget)(tenant);
            Held { in_flight: 0, last_used: Instant::now() }
        });
        h.in_flight += 1;
        h.last_used = Instant::now();
        LeaseGuard { leases: self.clone(), tenant: tenant.to_string() }
    }

    /// Another replica owns `tenant`.
    pub(crate) fn moved(&self, tenant: &str) {
        if lock(&self.held).remove(tenant).is_some() {
            (self.forget)(tenant);
        }
    }

    /// Forgets every lease (the membership lapsed, or it ends).
    pub(crate) fn forget_all(&self) {
        let gone: Vec<String> = lock(&self.held).drain().map(|(t, _)| t).collect();
        for t in gone {
            (self.forget)(&t);
        }
    }

    /// Takes out the leases idle for `idle` with nothing in flight (to be
    /// released at the store).
    pub(crate) fn take_idle(&self, idle: Duration) -> Vec<String> {
        let mut held = lock(&self.held);
        let now = Instant::now();
        let idle: Vec<String> = held
            .iter()
            .filter(|(_, h)| h.in_flight == 0 && now.duration_since(h.last_used) >= idle)
            .map(|(t, _)| t.clone())
            .collect();
        for t in &idle {
            held.remove(t);
            (self.forget)(t);
        }
        idle
    }

    /// How many leases are held here.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.held).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn leases() -> (Arc<Leases>, Arc<Mutex<Vec<String>>>) {
        let forgotten = Arc::new(Mutex::new(Vec::new()));
        let f = forgotten.clone();
        let l =
            Leases::new(Instant::now() + Duration::from_secs(5), Box::new(move |t| lock(&f).push(t.into())));
        (Arc::new(l), forgotten)
    }

    #[test]
    fn a_lease_newly_taken_drops_what_was_remembered_and_a_held_one_does_not() {
        let (l, forgotten) = leases();
        assert!(l.enter("acme", true).is_none(), "not held yet");
        let g = l.taken("acme");
        assert_eq!(*lock(&forgotten), ["acme"]);
        let g2 = l.taken("acme");
        let g3 = l.enter("acme", true).expect("held");
        assert_eq!(lock(&forgotten).len(), 1, "a lease held stays remembered");
        drop((g, g2, g3));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn the_fence_losing_a_lease_drops_it_here_too() {
        let (l, forgotten) = leases();
        drop(l.taken("acme"));
        assert!(l.enter("acme", false).is_none());
        assert_eq!(l.len(), 0);
        assert_eq!(*lock(&forgotten), ["acme", "acme"]);
    }

    #[test]
    fn only_idle_leases_with_nothing_in_flight_are_given_up() {
        let (l, _) = leases();
        let busy = l.taken("busy");
        drop(l.taken("idle"));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(l.take_idle(Duration::from_millis(20)), ["idle"]);
        assert!(l.take_idle(Duration::ZERO).is_empty(), "a call in flight keeps its lease");
        drop(busy);
        assert_eq!(l.take_idle(Duration::ZERO), ["busy"]);
    }

    #[test]
    fn certainty_lasts_one_ttl_from_the_last_continuous_beat() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let l = Leases::new(
            Instant::now(),
            Box::new(move |_| {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        );
        assert!(!l.certain(), "a membership whose TTL ran out is not certain");
        l.renewed(Instant::now(), Duration::from_secs(5));
        assert!(l.certain());
        // An older beat never shortens it.
        l.renewed(Instant::now() - Duration::from_secs(10), Duration::from_secs(5));
        assert!(l.certain());
    }
}
